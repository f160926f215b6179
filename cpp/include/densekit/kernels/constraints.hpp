// Weight constraints (Keras's constraints), applied in place to a (rows, cols) parameter after
// the optimizer's update. Norms ‖w‖ are taken over Keras's axis, mapped onto the stored matrix:
//   over_rows    — one norm per column (Keras axis 0 of a 2-D kernel)
//   over_columns — one norm per row (axis 1 / -1 of a 2-D kernel)
//   over_all     — one norm for the whole parameter (a 1-D parameter, or an axis list of both)
//
//   MaxNorm:     w ← w · clip(‖w‖, 0, max) / (ε + ‖w‖)
//   MinMaxNorm:  w ← w · (rate · clip(‖w‖, min, max) + (1 − rate) ‖w‖) / (ε + ‖w‖)
//   UnitNorm:    w ← w / (ε + ‖w‖)
//   NonNeg:      w ← max(w, 0)
// with Keras's ε = 1e-7. Squares are summed in double.
#pragma once

#include "densekit/types.hpp"

namespace densekit {

enum class ConstraintKind { none, max_norm, min_max_norm, non_neg, unit_norm };
enum class NormAxis { over_rows, over_columns, over_all };

struct ConstraintSpec {
  ConstraintKind kind = ConstraintKind::none;
  double min_value = 0;
  double max_value = 0;
  double rate = 1;
  NormAxis axis = NormAxis::over_rows;
};

// ValueError (prefixed with `where`) for values that are not finite or out of range.
void check_constraint(const ConstraintSpec& spec, const char* where);

// The number of norms the spec takes on a (rows, cols) matrix (the size of `norms` below).
Index constraint_norm_count(const ConstraintSpec& spec, Index rows, Index cols);

// w ← constraint(w) in place; norms: scratch of constraint_norm_count elements.
void apply_constraint(const ConstraintSpec& spec, MatrixOut w, Eigen::Ref<Eigen::VectorXd> norms);

}  // namespace densekit
