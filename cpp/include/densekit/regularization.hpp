// What Keras attaches to a variable besides its value — a regularizer (a penalty added to the
// loss) and a constraint (a projection after each update) — and a layer's activity regularizer
// (a penalty on its output). Each holds its spec and the scratch it needs, sized when the spec is
// set, so the training step allocates nothing.
#pragma once

#include "densekit/kernels/constraints.hpp"
#include "densekit/kernels/penalties.hpp"
#include "densekit/types.hpp"

namespace densekit {

// A parameter's regularizer and constraint.
class WeightRules {
 public:
  // Checks the spec for a (rows, cols) parameter (ValueError prefixed with `where`) and sizes
  // the scratch.
  void set_penalty(const PenaltySpec& spec, Index rows, Index cols, const char* where);
  void set_constraint(const ConstraintSpec& spec, Index rows, Index cols, const char* where);

  bool has_penalty() const { return penalty_.kind != PenaltyKind::none; }
  bool has_constraint() const { return constraint_.kind != ConstraintKind::none; }
  const PenaltySpec& penalty() const { return penalty_; }
  const ConstraintSpec& constraint() const { return constraint_; }

  // The penalty of w (0 without one).
  double penalty_value(MatrixIn w);
  // grad += ∂penalty/∂w; returns the penalty.
  double add_penalty_gradient(MatrixIn w, MatrixOut grad);
  // w ← constraint(w) (nothing without one).
  void constrain(MatrixOut w);

 private:
  PenaltySpec penalty_;
  PenaltyScratch penalty_scratch_;
  ConstraintSpec constraint_;
  Eigen::VectorXd norms_;
};

// A layer's activity regularizer: P(y) / batch on its output y of a batch, as Keras divides it
// so that its weight against the weight penalties does not depend on the batch size. Only the
// element-wise L1L2 penalty: its sum over rows splits over any blocks of a batch.
class ActivityPenalty {
 public:
  void set(const PenaltySpec& spec, const char* where);
  bool active() const { return spec_.kind != PenaltyKind::none; }
  const PenaltySpec& spec() const { return spec_; }

  // P(y) summed over the rows of y (not yet divided by any batch size).
  double sum(MatrixIn y);
  // dy += ∂(P(y) / batch)/∂y; returns P(y) / batch.
  double add_gradient(MatrixIn y, MatrixOut dy, Index batch);

 private:
  PenaltySpec spec_;
  PenaltyScratch unused_;  // l1_l2 needs none
};

}  // namespace densekit
