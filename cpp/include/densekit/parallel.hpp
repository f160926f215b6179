// How work is split across threads. A Partition cuts one piece of work (a matrix product, a
// weight update, an element-wise loop or a sum) into parts; Partition::run hands the parts to the
// threads the policy allows now (thread_policy.hpp) on densekit's thread team (thread_team.hpp).
//
// Determinism lives here, so that no kernel has to remember it: the parts depend only on the
// size of the work and the configured thread count, never on how many threads run now (fewer
// under a ThreadCap, in a nested or concurrent call). Thread t
// of a team of T takes parts t, t + T, ..., and a part is computed the same way on any thread, so
// a result has the same bits whichever threads ran it. The products (kernels/dense.cpp) and the
// optimizer ask the same Partition, so a thread updates the weight rows whose gradient it computed.
#pragma once

#include <mutex>
#include <utility>

#include "densekit/float_mode.hpp"
#include "densekit/thread_policy.hpp"
#include "densekit/thread_team.hpp"
#include "densekit/types.hpp"

namespace densekit {

// The [start, start + size) part of `extent` that part `part` of `parts` takes: blocks of 16
// (one AVX-512 register of floats, so no part starts mid-vector) dealt out as evenly as possible,
// the last block possibly partial. 100 columns in 2 parts: 48 + 52, not 64 + 36.
std::pair<Index, Index> share_of(Index extent, Index part, Index parts);

class Partition {
 public:
  // What a part of a product is: rows or columns of the output, or a range of the inner
  // dimension (partial sums added afterwards); whole when the work is not split.
  enum class Axis { whole, rows, columns, inner };

  // An element-wise loop or a sum over `work` elements: one part below the size where threads
  // cost more than they save (~5 µs of work), else one per configured thread.
  static Partition loop(Index work);
  // One part per configured thread, however small the work.
  static Partition per_thread();
  // out (rows x cols) = a (rows x inner) b: one part below ~8 µs of work (less for a thin product,
  // matrix-vector-like, which two cores' caches speed up), else one per configured thread, along
  // out's rows when it is at least as tall as wide (a weight gradient of a layer no wider than its
  // input), else along its columns (the batch-sized outputs of backward-data products).
  static Partition product(Index rows, Index cols, Index inner);
  // y (batch x units) = x (batch x inputs) w for a layer's forward: along the inner dimension
  // (at most one part per 16 inputs) while the partial sums beyond the first are at most half
  // the size of w, so each thread keeps the same rows of w as its gradient and update (see
  // forward_product); else as product(). Beyond half, adding the partials and the shorter inner
  // dimension of each part cost more than the rows of w that move between cores: a 300x100
  // layer at batch 256 took 123-134 µs a forward pass split along its inputs, 90 by rows.
  static Partition forward(Index batch, Index inputs, Index units);

  Index parts() const { return parts_; }
  Axis axis() const { return axis_; }
  bool splits() const { return parts_ > 1; }

  // The range of `extent` that part `part` takes (share_of): all of it for part 0 of an unsplit
  // partition, nothing for a part beyond parts().
  std::pair<Index, Index> share(Index extent, Index part) const;

  // body(thread, team) on each thread of a team the policy sizes now (1 when unsplit). The body
  // takes parts thread, thread + team, ...
  template <class Body>
  void run(const Body& body) const {
    run_team(parts_ > 1 ? running_threads() : 1, body);
  }

  // body(part) for every part, each on the thread that run() deals it to.
  template <class Body>
  void for_each_part(const Body& body) const {
    run([&](Index thread, Index team) {
      for (Index p = thread; p < parts_; p += team) body(p);
    });
  }

 private:
  Partition(Index parts, Axis axis) : parts_(parts), axis_(axis) {}

  Index parts_;
  Axis axis_;
};

// body(i) for i in [0, count), split as Partition::loop(work): each thread a contiguous range.
// Fewer items than parts run on the calling thread: split, they would leave thread 0 without any,
// waiting for the whole region, which the contention monitor would take for a lost core.
template <class Body>
void parallel_for(Index count, Index work, const Body& body) {
  const Partition plan = Partition::loop(work);
  if (!plan.splits() || count < plan.parts()) {
    for (Index i = 0; i < count; ++i) body(i);
    return;
  }
  plan.run([&](Index thread, Index team) {
    for (Index i = count * thread / team; i < count * (thread + 1) / team; ++i) body(i);
  });
}

// Σ body(i) for i in [0, count), accumulated in double: the parts of Partition::loop(work) (at
// most kMaxSumParts), each a contiguous range summed on its own, then added in order. So the sum
// has the same bits on one thread as on all of them.
constexpr int kMaxSumParts = 64;
template <class Body>
double parallel_sum(Index count, Index work, const Body& body) {
  const Partition plan = Partition::loop(work);
  const Index parts = std::min<Index>(plan.parts(), kMaxSumParts);
  double partial[kMaxSumParts];
  const auto sum_part = [&](Index p) {
    double sum = 0;
    for (Index i = count * p / parts; i < count * (p + 1) / parts; ++i) sum += body(i);
    partial[p] = sum;
  };
  if (parts == 1) {
    sum_part(0);
  } else {
    plan.run([&](Index thread, Index team) {
      for (Index p = thread; p < parts; p += team) sum_part(p);
    });
  }
  double total = 0;
  for (Index p = 0; p < parts; ++p) total += partial[p];
  return total;
}

// Held by every computation on layer buffers. Layers may be shared between networks (reused
// pretrained layers) and called directly, so one lock for all of them keeps two threads from
// ever writing the same scratch memory. Recursive, so a progress callback that runs Python
// between two steps of an epoch may itself predict.
// While it is held, the thread flushes subnormal floats to zero (float_mode.hpp).
class ComputeLock {
 public:
  explicit ComputeLock(std::recursive_mutex& mutex) : lock_(mutex) {}

 private:
  std::lock_guard<std::recursive_mutex> lock_;
  SubnormalsFlushed flushed_;
};
std::recursive_mutex& compute_mutex();

}  // namespace densekit
