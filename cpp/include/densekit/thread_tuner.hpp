// Whether a training epoch's steps run faster on all the threads or on one. On a shared virtual
// machine the answer changes by the minute: at times the hypervisor runs both of our vCPUs on
// one physical core, and then two threads train the seed model ~1.4x slower than one (each
// thread computes at half speed and every join waits for the slower). So the epoch loop times its
// steps on both and keeps the faster, trying again now and then.
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
  // After a trial the faster count runs for this many seconds of steps, or 20 trials' worth when
  // steps are long, so trials cost a few percent at most; then another trial. Sooner when
  // kSlowSteps steps in a row take kSlower times the trial's median: the machine changed.
  static constexpr double kSettleSeconds = 1.0, kSettleTrials = 20.0, kSlower = 1.3;
  static constexpr int kSlowSteps = 5;

 private:
  static constexpr int kTimed = (kBlockSteps - 1) * kRounds;
  void start_trial();
  void settle();

  int most_ = 0;               // the count the last trial compared with one thread
  bool trial_ = true;          // in a trial, else settled on chosen_
  int step_in_trial_ = 0;      // 0 .. 2 * kRounds * kBlockSteps
  std::array<double, kTimed> on_most_{}, on_one_{};
  int timed_most_ = 0, timed_one_ = 0;
  double trial_seconds_ = 0;   // what the current trial's steps took
  int chosen_ = 0;
  double chosen_median_ = 0;   // seconds per step of chosen_ in the trial
  double settled_seconds_ = 0, settle_for_ = 0;
  int slow_in_a_row_ = 0;
};

}  // namespace densekit
