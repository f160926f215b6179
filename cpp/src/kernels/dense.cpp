#include "densekit/kernels/dense.hpp"

#include <algorithm>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/kernels/gemm.hpp"
#include "densekit/parallel.hpp"

namespace densekit {
namespace {

// out = a b, cut by Partition::product: by out's columns for the batch-sized outputs of the
// backward-data products, by rows for a tall weight gradient. Each part is a single-threaded
// GEMM on a block (gemm.hpp: Eigen's, or OpenBLAS's when it is loaded and the block is large), so
// the operand the parts share (small at the batch sizes where threading pays) is packed once per
// part. Then the thread of a part runs epilogue(first_row, rows, first_column, columns) on its
// block while it is still in its cache (unsplit: once, on the whole of out).
template <typename Lhs, typename Rhs, typename Epilogue>
void product(const Lhs& a, const Rhs& b, MatrixOut out, const Epilogue& epilogue) {
  const Partition plan = Partition::product(out.rows(), out.cols(), a.cols());
  if (!plan.splits()) {
    gemm(a, b, out);
    epilogue(Index(0), out.rows(), Index(0), out.cols());
    return;
  }
  const bool by_rows = plan.axis() == Partition::Axis::rows;
  plan.for_each_part([&](Index p) {
    const auto [start, size] = plan.share(by_rows ? out.rows() : out.cols(), p);
    if (size == 0) return;
    if (by_rows) {
      gemm(a.middleRows(start, size), b, out.middleRows(start, size));
      epilogue(start, size, Index(0), out.cols());
    } else {
      gemm(a, b.middleCols(start, size), out.middleCols(start, size));
      epilogue(Index(0), out.rows(), start, size);
    }
  });
}

template <typename Lhs, typename Rhs>
void product(const Lhs& a, const Rhs& b, MatrixOut out) {
  product(a, b, out, [](Index, Index, Index, Index) {});
}

// out = x w for a layer's forward pass. Split like the rest of a weight matrix's life (its
// gradient's product and the optimizer deal out its rows): with Partition::forward's inner
// split, part p multiplies x's columns K_p by w's rows K_p into a partial sum, and after a barrier
// each thread adds the partials over its share of out's columns, in part order, and runs the
// epilogue there. So w's rows stay in one core's cache from step to step; a column split made each
// core read the other's freshly updated rows, and on these shared cores such traffic costs 4-5x
// more at times. Otherwise out's rows or columns are split as product does.
template <typename Epilogue>
void forward_product(MatrixIn x, MatrixIn w, MatrixOut out, const Epilogue& epilogue) {
  const Partition plan = Partition::forward(x.rows(), x.cols(), out.cols());
  if (plan.axis() != Partition::Axis::inner) return product(x, w, out, epilogue);
  const Index parts = plan.parts(), units = out.cols(), rows = out.rows();
  // Parts 1.. in a buffer of the calling thread that only ever grows, so a steady training step
  // allocates nothing.
  thread_local std::vector<Scalar> partials;
  if (partials.size() < size_t((parts - 1) * rows * units))
    partials.resize(size_t((parts - 1) * rows * units));
  Scalar* partial_data = partials.data();
  const auto part = [&](Index p) {
    return p == 0 ? out
                  : MatrixOut(
                        Eigen::Map<RowMatrix>(partial_data + (p - 1) * rows * units, rows, units));
  };
  const auto multiply_part = [&](Index p) {
    const auto [k0, k_size] = plan.share(x.cols(), p);
    if (k_size > 0)
      gemm(x.middleCols(k0, k_size), w.middleRows(k0, k_size), part(p));
    else
      part(p).setZero();
  };
  plan.run([&](Index thread, Index team) {
    for (Index p = thread; p < parts; p += team) multiply_part(p);
    team_barrier();
    // Each column adds its partials in part order, so any cut of the columns gives the same bits.
    const auto [c0, c_size] = share_of(units, thread, team);
    if (c_size == 0) return;
    for (Index p = 1; p < parts; ++p) out.middleCols(c0, c_size) += part(p).middleCols(c0, c_size);
    epilogue(Index(0), rows, c0, c_size);
  });
}

}  // namespace

// y = x w + b. The product writes y in place (noalias); the bias is a broadcast add over rows.
void dense_forward(MatrixIn x, MatrixIn w, VectorIn b, MatrixOut y) {
  require_shape("dense_forward", "w", w.rows(), w.cols(), x.cols(), -1);
  require_shape("dense_forward", "y", y.rows(), y.cols(), x.rows(), w.cols());
  if (b.cols() != 0) require_shape("dense_forward", "b", b.rows(), b.cols(), 1, w.cols());
  forward_product(x, w, y, [&](Index r0, Index rows, Index c0, Index cols) {
    if (b.cols() != 0) y.block(r0, c0, rows, cols).rowwise() += b.segment(c0, cols);
  });
}

// z = x w + b, y = f(z): the bias and an element-wise f run in the product's epilogue, on each
// thread's block; softmax needs whole rows, so it runs after the product.
void dense_activation_forward(MatrixIn x, MatrixIn w, VectorIn b, const ActivationSpec& f,
                              MatrixOut z, MatrixOut y) {
  const char* where = "dense_forward";  // the same checks, and messages, as dense_forward's
  require_shape(where, "w", w.rows(), w.cols(), x.cols(), -1);
  require_shape(where, "z", z.rows(), z.cols(), x.rows(), w.cols());
  require_shape(where, "y", y.rows(), y.cols(), x.rows(), w.cols());
  if (b.cols() != 0) require_shape(where, "b", b.rows(), b.cols(), 1, w.cols());
  const bool fuse_f = f.is_elementwise();
  forward_product(x, w, z, [&](Index r0, Index rows, Index c0, Index cols) {
    auto block = z.block(r0, c0, rows, cols);
    if (b.cols() != 0) block.rowwise() += b.segment(c0, cols);
    if (fuse_f) activation_forward(f, block, y.block(r0, c0, rows, cols));
  });
  if (!fuse_f) activation_forward(f, z, y);
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
  if (db.cols() != 0)
    require_shape("dense_backward_weights", "db", db.rows(), db.cols(), 1, dy.cols());
  product(x.transpose(), dy, dw);
  if (db.cols() != 0) db.noalias() = dy.colwise().sum();
}

// One pass over the rows of w and M (held in dw) after the product: the two dot products of row j
// read M before it is overwritten by dw's row.
void dense_backward_normalized_input(MatrixIn x_hat, VectorIn gamma, VectorIn beta, MatrixIn dy,
                                     MatrixIn w, MatrixOut dw, VectorOut dy_sum, VectorOut dgamma,
                                     VectorOut dbeta) {
  const char* where = "dense_backward_normalized_input";
  const Index in = x_hat.cols(), units = dy.cols();
  require_shape(where, "dy", dy.rows(), dy.cols(), x_hat.rows(), -1);
  require_shape(where, "w", w.rows(), w.cols(), in, units);
  require_shape(where, "dw", dw.rows(), dw.cols(), in, units);
  require_shape(where, "dy_sum", dy_sum.rows(), dy_sum.cols(), 1, units);
  if (gamma.cols() != 0) require_shape(where, "gamma", gamma.rows(), gamma.cols(), 1, in);
  if (beta.cols() != 0) require_shape(where, "beta", beta.rows(), beta.cols(), 1, in);
  if (dgamma.cols() != 0) require_shape(where, "dgamma", dgamma.rows(), dgamma.cols(), 1, in);
  if (dbeta.cols() != 0) require_shape(where, "dbeta", dbeta.rows(), dbeta.cols(), 1, in);
  dy_sum.noalias() = dy.colwise().sum();
  // The product's epilogue turns each thread's rows of M into dw's while they are in its cache.
  const auto finish_rows = [&](Index j) {
    if (dgamma.cols() != 0) dgamma(j) = w.row(j).dot(dw.row(j));
    if (dbeta.cols() != 0) dbeta(j) = w.row(j).dot(dy_sum);
    const Scalar g = gamma.cols() != 0 ? gamma(j) : Scalar(1);
    const Scalar b = beta.cols() != 0 ? beta(j) : Scalar(0);
    dw.row(j) = g * dw.row(j) + b * dy_sum;
  };
  if (Partition::product(dw.rows(), dw.cols(), dy.rows()).axis() != Partition::Axis::columns) {
    // Unsplit or by rows: each block the epilogue gets is whole rows.
    product(x_hat.transpose(), dy, dw, [&](Index r0, Index rows, Index, Index) {
      for (Index j = r0; j < r0 + rows; ++j) finish_rows(j);
    });
  } else {
    product(x_hat.transpose(), dy, dw);
    parallel_for(in, in * units, finish_rows);
  }
}

}  // namespace densekit
