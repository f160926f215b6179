#include "densekit/kernels/sgd.hpp"

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"
#include "elementwise.hpp"

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

bool sgd_update_is_finite(MatrixIn w, MatrixIn g, MatrixIn m, Scalar learning_rate,
                          Scalar momentum, bool nesterov) {
  require_shape("sgd_update_is_finite", "g", g.rows(), g.cols(), w.rows(), w.cols());
  if (momentum != 0) require_shape("sgd_update_is_finite", "m", m.rows(), m.cols(), w.rows(), w.cols());
  // Expressions only, nothing materialised: the sum is NaN when any updated value is not finite.
  using elementwise::non_finite_marker;
  const double marker = parallel_sum(w.rows(), w.size(), [&](Index r) {
    const auto g_step = learning_rate * g.row(r).array();
    if (momentum == 0) return non_finite_marker(w.row(r).array() - g_step);
    const auto m_new = momentum * m.row(r).array() - g_step;
    const double w_marker = nesterov ? non_finite_marker(w.row(r).array() + momentum * m_new - g_step)
                                     : non_finite_marker(w.row(r).array() + m_new);
    return w_marker + non_finite_marker(m_new);
  });
  return marker == 0;
}

}  // namespace densekit
