#include "densekit/kernels/dense.hpp"

#include "densekit/error.hpp"

namespace densekit {

// y = x w + b. The product writes y in place (noalias); the bias is a broadcast add over rows.
void dense_forward(MatrixIn x, MatrixIn w, VectorIn b, MatrixOut y) {
  require_shape("dense_forward", "w", w.rows(), w.cols(), x.cols(), -1);
  require_shape("dense_forward", "y", y.rows(), y.cols(), x.rows(), w.cols());
  if (b.cols() != 0) require_shape("dense_forward", "b", b.rows(), b.cols(), 1, w.cols());
  y.noalias() = x * w;
  if (b.cols() != 0) y.rowwise() += b;
}

// dx = dy wᵀ: each input unit collects the gradient of every unit it feeds, weighted.
void dense_backward_data(MatrixIn dy, MatrixIn w, MatrixOut dx) {
  require_shape("dense_backward_data", "w", w.rows(), w.cols(), -1, dy.cols());
  require_shape("dense_backward_data", "dx", dx.rows(), dx.cols(), dy.rows(), w.rows());
  dx.noalias() = dy * w.transpose();
}

// dw = xᵀ dy (sums over the batch, since the loss is already a batch mean); db = Σ_rows dy.
void dense_backward_weights(MatrixIn x, MatrixIn dy, MatrixOut dw, VectorOut db) {
  require_shape("dense_backward_weights", "dy", dy.rows(), dy.cols(), x.rows(), -1);
  require_shape("dense_backward_weights", "dw", dw.rows(), dw.cols(), x.cols(), dy.cols());
  if (db.cols() != 0) require_shape("dense_backward_weights", "db", db.rows(), db.cols(), 1, dy.cols());
  dw.noalias() = x.transpose() * dy;
  if (db.cols() != 0) db.noalias() = dy.colwise().sum();
}

}  // namespace densekit
