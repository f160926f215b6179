// The epoch loop's choice between all threads and one, driven by made-up step times.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "densekit/parallel.hpp"
#include "densekit/thread_tuner.hpp"

namespace densekit {
namespace {

constexpr int kBlock = ThreadTuner::kBlockSteps;
constexpr int kTrialSteps = 2 * ThreadTuner::kRounds * kBlock;

// Runs `steps` steps asking for `most` threads; a step on t threads takes seconds(t, i).
template <class Seconds>
std::vector<int> run(ThreadTuner& tuner, int most, int steps, const Seconds& seconds) {
  std::vector<int> asked;
  for (int i = 0; i < steps; ++i) {
    const int threads = tuner.next(most);
    asked.push_back(threads);
    tuner.record(seconds(threads, i));
  }
  return asked;
}

std::vector<int> trial_pattern(int most) {
  std::vector<int> pattern;
  for (int block = 0; block < 2 * ThreadTuner::kRounds; ++block)
    pattern.insert(pattern.end(), kBlock, block % 2 == 0 ? most : 1);
  return pattern;
}

TEST(ThreadTuner, ATrialAlternatesBlocksThenKeepsTheFasterCount) {
  ThreadTuner faster_on_two, faster_on_one;
  const auto two_fast = [](int t, int) { return t == 2 ? 0.01 : 0.016; };
  const auto one_fast = [](int t, int) { return t == 2 ? 0.009 : 0.006; };
  EXPECT_EQ(run(faster_on_two, 2, kTrialSteps, two_fast), trial_pattern(2));
  EXPECT_EQ(run(faster_on_one, 2, kTrialSteps, one_fast), trial_pattern(2));
  EXPECT_EQ(run(faster_on_two, 2, 50, two_fast), std::vector<int>(50, 2));
  EXPECT_EQ(run(faster_on_one, 2, 40, one_fast),
            std::vector<int>(40, 1));  // 0.24 s, before the recheck
}

TEST(ThreadTuner, TriesAgainAfterTheSettlingTime) {
  // Powers of two, so the sums of step times are exact.
  const auto two_fast = [](int t, int) { return t == 2 ? 1.0 / 64 : 1.0 / 32; };
  const auto one_fast = [](int t, int) { return t == 2 ? 1.0 / 32 : 1.0 / 64; };
  // All threads: 1 s of steps, or 20 times what the trial took when that is longer (here the
  // trial's 12 steps on two threads and 12 twice as long on one: 36 steps' time, so 720 steps).
  for (const double step : {1.0 / 64, 1.0 / 4}) {
    ThreadTuner tuner;
    const auto seconds = [&](int t, int) { return t == 2 ? step : 2 * step; };
    run(tuner, 2, kTrialSteps, seconds);
    const int settled =
        int(std::max(ThreadTuner::kSettleSeconds / step, ThreadTuner::kSettleTrials * 36));
    EXPECT_EQ(run(tuner, 2, settled, seconds), std::vector<int>(settled, 2)) << step;
    EXPECT_EQ(run(tuner, 2, kTrialSteps, seconds), trial_pattern(2)) << step;
  }
  // One thread, the exception: checked again after a quarter of a second.
  ThreadTuner tuner;
  run(tuner, 2, kTrialSteps, one_fast);
  const int settled = int(ThreadTuner::kRecheckOneSeconds * 64);
  EXPECT_EQ(run(tuner, 2, settled, one_fast), std::vector<int>(settled, 1));
  EXPECT_EQ(run(tuner, 2, kTrialSteps, two_fast), trial_pattern(2));
  EXPECT_EQ(tuner.next(2), 2);
}

TEST(ThreadTuner, OneThreadMustBeFasterByTheMargin) {
  ThreadTuner close, clear;
  run(close, 2, kTrialSteps, [](int t, int) { return t == 2 ? 0.0100 : 0.0095; });
  run(clear, 2, kTrialSteps, [](int t, int) { return t == 2 ? 0.0100 : 0.0085; });
  EXPECT_EQ(close.next(2), 2);
  EXPECT_EQ(clear.next(2), 1);
}

TEST(ThreadTuner, SlowStepsInARowStartATrialEarly) {
  ThreadTuner tuner;
  run(tuner, 2, kTrialSteps, [](int t, int) { return t == 2 ? 0.01 : 0.02; });
  // Two threads became slow: after kSlowSteps such steps the next trial finds one faster.
  const auto changed = [](int t, int) { return t == 2 ? 0.03 : 0.02; };
  EXPECT_EQ(run(tuner, 2, ThreadTuner::kSlowSteps, changed),
            std::vector<int>(ThreadTuner::kSlowSteps, 2));
  EXPECT_EQ(run(tuner, 2, kTrialSteps, changed), trial_pattern(2));
  EXPECT_EQ(tuner.next(2), 1);
  // Occasional slow steps (not kSlowSteps in a row) do not.
  ThreadTuner steady;
  run(steady, 2, kTrialSteps, [](int t, int) { return t == 2 ? 0.01 : 0.02; });
  const auto spiky = [](int t, int i) { return t == 2 && i % 2 == 0 ? 0.05 : 0.01; };
  EXPECT_EQ(run(steady, 2, 30, spiky), std::vector<int>(30, 2));
}

TEST(ThreadTuner, OneThreadConfiguredIsOneThreadAndANewCountStartsATrial) {
  ThreadTuner tuner;
  EXPECT_EQ(run(tuner, 1, 30, [](int, int) { return 0.01; }), std::vector<int>(30, 1));
  EXPECT_EQ(tuner.next(0), 1);
  run(tuner, 4, kTrialSteps, [](int t, int) { return t == 4 ? 0.01 : 0.02; });
  EXPECT_EQ(tuner.next(4), 4);
  EXPECT_EQ(run(tuner, 3, kTrialSteps, [](int, int) { return 0.01; }), trial_pattern(3));
}

TEST(ThreadCap, CapsTheRunningThreadsButNotThePartsWhileItLives) {
  const int configured = get_num_threads();
  set_num_threads(2);
  constexpr Index kLargeLoop = Index(1) << 22;
  EXPECT_EQ(running_threads(), 2);
  {
    const ThreadCap cap(1);
    EXPECT_EQ(running_threads(), 1);
    EXPECT_EQ(get_num_threads(), 2);  // the configured count is untouched
    EXPECT_EQ(Partition::loop(kLargeLoop).parts(), 2);
    EXPECT_EQ(Partition::product(1000, 1000, 1000).parts(), 2);
  }
  EXPECT_EQ(running_threads(), 2);
  set_num_threads(4);
  {
    const ThreadCap outer(2);
    {
      const ThreadCap inner(1);
      EXPECT_EQ(running_threads(), 1);
    }
    EXPECT_EQ(running_threads(), 2);  // the outer cap again
  }
  EXPECT_EQ(running_threads(), 4);
  set_num_threads(configured);
}

// A loss or a norm summed in parts: the same bits on one thread under a cap as on two, because
// the parts are cut by the configured count.
TEST(ThreadCap, ParallelSumHasTheSameBitsUnderACap) {
  const int configured = get_num_threads();
  std::mt19937 rng(11);
  std::uniform_real_distribution<double> uniform(-1, 1);
  std::vector<double> values(1 << 20);
  for (double& v : values) v = uniform(rng) * 1e3;
  const auto body = [&](Index i) { return values[size_t(i)]; };
  for (int threads : {2, 3}) {
    set_num_threads(threads);
    const Index count = Index(values.size());
    const double all = parallel_sum(count, count, body);
    double capped;
    {
      const ThreadCap cap(1);
      capped = parallel_sum(count, count, body);
    }
    EXPECT_EQ(capped, all) << "threads=" << threads;
    double serial = 0;
    for (double v : values) serial += v;
    EXPECT_NEAR(all, serial, 1e-6);
  }
  set_num_threads(configured);
}

}  // namespace
}  // namespace densekit
