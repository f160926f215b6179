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

// The rule on one lane, in place. Written once, used by the check (on copies) and the update.
void rule_lanes(const StepScalars& c, Lanes& l, bool decays) {
  const RuleSettings& r = c.settings;
  const Scalar lr = c.learning_rate, mu = c.momentum;
  if (decays) l.w *= c.decay;
  Lane& g = l.g;
  switch (r.rule) {
    case UpdateRule::sgd:
      if (r.momentum == 0) {  // no slot
        l.w -= lr * g;
        break;
      }
      l.s[0] = mu * l.s[0] - lr * g;
      l.w = r.nesterov ? Lane(l.w - lr * g + mu * l.s[0]) : Lane(l.w + l.s[0]);
      break;
    case UpdateRule::adagrad:
      l.s[0] += g * g;
      l.w -= (g * lr) / (l.s[0] + r.epsilon).sqrt();
      break;
    case UpdateRule::rmsprop: {
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
      break;
    }
    case UpdateRule::adam: {
      l.s[0] = mu * l.s[0] + (1 - mu) * g;
      l.s[1] = r.beta_2 * l.s[1] + (1 - r.beta_2) * (g * g);
      if (r.amsgrad) l.s[2] = l.s[2].max(l.s[1]);
      const Lane& v = r.amsgrad ? l.s[2] : l.s[1];
      l.w -= (l.s[0] * c.alpha) / (v.sqrt() + r.epsilon);
      break;
    }
    case UpdateRule::adamax:
      l.s[0] = mu * l.s[0] + (1 - mu) * g;
      l.s[1] = (r.beta_2 * l.s[1]).max(g.abs());
      l.w -= (l.s[0] * lr) / ((l.s[1] + r.epsilon) * c.alpha);
      break;
    case UpdateRule::nadam: {
      l.s[0] = mu * l.s[0] + (1 - mu) * g;
      l.s[1] = r.beta_2 * l.s[1] + (1 - r.beta_2) * (g * g);
      const Lane m_hat =
          (l.s[0] * c.u_next) / (1 - c.product_next) + (g * (1 - c.u_t)) / (1 - c.product_t);
      const Lane v_hat = l.s[1] / (1 - c.beta_2_power);
      l.w -= (m_hat * lr) / (v_hat.sqrt() + r.epsilon);
      break;
    }
    case UpdateRule::lion:
      l.w -= lr * (mu * l.s[0] + (1 - mu) * g).sign();
      l.s[0] = r.beta_2 * l.s[0] + (1 - r.beta_2) * g;
      break;
  }
}

void update_lanes(const StepScalars& c, Lanes& l, const UpdateRun& run) {
  if (c.accumulate_only) {
    l.accumulator += l.g;
  } else {
    rule_lanes(c, l, run.decays);
    if (run.accumulator) l.accumulator.setZero();
  }
  if (run.average) {
    l.average = c.ema_momentum * l.average + (1 - c.ema_momentum) * l.w;
    if (c.ema_overwrite) l.w = l.average;
  }
}

// body(lanes, count) over the run, 16 elements at a time; the last lane is zero-padded (every rule
// maps zeros to finite values) and count says how many of its elements are real.
template <class Body>
void for_each_lane(const UpdateRun& run, Body body) {
  Lanes l;
  const auto load = [&](Index i, Index count) {
    const auto take = [&](Lane& lane, const Scalar* p) {
      if (!p) return;
      if (count == 16) {
        lane = Eigen::Map<const Lane>(p + i);
      } else {
        lane.setZero();
        std::copy(p + i, p + i + count, lane.data());
      }
    };
    take(l.w, run.w);
    take(l.g, run.g);
    for (int k = 0; k < kMaxSlots; ++k) take(l.s[k], run.slots[k]);
    take(l.average, run.average);
    take(l.accumulator, run.accumulator);
  };
  for (Index i = 0; i < run.n; i += 16) {
    const Index count = std::min<Index>(16, run.n - i);
    load(i, count);
    body(l, i, count);
  }
}

}  // namespace

bool update_is_finite(const StepScalars& step, const UpdateRun& run) {
  Lane marker = Lane::Zero();
  for_each_lane(run, [&](Lanes& l, Index, Index) {
    update_lanes(step, l, run);
    marker += l.w * Scalar(0);
    for (int k = 0; k < kMaxSlots; ++k)
      if (run.slots[k]) marker += l.s[k] * Scalar(0);
    if (run.average) marker += l.average * Scalar(0);
    if (run.accumulator) marker += l.accumulator * Scalar(0);
  });
  return marker.sum() == 0;
}

void apply_update(const StepScalars& step, const UpdateRun& run) {
  for_each_lane(run, [&](Lanes& l, Index i, Index count) {
    update_lanes(step, l, run);
    const auto store = [&](const Lane& lane, Scalar* p) {
      if (!p) return;
      if (count == 16) {
        Eigen::Map<Lane>(p + i) = lane;
      } else {
        std::copy(lane.data(), lane.data() + count, p + i);
      }
    };
    store(l.w, run.w);
    for (int k = 0; k < kMaxSlots; ++k) store(l.s[k], run.slots[k]);
    store(l.average, run.average);
    store(l.accumulator, run.accumulator);
  });
}

}  // namespace densekit
