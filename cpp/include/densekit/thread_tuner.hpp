// Whether a training epoch's steps run faster on all the threads or on one. On a shared virtual
// machine the answer changes by the minute: at times our two vCPUs shared one physical core (two
// programs, one on each, each ran at half speed), or another thread pool was still spinning on a
// core, and two threads then trained a 784-300-100-10 model up to 1.4x slower than one, since every
// join waits for the slower thread. So the epoch loop times its steps on both and keeps the faster,
// trying again now and then.
#pragma once

#include <array>
#include <cstddef>

namespace densekit {

class ThreadTuner {
 public:
  // The threads for the next step: `most` (the configured count) or 1.
  int next(int most);
  // The step that next() was asked for took `seconds`.
  void record(double seconds);

  // A trial: blocks of kBlockSteps steps, alternately on `most` threads and on one, kRounds
  // blocks of each; a block's first step is not timed (it moves data between the cores' caches).
  static constexpr int kBlockSteps = 6, kRounds = 2;
  // After a trial the faster count runs for a while, then another trial: all threads for
  // kSettleSeconds, or kSettleTrials times what the trial took when that is longer, so trials
  // cost 5% at most; one thread only for kRecheckOneSeconds, since it is the exception (a trial
  // at a bad moment, such as another process's threads spinning down, must not cost seconds).
  // One thread is chosen only when it is faster by kMargin. A settled count is tried again sooner
  // when kSlowSteps steps in a row take kSlower times the trial's median: the machine changed.
  static constexpr double kSettleSeconds = 1.0, kSettleTrials = 20.0, kRecheckOneSeconds = 0.25;
  static constexpr double kMargin = 0.9, kSlower = 1.3;
  static constexpr int kSlowSteps = 5;

 private:
  static constexpr int kTimed = (kBlockSteps - 1) * kRounds;
  void start_trial();
  void settle();

  int most_ = 0;              // the count the last trial compared with one thread
  bool trial_ = true;         // in a trial, else settled on chosen_
  int step_in_trial_ = 0;     // 0 .. 2 * kRounds * kBlockSteps
  double trial_seconds_ = 0;  // what the current trial's steps took, on both counts
  std::array<double, kTimed> on_most_{}, on_one_{};
  int timed_most_ = 0, timed_one_ = 0;
  int chosen_ = 0;
  double chosen_median_ = 0;  // seconds per step of chosen_ in the trial
  double settled_seconds_ = 0, settle_for_ = 0;
  int slow_in_a_row_ = 0;
};

}  // namespace densekit
