#include "densekit/kernels/batch_norm.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"

namespace densekit {
namespace {

// Columns per tile. Every kernel walks a tile of columns row by row: the inner loop runs over
// contiguous memory (row-major) and vectorizes, each feature's sums sit on the stack in double,
// and a thread owns whole columns, so no per-thread partial sums, scratch or reduction is needed
// and the result does not depend on the thread count. Measured for the training forward on
// (32..256, 784) and (256, 100): 6-8x faster than a strided column-by-column walk and 2-3x faster
// than per-thread partial column sums over row blocks; 64 beat tiles of 16, 32 and 128.
constexpr Index kTile = 64;

// Runs body(j0, w) on each tile of w <= kTile columns starting at column j0. Part p of the loop's
// Partition tiles its share of the columns, the rows of w that the next layer's forward deals to
// the same thread, so the normalized features stay in the cache of the core that multiplies them.
template <class Body>
void for_each_column_tile(Index rows, Index cols, Body&& body) {
  const Partition plan = Partition::loop(rows * cols);
  plan.for_each_part([&](Index p) {
    const auto [start, size] = plan.share(cols, p);
    for (Index j0 = start; j0 < start + size; j0 += kTile)
      body(j0, std::min(kTile, start + size - j0));
  });
}

template <class M>
auto row_ptr(M& m, Index i) {
  return m.data() + i * m.outerStride();
}

// 1/√(σ² + ε), defined as 0 when σ² + ε is 0 (epsilon=0 and a constant feature) so x̂ = 0.
double inverse_std(double variance, double epsilon) {
  const double d = variance + epsilon;
  return d > 0 ? 1.0 / std::sqrt(d) : 0.0;
}

// γ and β are optional (scale=False / center=False): empty, or (1, features).
void require_optional(const char* where, const char* name, VectorIn v, Index features) {
  if (v.cols() != 0) require_shape(where, name, v.rows(), v.cols(), 1, features);
}

void require_vector(const char* where, const char* name, VectorIn v, Index features) {
  require_shape(where, name, v.rows(), v.cols(), 1, features);
}

// Batch statistics of an empty batch are undefined.
void require_rows(const char* where, const char* name, MatrixIn m) {
  if (m.rows() < 1)
    throw ShapeError(std::string(where) + ": " + name + " must have at least one row; got " +
                     shape_string(m.rows(), m.cols()));
}

}  // namespace

// Two passes per tile in double, mean then centered sum of squares (E[x²] - E[x]² cancels
// catastrophically when |μ| >> σ), then one pass writing x̂ and y.
void batch_norm_forward_training(MatrixIn x, VectorIn gamma, VectorIn beta, Scalar epsilon,
                                 VectorOut mean, VectorOut var, VectorOut inv_std, MatrixOut x_hat,
                                 MatrixOut y) {
  const char* where = "batch_norm_forward_training";
  const Index n = x.rows(), f = x.cols();
  require_rows(where, "x", x);
  require_optional(where, "gamma", gamma, f);
  require_optional(where, "beta", beta, f);
  require_vector(where, "mean", mean, f);
  require_vector(where, "var", var, f);
  require_vector(where, "inv_std", inv_std, f);
  require_shape(where, "x_hat", x_hat.rows(), x_hat.cols(), n, f);
  require_shape(where, "y", y.rows(), y.cols(), n, f);
  for_each_column_tile(n, f, [&](Index j0, Index w) {
    double sum[kTile] = {}, squares[kTile] = {};
    for (Index i = 0; i < n; ++i) {
      const Scalar* xi = row_ptr(x, i) + j0;
      for (Index k = 0; k < w; ++k) sum[k] += xi[k];
    }
    for (Index k = 0; k < w; ++k) sum[k] /= double(n);  // now the mean
    for (Index i = 0; i < n; ++i) {
      const Scalar* xi = row_ptr(x, i) + j0;
      for (Index k = 0; k < w; ++k) {
        const double d = xi[k] - sum[k];
        squares[k] += d * d;
      }
    }
    Scalar m[kTile], s[kTile], g[kTile], b[kTile];
    for (Index k = 0; k < w; ++k) {
      const Index j = j0 + k;
      const double v = squares[k] / double(n);
      m[k] = mean(j) = Scalar(sum[k]);
      s[k] = inv_std(j) = Scalar(inverse_std(v, epsilon));
      var(j) = Scalar(v);
      g[k] = gamma.cols() != 0 ? gamma(j) : Scalar(1);
      b[k] = beta.cols() != 0 ? beta(j) : Scalar(0);
    }
    for (Index i = 0; i < n; ++i) {
      const Scalar* xi = row_ptr(x, i) + j0;
      Scalar* hi = row_ptr(x_hat, i) + j0;
      Scalar* yi = row_ptr(y, i) + j0;
      for (Index k = 0; k < w; ++k) {
        const Scalar h = (xi[k] - m[k]) * s[k];
        hi[k] = h;
        yi[k] = g[k] * h + b[k];
      }
    }
  });
}

// A handful of features: one thread, no fork.
void batch_norm_update_moving(VectorOut moving_mean, VectorOut moving_var, VectorIn mean,
                              VectorIn var, Scalar momentum) {
  const char* where = "batch_norm_update_moving";
  const Index f = moving_mean.cols();
  require_vector(where, "moving_var", moving_var, f);
  require_vector(where, "mean", mean, f);
  require_vector(where, "var", var, f);
  const Scalar keep = momentum, take = Scalar(1) - momentum;
  for (Index j = 0; j < f; ++j) {
    moving_mean(j) = moving_mean(j) * keep + mean(j) * take;
    moving_var(j) = moving_var(j) * keep + var(j) * take;
  }
}

// Folded as Keras's backend does: y = x·scale + shift, scale = γ/√(moving_var + ε),
// shift = β - moving_mean·scale.
void batch_norm_forward_inference(MatrixIn x, VectorIn gamma, VectorIn beta, VectorIn moving_mean,
                                  VectorIn moving_var, Scalar epsilon, MatrixOut y) {
  const char* where = "batch_norm_forward_inference";
  const Index n = x.rows(), f = x.cols();
  require_optional(where, "gamma", gamma, f);
  require_optional(where, "beta", beta, f);
  require_vector(where, "moving_mean", moving_mean, f);
  require_vector(where, "moving_var", moving_var, f);
  require_shape(where, "y", y.rows(), y.cols(), n, f);
  for_each_column_tile(n, f, [&](Index j0, Index w) {
    // In float, a loop the compiler vectorizes: for a single sample these 1/√ are most of the
    // work (double and std::sqrt's errno path took 2.4 µs for 784 features).
    Scalar scale[kTile], shift[kTile];
    const Scalar* v = moving_var.data() + j0;
    for (Index k = 0; k < w; ++k) {
      const Scalar d = v[k] + epsilon;
      const Scalar inverse = Scalar(1) / std::sqrt(std::max(d, Scalar(0)));  // Inf at 0: not used
      scale[k] = d > 0 ? inverse : Scalar(0);
    }
    if (gamma.cols() != 0)
      for (Index k = 0; k < w; ++k) scale[k] *= gamma(j0 + k);
    for (Index k = 0; k < w; ++k)
      shift[k] = (beta.cols() != 0 ? beta(j0 + k) : Scalar(0)) - moving_mean(j0 + k) * scale[k];
    for (Index i = 0; i < n; ++i) {
      const Scalar* xi = row_ptr(x, i) + j0;
      Scalar* yi = row_ptr(y, i) + j0;
      for (Index k = 0; k < w; ++k) yi[k] = xi[k] * scale[k] + shift[k];
    }
  });
}

// Derivation, per feature, with g = ∂L/∂x̂ = γ·dy and s = inv_std:
//   ∂μ/∂x_i = 1/n,  ∂σ²/∂x_i = 2(x_i - μ)/n  (the Σ(x - μ) term vanishes),
//   ∂s/∂x_i = -½ s³ ∂σ²/∂x_i = -s² x̂_i / n,
//   ∂x̂_k/∂x_i = s(δ_ki - 1/n) + (x_k - μ) ∂s/∂x_i = s(δ_ki - 1/n - x̂_k x̂_i / n),
//   dx_i = Σ_k g_k ∂x̂_k/∂x_i = γ s (dy_i - Σdy/n - x̂_i Σ(dy ⊙ x̂)/n).
// One pass for the two sums (double), one pass for dx.
void batch_norm_backward_training(MatrixIn x_hat, MatrixIn dy, VectorIn gamma, VectorIn inv_std,
                                  MatrixOut dx, VectorOut dgamma, VectorOut dbeta) {
  const char* where = "batch_norm_backward_training";
  const Index n = x_hat.rows(), f = x_hat.cols();
  require_rows(where, "x_hat", x_hat);
  require_shape(where, "dy", dy.rows(), dy.cols(), n, f);
  require_optional(where, "gamma", gamma, f);
  require_vector(where, "inv_std", inv_std, f);
  const bool want_dx = dx.rows() != 0;
  if (want_dx) require_shape(where, "dx", dx.rows(), dx.cols(), n, f);
  require_optional(where, "dgamma", dgamma, f);
  require_optional(where, "dbeta", dbeta, f);
  for_each_column_tile(n, f, [&](Index j0, Index w) {
    double sum_dy[kTile] = {}, sum_dy_xh[kTile] = {};
    for (Index i = 0; i < n; ++i) {
      const Scalar* di = row_ptr(dy, i) + j0;
      const Scalar* hi = row_ptr(x_hat, i) + j0;
      for (Index k = 0; k < w; ++k) {
        sum_dy[k] += di[k];
        sum_dy_xh[k] += double(di[k]) * hi[k];
      }
    }
    for (Index k = 0; k < w; ++k) {
      if (dbeta.cols() != 0) dbeta(j0 + k) = Scalar(sum_dy[k]);
      if (dgamma.cols() != 0) dgamma(j0 + k) = Scalar(sum_dy_xh[k]);
    }
    if (!want_dx) return;
    Scalar c[kTile], mean_dy[kTile], mean_dy_xh[kTile];  // dx = c·(dy - mean_dy - x̂·mean_dy_xh)
    for (Index k = 0; k < w; ++k) {
      const Index j = j0 + k;
      c[k] = (gamma.cols() != 0 ? gamma(j) : Scalar(1)) * inv_std(j);
      mean_dy[k] = Scalar(sum_dy[k] / double(n));
      mean_dy_xh[k] = Scalar(sum_dy_xh[k] / double(n));
    }
    for (Index i = 0; i < n; ++i) {
      const Scalar* di = row_ptr(dy, i) + j0;
      const Scalar* hi = row_ptr(x_hat, i) + j0;
      Scalar* dxi = row_ptr(dx, i) + j0;
      for (Index k = 0; k < w; ++k) dxi[k] = c[k] * (di[k] - mean_dy[k] - hi[k] * mean_dy_xh[k]);
    }
  });
}

// y is affine in x with constant statistics, so dx is dy scaled; the sums come first so that
// dx may overwrite dy.
void batch_norm_backward_inference(MatrixIn x, MatrixIn dy, VectorIn gamma, VectorIn moving_mean,
                                   VectorIn moving_var, Scalar epsilon, MatrixOut dx,
                                   VectorOut dgamma, VectorOut dbeta) {
  const char* where = "batch_norm_backward_inference";
  const Index n = x.rows(), f = x.cols();
  require_shape(where, "dy", dy.rows(), dy.cols(), n, f);
  require_optional(where, "gamma", gamma, f);
  require_vector(where, "moving_mean", moving_mean, f);
  require_vector(where, "moving_var", moving_var, f);
  const bool want_dx = dx.rows() != 0;
  if (want_dx) require_shape(where, "dx", dx.rows(), dx.cols(), n, f);
  require_optional(where, "dgamma", dgamma, f);
  require_optional(where, "dbeta", dbeta, f);
  const bool want_sums = dgamma.cols() != 0 || dbeta.cols() != 0;
  for_each_column_tile(n, f, [&](Index j0, Index w) {
    Scalar s[kTile], m[kTile], scale[kTile];
    for (Index k = 0; k < w; ++k) {
      const Index j = j0 + k;
      s[k] = Scalar(inverse_std(moving_var(j), epsilon));
      m[k] = moving_mean(j);
      scale[k] = (gamma.cols() != 0 ? gamma(j) : Scalar(1)) * s[k];
    }
    if (want_sums) {
      double sum_dy[kTile] = {}, sum_dy_xh[kTile] = {};
      for (Index i = 0; i < n; ++i) {
        const Scalar* xi = row_ptr(x, i) + j0;
        const Scalar* di = row_ptr(dy, i) + j0;
        for (Index k = 0; k < w; ++k) {
          sum_dy[k] += di[k];
          sum_dy_xh[k] += double(di[k]) * ((xi[k] - m[k]) * s[k]);
        }
      }
      for (Index k = 0; k < w; ++k) {
        if (dbeta.cols() != 0) dbeta(j0 + k) = Scalar(sum_dy[k]);
        if (dgamma.cols() != 0) dgamma(j0 + k) = Scalar(sum_dy_xh[k]);
      }
    }
    if (!want_dx) return;
    for (Index i = 0; i < n; ++i) {
      const Scalar* di = row_ptr(dy, i) + j0;
      Scalar* dxi = row_ptr(dx, i) + j0;
      for (Index k = 0; k < w; ++k) dxi[k] = di[k] * scale[k];
    }
  });
}

}  // namespace densekit
