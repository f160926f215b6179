// How many threads a parallel region runs on now: the configured count (densekit.set_num_threads)
// under a ThreadCap, or one while the host takes the workers' cores. Kernels never ask it directly:
// they cut their work with a Partition (parallel.hpp), whose parts do not depend on its answer, and
// Partition::run asks it.
#pragma once

namespace densekit {

// The configured thread count (n >= 1), process-wide; by default OMP_NUM_THREADS when set, else
// the CPUs this process may run on. Threads start when a region first needs them.
void set_num_threads(int n);
int get_num_threads();

// Caps the threads of regions at n (>= 1) while it lives, process-wide like set_num_threads: what
// the tests use to run a computation on fewer threads than configured. A nested cap holds until it
// ends, then the outer one again. The configured count, and so every Partition, is untouched.
class ThreadCap {
 public:
  explicit ThreadCap(int n);
  ~ThreadCap();
  ThreadCap(const ThreadCap&) = delete;
  ThreadCap& operator=(const ThreadCap&) = delete;

 private:
  int previous_;
};

// Threads a region may run on now: the configured count, under the cap; one while the workers
// are losing their cores to other processes (contention.hpp).
int running_threads();

}  // namespace densekit
