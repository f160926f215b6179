#include "densekit/kernels/sgd.hpp"

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
  const Index rows = w.rows();
#pragma omp parallel for num_threads(loop_threads(w.size())) schedule(static)
  for (Index r = 0; r < rows; ++r) {
    m.row(r) = momentum * m.row(r) - learning_rate * g.row(r);
    if (nesterov) {
      w.row(r) += momentum * m.row(r) - learning_rate * g.row(r);
    } else {
      w.row(r) += m.row(r);
    }
  }
}

bool sgd_update_is_finite(MatrixIn w, MatrixIn g, MatrixIn m, Scalar learning_rate,
                          Scalar momentum, bool nesterov) {
  require_shape("sgd_update_is_finite", "g", g.rows(), g.cols(), w.rows(), w.cols());
  if (momentum != 0) require_shape("sgd_update_is_finite", "m", m.rows(), m.cols(), w.rows(), w.cols());
  const Index rows = w.rows();
  bool finite = true;
#pragma omp parallel for num_threads(loop_threads(w.size())) reduction(&& : finite) schedule(static)
  for (Index r = 0; r < rows; ++r) {
    if (momentum == 0) {
      finite = finite && (w.row(r) - learning_rate * g.row(r)).allFinite();
      continue;
    }
    const auto m_new = (momentum * m.row(r) - learning_rate * g.row(r)).eval();
    const auto step = nesterov ? (momentum * m_new - learning_rate * g.row(r)).eval() : m_new;
    finite = finite && m_new.allFinite() && (w.row(r) + step).allFinite();
  }
  return finite;
}

}  // namespace densekit
