#include "densekit/kernels/update_rules.hpp"

#include <algorithm>
#include <cmath>

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

using Lane = Eigen::Array<Scalar, 1, 16>;

// One lane of 16 elements of a run: the variable, the gradient, the slots and the average.
struct Lanes {
  Lane w, g, s[kMaxSlots], average, accumulator;
};

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

template <UpdateRule R>
inline __attribute__((always_inline)) void update_lanes(const StepScalars& c, Lanes& l,
                                                        const UpdateRun& run) {
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

// The lanes of the run's arrays: a full lane maps the memory, the last one is zero-padded (every
// rule maps zeros to finite values) and count says how many of its elements are real.
inline __attribute__((always_inline)) void load(Lane& lane, const Scalar* p, Index i, Index count) {
  if (!p) return;
  if (count == 16) {
    lane = Eigen::Map<const Lane>(p + i);
  } else {
    lane.setZero();
    std::copy(p + i, p + i + count, lane.data());
  }
}

inline __attribute__((always_inline)) void store(const Lane& lane, Scalar* p, Index i,
                                                 Index count) {
  if (!p) return;
  if (count == 16) {
    Eigen::Map<Lane>(p + i) = lane;
  } else {
    std::copy(lane.data(), lane.data() + count, p + i);
  }
}

// The lane of the run at i (count elements of it real), updated, then stored (kWrite) or added
// to the marker, which turns NaN when a result is not finite.
template <UpdateRule R, bool kWrite>
inline __attribute__((always_inline)) void update_at(const StepScalars& c, const UpdateRun& run,
                                                     Lane& marker, Index i, Index count) {
  Lanes l;
  load(l.w, run.w, i, count);
  load(l.g, run.g, i, count);
  for (int k = 0; k < kMaxSlots; ++k) load(l.s[k], run.slots[k], i, count);
  load(l.average, run.average, i, count);
  load(l.accumulator, run.accumulator, i, count);
  update_lanes<R>(c, l, run);
  if constexpr (kWrite) {
    store(l.w, run.w, i, count);
    for (int k = 0; k < kMaxSlots; ++k) store(l.s[k], run.slots[k], i, count);
    store(l.average, run.average, i, count);
    store(l.accumulator, run.accumulator, i, count);
  } else {
    marker += l.w * Scalar(0);
    for (int k = 0; k < kMaxSlots; ++k)
      if (run.slots[k]) marker += l.s[k] * Scalar(0);
    if (run.average) marker += l.average * Scalar(0);
    if (run.accumulator) marker += l.accumulator * Scalar(0);
  }
}

// Every lane of the run: the full ones with their count known to the compiler, then the padded
// last one. Returns the marker (zeros when writing).
template <UpdateRule R, bool kWrite>
Lane sweep(const StepScalars& c, const UpdateRun& run) {
  Lane marker = Lane::Zero();
  Index i = 0;
  for (; i + 16 <= run.n; i += 16) update_at<R, kWrite>(c, run, marker, i, 16);
  if (i < run.n) update_at<R, kWrite>(c, run, marker, i, run.n - i);
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

namespace {

// Running maxima of |lane| for the state arrays a run has.
struct LaneMaxima {
  Lane slots[kMaxSlots] = {Lane::Zero(), Lane::Zero(), Lane::Zero()};
  Lane lowest[kMaxSlots] = {Lane::Zero(), Lane::Zero(), Lane::Zero()};
  Lane average = Lane::Zero(), accumulator = Lane::Zero();

  void add(const Lanes& l, const UpdateRun& run) {
    for (int k = 0; k < kMaxSlots; ++k)
      if (run.slots[k]) {
        slots[k] = slots[k].max(l.s[k].abs());
        lowest[k] = lowest[k].min(l.s[k]);
      }
    if (run.average) average = average.max(l.average.abs());
    if (run.accumulator) accumulator = accumulator.max(l.accumulator.abs());
  }

  StateBounds bounds() const {
    StateBounds b;
    for (int k = 0; k < kMaxSlots; ++k) {
      b.slots[k] = slots[k].maxCoeff();
      b.negative[k] = lowest[k].minCoeff() < 0;
    }
    b.average = average.maxCoeff();
    b.accumulator = accumulator.maxCoeff();
    return b;
  }
};

}  // namespace

void apply_update(const StepScalars& step, const UpdateRun& run) { sweep_rule<true>(step, run); }

GradientScan scan_and_clip(Scalar* g, const Scalar* w, Index n, Scalar scale, Scalar clip_value) {
  Lane incoming = Lane::Zero(), g_max = Lane::Zero(), w_max = Lane::Zero();
  const auto scan_at = [&](Index i, Index count) __attribute__((always_inline)) {
    Lane gl, wl;
    load(gl, g, i, count);
    load(wl, w, i, count);
    incoming += gl * Scalar(0);  // NaN when an element is not finite
    gl *= scale;
    if (clip_value > 0) gl = gl.max(-clip_value).min(clip_value);
    g_max = g_max.max(gl.abs());
    w_max = w_max.max(wl.abs());
    store(gl, g, i, count);
  };
  Index i = 0;
  for (; i + 16 <= n; i += 16) scan_at(i, 16);
  if (i < n) scan_at(i, n - i);
  return {incoming.sum() == 0, g_max.maxCoeff(), w_max.maxCoeff()};
}

StateBounds measure_state(const UpdateRun& run) {
  LaneMaxima maxima;
  Lanes l;
  for (Index i = 0; i < run.n; i += 16) {
    const Index count = std::min<Index>(16, run.n - i);
    for (int k = 0; k < kMaxSlots; ++k) load(l.s[k], run.slots[k], i, count);
    load(l.average, run.average, i, count);
    load(l.accumulator, run.accumulator, i, count);
    maxima.add(l, run);
  }
  return maxima.bounds();
}

// Every magnitude a rule computes, bounded from the bounds of its inputs by the triangle
// inequality (and the state's next bounds with it), in double; a bound below float32's largest
// value by a wide margin means the float32 step is finite. A denominator that may reach 0 (ε = 0,
// a centered RMSprop's variance estimate, Nadam's 1 − Π) gives "cannot tell".
bool update_cannot_overflow(const StepScalars& c, const StateBounds& state, double w_bound,
                            double g_bound, bool decays, StateBounds* next) {
  const RuleSettings& r = c.settings;
  using U = UpdateRule;
  // The slots of squares and of maxima of magnitudes are >= 0 after any step of their own; one
  // loaded below 0 could take a square root below 0.
  const bool squares[kMaxSlots] = {
      r.rule == U::adagrad || r.rule == U::rmsprop,
      r.rule == U::adam || r.rule == U::adamax || r.rule == U::nadam,
      r.rule == U::adam,
  };
  for (int k = 0; k < kMaxSlots; ++k)
    if (squares[k] && state.negative[k]) return false;
  const double lr = std::abs(double(c.learning_rate)), mu = std::abs(double(c.momentum));
  const double G = g_bound, eps = r.epsilon;
  double S[kMaxSlots];
  for (int k = 0; k < kMaxSlots; ++k) S[k] = state.slots[k];
  double after[kMaxSlots] = {S[0], S[1], S[2]};  // the slots' bounds after the step
  double w = w_bound, accumulator = double(state.accumulator) + G;
  double largest = std::max(G * G, accumulator);
  if (!c.accumulate_only) {
    if (decays) w *= std::abs(double(c.decay));
    double step = 0;  // a bound on |w_new − w·decay|
    switch (r.rule) {
      case U::sgd:
        after[0] = mu * S[0] + lr * G;
        step = r.momentum == 0 ? lr * G : r.nesterov ? lr * G + mu * after[0] : after[0];
        break;
      case U::adagrad:
        if (!(eps > 0)) return false;
        after[0] = S[0] + G * G;
        step = lr * G / std::sqrt(eps);
        break;
      case U::rmsprop: {
        if (!(eps > 0) || r.centered) return false;
        const double increment = lr * G / std::sqrt(eps);
        after[0] = std::max(S[0], G * G);
        after[1] = mu * S[1] + increment;
        after[2] = std::max(S[2], G);
        step = r.momentum > 0 ? after[1] : increment;
        break;
      }
      case U::adam:
      case U::adamax:
      case U::nadam: {
        if (!(eps > 0)) return false;
        const double m = after[0] = std::max(S[0], G);
        after[1] = r.rule == U::adamax ? std::max(S[1], G) : std::max(S[1], G * G);
        after[2] = std::max(S[2], after[1]);
        largest = std::max(largest, m * std::abs(double(c.alpha)));
        if (r.rule == U::adam) {
          step = std::abs(double(c.alpha)) * m / eps;
        } else if (r.rule == U::adamax) {
          const double alpha = std::abs(double(c.alpha));
          if (!(alpha > 0)) return false;
          step = lr * m / (eps * alpha);
        } else {
          const double a = 1 - double(c.product_next), b = 1 - double(c.product_t);
          const double power = 1 - double(c.beta_2_power);
          if (!(std::abs(a) > 1e-30 && std::abs(b) > 1e-30 && power > 0)) return false;
          const double m_hat = std::abs(double(c.u_next)) * m / std::abs(a) +
                               std::abs(1 - double(c.u_t)) * G / std::abs(b);
          largest = std::max({largest, m_hat, after[1] / power});
          step = lr * m_hat / eps;
        }
        break;
      }
      case U::lion:
        after[0] = std::max(S[0], G);
        step = lr;
        break;
    }
    w += step;
    accumulator = 0;  // an update empties the accumulator
  }
  const double average = std::max(double(state.average), w);
  largest = std::max({largest, w, average, lr * G, after[0], after[1], after[2]});
  if (!(std::isfinite(largest) && largest < 1e37)) return false;  // float32's largest: 3.4e38
  if (next) {
    // A little above the exact bounds, for the roundings of float32.
    const auto widen = [](double x) { return Scalar(x * (1 + 1e-5)); };
    for (int k = 0; k < kMaxSlots; ++k) next->slots[k] = widen(after[k]);
    next->negative = state.negative;
    next->average = widen(average);
    next->accumulator = widen(accumulator);
  }
  return true;
}

}  // namespace densekit
