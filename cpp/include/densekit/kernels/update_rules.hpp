// The update rules of Keras 3's optimizers (keras/src/optimizers/*.py), for one contiguous run of
// a variable w, its gradient g and its slots, with t = iterations + 1 and lr the step's rate:
//   SGD      m ← μ·m − lr·g;  w ← w + m  (Nesterov: w ← w + μ·m − lr·g; μ = 0: w ← w − lr·g)
//   Adagrad  a ← a + g²;  w ← w − lr·g / √(a + ε)
//   RMSprop  v ← ρ·v + (1−ρ)·g²;  centered: ḡ ← ρ·ḡ + (1−ρ)·g, d = v − ḡ² + ε, else d = v + ε;
//            δ = lr·g / √d;  μ > 0: m ← μ·m + δ, w ← w − m;  else w ← w − δ
//   Adam     m ← β₁·m + (1−β₁)·g;  v ← β₂·v + (1−β₂)·g²;  amsgrad: v̂ ← max(v̂, v), v ← v̂;
//            w ← w − α·m / (√v + ε),  α = lr·√(1−β₂ᵗ) / (1−β₁ᵗ)
//   Adamax   m ← β₁·m + (1−β₁)·g;  u ← max(β₂·u, |g|);  w ← w − lr·m / ((u + ε)(1−β₁ᵗ))
//   Nadam    m, v as Adam; with uₜ = β₁(1 − ½·0.96ᵗ) and Πₜ = u₁⋯uₜ:
//            m̂ = uₜ₊₁·m / (1 − Πₜ·uₜ₊₁) + (1−uₜ)·g / (1 − Πₜ);  w ← w − lr·m̂ / (√(v/(1−β₂ᵗ)) + ε)
//   Lion     w ← w − lr·sign(β₁·m + (1−β₁)·g);  m ← β₂·m + (1−β₂)·g
// Around every rule, as Keras's base optimizer: decoupled weight decay first, w ← w·(1 − wd·lr)
// for the variables that decay, and after it the moving average of EMA, a ← η·a + (1−η)·w, with
// w ← a on the steps that overwrite.
#pragma once

#include <array>
#include <cstdint>

#include "densekit/types.hpp"

namespace densekit {

enum class UpdateRule { sgd, adagrad, rmsprop, adam, adamax, nadam, lion };

// A rule and its hyperparameters (Keras's names and defaults; each rule reads its own).
struct RuleSettings {
  UpdateRule rule = UpdateRule::sgd;
  Scalar momentum = 0;    // SGD, RMSprop
  bool nesterov = false;  // SGD
  Scalar beta_1 = 0.9f;   // Adam, Adamax, Nadam, Lion
  Scalar beta_2 = 0.999f;
  Scalar epsilon = 1e-7f;
  bool amsgrad = false;  // Adam
  Scalar rho = 0.9f;     // RMSprop
  bool centered = false;
  Scalar initial_accumulator_value = 0.1f;  // Adagrad
};

// A variable's slots sit at fixed positions per rule; a position the settings do not use is empty.
//   SGD: 0 momentum          Adagrad: 0 accumulator   RMSprop: 0 velocity, 1 momentum, 2 average
//   Adam: 0 momentum, 1 velocity, 2 velocity_hat      Adamax: 0 momentum, 1 norm
//   Nadam: 0 momentum, 1 velocity                     Lion: 0 momentum
inline constexpr int kMaxSlots = 3;
std::array<bool, kMaxSlots> used_slots(const RuleSettings& settings);
Scalar slot_initial_value(const RuleSettings& settings, int position);

// The scalars of one step, computed once on the calling thread.
struct StepScalars {
  RuleSettings settings;
  Scalar learning_rate = 0;
  Scalar momentum = 0;  // SGD's or RMSprop's μ, or the Adam family's β₁, for this step
  Scalar alpha = 0;     // Adam's α; Adamax's 1 − β₁ᵗ
  Scalar u_t = 0, u_next = 0, product_t = 0, product_next = 0;  // Nadam
  Scalar beta_2_power = 0;                                      // Nadam
  Scalar decay = 1;         // 1 − wd·lr, for the variables that decay
  Scalar ema_momentum = 0;  // η of this step, for the runs that have an average
  bool ema_overwrite = false;
  // Gradient accumulation between updates: the step only adds g to the accumulator (and moves
  // the averages); on an update step the accumulator is reset.
  bool accumulate_only = false;
};

// u_product: Nadam's Πₜ₋₁ before the step (1 at the start); momentum: the step's μ or β₁.
StepScalars step_scalars(const RuleSettings& settings, double learning_rate, double momentum,
                         std::int64_t iterations, double u_product);

// One run of n elements of a variable and its state; an unused slot or average is null.
struct UpdateRun {
  Scalar* w;
  const Scalar* g;
  std::array<Scalar*, kMaxSlots> slots;
  Scalar* average;      // EMA
  Scalar* accumulator;  // gradient accumulation
  bool decays;
  Index n;
};

// The largest magnitudes in a run's state: what a step may start from (the slots, the average
// and the accumulator, the variable and its gradient).
struct StateBounds {
  std::array<Scalar, kMaxSlots> slots{};
  std::array<bool, kMaxSlots> negative{};  // a slot holds a value below 0
  Scalar average = 0, accumulator = 0;
};

// What one pass over a run's gradient finds, as it scales and clips it in place.
struct GradientScan {
  bool finite;     // the gradient as it came, before clipping
  Scalar g_bound;  // max |g| after clipping
  Scalar w_bound;  // max |w|
};

// g ← g·scale, then clipped to ±clip_value when clip_value > 0, in place; w is only read.
GradientScan scan_and_clip(Scalar* g, const Scalar* w, Index n, Scalar scale, Scalar clip_value);

// Whether the step certainly leaves every value finite, from bounds alone: |w| <= w_bound,
// |g| <= g_bound (both finite) and the state within `state`. Computed in double with margin; false
// means "cannot tell" (the step may still be finite: update_is_finite decides then). When true,
// *next (if given) receives bounds of the state after the step.
bool update_cannot_overflow(const StepScalars& step, const StateBounds& state, double w_bound,
                            double g_bound, bool decays, StateBounds* next = nullptr);

// Whether the step would leave w, the slots and the average finite; writes nothing.
bool update_is_finite(const StepScalars& step, const UpdateRun& run);
// The step, in one pass over the run.
void apply_update(const StepScalars& step, const UpdateRun& run);
// The largest magnitudes of a run's state as it is.
StateBounds measure_state(const UpdateRun& run);

}  // namespace densekit
