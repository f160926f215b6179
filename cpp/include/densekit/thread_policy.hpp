// How many threads a parallel region runs on now: the one place that combines the configured
// count (densekit.set_num_threads), the epoch loop's ThreadCap (set from its ThreadTuner) and the
// back-off on contended cores. Kernels never ask it directly: they cut their work with a Partition
// (parallel.hpp), whose parts do not depend on its answer, and Partition::run asks it.
#pragma once

#include <cstdint>

namespace densekit {

// The configured thread count (n >= 1), process-wide; by default OMP_NUM_THREADS when set, else
// the CPUs this process may run on. Threads start when a region first needs them.
void set_num_threads(int n);
int get_num_threads();

// Caps the threads of regions at n (>= 1) while it lives, process-wide like set_num_threads: the
// lever of the epoch loop's ThreadTuner. A nested cap holds until it ends, then the outer one
// again. The configured count, and so every Partition, is untouched.
class ThreadCap {
 public:
  explicit ThreadCap(int n);
  ~ThreadCap();
  ThreadCap(const ThreadCap&) = delete;
  ThreadCap& operator=(const ThreadCap&) = delete;

 private:
  int previous_;
};

// Threads a region may run on now: the configured count under the cap, or 1 while the cores are
// contended (see ContentionProbe).
int running_threads();

// Shared cores. While other processes keep the cores busy, each join waits for a descheduled
// thread's next time slice: milliseconds instead of microseconds, which made two threads 20-200
// times slower than one on a loaded machine. So a parallel product times itself: one that takes
// far longer than its work explains (twice in a row) marks the cores as contended, and regions
// then run on one thread for a while (50 ms, doubling up to 2 s while it lasts) before threads
// are tried again.
class ContentionProbe {
 public:
  // epilogue_elements: outputs the product's threads also finish in place (bias, activation).
  ContentionProbe(double multiply_adds, int threads, double epilogue_elements = 0);
  ~ContentionProbe();
  ContentionProbe(const ContentionProbe&) = delete;
  ContentionProbe& operator=(const ContentionProbe&) = delete;

 private:
  double expected_seconds_;
  std::int64_t start_ns_;
};

}  // namespace densekit
