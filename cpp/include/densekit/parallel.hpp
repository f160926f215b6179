// The one threading knob. Our matrix products (kernels/dense.cpp) split their output columns
// across `product_threads(...)` OpenMP threads, and our element-wise and reduction loops use
// `num_threads(loop_threads(n))`: small work stays on one thread, because a fork-join costs
// microseconds on an idle machine and milliseconds on a busy one. Eigen's own threading is off.
#pragma once

#include <mutex>
#include <utility>

#include "densekit/types.hpp"

namespace densekit {

// Sets the threads used by Eigen's products and our loops (n >= 1); process-wide.
void set_num_threads(int n);
int get_num_threads();

// Caps the threads of products and loops at n (>= 1) while it lives, process-wide like
// set_num_threads: the lever of the epoch loop's ThreadTuner. A nested cap holds until it ends,
// then the outer one again.
class ThreadCap {
 public:
  explicit ThreadCap(int n);
  ~ThreadCap();
  ThreadCap(const ThreadCap&) = delete;
  ThreadCap& operator=(const ThreadCap&) = delete;

 private:
  int previous_;
};

// Threads for an element-wise loop over `work` elements: 1 below the threshold where forking
// costs more than it saves, get_num_threads() above it.
int loop_threads(Index work);

// body(i) for i in [0, count), over loop_threads(work) threads. On one thread it runs inline:
// GCC's OpenMP allocates a team even for a one-thread region, and the training step must not
// allocate.
template <class Body>
void parallel_for(Index count, Index work, const Body& body) {
  const int threads = loop_threads(work);
  if (threads == 1) {
    for (Index i = 0; i < count; ++i) body(i);
    return;
  }
#pragma omp parallel for num_threads(threads) schedule(static)
  for (Index i = 0; i < count; ++i) body(i);
}

// Parts a parallel_sum over `work` elements is cut in: 1 below the loop threshold, else the
// configured thread count (at most kMaxSumParts), however many threads run now.
constexpr int kMaxSumParts = 64;
int sum_parts(Index work);

// Σ body(i) for i in [0, count), accumulated in double: each of sum_parts(work) contiguous parts
// on its own, over loop_threads(work) threads, then the parts in order. So the sum has the same
// bits on one thread (a ThreadCap, a contended machine, a nested call) as on all of them.
template <class Body>
double parallel_sum(Index count, Index work, const Body& body) {
  const int parts = sum_parts(work);
  double partial[kMaxSumParts];
  const auto sum_part = [&](Index p) {
    double sum = 0;
    for (Index i = count * p / parts; i < count * (p + 1) / parts; ++i) sum += body(i);
    partial[p] = sum;
  };
  if (parts == 1) {
    sum_part(0);
  } else {
    parallel_for(parts, work, sum_part);
  }
  double total = 0;
  for (int p = 0; p < parts; ++p) total += partial[p];
  return total;
}

// The [start, start + size) part of `extent` that thread `thread` of `team` takes: blocks of 16
// (one AVX-512 register of floats, so no share starts mid-vector) dealt out as evenly as
// possible, the last block possibly partial. 100 columns on 2 threads: 48 + 52, not 64 + 36.
// Products split their outputs and the optimizer its parameters this way, so a thread updates
// the rows of a weight matrix whose gradient it computed.
std::pair<Index, Index> share_of(Index extent, Index thread, Index team);

// Threads for a matrix product of `multiply_adds` multiply-adds (m·n·k); thin: one side of the
// output has only a few rows or columns (matrix-vector-like, bound by reading the other operand).
int product_threads(double multiply_adds, bool thin);

// Whether the configured thread count splits such a product, whatever a ThreadCap or contention
// allow now: what a split that must give the same bits on any number of running threads is cut
// by.
bool product_splits(double multiply_adds, bool thin);

// Shared cores. While other processes keep the cores busy, each join waits for a descheduled
// thread's next time slice: milliseconds instead of microseconds, which made two threads 20-200
// times slower than one on a loaded machine. So a parallel product times itself: one that takes
// far longer than its work explains (twice in a row) marks the cores as contended, and products
// and loops then run on one thread for a while (50 ms, doubling up to 2 s while it lasts)
// before threads are tried again.
class ContentionProbe {
 public:
  // epilogue_elements: outputs the product's threads also finish in place (bias, activation).
  ContentionProbe(double multiply_adds, int threads, double epilogue_elements = 0);
  ~ContentionProbe();

 private:
  double expected_seconds_;
  std::int64_t start_ns_;
};

// Whether the library was built with OpenMP.
bool openmp_enabled();

// Held by every computation on layer buffers. Layers may be shared between networks (reused
// pretrained layers) and called directly, so one lock for all of them keeps two threads from
// ever writing the same scratch memory. Recursive, so a progress callback that runs Python
// between two steps of an epoch may itself predict.
using ComputeLock = std::lock_guard<std::recursive_mutex>;
std::recursive_mutex& compute_mutex();

}  // namespace densekit
