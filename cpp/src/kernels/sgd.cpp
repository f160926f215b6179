#include "densekit/kernels/sgd.hpp"

#include <algorithm>

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"

namespace densekit {

void sgd_update(MatrixOut w, MatrixIn g, MatrixOut m, Scalar learning_rate, Scalar momentum,
                bool nesterov) {
  require_shape("sgd_update", "g", g.rows(), g.cols(), w.rows(), w.cols());
  if (momentum == 0) {
    w.noalias() -= learning_rate * g;
    return;
  }
  require_shape("sgd_update", "m", m.rows(), m.cols(), w.rows(), w.cols());
  parallel_for(w.rows(), w.size(), [&](Index r) {
    m.row(r) = momentum * m.row(r) - learning_rate * g.row(r);
    if (nesterov) {
      w.row(r) += momentum * m.row(r) - learning_rate * g.row(r);
    } else {
      w.row(r) += m.row(r);
    }
  });
}

// 16 lanes at a time in fixed-size arrays, so the sums vectorize; the tail goes through a
// zero-padded lane, which adds 0 to both markers.
bool sgd_clip_and_check(const Scalar* w, Scalar* g, Index n, Scalar scale, Scalar clip_value,
                        Scalar learning_rate) {
  using Lane = Eigen::Array<Scalar, 1, 16>;
  Lane incoming = Lane::Zero(), updated = Lane::Zero();
  const auto step = [&](const Lane& wl, Lane gl) {
    incoming += gl * Scalar(0);
    gl *= scale;
    if (clip_value > 0) gl = gl.max(-clip_value).min(clip_value);
    updated += (wl - learning_rate * gl) * Scalar(0);
    return gl;
  };
  Index i = 0;
  for (; i + 16 <= n; i += 16)
    Eigen::Map<Lane>(g + i) = step(Eigen::Map<const Lane>(w + i), Eigen::Map<Lane>(g + i));
  if (i < n) {
    Lane wl = Lane::Zero(), gl = Lane::Zero();
    std::copy(w + i, w + n, wl.data());
    std::copy(g + i, g + n, gl.data());
    const Lane clipped = step(wl, gl);
    std::copy(clipped.data(), clipped.data() + (n - i), g + i);
  }
  return (incoming.sum() + updated.sum()) == 0;
}

}  // namespace densekit
