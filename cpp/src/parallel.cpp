#include "densekit/parallel.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <mutex>

namespace densekit {
namespace {

// Below this many elements an element-wise loop runs faster on one thread than on the team
// (about 5 µs of work: with the workers spinning between regions a region costs ~1 µs; the first
// batch norm of a 784-300-...-10 model at batch 32, 25 k elements, went from 24 to 14 µs), and
// below this many multiply-adds a product does (about 8 µs; two halves of a 32x100x100 product,
// 320 k, were slower than one whole).
constexpr Index kParallelThreshold = 1 << 14;
constexpr double kProductParallelThreshold = 1 << 19;
// A product over a few rows (a single sample) streams its weight matrix from the cache once per
// row; two cores read their halves from two caches, so such a product splits from less work:
// one sample through a 784x300 layer (235 k) went from 12.9 to 8.5 µs.
constexpr double kThinProductParallelThreshold = 1 << 17;
// A product whose output has at most this many rows or columns is thin (matrix-vector-like).
constexpr Index kThinSide = 4;

}  // namespace

std::pair<Index, Index> share_of(Index extent, Index part, Index parts) {
  const Index blocks = (extent + 15) / 16;
  const Index first_block = blocks * part / parts, end_block = blocks * (part + 1) / parts;
  const Index start = std::min(extent, first_block * 16);
  return {start, std::min(extent, end_block * 16) - start};
}

Partition Partition::loop(Index work) {
  return Partition(work < kParallelThreshold ? 1 : get_num_threads(), Axis::whole);
}

Partition Partition::per_thread() { return Partition(get_num_threads(), Axis::whole); }

Partition Partition::product(Index rows, Index cols, Index inner) {
  const double multiply_adds = double(rows) * double(cols) * double(inner);
  const bool thin = std::min(rows, cols) <= kThinSide;
  const bool splits =
      multiply_adds >= (thin ? kThinProductParallelThreshold : kProductParallelThreshold) &&
      get_num_threads() > 1;
  if (!splits) return Partition(1, Axis::whole);
  return Partition(get_num_threads(), rows >= cols ? Axis::rows : Axis::columns);
}

Partition Partition::forward(Index batch, Index inputs, Index units) {
  const Partition whole = product(batch, units, inputs);
  const Index parts = std::min<Index>(get_num_threads(), (inputs + 15) / 16);
  if (!whole.splits() || parts < 2 || 2 * (parts - 1) * batch > inputs) return whole;
  return Partition(parts, Axis::inner);
}

std::pair<Index, Index> Partition::share(Index extent, Index part) const {
  if (part >= parts_) return {0, 0};
  return parts_ == 1 ? std::pair<Index, Index>{0, extent} : share_of(extent, part, parts_);
}

namespace {

// Never destroyed, and replaced in a forked child: a computation another thread was running at
// the fork holds the parent's mutex for good there (its thread does not exist in the child), so
// the child takes a new one and leaks the held copy. The child's copy of that computation's
// model is then as the fork found it, midway through a step.
std::atomic<std::recursive_mutex*> g_compute_mutex{new std::recursive_mutex};

void fresh_compute_mutex_after_fork() { g_compute_mutex.store(new std::recursive_mutex); }

// Registered when the library loads: this file holds compute_mutex, so it is always linked in.
[[maybe_unused]] const int g_fork_handler =
    pthread_atfork(nullptr, nullptr, fresh_compute_mutex_after_fork);

}  // namespace

std::recursive_mutex& compute_mutex() { return *g_compute_mutex.load(); }

}  // namespace densekit
