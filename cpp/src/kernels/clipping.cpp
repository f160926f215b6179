#include "densekit/kernels/clipping.hpp"

#include <algorithm>
#include <cmath>

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"
#include "elementwise.hpp"

namespace densekit {

void clip_by_value(MatrixOut g, Scalar clip_value) {
  if (!(clip_value >= 0)) throw ValueError("clip_by_value: clip_value must be >= 0");
  g = g.cwiseMax(-clip_value).cwiseMin(clip_value);
}

// Sums blocks of kBlock elements in float (vectorized), the blocks in double: accurate enough for
// a norm. A block whose float sum overflows (elements above ~1e19) is summed again in double, so
// the result is non-finite only when an element is NaN or Inf, which the network relies on.
double squared_norm(MatrixIn g) {
  constexpr Index kBlock = 4096;
  if (g.outerStride() != g.cols()) {  // a strided view: row by row
    double total = 0;
    for (Index r = 0; r < g.rows(); ++r) total += g.row(r).cast<double>().squaredNorm();
    return total;
  }
  const Index size = g.size();
  const Scalar* data = g.data();
  return parallel_sum((size + kBlock - 1) / kBlock, size, [&](Index b) {
    const Index start = b * kBlock, len = std::min(kBlock, size - start);
    const Eigen::Map<const Eigen::VectorXf> block(data + start, len);
    const double sum = block.squaredNorm();
    return std::isfinite(sum) ? sum : block.cast<double>().squaredNorm();
  });
}

bool all_finite(MatrixIn g) {
  const double marker = parallel_sum(g.rows(), g.size(), [&](Index r) {
    return elementwise::non_finite_marker(g.row(r).array());
  });
  return marker == 0;
}

// g ← g · c / max(‖g‖, c): unchanged when the norm is within c, rescaled to norm c otherwise.
void clip_by_norm(MatrixOut g, Scalar clip_norm) {
  if (!(clip_norm > 0)) throw ValueError("clip_by_norm: clip_norm must be > 0");
  const double norm = std::sqrt(squared_norm(g));
  if (norm > clip_norm) g *= static_cast<Scalar>(clip_norm / norm);
}

void clip_by_global_norm(const std::vector<MatrixOut>& grads, Scalar clip_norm) {
  if (!(clip_norm > 0)) throw ValueError("clip_by_global_norm: clip_norm must be > 0");
  double total = 0;
  for (const auto& g : grads) total += squared_norm(g);
  const double norm = std::sqrt(total);
  if (!(norm > clip_norm)) return;  // also leaves NaN gradients as they are, for the caller to see
  const auto scale = static_cast<Scalar>(clip_norm / norm);
  for (auto g : grads) g *= scale;
}

}  // namespace densekit
