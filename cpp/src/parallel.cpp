#include "densekit/parallel.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "densekit/error.hpp"

namespace densekit {
namespace {

int default_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Below this many elements an element-wise loop runs faster on one thread than forking a team
// (about 5 µs of work: with the workers spinning between regions, as densekit's import sets
// GOMP_SPINCOUNT, a fork-join costs ~1 µs; the seed's first batch norm at batch 32, 25 k
// elements, went from 24 to 14 µs), and below this many multiply-adds a product does (about
// 8 µs; two halves of a 32x100x100 product, 320 k, were slower than one whole).
constexpr Index kParallelThreshold = 1 << 14;
constexpr double kProductParallelThreshold = 1 << 19;
// A product over a few rows (a single sample) streams its weight matrix from the cache once per
// row; two cores read their halves from two caches, so such a product splits from less work:
// one sample through the seed's 784x300 layer (235 k) went from 12.9 to 8.5 µs.
constexpr double kThinProductParallelThreshold = 1 << 17;

std::atomic<int> g_num_threads{0};  // 0: not set yet, use the OpenMP default
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

// Eigen would thread a product by its own rule (from ~50k multiply-adds); we split products
// ourselves, so Eigen stays on one thread, set once when the library loads.
const bool g_eigen_single_threaded = [] {
  Eigen::setNbThreads(1);
  return true;
}();

}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: n must be >= 1. Received: n=" + std::to_string(n));
  g_num_threads = n;
}

int get_num_threads() {
  int n = g_num_threads.load();
  return n > 0 ? n : default_threads();
}

ThreadCap::ThreadCap(int n) : previous_(g_thread_cap.exchange(std::max(n, 1))) {}
ThreadCap::~ThreadCap() { g_thread_cap.store(previous_); }

namespace {

// What products and loops above their thresholds use: the configured count, under the cap.
int allowed_threads() {
  const int cap = g_thread_cap.load(std::memory_order_relaxed);
  return cap > 0 ? std::min(cap, get_num_threads()) : get_num_threads();
}

}  // namespace

std::pair<Index, Index> share_of(Index extent, Index thread, Index team) {
  const Index blocks = (extent + 15) / 16;
  const Index first_block = blocks * thread / team, end_block = blocks * (thread + 1) / team;
  const Index start = std::min(extent, first_block * 16);
  return {start, std::min(extent, end_block * 16) - start};
}

int sum_parts(Index work) {
  return work < kParallelThreshold ? 1 : std::min(get_num_threads(), kMaxSumParts);
}

int loop_threads(Index work) {
#ifdef _OPENMP
  if (omp_get_level() > 0) return 1;  // a loop inside a product's threads (an epilogue) runs inline
#endif
  return work < kParallelThreshold || contended() ? 1 : allowed_threads();
}

bool product_splits(double multiply_adds, bool thin) {
  return multiply_adds >= (thin ? kThinProductParallelThreshold : kProductParallelThreshold) &&
         get_num_threads() > 1;
}

int product_threads(double multiply_adds, bool thin) {
  return !product_splits(multiply_adds, thin) || contended() ? 1 : allowed_threads();
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

std::recursive_mutex& compute_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

bool openmp_enabled() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace densekit
