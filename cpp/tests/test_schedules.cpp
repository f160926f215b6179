// Learning-rate schedules on hand-computed steps, Keras 3 formulas (learning_rate_schedule.py),
// and 1cycle as in Géron's "Hands-On Machine Learning".
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "densekit/error.hpp"
#include "densekit/schedules.hpp"

namespace densekit {
namespace {

constexpr double kTol = 1e-12;

// The message of the ValueError that `make` throws ("" when it throws none).
template <typename F>
std::string value_error(F make) {
  try {
    make();
  } catch (const ValueError& e) {
    return e.what();
  }
  return "";
}

// 0.1·0.5^(step/10): step 5 → 0.1·√0.5 = 0.0707106781…, step 20 → 0.1·0.25 = 0.025.
// Staircase: ⌊15/10⌋ = ⌊19/10⌋ = 1 → 0.05, ⌊20/10⌋ = 2 → 0.025.
TEST(Schedules, ExponentialDecayIsContinuousOrStaircase) {
  const ExponentialDecay smooth(0.1, 10, 0.5, false);
  EXPECT_NEAR(smooth.learning_rate(0), 0.1, kTol);
  EXPECT_NEAR(smooth.learning_rate(5), 0.1 * std::sqrt(0.5), kTol);
  EXPECT_NEAR(smooth.learning_rate(20), 0.025, kTol);
  const ExponentialDecay stairs(0.1, 10, 0.5, true);
  EXPECT_NEAR(stairs.learning_rate(9), 0.1, kTol);
  EXPECT_NEAR(stairs.learning_rate(15), 0.05, kTol);
  EXPECT_NEAR(stairs.learning_rate(19), 0.05, kTol);
  EXPECT_NEAR(stairs.learning_rate(20), 0.025, kTol);
  EXPECT_TRUE(std::isnan(smooth.momentum(3)));
}

// Boundaries {10, 20}: a step equal to a boundary still takes the value before it.
TEST(Schedules, PiecewiseConstantDecayIncludesEachBoundaryInTheIntervalBelow) {
  const PiecewiseConstantDecay schedule({10, 20}, {1.0, 0.5, 0.1});
  EXPECT_EQ(schedule.learning_rate(0), 1.0);
  EXPECT_EQ(schedule.learning_rate(10), 1.0);
  EXPECT_EQ(schedule.learning_rate(11), 0.5);
  EXPECT_EQ(schedule.learning_rate(20), 0.5);
  EXPECT_EQ(schedule.learning_rate(21), 0.1);
  EXPECT_EQ(schedule.learning_rate(1000000), 0.1);
}

// 0.1 / (1 + 0.5·step/10): step 5 → 0.1/1.25 = 0.08, step 20 → 0.1/2 = 0.05.
// Staircase: step 5 → 0.1/(1 + 0) = 0.1, step 15 → 0.1/(1 + 0.5) = 0.0666….
TEST(Schedules, InverseTimeDecayIsContinuousOrStaircase) {
  const InverseTimeDecay smooth(0.1, 10, 0.5, false);
  EXPECT_NEAR(smooth.learning_rate(5), 0.08, kTol);
  EXPECT_NEAR(smooth.learning_rate(20), 0.05, kTol);
  const InverseTimeDecay stairs(0.1, 10, 0.5, true);
  EXPECT_NEAR(stairs.learning_rate(5), 0.1, kTol);
  EXPECT_NEAR(stairs.learning_rate(15), 0.1 / 1.5, kTol);
}

// (0.1 − 0.01)·(1 − s/10)² + 0.01: step 5 → 0.09·0.25 + 0.01 = 0.0325, then 0.01 from step 10 on.
TEST(Schedules, PolynomialDecayStopsAtTheEndRateWithoutCycle) {
  const PolynomialDecay schedule(0.1, 10, 0.01, 2, false);
  EXPECT_NEAR(schedule.learning_rate(0), 0.1, kTol);
  EXPECT_NEAR(schedule.learning_rate(5), 0.0325, kTol);
  EXPECT_NEAR(schedule.learning_rate(10), 0.01, kTol);
  EXPECT_NEAR(schedule.learning_rate(25), 0.01, kTol);
}

// Cycle: step 0 keeps d = 10 (0.1); step 10: d = 10·1, p = 1 → 0.01; step 15: d = 10·2,
// p = 0.75 → 0.09·0.25² + 0.01 = 0.015625; step 20: d = 20, p = 1 → 0.01.
TEST(Schedules, PolynomialDecayCyclesOverMultiplesOfDecaySteps) {
  const PolynomialDecay schedule(0.1, 10, 0.01, 2, true);
  EXPECT_NEAR(schedule.learning_rate(0), 0.1, kTol);
  EXPECT_NEAR(schedule.learning_rate(10), 0.01, kTol);
  EXPECT_NEAR(schedule.learning_rate(15), 0.015625, kTol);
  EXPECT_NEAR(schedule.learning_rate(20), 0.01, kTol);
}

// alpha 0.2: step 5 → ½(1 + cos(π/2)) = ½ → 0.1·(0.8·0.5 + 0.2) = 0.06; from step 10 on
// 0.1·0.2 = 0.02.
TEST(Schedules, CosineDecayFallsToAlphaTimesTheInitialRate) {
  const CosineDecay schedule(0.1, 10, 0.2);
  EXPECT_NEAR(schedule.learning_rate(0), 0.1, kTol);
  EXPECT_NEAR(schedule.learning_rate(5), 0.06, kTol);
  EXPECT_NEAR(schedule.learning_rate(10), 0.02, kTol);
  EXPECT_NEAR(schedule.learning_rate(100), 0.02, kTol);
}

// Warmup 0 → 0.1 over 4 steps: step 2 → 0.05, step 3 → 0.075; then the decay from 0.1 over 10
// steps: step 4 → 0.1, step 9 (5 into it) → 0.05, step 14 and after → 0.
TEST(Schedules, CosineDecayWarmsUpLinearlyToTheTarget) {
  const CosineDecay schedule(0.0, 10, 0.0, 0.1, 4);
  EXPECT_NEAR(schedule.learning_rate(0), 0.0, kTol);
  EXPECT_NEAR(schedule.learning_rate(2), 0.05, kTol);
  EXPECT_NEAR(schedule.learning_rate(3), 0.075, kTol);
  EXPECT_NEAR(schedule.learning_rate(4), 0.1, kTol);
  EXPECT_NEAR(schedule.learning_rate(9), 0.05, kTol);
  EXPECT_NEAR(schedule.learning_rate(14), 0.0, kTol);
  EXPECT_NEAR(schedule.learning_rate(50), 0.0, kTol);
}

// first 10, t_mul 2, m_mul 0.5: periods [0, 10), [10, 30), [30, 70). Step 5: period 0 half done
// → ½(1 + cos(π/2)) = 0.5. Step 10: period 1 starts at 0.5¹ = 0.5. Step 20: half of period 1 →
// 0.5·0.5 = 0.25. Step 30: period 2 starts at 0.5² = 0.25. With alpha 0.1, step 20 → 0.9·0.25 +
// 0.1.
TEST(Schedules, CosineDecayRestartsLengthensAndLowersEachPeriod) {
  const CosineDecayRestarts schedule(1.0, 10, 2.0, 0.5, 0.0);
  EXPECT_NEAR(schedule.learning_rate(0), 1.0, kTol);
  EXPECT_NEAR(schedule.learning_rate(5), 0.5, kTol);
  EXPECT_NEAR(schedule.learning_rate(10), 0.5, kTol);
  EXPECT_NEAR(schedule.learning_rate(20), 0.25, kTol);
  EXPECT_NEAR(schedule.learning_rate(30), 0.25, kTol);
  const CosineDecayRestarts with_alpha(1.0, 10, 2.0, 0.5, 0.1);
  EXPECT_NEAR(with_alpha.learning_rate(20), 0.325, kTol);
}

// t_mul 1: every period is 10 steps. Step 15: half of period 1 → 0.5; step 20: a restart → 1.
TEST(Schedules, CosineDecayRestartsWithEqualPeriods) {
  const CosineDecayRestarts schedule(1.0, 10, 1.0, 1.0, 0.0);
  EXPECT_NEAR(schedule.learning_rate(15), 0.5, kTol);
  EXPECT_NEAR(schedule.learning_rate(20), 1.0, kTol);
}

// T = 100: tail ⌊100/10⌋ + 1 = 11, h = ⌊89/2⌋ = 44; start = 1/10 = 0.1, last = 0.1/1000 = 1e-4.
// Step 22: 0.1 + 0.9·½ = 0.55, m = 0.95 − 0.1·½ = 0.9. Step 44: 1.0, m 0.85. Step 66: 1 − 0.9·½
// = 0.55, m 0.9. Step 88: 0.1, m 0.95. Step 94: 0.1 + (1e-4 − 0.1)·6/12 = 0.05005, m 0.95.
// Step 100 and after: 1e-4.
TEST(Schedules, OneCycleRisesFallsAndEndsInATail) {
  const OneCycle schedule(1.0, 100, std::nan(""), std::nan(""), 0.95, 0.85);
  const std::int64_t steps[] = {0, 22, 44, 66, 88, 94, 100, 1000};
  const double rates[] = {0.1, 0.55, 1.0, 0.55, 0.1, 0.05005, 1e-4, 1e-4};
  const double momenta[] = {0.95, 0.9, 0.85, 0.9, 0.95, 0.95, 0.95, 0.95};
  for (int i = 0; i < 8; ++i) {
    EXPECT_NEAR(schedule.learning_rate(steps[i]), rates[i], kTol) << "step " << steps[i];
    EXPECT_NEAR(schedule.momentum(steps[i]), momenta[i], kTol) << "step " << steps[i];
  }
}

// T = 1: tail 1, h = 0: only the tail, start 0.1 at step 0 and last at step 1. Without momenta
// the momentum is left alone (NaN).
TEST(Schedules, OneCycleOfOneStepIsOnlyTheTail) {
  const OneCycle schedule(1.0, 1);
  EXPECT_NEAR(schedule.learning_rate(0), 0.1, kTol);
  EXPECT_NEAR(schedule.learning_rate(1), 1e-4, kTol);
  EXPECT_TRUE(std::isnan(schedule.momentum(0)));
}

TEST(Schedules, ArgumentsThatWouldGiveABadRateAreRefused) {
  EXPECT_EQ(value_error([] { ExponentialDecay(0.1, 0, 0.5, false); }),
            "ExponentialDecay: decay_steps must be > 0. Received: decay_steps=0");
  EXPECT_EQ(value_error([] { InverseTimeDecay(0.1, std::nan(""), 0.5, false); }),
            "InverseTimeDecay: decay_steps must be a finite number. Received: decay_steps=nan");
  EXPECT_EQ(value_error([] { PolynomialDecay(0.1, 10, 0.01, -1, false); }),
            "PolynomialDecay: power must be >= 0. Received: power=-1");
  EXPECT_EQ(value_error([] { CosineDecay(0.1, 10, 1.5); }),
            "CosineDecay: alpha must be between 0 and 1. Received: alpha=1.5");
  EXPECT_EQ(value_error([] { CosineDecayRestarts(0.1, 10, 0.5, 1, 0); }),
            "CosineDecayRestarts: t_mul must be >= 1. Received: t_mul=0.5");
  EXPECT_EQ(value_error([] { PiecewiseConstantDecay({10, 20}, {1.0, 0.5}); }),
            "PiecewiseConstantDecay: values must have one more entry than boundaries. Received: 2 "
            "boundaries and 2 values");
  EXPECT_EQ(value_error([] { PiecewiseConstantDecay({20, 10}, {1.0, 0.5, 0.1}); }),
            "PiecewiseConstantDecay: boundaries must be strictly increasing. Received: "
            "boundaries=[..., 20, 10, ...]");
  EXPECT_EQ(value_error([] { OneCycle(1.0, 0); }),
            "OneCycle: total_steps must be >= 1. Received: total_steps=0");
  EXPECT_EQ(value_error([] { OneCycle(1.0, 100, 2.0); }),
            "OneCycle: start_learning_rate must be <= max_learning_rate. Received: "
            "start_learning_rate=2");
  EXPECT_EQ(value_error([] { OneCycle(1.0, 100, 0.1, 1e-4, 0.85, 0.95); }),
            "OneCycle: min_momentum must be <= max_momentum. Received: min_momentum=0.95");
  EXPECT_EQ(value_error([] { ExponentialDecay(-0.1, 10, 0.5, false); }),
            "ExponentialDecay: initial_learning_rate must be >= 0. Received: "
            "initial_learning_rate=-0.1");
}

TEST(Schedules, CallbackScheduleCallsTheFunctionAndChecksItsResult) {
  const CallbackSchedule half([](std::int64_t step) { return 0.5 * static_cast<double>(step); });
  EXPECT_EQ(half.learning_rate(3), 1.5);
  EXPECT_TRUE(std::isnan(half.momentum(3)));
  const CallbackSchedule throws([](std::int64_t) -> double { throw std::runtime_error("boom"); });
  EXPECT_THROW(throws.learning_rate(0), std::runtime_error);
  const CallbackSchedule negative([](std::int64_t) { return -1.0; });
  EXPECT_EQ(value_error([&] { negative.learning_rate(7); }),
            "CallbackSchedule: the schedule returned -1 at step 7; a learning rate must be a "
            "finite number >= 0");
  EXPECT_THROW(CallbackSchedule(nullptr), ValueError);
}

}  // namespace
}  // namespace densekit
