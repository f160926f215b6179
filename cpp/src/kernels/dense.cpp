#include "densekit/kernels/dense.hpp"

#include <algorithm>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"

namespace densekit {
namespace {

// How product splits out across threads: by rows unless it is wider than tall. A square weight
// gradient goes by rows too, as the optimizer splits every weight matrix (optimizer.cpp).
bool splits_by_rows(Index rows, Index cols) { return rows >= cols; }

// A product whose output has at most this many rows or columns is thin (matrix-vector-like).
constexpr Index kThinSide = 4;

// body(thread, team) on each thread of a team of `threads`, under a ContentionProbe; or once as
// (0, 1) on the calling thread, with no team (GCC's OpenMP allocates one even for a single
// thread, and a training step must not allocate).
template <typename Body>
void run_team(int threads, double multiply_adds, double epilogue_elements, const Body& body) {
  if (threads == 1) {
    body(Index(0), Index(1));
    return;
  }
  const ContentionProbe probe(multiply_adds, threads, epilogue_elements);
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    body(Index(omp_get_thread_num()), Index(omp_get_num_threads()));
#else
    body(Index(0), Index(1));
#endif
  }
}

// out = a b, split across threads along out's longer side: by columns for the batch-sized
// outputs of the backward-data products, by rows for a tall weight gradient. Each thread runs
// Eigen's single-threaded GEMM on its block, so the operand it shares with the other thread
// (small at the batch sizes where threading pays) is packed twice. Then each thread runs
// epilogue(first_row, rows, first_column, columns) on its block while it is still in its cache
// (unsplit: once, on the whole of out). The blocks are cut by the configured thread count even
// when fewer threads run (a ThreadCap, contended cores): Eigen's blocking of a GEMM depends on its
// shape, so other cuts could change the bits of out.
template <typename Lhs, typename Rhs, typename Epilogue>
void product(const Lhs& a, const Rhs& b, MatrixOut out, const Epilogue& epilogue) {
  const double multiply_adds = double(a.rows()) * double(a.cols()) * double(out.cols());
  const bool thin = std::min(out.rows(), out.cols()) <= kThinSide;
  if (!product_splits(multiply_adds, thin)) {
    out.noalias() = a * b;
    epilogue(Index(0), out.rows(), Index(0), out.cols());
    return;
  }
  const Index parts = get_num_threads();
  const bool by_rows = splits_by_rows(out.rows(), out.cols());
  const auto multiply_part = [&](Index p) {
    const auto [start, size] = share_of(by_rows ? out.rows() : out.cols(), p, parts);
    if (size == 0) return;
    if (by_rows) {
      out.middleRows(start, size).noalias() = a.middleRows(start, size) * b;
      epilogue(start, size, Index(0), out.cols());
    } else {
      out.middleCols(start, size).noalias() = a * b.middleCols(start, size);
      epilogue(Index(0), out.rows(), start, size);
    }
  };
  // The probe allows for the epilogue's elements too.
  run_team(product_threads(multiply_adds, thin), multiply_adds, double(out.size()),
           [&](Index thread, Index team) {
             for (Index p = thread; p < parts; p += team) multiply_part(p);
           });
}

template <typename Lhs, typename Rhs>
void product(const Lhs& a, const Rhs& b, MatrixOut out) {
  product(a, b, out, [](Index, Index, Index, Index) {});
}

// out = x w for a layer's forward pass. Split like the rest of a weight matrix's life (its
// gradient's product and the optimizer deal out its rows): thread t multiplies x's columns K_t
// by w's rows K_t into a partial sum, and after a barrier adds the partials over its share of
// out's columns and runs the epilogue there. So w's rows stay in one core's cache from step to
// step; the column split made each core read the other's freshly updated rows, and on these
// shared cores such traffic costs 4-5x more at times. It pays while the partial sums beyond the
// first ((parts - 1) x batch x units) are smaller than w (inputs x units); a taller batch splits
// out's rows or columns as product does. The inner dimension is cut in as many parts as threads
// are configured (at most one per 16 inputs), however many run now (one under the epoch loop's
// ThreadCap or on contended cores), and the parts are added in the same order, so out has the
// same bits either way.
template <typename Epilogue>
void forward_product(MatrixIn x, MatrixIn w, MatrixOut out, const Epilogue& epilogue) {
  const double multiply_adds = double(x.rows()) * double(x.cols()) * double(out.cols());
  const bool thin = std::min(out.rows(), out.cols()) <= kThinSide;
  const Index parts = std::min<Index>(get_num_threads(), (x.cols() + 15) / 16);
  if (parts < 2 || (parts - 1) * x.rows() >= x.cols() || !product_splits(multiply_adds, thin))
    return product(x, w, out, epilogue);
  // Parts 1.. in a buffer of the calling thread that only ever grows, so a steady training step
  // allocates nothing.
  thread_local std::vector<Scalar> partials;
  const Index units = out.cols(), rows = out.rows();
  if (partials.size() < size_t((parts - 1) * rows * units))
    partials.resize(size_t((parts - 1) * rows * units));
  Scalar* partial_data = partials.data();
  const auto part = [&](Index p) {
    return p == 0 ? out
                  : MatrixOut(
                        Eigen::Map<RowMatrix>(partial_data + (p - 1) * rows * units, rows, units));
  };
  const auto multiply_part = [&](Index p) {
    const auto [k0, k_size] = share_of(x.cols(), p, parts);
    if (k_size > 0)
      part(p).noalias() = x.middleCols(k0, k_size) * w.middleRows(k0, k_size);
    else
      part(p).setZero();
  };
  const auto add_parts = [&](Index c0, Index c_size) {
    for (Index p = 1; p < parts; ++p) out.middleCols(c0, c_size) += part(p).middleCols(c0, c_size);
  };
  run_team(product_threads(multiply_adds, thin), multiply_adds, double(out.size()),
           [&](Index thread, Index team) {
             for (Index p = thread; p < parts; p += team) multiply_part(p);
             if (team > 1) {
#pragma omp barrier
             }
             const auto [c0, c_size] = share_of(units, thread, team);
             if (c_size > 0) {
               add_parts(c0, c_size);
               epilogue(Index(0), rows, c0, c_size);
             }
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
  if (splits_by_rows(dw.rows(), dw.cols())) {  // each thread's block is whole rows
    product(x_hat.transpose(), dy, dw, [&](Index r0, Index rows, Index, Index) {
      for (Index j = r0; j < r0 + rows; ++j) finish_rows(j);
    });
  } else {
    product(x_hat.transpose(), dy, dw);
    parallel_for(in, in * units, finish_rows);
  }
}

}  // namespace densekit
