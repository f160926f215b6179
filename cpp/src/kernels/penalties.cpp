#include "densekit/kernels/penalties.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"

namespace densekit {

namespace {

Index orthogonal_size(const PenaltySpec& spec, Index rows, Index cols) {
  return spec.columns ? cols : rows;
}

inline double sign_of(double v) { return double(v > 0) - double(v < 0); }

// Σ l1|w| + l2 w² over w; with grad, also grad += scale (l1 sign(w) + 2 l2 w). Row by row on the
// thread team: a row's sum and gradient stay with one thread. A row is summed in float by Eigen's
// vectorized reduction (several partial sums, so its error stays that of a short sum), the rows in
// double.
double l1_l2(const PenaltySpec& spec, MatrixIn w, Scalar* grad, Index grad_stride, double scale) {
  using RowArray = Eigen::Array<Scalar, 1, Eigen::Dynamic>;
  const Index cols = w.cols();
  const Scalar a = Scalar(scale * spec.l1), b = Scalar(2 * scale * spec.l2);
  const bool l1 = spec.l1 != 0, l2 = spec.l2 != 0;
  return parallel_sum(w.rows(), w.size(), [&](Index r) {
    const Eigen::Map<const RowArray> row(w.data() + r * w.outerStride(), cols);
    double value = 0;
    if (l1) value += spec.l1 * double(row.abs().sum());
    if (l2) value += spec.l2 * double(row.square().sum());
    if (grad != nullptr) {
      Eigen::Map<RowArray> g(grad + r * grad_stride, cols);
      if (l1 && l2)
        g += a * ((row > 0).cast<Scalar>() - (row < 0).cast<Scalar>()) + b * row;
      else if (l2)
        g += b * row;
      else if (l1)
        g += a * ((row > 0).cast<Scalar>() - (row < 0).cast<Scalar>());
    }
    return value;
  });
}

// n, inv and the product matrix of the orthogonal penalty; returns Σ_{i≠k} |P_ik|.
double orthogonal_products(const PenaltySpec& spec, MatrixIn w, PenaltyScratch& s) {
  const double cap = 1 / kKerasEpsilon;
  const Index size = s.inverse.size();
  for (Index i = 0; i < size; ++i) {
    const double squares = spec.columns ? w.col(i).cast<double>().squaredNorm()
                                        : w.row(i).cast<double>().squaredNorm();
    s.inverse[i] = Scalar(std::min(1 / std::sqrt(squares), cap));
  }
  if (spec.columns) {
    s.normalized.noalias() = w * s.inverse.asDiagonal();
    s.products.noalias() = s.normalized.transpose() * s.normalized;
  } else {
    s.normalized.noalias() = s.inverse.transpose().asDiagonal() * w;
    s.products.noalias() = s.normalized * s.normalized.transpose();
  }
  double total = 0;
  for (Index i = 0; i < size; ++i)
    for (Index k = 0; k < size; ++k)
      if (i != k) total += std::abs(double(s.products(i, k)));
  return total;
}

double orthogonal_scale(const PenaltySpec& spec, Index size) {
  const double pairs = double(size) * double(size - 1) / 2;
  return spec.factor * 0.5 / pairs;
}

}  // namespace

void PenaltyScratch::reserve(const PenaltySpec& spec, Index rows, Index cols) {
  if (spec.kind != PenaltyKind::orthogonal) {
    *this = PenaltyScratch{};
    return;
  }
  const Index size = orthogonal_size(spec, rows, cols);
  normalized.resize(rows, cols);
  dn.resize(rows, cols);
  products.resize(size, size);
  inverse.resize(size);
}

void check_penalty(const PenaltySpec& spec, Index rows, Index cols, const char* where) {
  const auto require = [&](double value, const char* name) {
    if (!(value >= 0 && std::isfinite(value)))
      throw ValueError(std::string(where) + ": " + name +
                       " must be a non-negative finite number. Received: " + name + "=" +
                       std::to_string(value));
  };
  switch (spec.kind) {
    case PenaltyKind::none:
      return;
    case PenaltyKind::l1_l2:
      require(spec.l1, "l1");
      require(spec.l2, "l2");
      return;
    case PenaltyKind::orthogonal:
      require(spec.factor, "factor");
      if (orthogonal_size(spec, rows, cols) < 2)
        throw ValueError(std::string(where) + ": OrthogonalRegularizer compares " +
                         (spec.columns ? "columns" : "rows") + " and needs at least 2; got a (" +
                         std::to_string(rows) + ", " + std::to_string(cols) + ") matrix");
      return;
  }
}

double penalty_value(const PenaltySpec& spec, MatrixIn w, PenaltyScratch& scratch) {
  switch (spec.kind) {
    case PenaltyKind::none:
      return 0;
    case PenaltyKind::l1_l2:
      return l1_l2(spec, w, nullptr, 0, 0);
    case PenaltyKind::orthogonal:
      return orthogonal_scale(spec, scratch.inverse.size()) * orthogonal_products(spec, w, scratch);
  }
  return 0;
}

double penalty_add_gradient(const PenaltySpec& spec, MatrixIn w, MatrixOut grad, double scale,
                            PenaltyScratch& s) {
  if (grad.rows() != w.rows() || grad.cols() != w.cols())
    throw ShapeError("penalty_add_gradient: grad's shape differs from w's");
  switch (spec.kind) {
    case PenaltyKind::none:
      return 0;
    case PenaltyKind::l1_l2:
      return l1_l2(spec, w, grad.data(), grad.outerStride(), scale);
    case PenaltyKind::orthogonal:
      break;
  }
  const Index size = s.inverse.size();
  const double c = orthogonal_scale(spec, size);
  const double value = c * orthogonal_products(spec, w, s);
  // S in place of the products, then ∂P/∂n = 2c S n (rows) or 2c n S (columns).
  for (Index i = 0; i < size; ++i)
    for (Index k = 0; k < size; ++k)
      s.products(i, k) = i == k ? 0 : Scalar(sign_of(s.products(i, k)));
  if (spec.columns)
    s.dn.noalias() = s.normalized * s.products;
  else
    s.dn.noalias() = s.products * s.normalized;
  const double cap = 1 / kKerasEpsilon;
  const Scalar dscale = Scalar(2 * c * scale);
  for (Index i = 0; i < size; ++i) {
    const double inv = s.inverse[i];
    // Where 1/ε capped the inverse norm, n_i = w_i / ε does not depend on the norm.
    const bool capped = inv >= Scalar(cap);
    if (spec.columns) {
      auto n = s.normalized.col(i);
      auto g = s.dn.col(i);
      const Scalar along = capped ? Scalar(0) : n.dot(g);
      grad.col(i) += dscale * Scalar(inv) * (g - along * n);
    } else {
      auto n = s.normalized.row(i);
      auto g = s.dn.row(i);
      const Scalar along = capped ? Scalar(0) : n.dot(g);
      grad.row(i) += dscale * Scalar(inv) * (g - along * n);
    }
  }
  return value;
}

}  // namespace densekit
