#include "densekit/kernels/dense.hpp"

#include <algorithm>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"

namespace densekit {
namespace {

// The [start, start + size) part of `extent` that thread `thread` of `team` takes, in multiples of
// 16 (one AVX-512 register of floats, so no block starts mid-vector).
std::pair<Index, Index> share(Index extent, Index thread, Index team) {
  const Index per_thread = ((extent + team - 1) / team + 15) / 16 * 16;
  const Index start = std::min(extent, thread * per_thread);
  return {start, std::min(per_thread, extent - start)};
}

// out = a b, split across threads along out's longer side: by columns for the batch-sized
// outputs of the forward and backward-data products, by rows for a tall weight gradient. Each
// thread runs Eigen's single-threaded GEMM on its block, so the operand it shares with the other
// thread (small at the batch sizes where threading pays) is packed twice.
template <typename Lhs, typename Rhs>
void product(const Lhs& a, const Rhs& b, MatrixOut out) {
  const int threads = product_threads(double(a.rows()) * double(a.cols()) * double(out.cols()));
  if (threads == 1) {
    out.noalias() = a * b;
    return;
  }
  const bool by_rows = out.rows() > out.cols();
  const ContentionProbe probe(double(a.rows()) * double(a.cols()) * double(out.cols()), threads);
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const Index thread = omp_get_thread_num(), team = omp_get_num_threads();
#else
    const Index thread = 0, team = 1;
#endif
    const auto [start, size] = share(by_rows ? out.rows() : out.cols(), thread, team);
    if (size > 0) {
      if (by_rows) {
        out.middleRows(start, size).noalias() = a.middleRows(start, size) * b;
      } else {
        out.middleCols(start, size).noalias() = a * b.middleCols(start, size);
      }
    }
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
