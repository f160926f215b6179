#include "densekit/thread_tuner.hpp"

#include <algorithm>

namespace densekit {
namespace {

template <size_t N>
double median(std::array<double, N> times, int count) {
  std::nth_element(times.begin(), times.begin() + count / 2, times.begin() + count);
  return times[size_t(count / 2)];
}

}  // namespace

int ThreadTuner::next(int most) {
  most = std::max(most, 1);
  if (most != most_) {
    most_ = most;
    start_trial();
  }
  if (most_ == 1) return 1;
  if (!trial_) return chosen_;
  return (step_in_trial_ / kBlockSteps) % 2 == 0 ? most_ : 1;
}

void ThreadTuner::record(double seconds) {
  if (most_ <= 1) return;
  if (!trial_) {
    settled_seconds_ += seconds;
    slow_in_a_row_ = seconds > kSlower * chosen_median_ ? slow_in_a_row_ + 1 : 0;
    if (settled_seconds_ >= settle_for_ || slow_in_a_row_ >= kSlowSteps) start_trial();
    return;
  }
  trial_seconds_ += seconds;
  const int block = step_in_trial_ / kBlockSteps;
  if (step_in_trial_ % kBlockSteps != 0) {
    if (block % 2 == 0)
      on_most_[size_t(timed_most_++)] = seconds;
    else
      on_one_[size_t(timed_one_++)] = seconds;
  }
  if (++step_in_trial_ == 2 * kRounds * kBlockSteps) settle();
}

void ThreadTuner::start_trial() {
  trial_ = true;
  step_in_trial_ = timed_most_ = timed_one_ = 0;
  trial_seconds_ = 0;
}

void ThreadTuner::settle() {
  const double most = median(on_most_, timed_most_), one = median(on_one_, timed_one_);
  chosen_ = one < kMargin * most ? 1 : most_;
  chosen_median_ = chosen_ == 1 ? one : most;
  trial_ = false;
  settled_seconds_ = 0;
  settle_for_ =
      chosen_ == 1 ? kRecheckOneSeconds : std::max(kSettleSeconds, kSettleTrials * trial_seconds_);
  slow_in_a_row_ = 0;
}

}  // namespace densekit
