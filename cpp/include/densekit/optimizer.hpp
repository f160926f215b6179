// Keras 3's optimizers applied to a list of parameters in one call: an update rule
// (kernels/update_rules.hpp) with the base optimizer's gradient clipping, decoupled weight decay,
// gradient accumulation, moving averages (EMA) and learning-rate schedule. The slots live here,
// keyed by parameter, as in Keras where the optimizer owns them.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "densekit/kernels/update_rules.hpp"
#include "densekit/layers/layer.hpp"
#include "densekit/schedules.hpp"

namespace densekit {

// Keras's clipvalue / clipnorm / global_clipnorm; 0 means "not set" (Keras: None).
struct ClipSpec {
  Scalar clipvalue = 0;
  Scalar clipnorm = 0;
  Scalar global_clipnorm = 0;
};

// What the base optimizer adds to every rule; 0 means "not set" (Keras: None).
struct OptimizerSettings {
  RuleSettings rule;
  ClipSpec clip;
  Scalar weight_decay = 0;
  bool use_ema = false;
  Scalar ema_momentum = 0.99f;
  std::int64_t ema_overwrite_frequency = 0;
  std::int64_t gradient_accumulation_steps = 0;
};

// A parameter's state: the rule's slots (kernels/update_rules.hpp gives their positions), the
// moving average and the gradient accumulator; a matrix that is not used is empty.
struct VariableState {
  std::array<RowMatrix, kMaxSlots> slots;
  RowMatrix average;
  RowMatrix accumulator;
  bool decays = true;  // weight decay applies
  StateBounds bounds;  // the largest magnitudes in the state, kept by every step
};

// The settings of Keras's SGD(momentum, nesterov) with this clipping.
OptimizerSettings sgd_settings(Scalar momentum, bool nesterov, const ClipSpec& clip);

class Optimizer {
 public:
  Optimizer(const OptimizerSettings& settings, Scalar learning_rate);

  // Creates the state of these parameters (slots at their initial values). Called at compile time
  // so that the training step allocates nothing (after a set_num_threads that raises the count,
  // the first step does once); the state of parameters seen before is kept.
  void build(const std::vector<std::shared_ptr<Parameter>>& params);

  // One optimizer step on the gradients of params: accumulates them, or clips them in place and
  // updates the values and the state; steps and the averages move either way. Unless a gradient
  // (before clipping) or a result is not finite: then no value, state or count changes and it
  // returns false (the gradients may be left clipped or averaged). Passes over all the parameters
  // at once, each thread on the same rows of every parameter: the norms (clipnorm,
  // global_clipnorm), clip-and-check, update. batch_rows: the rows of the batch whose gradients
  // these are, when known (0: not known), which tells what ran on which thread. After an applied
  // step, the parameters that have a constraint are projected (Keras applies it on every step).
  bool apply(const std::vector<Parameter*>& params, Index batch_rows = 0);

  // EMA: every parameter takes its moving average (Keras's finalize_variable_values).
  void finalize_variable_values(const std::vector<std::shared_ptr<Parameter>>& params);

  // Whether weight decay applies to the parameter (Keras's exclude_from_weight_decay).
  void set_decays(const Parameter* p, bool decays);

  // Measures the state's bounds again: after the state was written from outside (loading a file),
  // so that a step can tell from them that it cannot overflow.
  void refresh_bounds();

  // The learning rate of the next step: the schedule's, or learning_rate.
  double current_learning_rate() const;
  // Keras's optimizer.iterations: the updates applied (steps over the accumulation).
  std::int64_t iterations() const;

  // The parameter's state, or null before build saw it; one of its slots, or null when the
  // parameter or the slot does not exist.
  VariableState* state(const Parameter* p);
  RowMatrix* slot(const Parameter* p, int position);

  const OptimizerSettings settings;
  Scalar learning_rate;
  std::shared_ptr<LearningRateSchedule> schedule;  // null: learning_rate
  std::int64_t steps = 0;  // Keras's _iterations: every step, accumulating ones included
  double u_product = 1;    // Nadam's product of the u of the steps so far

 private:
  // A contiguous run of one parameter's elements (whole rows), taken by one thread.
  struct Chunk {
    Parameter* parameter;
    VariableState* state;
    size_t owner;  // index of the parameter in apply's list
    Index start, size;
    double squares;     // Σ g² over the chunk, for the norms
    GradientScan scan;  // of the clipped gradient and the values
    StateBounds next;   // bounds of the state after the update
  };

  VariableState& state_for_update(Parameter* p);
  UpdateRun run_of(const Chunk& c) const;
  UpdateRun run_of(VariableState& s, Index start, Index size) const;
  void split_into_runs(const std::vector<Parameter*>& params, Index parts, Index batch_rows);
  void compute_clip_scales(size_t parameters);  // scales_ from the chunks' squares
  StepScalars this_step(bool accumulate_only) const;
  // Whether the step is finite by the chunks' scans and the bounds alone (then each chunk's next
  // holds the bounds after it).
  bool surely_finite(const StepScalars& step);
  void keep_bounds(bool bounded);
  void apply_constraints(const std::vector<Parameter*>& params);  // after an applied update
  bool plain_sgd() const;  // SGD without momentum, decay, averages or accumulation

  std::map<const Parameter*, VariableState> states_;
  std::vector<std::shared_ptr<Parameter>> owners_;  // keeps state keys alive
  // Reused every step; build reserves them for every parameter it saw, so apply allocates nothing.
  std::vector<Chunk> chunks_;
  std::vector<size_t> run_starts_;  // part t's chunks: [run_starts_[t], run_starts_[t + 1])
  std::vector<Scalar> scales_;      // per parameter: the factor clipnorm or global_clipnorm applies
  std::vector<double> squares_;     // per parameter: Σ g², summed over its chunks
  size_t parameter_count_ = 0;
};

}  // namespace densekit
