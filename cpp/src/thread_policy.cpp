#include "densekit/thread_policy.hpp"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>

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

// Until when (steady clock, ns) to run on one thread because the cores are contended, and how
// many parallel products in a row were slow: one alone is no proof (the first region creates the
// threads; a page fault or a single preemption happens), two in a row are.
std::atomic<std::int64_t> g_single_until_ns{0};
std::atomic<int> g_slow_in_a_row{0};
constexpr int kSlowProductsToBackOff = 2;
// The back-off doubles while the cores stay contended (a brief burst, such as another library's
// threads spinning down, costs ~50 ms; a busy machine is retried rarely) and resets once a
// parallel product is fast again.
constexpr std::int64_t kFirstBackoffNs = 50'000'000, kLongestBackoffNs = 2'000'000'000;
std::atomic<std::int64_t> g_backoff_ns{kFirstBackoffNs};
// A core does at least ~20 G multiply-adds/s here (measured: 38); a parallel product slower than
// 4x that rate, plus 200 µs of slack, was held up by something else.
constexpr double kSlowMultiplyAddsPerSecond = 5e9;
constexpr double kSlackSeconds = 200e-6;
// An epilogue element costs at most ~30 ns (exact gelu's erfc, scalar); 4x that is slow.
constexpr double kSlowEpilogueElementsPerSecond = 1e7;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool contended() { return now_ns() < g_single_until_ns.load(std::memory_order_relaxed); }

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
  if (contended()) return 1;
  const int cap = g_thread_cap.load(std::memory_order_relaxed);
  return cap > 0 ? std::min(cap, get_num_threads()) : get_num_threads();
}

ContentionProbe::ContentionProbe(double multiply_adds, int threads, double epilogue_elements)
    : expected_seconds_((multiply_adds / kSlowMultiplyAddsPerSecond +
                         epilogue_elements / kSlowEpilogueElementsPerSecond) /
                            threads +
                        kSlackSeconds),
      start_ns_(now_ns()) {}

ContentionProbe::~ContentionProbe() {
  const std::int64_t end = now_ns();
  if (double(end - start_ns_) * 1e-9 <= expected_seconds_) {
    g_slow_in_a_row.store(0, std::memory_order_relaxed);
    g_backoff_ns.store(kFirstBackoffNs, std::memory_order_relaxed);
    return;
  }
  if (g_slow_in_a_row.fetch_add(1, std::memory_order_relaxed) + 1 >= kSlowProductsToBackOff) {
    g_slow_in_a_row.store(0, std::memory_order_relaxed);
    const std::int64_t backoff = g_backoff_ns.load(std::memory_order_relaxed);
    g_single_until_ns.store(end + backoff, std::memory_order_relaxed);
    g_backoff_ns.store(std::min(2 * backoff, kLongestBackoffNs), std::memory_order_relaxed);
  }
}

}  // namespace densekit
