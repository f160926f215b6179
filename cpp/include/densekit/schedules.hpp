// Learning-rate schedules: the learning rate (and, for 1cycle, the momentum) as a function of the
// optimizer's step, evaluated by the optimizer once per step inside the training call.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

namespace densekit {

class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  // The learning rate at this step (0 for the first update).
  virtual double learning_rate(std::int64_t step) const = 0;
  // The momentum (SGD's momentum, the Adam family's beta_1) at this step; NaN when the schedule
  // leaves it alone.
  virtual double momentum(std::int64_t /*step*/) const { return std::nan(""); }
};

// The schedules of keras.optimizers.schedules, with Keras 3's formulas evaluated in double (Keras
// computes in its floatx). Keras checks only that decay_steps > 0; the constructors here also throw
// ValueError for a value that is not finite, for one under which the rate would turn negative or
// NaN (a negative rate or decay_rate, t_mul < 1) or infinite at the end of a decay (a negative
// power), and for an alpha outside [0, 1], the fraction it stands for. Step counts (decay_steps,
// warmup_steps, ...) may be fractional, as in Keras; PiecewiseConstantDecay's boundaries are steps.

// lr = initial_learning_rate · decay_rate^p, p = step / decay_steps (⌊p⌋ with staircase).
class ExponentialDecay final : public LearningRateSchedule {
 public:
  ExponentialDecay(double initial_learning_rate, double decay_steps, double decay_rate,
                   bool staircase);
  double learning_rate(std::int64_t step) const override;

 private:
  double initial_learning_rate_, decay_steps_, decay_rate_;
  bool staircase_;
};

// values[i] for boundaries[i-1] < step <= boundaries[i]: values[0] up to and including
// boundaries[0], values.back() after boundaries.back().
class PiecewiseConstantDecay final : public LearningRateSchedule {
 public:
  PiecewiseConstantDecay(std::vector<std::int64_t> boundaries, std::vector<double> values);
  double learning_rate(std::int64_t step) const override;

 private:
  std::vector<std::int64_t> boundaries_;
  std::vector<double> values_;
};

// lr = initial_learning_rate / (1 + decay_rate · p), p = step / decay_steps (⌊p⌋ with staircase).
class InverseTimeDecay final : public LearningRateSchedule {
 public:
  InverseTimeDecay(double initial_learning_rate, double decay_steps, double decay_rate,
                   bool staircase);
  double learning_rate(std::int64_t step) const override;

 private:
  double initial_learning_rate_, decay_steps_, decay_rate_;
  bool staircase_;
};

// lr = (initial − end) · (1 − s/d)^power + end. Without cycle s = min(step, decay_steps) and
// d = decay_steps; with cycle s = step and d = decay_steps · ⌈step / decay_steps⌉ (· 1 at step 0).
class PolynomialDecay final : public LearningRateSchedule {
 public:
  PolynomialDecay(double initial_learning_rate, double decay_steps, double end_learning_rate,
                  double power, bool cycle);
  double learning_rate(std::int64_t step) const override;

 private:
  double initial_learning_rate_, decay_steps_, end_learning_rate_, power_;
  bool cycle_;
};

// Without warmup (warmup_target NaN): s = min(step, decay_steps),
//   lr = initial · ((1 − alpha) · ½(1 + cos(π s / decay_steps)) + alpha).
// With warmup: s = min(step, warmup_steps + decay_steps); below warmup_steps the rate goes
// linearly from initial to warmup_target, then decays from warmup_target as above over
// s − warmup_steps.
class CosineDecay final : public LearningRateSchedule {
 public:
  CosineDecay(double initial_learning_rate, double decay_steps, double alpha,
              double warmup_target = std::nan(""), double warmup_steps = 0);
  double learning_rate(std::int64_t step) const override;

 private:
  double initial_learning_rate_, decay_steps_, alpha_, warmup_target_, warmup_steps_;
};

// SGDR (Loshchilov & Hutter): cosine decays restarted after first_decay_steps, then after
// t_mul times as many steps each time, period i starting from m_mul^i · initial_learning_rate.
class CosineDecayRestarts final : public LearningRateSchedule {
 public:
  CosineDecayRestarts(double initial_learning_rate, double first_decay_steps, double t_mul,
                      double m_mul, double alpha);
  double learning_rate(std::int64_t step) const override;

 private:
  double initial_learning_rate_, first_decay_steps_, t_mul_, m_mul_, alpha_;
};

// Leslie Smith's 1cycle (2018), in the form of Géron's "Hands-On Machine Learning": up from
// start_learning_rate to max_learning_rate, back down to start, and a short tail down to
// last_learning_rate; the momentum (when cycled) goes the opposite way. The formula is above the
// definition in schedules.cpp. NaN start_learning_rate means max_learning_rate / 10, NaN
// last_learning_rate means start_learning_rate / 1000, NaN max_momentum leaves the momentum alone.
class OneCycle final : public LearningRateSchedule {
 public:
  OneCycle(double max_learning_rate, std::int64_t total_steps,
           double start_learning_rate = std::nan(""), double last_learning_rate = std::nan(""),
           double max_momentum = std::nan(""), double min_momentum = std::nan(""));
  double learning_rate(std::int64_t step) const override;
  double momentum(std::int64_t step) const override;

 private:
  double max_learning_rate_, start_learning_rate_, last_learning_rate_;
  double max_momentum_, min_momentum_;
  std::int64_t total_steps_, half_;
};

// A schedule written in Python (or any callable). Calling it may take the GIL (pybind11 does so
// for a Python function) and may throw whatever the callable throws. A result that is negative,
// infinite or NaN throws ValueError, since the optimizer would apply it.
class CallbackSchedule final : public LearningRateSchedule {
 public:
  explicit CallbackSchedule(std::function<double(std::int64_t)> fn);
  double learning_rate(std::int64_t step) const override;

 private:
  std::function<double(std::int64_t)> fn_;
};

}  // namespace densekit
