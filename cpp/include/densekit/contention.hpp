// Notices when densekit's workers lose their cores to other processes, and then runs parallel
// regions on the calling thread alone for a while.
//
// A worker that the host deschedules in the middle of its part keeps the region's thread 0
// waiting for the rest of the other process's time slice: milliseconds, against the tens of
// microseconds a part of a training step takes. With a busy process on the second core, a step of
// the bn model at batch 256 took 8.3 ms on two threads and 3.3 ms on one (2.0 ms on two when
// quiet). A region's parts never depend on how many threads run it (parallel.hpp), so running on
// fewer changes no result, only the time.
#pragma once

#include <atomic>
#include <cstdint>

namespace densekit {

class ContentionMonitor {
 public:
  using Nanoseconds = std::int64_t;

  // A region that made thread 0 wait longer than this for its workers, and longer than twice its
  // own share of the work, stalled: a balanced region at these sizes waits microseconds, a worker
  // waking from sleep ~0.1 ms.
  static constexpr Nanoseconds kStallWait = 500'000;
  // This many stalls within kWindow start a back-off of kBackOff, after which regions use every
  // thread again and the monitor looks anew.
  static constexpr int kStallsToBackOff = 3;
  static constexpr Nanoseconds kWindow = 250'000'000;
  static constexpr Nanoseconds kBackOff = 500'000'000;

  // After every region of more than one thread: thread 0's own work, then its wait for the
  // workers (at its barriers and at the end), and the time the region ended. Called by one
  // thread at a time.
  void record_region(Nanoseconds work, Nanoseconds wait, Nanoseconds now);
  // Whether regions should run on one thread at `now`.
  bool backing_off(Nanoseconds now) const {
    return now < backoff_until_.load(std::memory_order_relaxed);
  }
  // Back-offs started so far.
  std::int64_t back_offs() const { return back_offs_.load(std::memory_order_relaxed); }
  // Forgets every stall and ends a back-off (tests that count threads start from here).
  void reset();

 private:
  std::atomic<Nanoseconds> backoff_until_{0};
  std::atomic<std::int64_t> back_offs_{0};
  Nanoseconds window_start_ = 0;
  int stalls_ = 0;
};

// The process's monitor, fed by the thread team and asked by running_threads().
ContentionMonitor& contention_monitor();
// steady_clock in nanoseconds.
ContentionMonitor::Nanoseconds monotonic_nanoseconds();

}  // namespace densekit
