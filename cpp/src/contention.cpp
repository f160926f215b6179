#include "densekit/contention.hpp"

#include <chrono>

namespace densekit {

void ContentionMonitor::record_region(Nanoseconds work, Nanoseconds wait, Nanoseconds now) {
  if (wait <= kStallWait || wait <= 2 * work) return;
  if (now - window_start_ > kWindow) {
    window_start_ = now;
    stalls_ = 0;
  }
  if (++stalls_ < kStallsToBackOff) return;
  stalls_ = 0;
  window_start_ = now;
  backoff_until_.store(now + kBackOff, std::memory_order_relaxed);
  back_offs_.fetch_add(1, std::memory_order_relaxed);
}

void ContentionMonitor::reset() {
  backoff_until_.store(0, std::memory_order_relaxed);
  window_start_ = 0;
  stalls_ = 0;
}

ContentionMonitor& contention_monitor() {
  static ContentionMonitor monitor;
  return monitor;
}

ContentionMonitor::Nanoseconds monotonic_nanoseconds() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace densekit
