#include "densekit/kernels/dense.hpp"

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"

namespace densekit {
namespace {

// out = a b, the columns of out split into one block per thread (multiples of 16 columns, one
// AVX-512 register, so no block starts mid-vector). Each thread runs Eigen's single-threaded
// GEMM on its block; a, shared by all, is small at the batch sizes where this matters.
template <typename Lhs, typename Rhs>
void product(const Lhs& a, const Rhs& b, MatrixOut out) {
  const Index cols = out.cols();
  const int threads = product_threads(double(a.rows()) * double(a.cols()) * double(cols));
  if (threads == 1) {
    out.noalias() = a * b;
    return;
  }
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const Index thread = omp_get_thread_num(), team = omp_get_num_threads();
#else
    const Index thread = 0, team = 1;
#endif
    const Index per_thread = ((cols + team - 1) / team + 15) / 16 * 16;
    const Index start = std::min(cols, thread * per_thread);
    const Index width = std::min(per_thread, cols - start);
    if (width > 0) out.middleCols(start, width).noalias() = a * b.middleCols(start, width);
  }
}

}  // namespace

// y = x w + b. The product writes y in place (noalias); the bias is a broadcast add over rows.
void dense_forward(MatrixIn x, MatrixIn w, VectorIn b, MatrixOut y) {
  require_shape("dense_forward", "w", w.rows(), w.cols(), x.cols(), -1);
  require_shape("dense_forward", "y", y.rows(), y.cols(), x.rows(), w.cols());
  if (b.cols() != 0) require_shape("dense_forward", "b", b.rows(), b.cols(), 1, w.cols());
  product(x, w, y);
  if (b.cols() != 0) y.rowwise() += b;
}

// dx = dy wᵀ: each input unit collects the gradient of every unit it feeds, weighted.
void dense_backward_data(MatrixIn dy, MatrixIn w, MatrixOut dx) {
  require_shape("dense_backward_data", "w", w.rows(), w.cols(), -1, dy.cols());
  require_shape("dense_backward_data", "dx", dx.rows(), dx.cols(), dy.rows(), w.rows());
  product(dy, w.transpose(), dx);
}

// dw = xᵀ dy (sums over the batch, since the loss is already a batch mean); db = Σ_rows dy.
void dense_backward_weights(MatrixIn x, MatrixIn dy, MatrixOut dw, VectorOut db) {
  require_shape("dense_backward_weights", "dy", dy.rows(), dy.cols(), x.rows(), -1);
  require_shape("dense_backward_weights", "dw", dw.rows(), dw.cols(), x.cols(), dy.cols());
  if (db.cols() != 0) require_shape("dense_backward_weights", "db", db.rows(), db.cols(), 1, dy.cols());
  product(x.transpose(), dy, dw);
  if (db.cols() != 0) db.noalias() = dy.colwise().sum();
}

}  // namespace densekit
