// The bounds of the optimizer's steps (kernels/update_rules.hpp): the scan of a gradient, the
// state's largest magnitudes, and whether a step can overflow.
#include <algorithm>
#include <cmath>

#include "densekit/kernels/update_rules.hpp"
#include "update_lanes.hpp"

namespace densekit {

using namespace update_lanes;

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
    for (int k = 0; k < kMaxSlots; ++k)
      if (run.slots[k]) load(l.s[k], run.slots[k], i, count);
    if (run.average) load(l.average, run.average, i, count);
    if (run.accumulator) load(l.accumulator, run.accumulator, i, count);
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
