#include "densekit/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "densekit/error.hpp"
#include "densekit/kernels/clipping.hpp"
#include "densekit/kernels/sgd.hpp"
#include "densekit/parallel.hpp"

namespace densekit {

namespace {

void require(bool ok, const std::string& what, double value) {
  if (!ok) throw ValueError("Optimizer: " + what + ". Received: " + std::to_string(value));
}

void check_settings(const OptimizerSettings& s) {
  const int clips = (s.clip.clipvalue > 0) + (s.clip.clipnorm > 0) + (s.clip.global_clipnorm > 0);
  if (clips > 1)
    throw ValueError("Optimizer: only one of clipnorm, clipvalue and global_clipnorm can be set");
  const RuleSettings& r = s.rule;
  require(r.momentum >= 0 && r.momentum <= 1, "momentum must be in [0, 1]", r.momentum);
  require(r.beta_1 >= 0 && r.beta_1 <= 1, "beta_1 must be in [0, 1]", r.beta_1);
  require(r.beta_2 >= 0 && r.beta_2 <= 1, "beta_2 must be in [0, 1]", r.beta_2);
  require(r.rho >= 0 && r.rho <= 1, "rho must be in [0, 1]", r.rho);
  require(r.epsilon >= 0 && std::isfinite(r.epsilon), "epsilon must be >= 0", r.epsilon);
  require(r.initial_accumulator_value >= 0 && std::isfinite(r.initial_accumulator_value),
          "initial_accumulator_value must be >= 0", r.initial_accumulator_value);
  require(s.weight_decay >= 0 && std::isfinite(s.weight_decay), "weight_decay must be >= 0",
          s.weight_decay);
  require(s.ema_momentum >= 0 && s.ema_momentum <= 1, "ema_momentum must be in [0, 1]",
          s.ema_momentum);
  require(s.ema_overwrite_frequency >= 0, "ema_overwrite_frequency must be >= 0",
          double(s.ema_overwrite_frequency));
  require(s.gradient_accumulation_steps == 0 || s.gradient_accumulation_steps >= 2,
          "gradient_accumulation_steps must be >= 2", double(s.gradient_accumulation_steps));
}

// A chunk of a parameter-shaped matrix as a (1, size) view; every parameter is contiguous.
MatrixOut chunk_of(RowMatrix& m, Index start, Index size) {
  return Eigen::Map<RowMatrix>(m.data() + start, 1, size);
}

Scalar* data_at(RowMatrix& m, Index start) { return m.size() == 0 ? nullptr : m.data() + start; }

}  // namespace

OptimizerSettings sgd_settings(Scalar momentum, bool nesterov, const ClipSpec& clip) {
  OptimizerSettings s;
  s.rule.momentum = momentum;
  s.rule.nesterov = nesterov;
  s.clip = clip;
  return s;
}

Optimizer::Optimizer(const OptimizerSettings& settings_, Scalar learning_rate_)
    : settings(settings_), learning_rate(learning_rate_) {
  check_settings(settings);
}

void Optimizer::build(const std::vector<std::shared_ptr<Parameter>>& params) {
  const auto used = used_slots(settings.rule);
  for (const auto& p : params) {
    if (!p->trainable) continue;
    ++parameter_count_;
    if (states_.count(p.get())) continue;
    VariableState state;
    const Index rows = p->value.rows(), cols = p->value.cols();
    for (int k = 0; k < kMaxSlots; ++k)
      if (used[k])
        state.slots[k] = RowMatrix::Constant(rows, cols, slot_initial_value(settings.rule, k));
    if (settings.use_ema) state.average = RowMatrix::Zero(rows, cols);
    if (settings.gradient_accumulation_steps > 0) state.accumulator = RowMatrix::Zero(rows, cols);
    states_.emplace(p.get(), std::move(state));
    owners_.push_back(p);
  }
  refresh_bounds();
  const size_t parts = size_t(Partition::per_thread().parts());
  chunks_.reserve(parameter_count_ * parts);
  run_starts_.reserve(parts + 1);
  scales_.reserve(parameter_count_);
  squares_.reserve(parameter_count_);
}

VariableState* Optimizer::state(const Parameter* p) {
  auto it = states_.find(p);
  return it == states_.end() ? nullptr : &it->second;
}

RowMatrix* Optimizer::slot(const Parameter* p, int position) {
  VariableState* s = state(p);
  if (!s || position < 0 || position >= kMaxSlots || s->slots[position].size() == 0) return nullptr;
  return &s->slots[position];
}

void Optimizer::set_decays(const Parameter* p, bool decays) {
  VariableState* s = state(p);
  if (!s) throw ValueError("Optimizer: parameter '" + p->name + "' is not among its variables");
  s->decays = decays;
}

// The state's bounds after an update: those the chunks' steps promised (a parameter's chunks
// each bounded its own rows), or measured when the step could not vouch for its results.
void Optimizer::keep_bounds(bool bounded) {
  if (!bounded) {
    refresh_bounds();
    return;
  }
  for (const Chunk& c : chunks_) c.state->bounds = StateBounds{};
  for (const Chunk& c : chunks_) {
    StateBounds& b = c.state->bounds;
    for (int k = 0; k < kMaxSlots; ++k) {
      b.slots[k] = std::max(b.slots[k], c.next.slots[k]);
      b.negative[k] = b.negative[k] || c.next.negative[k];
    }
    b.average = std::max(b.average, c.next.average);
    b.accumulator = std::max(b.accumulator, c.next.accumulator);
  }
}

void Optimizer::refresh_bounds() {
  ComputeLock lock(compute_mutex());
  for (auto& [parameter, state] : states_) {
    UpdateRun run = run_of(state, 0, parameter->value.size());
    state.bounds = measure_state(run);  // only the state: no w or g
  }
}

VariableState& Optimizer::state_for_update(Parameter* p) {
  VariableState* s = state(p);
  if (!s)
    throw ValueError("Optimizer: parameter '" + p->name +
                     "' has no optimizer state; compile the model again");
  return *s;
}

std::int64_t Optimizer::iterations() const {
  const std::int64_t n = settings.gradient_accumulation_steps;
  return n > 0 ? steps / n : steps;
}

double Optimizer::current_learning_rate() const {
  return schedule ? schedule->learning_rate(steps) : double(learning_rate);
}

bool Optimizer::plain_sgd() const {
  return settings.rule.rule == UpdateRule::sgd && settings.rule.momentum == 0 &&
         settings.weight_decay == 0 && !settings.use_ema &&
         settings.gradient_accumulation_steps == 0;
}

// The rate, μ or β₁, and the averages' η of the step about to run. Asks the schedule (which may
// be a Python function, and may throw) before anything is written.
StepScalars Optimizer::this_step(bool accumulate_only) const {
  const double rate = current_learning_rate();
  if (!(rate >= 0 && rate < 3.4e38))
    throw ValueError("Optimizer: the learning rate schedule gave " + std::to_string(rate) +
                     " at step " + std::to_string(steps) + "; it must be finite and >= 0");
  const RuleSettings& r = settings.rule;
  const bool beta_family = r.rule == UpdateRule::adam || r.rule == UpdateRule::adamax ||
                           r.rule == UpdateRule::nadam || r.rule == UpdateRule::lion;
  double mu = beta_family ? r.beta_1 : r.momentum;
  if (schedule) {
    const double scheduled = schedule->momentum(steps);
    if (!std::isnan(scheduled)) mu = scheduled;
  }
  StepScalars c = step_scalars(r, rate, mu, iterations(), u_product);
  c.accumulate_only = accumulate_only;
  if (settings.weight_decay > 0) c.decay = Scalar(1 - double(settings.weight_decay) * rate);
  if (settings.use_ema) {
    c.ema_momentum = iterations() != 0 ? settings.ema_momentum : Scalar(0);
    const std::int64_t every = settings.ema_overwrite_frequency;
    c.ema_overwrite = every > 0 && (iterations() + 1) % every == 0;
  }
  return c;
}

bool Optimizer::surely_finite(const StepScalars& step) {
  for (Chunk& c : chunks_)
    if (!update_cannot_overflow(step, c.state->bounds, c.scan.w_bound, c.scan.g_bound,
                                c.state->decays, &c.next))
      return false;
  return true;
}

UpdateRun Optimizer::run_of(const Chunk& c) const {
  UpdateRun run = run_of(*c.state, c.start, c.size);
  run.w = c.parameter->value.data() + c.start;
  run.g = c.parameter->grad.data() + c.start;
  return run;
}

// Elements [start, start + size) of a state's arrays; w and g are left null.
UpdateRun Optimizer::run_of(VariableState& s, Index start, Index size) const {
  UpdateRun run{nullptr,
                nullptr,
                {},
                data_at(s.average, start),
                data_at(s.accumulator, start),
                s.decays && settings.weight_decay > 0,
                size};
  for (int k = 0; k < kMaxSlots; ++k) run.slots[k] = data_at(s.slots[k], start);
  return run;
}

// Deals every parameter out in the parts of the Partition its gradient had (a matrix: a product
// over batch_rows rows; a vector: a loop over the batch's columns, as batch norm's column tiles;
// per_thread when batch_rows is not known), so each thread updates the rows whose gradient it
// computed and which it reads in the next step: on these shared cores a cache line that moves
// between the two cores costs 4-5x more at times. A gradient computed whole, on the calling
// thread, stays whole on it (20 layers of 100x100 at batch 32: 1400 -> 770 µs a step at such
// times). A part is whole rows (elements of a 1-row parameter): a chunk must be contiguous, so a
// wide kernel, whose gradient was split by columns, is still updated by rows. Part t's chunks are
// [run_starts_[t], run_starts_[t + 1]). Throws (state_for_update) before any write when a
// parameter has no state.
void Optimizer::split_into_runs(const std::vector<Parameter*>& params, Index parts,
                                Index batch_rows) {
  chunks_.clear();
  run_starts_.assign(1, 0);
  for (Index t = 0; t < parts; ++t) {
    for (size_t i = 0; i < params.size(); ++i) {
      VariableState* state = &state_for_update(params[i]);
      const Index rows = params[i]->value.rows(), cols = params[i]->value.cols();
      const Index extent = rows > 1 ? rows : cols, row_size = rows > 1 ? cols : 1;
      Partition plan = batch_rows == 0 ? Partition::per_thread()
                       : rows > 1      ? Partition::product(rows, cols, batch_rows)
                                       : Partition::loop(batch_rows * cols);
      // Every rule but plain SGD does enough per element (Adam: a square root and a division)
      // that a gradient computed whole is still better updated by every thread: the deep model's
      // 100x100 layers at batch 32, Adam 161 -> 96 µs a step; its slots stay with the thread that
      // updates them.
      if (plan.parts() == 1 && !plain_sgd()) plan = Partition::per_thread();
      const auto [start, size] = plan.share(extent, t);
      if (size > 0)
        chunks_.push_back(
            Chunk{params[i], state, i, start * row_size, size * row_size, 0.0, {}, {}});
    }
    run_starts_.push_back(chunks_.size());
  }
}

// g ← g · c / max(‖g‖, c), each parameter by its own norm or all by their joint norm. A NaN norm
// leaves the scale at 1 (the check pass then refuses the step); an infinite one gives 0.
void Optimizer::compute_clip_scales(size_t parameters) {
  const ClipSpec& clip = settings.clip;
  scales_.assign(parameters, Scalar(1));
  const double limit = clip.clipnorm > 0 ? clip.clipnorm : clip.global_clipnorm;
  if (!(limit > 0)) return;
  squares_.assign(parameters, 0.0);
  for (const Chunk& c : chunks_) squares_[c.owner] += c.squares;
  if (clip.global_clipnorm > 0) {
    double total = 0;
    for (double squares : squares_) total += squares;
    const double norm = std::sqrt(total);
    std::fill(scales_.begin(), scales_.end(), norm > limit ? Scalar(limit / norm) : Scalar(1));
    return;
  }
  for (size_t i = 0; i < parameters; ++i) {
    const double norm = std::sqrt(squares_[i]);
    scales_[i] = norm > limit ? Scalar(limit / norm) : Scalar(1);
  }
}

bool Optimizer::apply(const std::vector<Parameter*>& params, Index batch_rows) {
  Index elements = 0;
  for (const Parameter* p : params) elements += p->value.size();
  // One run per part of the per-thread Partition (a gradient's product has as many parts or one);
  // how many threads run them now does not change the chunks, so nor the norms' sums.
  const Index threads = Partition::per_thread().parts();
  split_into_runs(params, threads, batch_rows);
  const std::int64_t accumulation = settings.gradient_accumulation_steps;
  const bool accumulate_only = accumulation > 0 && (steps + 1) % accumulation != 0;
  const StepScalars step = this_step(accumulate_only);
  // body(chunk) over every chunk, each thread along its own run (on one thread: all, in order).
  const auto over_runs = [&](const auto& body) {
    parallel_for(threads, elements, [&](Index t) {
      for (size_t c = run_starts_[t]; c < run_starts_[t + 1]; ++c) body(chunks_[c]);
    });
  };
  const auto sum_over_runs = [&](const auto& body) {
    return parallel_sum(threads, elements, [&](Index t) {
      double total = 0;
      for (size_t c = run_starts_[t]; c < run_starts_[t + 1]; ++c) total += body(chunks_[c]);
      return total;
    });
  };
  const ClipSpec& clip = settings.clip;
  const bool norms = !accumulate_only && (clip.clipnorm > 0 || clip.global_clipnorm > 0);
  // On an update step after accumulation, the gradient is the mean of the accumulated ones and
  // this one (clipped as a whole, as Keras clips it).
  const bool average_gradients = accumulation > 0 && !accumulate_only;
  if (norms || average_gradients)
    over_runs([&](Chunk& c) {
      MatrixOut g = chunk_of(c.parameter->grad, c.start, c.size);
      if (average_gradients)
        g = (g + chunk_of(c.state->accumulator, c.start, c.size)) / Scalar(accumulation);
      c.squares = norms ? squared_norm(g) : 0.0;
    });
  // A non-finite norm means a non-finite gradient: refuse before clipping writes anything, so
  // the gradients stay as they came (with clipvalue or no clipping, the check pass below finds it
  // and the gradients are left clipped).
  for (const Chunk& c : chunks_)
    if (!std::isfinite(c.squares)) return false;
  compute_clip_scales(params.size());
  const Scalar clipvalue = accumulate_only ? Scalar(0) : clip.clipvalue;
  // Clip in place and check in one pass: the sum is 0, or NaN when a gradient (or, for plain SGD,
  // a result) is not finite.
  const double marker = sum_over_runs([&](Chunk& c) {
    Scalar* g = c.parameter->grad.data() + c.start;
    const Scalar* w = c.parameter->value.data() + c.start;
    if (plain_sgd())  // the common case, in one pass
      return sgd_clip_and_check(w, g, c.size, scales_[c.owner], clipvalue, step.learning_rate)
                 ? 0.0
                 : std::nan("");
    c.scan = scan_and_clip(g, w, c.size, scales_[c.owner], clipvalue);
    return c.scan.finite ? 0.0 : std::nan("");
  });
  if (!(marker == 0)) return false;
  // The rule computed twice (a check, then the update) only when the bounds of the state cannot
  // rule out an overflow: with a huge learning rate or gradient.
  const bool bounded = plain_sgd() || surely_finite(step);
  if (!bounded) {
    const double results = sum_over_runs(
        [&](const Chunk& c) { return update_is_finite(step, run_of(c)) ? 0.0 : std::nan(""); });
    if (!(results == 0)) return false;
  }
  over_runs([&](const Chunk& c) {
    static RowMatrix no_slot;  // plain SGD has none
    if (plain_sgd())
      sgd_update(chunk_of(c.parameter->value, c.start, c.size),
                 chunk_of(c.parameter->grad, c.start, c.size), no_slot, step.learning_rate, 0,
                 false);
    else
      apply_update(step, run_of(c));
  });
  if (!plain_sgd()) keep_bounds(bounded);
  apply_constraints(params);
  if (settings.rule.rule == UpdateRule::nadam && !accumulate_only) u_product = step.product_t;
  ++steps;
  return true;
}

// Keras projects every variable that has a constraint after each apply_gradients, accumulating
// steps included. The bounds kept above stay valid: they bound the state (slots, averages,
// accumulators), which a constraint does not touch, and the next step measures |w| afresh.
void Optimizer::apply_constraints(const std::vector<Parameter*>& params) {
  for (Parameter* p : params) p->rules.constrain(p->value);
}

void Optimizer::finalize_variable_values(const std::vector<std::shared_ptr<Parameter>>& params) {
  ComputeLock lock(compute_mutex());
  // Before any step the averages hold their zeros, not weights: nothing to take.
  if (!settings.use_ema || steps == 0) return;
  for (const auto& p : params) {
    VariableState* s = state(p.get());
    if (s && s->average.size() == p->value.size()) p->value = s->average;
  }
}

}  // namespace densekit
