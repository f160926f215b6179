#include "densekit/schedules.hpp"

#include <algorithm>
#include <charconv>
#include <string>
#include <utility>

#include "densekit/error.hpp"

namespace densekit {

namespace {

constexpr double kPi = 3.14159265358979323846;

// The shortest text that reads back as v, as Python's repr writes it ("0.1", "1e-07", "nan").
std::string number(double v) {
  char buffer[32];
  const auto end = std::to_chars(buffer, buffer + sizeof buffer, v).ptr;
  return std::string(buffer, end);
}

// "<where>: <name> must <rule>. Received: <name>=<value>", the form of Keras's messages.
void require(bool ok, const char* where, const char* name, const char* rule,
             const std::string& value) {
  if (ok) return;
  throw ValueError(std::string(where) + ": " + name + " must " + rule + ". Received: " + name +
                   "=" + value);
}

void require_finite(const char* where, const char* name, double v) {
  require(std::isfinite(v), where, name, "be a finite number", number(v));
}

void require_positive(const char* where, const char* name, double v) {
  require_finite(where, name, v);
  require(v > 0, where, name, "be > 0", number(v));
}

// Learning rates, momenta and multipliers: a negative one would turn a descent into an ascent.
void require_non_negative(const char* where, const char* name, double v) {
  require_finite(where, name, v);
  require(v >= 0, where, name, "be >= 0", number(v));
}

// alpha is the fraction of the initial rate a cosine decays to.
void require_fraction(const char* where, const char* name, double v) {
  require_finite(where, name, v);
  require(v >= 0 && v <= 1, where, name, "be between 0 and 1", number(v));
}

// a + (b − a)·t: the linear pieces of 1cycle.
double interpolate(double a, double b, double t) { return a + (b - a) * t; }

}  // namespace

ExponentialDecay::ExponentialDecay(double initial_learning_rate, double decay_steps,
                                   double decay_rate, bool staircase)
    : initial_learning_rate_(initial_learning_rate),
      decay_steps_(decay_steps),
      decay_rate_(decay_rate),
      staircase_(staircase) {
  require_non_negative("ExponentialDecay", "initial_learning_rate", initial_learning_rate);
  require_positive("ExponentialDecay", "decay_steps", decay_steps);
  require_non_negative("ExponentialDecay", "decay_rate", decay_rate);
}

double ExponentialDecay::learning_rate(std::int64_t step) const {
  double p = static_cast<double>(step) / decay_steps_;
  if (staircase_) p = std::floor(p);
  return initial_learning_rate_ * std::pow(decay_rate_, p);
}

PiecewiseConstantDecay::PiecewiseConstantDecay(std::vector<std::int64_t> boundaries,
                                               std::vector<double> values)
    : boundaries_(std::move(boundaries)), values_(std::move(values)) {
  const char* where = "PiecewiseConstantDecay";
  require(!boundaries_.empty(), where, "boundaries", "have at least one entry", "[]");
  if (values_.size() != boundaries_.size() + 1) {
    throw ValueError(std::string(where) +
                     ": values must have one more entry than boundaries. Received: " +
                     std::to_string(boundaries_.size()) + " boundaries and " +
                     std::to_string(values_.size()) + " values");
  }
  for (std::size_t i = 1; i < boundaries_.size(); ++i) {
    // Keras adds up the value of every interval that holds the step: with a boundary out of
    // order two intervals would overlap and their values would be summed.
    require(boundaries_[i - 1] < boundaries_[i], where, "boundaries", "be strictly increasing",
            "[..., " + std::to_string(boundaries_[i - 1]) + ", " + std::to_string(boundaries_[i]) +
                ", ...]");
  }
  for (double v : values_) require_non_negative(where, "values", v);
}

double PiecewiseConstantDecay::learning_rate(std::int64_t step) const {
  // The interval of the step is the number of boundaries strictly below it.
  const auto below = std::lower_bound(boundaries_.begin(), boundaries_.end(), step);
  return values_[static_cast<std::size_t>(below - boundaries_.begin())];
}

InverseTimeDecay::InverseTimeDecay(double initial_learning_rate, double decay_steps,
                                   double decay_rate, bool staircase)
    : initial_learning_rate_(initial_learning_rate),
      decay_steps_(decay_steps),
      decay_rate_(decay_rate),
      staircase_(staircase) {
  require_non_negative("InverseTimeDecay", "initial_learning_rate", initial_learning_rate);
  require_positive("InverseTimeDecay", "decay_steps", decay_steps);
  // A negative rate would bring the denominator through 0.
  require_non_negative("InverseTimeDecay", "decay_rate", decay_rate);
}

double InverseTimeDecay::learning_rate(std::int64_t step) const {
  double p = static_cast<double>(step) / decay_steps_;
  if (staircase_) p = std::floor(p);
  return initial_learning_rate_ / (1 + decay_rate_ * p);
}

PolynomialDecay::PolynomialDecay(double initial_learning_rate, double decay_steps,
                                 double end_learning_rate, double power, bool cycle)
    : initial_learning_rate_(initial_learning_rate),
      decay_steps_(decay_steps),
      end_learning_rate_(end_learning_rate),
      power_(power),
      cycle_(cycle) {
  require_non_negative("PolynomialDecay", "initial_learning_rate", initial_learning_rate);
  require_positive("PolynomialDecay", "decay_steps", decay_steps);
  require_non_negative("PolynomialDecay", "end_learning_rate", end_learning_rate);
  // (1 − s/d)^power reaches 0^power at the end of a decay: infinite for a negative power.
  require_non_negative("PolynomialDecay", "power", power);
}

double PolynomialDecay::learning_rate(std::int64_t step) const {
  double s = static_cast<double>(step), d = decay_steps_;
  if (cycle_) {
    // The first multiple of decay_steps at or above the step; Keras takes 1 at step 0 so the
    // schedule starts at initial_learning_rate rather than dividing by 0.
    d *= step == 0 ? 1.0 : std::ceil(s / decay_steps_);
  } else {
    s = std::min(s, d);
  }
  return (initial_learning_rate_ - end_learning_rate_) * std::pow(1 - s / d, power_) +
         end_learning_rate_;
}

CosineDecay::CosineDecay(double initial_learning_rate, double decay_steps, double alpha,
                         double warmup_target, double warmup_steps)
    : initial_learning_rate_(initial_learning_rate),
      decay_steps_(decay_steps),
      alpha_(alpha),
      warmup_target_(warmup_target),
      warmup_steps_(warmup_steps) {
  require_non_negative("CosineDecay", "initial_learning_rate", initial_learning_rate);
  require_positive("CosineDecay", "decay_steps", decay_steps);
  require_fraction("CosineDecay", "alpha", alpha);
  if (!std::isnan(warmup_target))
    require_non_negative("CosineDecay", "warmup_target", warmup_target);
  require_non_negative("CosineDecay", "warmup_steps", warmup_steps);
}

double CosineDecay::learning_rate(std::int64_t step) const {
  double s = static_cast<double>(step), from = initial_learning_rate_;
  if (!std::isnan(warmup_target_)) {
    s = std::min(s, warmup_steps_ + decay_steps_);
    if (s < warmup_steps_) {
      return interpolate(initial_learning_rate_, warmup_target_, s / warmup_steps_);
    }
    s -= warmup_steps_;
    from = warmup_target_;
  }
  s = std::min(s, decay_steps_);
  const double cosine = 0.5 * (1 + std::cos(kPi * s / decay_steps_));
  return from * ((1 - alpha_) * cosine + alpha_);
}

CosineDecayRestarts::CosineDecayRestarts(double initial_learning_rate, double first_decay_steps,
                                         double t_mul, double m_mul, double alpha)
    : initial_learning_rate_(initial_learning_rate),
      first_decay_steps_(first_decay_steps),
      t_mul_(t_mul),
      m_mul_(m_mul),
      alpha_(alpha) {
  const char* where = "CosineDecayRestarts";
  require_non_negative(where, "initial_learning_rate", initial_learning_rate);
  require_positive(where, "first_decay_steps", first_decay_steps);
  // Periods that shrink (t_mul < 1) add up to first_decay_steps / (1 − t_mul) steps; past them
  // Keras's formula takes the log of a negative number and the rate is NaN.
  require_finite(where, "t_mul", t_mul);
  require(t_mul >= 1, where, "t_mul", "be >= 1", number(t_mul));
  require_non_negative(where, "m_mul", m_mul);
  require_fraction(where, "alpha", alpha);
}

// In units of first_decay_steps, with f = step / first_decay_steps and t = t_mul: period i lasts
// t^i, and periods 0..i−1 together last S_i = (t^i − 1)/(t − 1) (= i when t = 1). The step is in
// period i = ⌊log(1 + f·(t − 1)) / log t⌋ (⌊f⌋ when t = 1), at the fraction
// g = (f − S_i) / t^i of it, and
//   lr = initial · ((1 − alpha) · m_mul^i · ½(1 + cos(π g)) + alpha).
double CosineDecayRestarts::learning_rate(std::int64_t step) const {
  double fraction = static_cast<double>(step) / first_decay_steps_;
  double restart;
  if (t_mul_ == 1) {
    restart = std::floor(fraction);
    fraction -= restart;
  } else {
    restart = std::floor(std::log(1 - fraction * (1 - t_mul_)) / std::log(t_mul_));
    const double period = std::pow(t_mul_, restart);
    fraction = (fraction - (1 - period) / (1 - t_mul_)) / period;
  }
  const double cosine = 0.5 * std::pow(m_mul_, restart) * (1 + std::cos(kPi * fraction));
  return initial_learning_rate_ * ((1 - alpha_) * cosine + alpha_);
}

OneCycle::OneCycle(double max_learning_rate, std::int64_t total_steps, double start_learning_rate,
                   double last_learning_rate, double max_momentum, double min_momentum)
    : max_learning_rate_(max_learning_rate), total_steps_(total_steps) {
  const char* where = "OneCycle";
  require_non_negative(where, "max_learning_rate", max_learning_rate);
  require(total_steps >= 1, where, "total_steps", "be >= 1", std::to_string(total_steps));
  start_learning_rate_ =
      std::isnan(start_learning_rate) ? max_learning_rate / 10 : start_learning_rate;
  require_non_negative(where, "start_learning_rate", start_learning_rate_);
  require(start_learning_rate_ <= max_learning_rate, where, "start_learning_rate",
          "be <= max_learning_rate", number(start_learning_rate_));
  last_learning_rate_ =
      std::isnan(last_learning_rate) ? start_learning_rate_ / 1000 : last_learning_rate;
  require_non_negative(where, "last_learning_rate", last_learning_rate_);
  max_momentum_ = max_momentum;
  min_momentum_ = min_momentum;
  if (!std::isnan(max_momentum)) {
    require_fraction(where, "max_momentum", max_momentum);
    require(!std::isnan(min_momentum), where, "min_momentum", "be set with max_momentum", "nan");
    require_fraction(where, "min_momentum", min_momentum);
    require(min_momentum <= max_momentum, where, "min_momentum", "be <= max_momentum",
            number(min_momentum));
  } else {
    require(std::isnan(min_momentum), where, "max_momentum", "be set with min_momentum", "nan");
  }
  half_ = (total_steps - (total_steps / 10 + 1)) / 2;
}

// With T = total_steps, a tail of ⌊T/10⌋ + 1 steps, h = ⌊(T − tail)/2⌋ and s = min(step, T):
//   0 ≤ s < h:    lr = start + (max − start)·s/h                 m = max_m − (max_m − min_m)·s/h
//   h ≤ s < 2h:   lr = max − (max − start)·(s − h)/h             m = min_m + (max_m −
//   min_m)·(s−h)/h 2h ≤ s ≤ T:   lr = start + (last − start)·(s − 2h)/(T − 2h)  m = max_m
// So the rate peaks at step h, is back at start at step 2h and reaches last at step T, and stays
// there after it. T − 2h ≥ tail ≥ 1, and h = 0 (T < 3) leaves only the tail: no division by 0.
double OneCycle::learning_rate(std::int64_t step) const {
  const double s = static_cast<double>(std::clamp<std::int64_t>(step, 0, total_steps_));
  const double h = static_cast<double>(half_), total = static_cast<double>(total_steps_);
  if (s < h) return interpolate(start_learning_rate_, max_learning_rate_, s / h);
  if (s < 2 * h) return interpolate(max_learning_rate_, start_learning_rate_, (s - h) / h);
  return interpolate(start_learning_rate_, last_learning_rate_, (s - 2 * h) / (total - 2 * h));
}

double OneCycle::momentum(std::int64_t step) const {
  if (std::isnan(max_momentum_)) return std::nan("");  // not cycled
  const double s = static_cast<double>(std::clamp<std::int64_t>(step, 0, total_steps_));
  const double h = static_cast<double>(half_);
  if (s < h) return interpolate(max_momentum_, min_momentum_, s / h);
  if (s < 2 * h) return interpolate(min_momentum_, max_momentum_, (s - h) / h);
  return max_momentum_;
}

CallbackSchedule::CallbackSchedule(std::function<double(std::int64_t)> fn) : fn_(std::move(fn)) {
  require(static_cast<bool>(fn_), "CallbackSchedule", "fn", "be a function", "None");
}

double CallbackSchedule::learning_rate(std::int64_t step) const {
  const double lr = fn_(step);
  if (!(std::isfinite(lr) && lr >= 0)) {
    throw ValueError("CallbackSchedule: the schedule returned " + number(lr) + " at step " +
                     std::to_string(step) + "; a learning rate must be a finite number >= 0");
  }
  return lr;
}

}  // namespace densekit
