#include "densekit/thread_policy.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>

#include "densekit/contention.hpp"
#include "densekit/error.hpp"

namespace densekit {
namespace {

// The CPUs this process may run on (taskset, cgroups' cpusets), as OpenMP counted them; a
// positive OMP_NUM_THREADS first, the variable users of OpenMP libraries already set.
int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n >= 1) return n;
  }
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof cpus, &cpus) == 0) return std::max(1, CPU_COUNT(&cpus));
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

std::atomic<int> g_num_threads{0};  // 0: not set yet, use default_threads()
std::atomic<int> g_thread_cap{0};   // 0: no ThreadCap alive

}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: n must be >= 1. Received: n=" + std::to_string(n));
  g_num_threads = n;
}

int get_num_threads() {
  const int n = g_num_threads.load();
  if (n > 0) return n;
  static const int fallback = default_threads();
  return fallback;
}

ThreadCap::ThreadCap(int n) : previous_(g_thread_cap.exchange(std::max(n, 1))) {}
ThreadCap::~ThreadCap() { g_thread_cap.store(previous_); }

int running_threads() {
  const int cap = g_thread_cap.load(std::memory_order_relaxed);
  const int threads = cap > 0 ? std::min(cap, get_num_threads()) : get_num_threads();
  if (threads > 1 && contention_monitor().backing_off(monotonic_nanoseconds())) return 1;
  return threads;
}

}  // namespace densekit
