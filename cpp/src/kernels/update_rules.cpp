#include "densekit/kernels/update_rules.hpp"

#include <algorithm>
#include <cmath>

#include "update_lanes.hpp"

namespace densekit {

std::array<bool, kMaxSlots> used_slots(const RuleSettings& s) {
  switch (s.rule) {
    case UpdateRule::sgd:
      return {s.momentum != 0, false, false};
    case UpdateRule::adagrad:
    case UpdateRule::lion:
      return {true, false, false};
    case UpdateRule::rmsprop:
      return {true, s.momentum > 0, s.centered};
    case UpdateRule::adam:
      return {true, true, s.amsgrad};
    case UpdateRule::adamax:
    case UpdateRule::nadam:
      return {true, true, false};
  }
  return {false, false, false};
}

Scalar slot_initial_value(const RuleSettings& s, int position) {
  return s.rule == UpdateRule::adagrad && position == 0 ? s.initial_accumulator_value : Scalar(0);
}

StepScalars step_scalars(const RuleSettings& settings, double learning_rate, double momentum,
                         std::int64_t iterations, double u_product) {
  StepScalars c;
  c.settings = settings;
  c.learning_rate = Scalar(learning_rate);
  c.momentum = Scalar(momentum);
  const double t = double(iterations) + 1;
  const double beta_1 = momentum, beta_2 = settings.beta_2;
  switch (settings.rule) {
    case UpdateRule::adam:
      c.alpha =
          Scalar(learning_rate * std::sqrt(1 - std::pow(beta_2, t)) / (1 - std::pow(beta_1, t)));
      break;
    case UpdateRule::adamax:
      c.alpha = Scalar(1 - std::pow(beta_1, t));
      break;
    case UpdateRule::nadam: {
      const double u_t = beta_1 * (1 - 0.5 * std::pow(0.96, t));
      const double u_next = beta_1 * (1 - 0.5 * std::pow(0.96, t + 1));
      c.u_t = Scalar(u_t);
      c.u_next = Scalar(u_next);
      c.product_t = Scalar(u_product * u_t);
      c.product_next = Scalar(u_product * u_t * u_next);
      c.beta_2_power = Scalar(std::pow(beta_2, t));
      break;
    }
    default:
      break;
  }
  return c;
}

namespace {

using namespace update_lanes;

// The rule on one lane, in place; R fixed at compile time so that the loop over the lanes holds
// no branch on the rule. Written once, used by the check (on copies) and the update.
template <UpdateRule R>
inline __attribute__((always_inline)) void rule_lanes(const StepScalars& c, Lanes& l) {
  const RuleSettings& r = c.settings;
  const Scalar lr = c.learning_rate, mu = c.momentum;
  const Lane& g = l.g;
  if constexpr (R == UpdateRule::sgd) {
    if (r.momentum == 0) {  // no slot
      l.w -= lr * g;
      return;
    }
    l.s[0] = mu * l.s[0] - lr * g;
    l.w = r.nesterov ? Lane(l.w - lr * g + mu * l.s[0]) : Lane(l.w + l.s[0]);
  } else if constexpr (R == UpdateRule::adagrad) {
    l.s[0] += g * g;
    l.w -= (g * lr) / (l.s[0] + r.epsilon).sqrt();
  } else if constexpr (R == UpdateRule::rmsprop) {
    l.s[0] = r.rho * l.s[0] + (1 - r.rho) * (g * g);
    Lane denominator = l.s[0] + r.epsilon;
    if (r.centered) {
      l.s[2] = r.rho * l.s[2] + (1 - r.rho) * g;
      denominator -= l.s[2] * l.s[2];
    }
    const Lane increment = (g * lr) / denominator.sqrt();
    if (r.momentum > 0) {
      l.s[1] = mu * l.s[1] + increment;
      l.w -= l.s[1];
    } else {
      l.w -= increment;
    }
  } else if constexpr (R == UpdateRule::adam) {
    l.s[0] = mu * l.s[0] + (1 - mu) * g;
    l.s[1] = r.beta_2 * l.s[1] + (1 - r.beta_2) * (g * g);
    if (r.amsgrad) {
      l.s[2] = l.s[2].max(l.s[1]);
      l.w -= (l.s[0] * c.alpha) / (l.s[2].sqrt() + r.epsilon);
    } else {
      l.w -= (l.s[0] * c.alpha) / (l.s[1].sqrt() + r.epsilon);
    }
  } else if constexpr (R == UpdateRule::adamax) {
    l.s[0] = mu * l.s[0] + (1 - mu) * g;
    l.s[1] = (r.beta_2 * l.s[1]).max(g.abs());
    l.w -= (l.s[0] * lr) / ((l.s[1] + r.epsilon) * c.alpha);
  } else if constexpr (R == UpdateRule::nadam) {
    l.s[0] = mu * l.s[0] + (1 - mu) * g;
    l.s[1] = r.beta_2 * l.s[1] + (1 - r.beta_2) * (g * g);
    const Lane m_hat =
        (l.s[0] * c.u_next) / (1 - c.product_next) + (g * (1 - c.u_t)) / (1 - c.product_t);
    const Lane v_hat = l.s[1] / (1 - c.beta_2_power);
    l.w -= (m_hat * lr) / (v_hat.sqrt() + r.epsilon);
  } else {  // lion
    l.w -= lr * (mu * l.s[0] + (1 - mu) * g).sign();
    l.s[0] = r.beta_2 * l.s[0] + (1 - r.beta_2) * g;
  }
}

// kExtras: the step has weight decay, moving averages or gradient accumulation. Without them (the
// common case) the loop holds no test for them, nor loads or stores of their arrays.
template <UpdateRule R, bool kExtras>
inline __attribute__((always_inline)) void update_lanes(const StepScalars& c, Lanes& l,
                                                        const UpdateRun& run) {
  if constexpr (!kExtras) {
    rule_lanes<R>(c, l);
    return;
  }
  if (c.accumulate_only) {
    l.accumulator += l.g;
  } else {
    if (run.decays) l.w *= c.decay;
    rule_lanes<R>(c, l);
    if (run.accumulator) l.accumulator.setZero();
  }
  if (run.average) {
    l.average = c.ema_momentum * l.average + (1 - c.ema_momentum) * l.w;
    if (c.ema_overwrite) l.w = l.average;
  }
}

// The lane of the run at i (count elements of it real), updated, then stored (kWrite) or added
// to the marker, which turns NaN when a result is not finite.
// The slot positions a rule always has (the others depend on its settings: SGD's momentum,
// RMSprop's momentum and centering, AMSGrad), loaded and stored without a test.
template <UpdateRule R>
constexpr bool always_has(int k) {
  switch (R) {
    case UpdateRule::adagrad:
    case UpdateRule::rmsprop:
    case UpdateRule::lion:
      return k == 0;
    case UpdateRule::adam:
    case UpdateRule::adamax:
    case UpdateRule::nadam:
      return k <= 1;
    default:
      return false;
  }
}

template <UpdateRule R, bool kWrite, bool kExtras>
inline __attribute__((always_inline)) void update_at(const StepScalars& c, const UpdateRun& run,
                                                     Lane& marker, Index i, Index count) {
  Lanes l;
  load(l.w, run.w, i, count);
  load(l.g, run.g, i, count);
  for (int k = 0; k < kMaxSlots; ++k)
    if (always_has<R>(k) || run.slots[k]) load(l.s[k], run.slots[k], i, count);
  if constexpr (kExtras) {
    if (run.average) load(l.average, run.average, i, count);
    if (run.accumulator) load(l.accumulator, run.accumulator, i, count);
  }
  update_lanes<R, kExtras>(c, l, run);
  if constexpr (kWrite) {
    store(l.w, run.w, i, count);
    for (int k = 0; k < kMaxSlots; ++k)
      if (always_has<R>(k) || run.slots[k]) store(l.s[k], run.slots[k], i, count);
    if constexpr (kExtras) {
      if (run.average) store(l.average, run.average, i, count);
      if (run.accumulator) store(l.accumulator, run.accumulator, i, count);
    }
  } else {
    marker += l.w * Scalar(0);
    for (int k = 0; k < kMaxSlots; ++k)
      if (run.slots[k]) marker += l.s[k] * Scalar(0);
    if constexpr (kExtras) {
      if (run.average) marker += l.average * Scalar(0);
      if (run.accumulator) marker += l.accumulator * Scalar(0);
    }
  }
}

// Every lane of the run: the full ones with their count known to the compiler, then the padded
// last one. Returns the marker (zeros when writing).
template <UpdateRule R, bool kWrite>
Lane sweep(const StepScalars& step, const UpdateRun& arrays) {
  // Copies the stores through the run's float pointers cannot alias: the scalars stay in
  // registers instead of being read again after every store.
  const StepScalars c = step;
  const UpdateRun run = arrays;
  Lane marker = Lane::Zero();
  const bool extras = run.decays || run.average || run.accumulator || c.accumulate_only;
  Index i = 0;
  if (extras) {
    for (; i + 16 <= run.n; i += 16) update_at<R, kWrite, true>(c, run, marker, i, 16);
    if (i < run.n) update_at<R, kWrite, true>(c, run, marker, i, run.n - i);
  } else {
    for (; i + 16 <= run.n; i += 16) update_at<R, kWrite, false>(c, run, marker, i, 16);
    if (i < run.n) update_at<R, kWrite, false>(c, run, marker, i, run.n - i);
  }
  return marker;
}

// sweep<rule, kWrite>(...) with the step's rule.
template <bool kWrite>
Lane sweep_rule(const StepScalars& c, const UpdateRun& run) {
  switch (c.settings.rule) {
    case UpdateRule::sgd:
      return sweep<UpdateRule::sgd, kWrite>(c, run);
    case UpdateRule::adagrad:
      return sweep<UpdateRule::adagrad, kWrite>(c, run);
    case UpdateRule::rmsprop:
      return sweep<UpdateRule::rmsprop, kWrite>(c, run);
    case UpdateRule::adam:
      return sweep<UpdateRule::adam, kWrite>(c, run);
    case UpdateRule::adamax:
      return sweep<UpdateRule::adamax, kWrite>(c, run);
    case UpdateRule::nadam:
      return sweep<UpdateRule::nadam, kWrite>(c, run);
    case UpdateRule::lion:
      return sweep<UpdateRule::lion, kWrite>(c, run);
  }
  return Lane::Zero();
}

}  // namespace

bool update_is_finite(const StepScalars& step, const UpdateRun& run) {
  return sweep_rule<false>(step, run).sum() == 0;
}

void apply_update(const StepScalars& step, const UpdateRun& run) { sweep_rule<true>(step, run); }

}  // namespace densekit
