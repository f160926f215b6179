#include "densekit/kernels/constraints.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "densekit/error.hpp"

namespace densekit {

void check_constraint(const ConstraintSpec& spec, const char* where) {
  const auto require = [&](bool ok, double value, const char* name, const char* expected) {
    if (!ok)
      throw ValueError(std::string(where) + ": " + name + " must be " + expected +
                       ". Received: " + name + "=" + std::to_string(value));
  };
  const auto finite_non_negative = [&](double v, const char* name) {
    require(v >= 0 && std::isfinite(v), v, name, "a non-negative finite number");
  };
  switch (spec.kind) {
    case ConstraintKind::max_norm:
      finite_non_negative(spec.max_value, "max_value");
      return;
    case ConstraintKind::min_max_norm:
      finite_non_negative(spec.min_value, "min_value");
      finite_non_negative(spec.max_value, "max_value");
      require(spec.min_value <= spec.max_value, spec.min_value, "min_value", "<= max_value");
      require(spec.rate >= 0 && spec.rate <= 1, spec.rate, "rate", "in [0, 1]");
      return;
    default:
      return;
  }
}

Index constraint_norm_count(const ConstraintSpec& spec, Index rows, Index cols) {
  switch (spec.axis) {
    case NormAxis::over_rows:
      return cols;
    case NormAxis::over_columns:
      return rows;
    case NormAxis::over_all:
      return 1;
  }
  return 1;
}

namespace {

// The factor each norm's elements are multiplied by: desired(‖w‖) / (ε + ‖w‖).
double norm_factor(const ConstraintSpec& spec, double norm) {
  double desired = norm;
  if (spec.kind == ConstraintKind::max_norm)
    desired = std::clamp(norm, 0.0, spec.max_value);
  else if (spec.kind == ConstraintKind::min_max_norm)
    desired = spec.rate * std::clamp(norm, spec.min_value, spec.max_value) + (1 - spec.rate) * norm;
  else if (spec.kind == ConstraintKind::unit_norm)
    desired = 1;
  return desired / (kKerasEpsilon + norm);
}

}  // namespace

void apply_constraint(const ConstraintSpec& spec, MatrixOut w, Eigen::Ref<Eigen::VectorXd> norms) {
  if (spec.kind == ConstraintKind::none) return;
  if (spec.kind == ConstraintKind::non_neg) {
    w = w.cwiseMax(Scalar(0));
    return;
  }
  if (norms.size() != constraint_norm_count(spec, w.rows(), w.cols()))
    throw ShapeError("apply_constraint: norms has the wrong size");
  norms.setZero();
  // Row by row (row-major), each element's square into its norm.
  for (Index r = 0; r < w.rows(); ++r)
    for (Index c = 0; c < w.cols(); ++c) {
      const double v = w(r, c);
      const Index k = spec.axis == NormAxis::over_rows      ? c
                      : spec.axis == NormAxis::over_columns ? r
                                                            : 0;
      norms[k] += v * v;
    }
  for (Index k = 0; k < norms.size(); ++k) norms[k] = norm_factor(spec, std::sqrt(norms[k]));
  for (Index r = 0; r < w.rows(); ++r)
    for (Index c = 0; c < w.cols(); ++c) {
      const Index k = spec.axis == NormAxis::over_rows      ? c
                      : spec.axis == NormAxis::over_columns ? r
                                                            : 0;
      w(r, c) = Scalar(w(r, c) * norms[k]);
    }
}

}  // namespace densekit
