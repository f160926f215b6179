#include "densekit/regularization.hpp"

#include <string>

#include "densekit/error.hpp"

namespace densekit {

void WeightRules::set_penalty(const PenaltySpec& spec, Index rows, Index cols, const char* where) {
  check_penalty(spec, rows, cols, where);
  PenaltyScratch scratch;
  scratch.reserve(spec, rows, cols);
  penalty_ = spec;
  penalty_scratch_ = std::move(scratch);
}

void WeightRules::set_constraint(const ConstraintSpec& spec, Index rows, Index cols,
                                 const char* where) {
  check_constraint(spec, where);
  constraint_ = spec;
  norms_.resize(constraint_norm_count(spec, rows, cols));
}

double WeightRules::penalty_value(MatrixIn w) {
  return has_penalty() ? densekit::penalty_value(penalty_, w, penalty_scratch_) : 0.0;
}

double WeightRules::add_penalty_gradient(MatrixIn w, MatrixOut grad) {
  return has_penalty() ? penalty_add_gradient(penalty_, w, grad, 1.0, penalty_scratch_) : 0.0;
}

void WeightRules::constrain(MatrixOut w) {
  if (has_constraint()) apply_constraint(constraint_, w, norms_);
}

void ActivityPenalty::set(const PenaltySpec& spec, const char* where) {
  if (spec.kind == PenaltyKind::orthogonal)
    throw ValueError(std::string(where) +
                     ": an OrthogonalRegularizer is not supported as an activity regularizer");
  check_penalty(spec, 1, 1, where);
  spec_ = spec;
}

double ActivityPenalty::sum(MatrixIn y) {
  return active() ? penalty_value(spec_, y, unused_) : 0.0;
}

double ActivityPenalty::add_gradient(MatrixIn y, MatrixOut dy, Index batch) {
  if (!active() || batch == 0) return 0.0;  // Keras divides with divide_no_nan
  return penalty_add_gradient(spec_, y, dy, 1.0 / double(batch), unused_) / double(batch);
}

}  // namespace densekit
