#include "densekit/optimizer.hpp"

#include <algorithm>
#include <cmath>

#include "densekit/error.hpp"
#include "densekit/kernels/clipping.hpp"
#include "densekit/kernels/sgd.hpp"
#include "densekit/parallel.hpp"

namespace densekit {

SGD::SGD(Scalar learning_rate_, Scalar momentum_, bool nesterov_, const ClipSpec& clip_)
    : learning_rate(learning_rate_), momentum(momentum_), nesterov(nesterov_), clip(clip_) {
  const int clips = (clip.clipvalue > 0) + (clip.clipnorm > 0) + (clip.global_clipnorm > 0);
  if (clips > 1)
    throw ValueError("SGD: only one of clipnorm, clipvalue and global_clipnorm can be set");
  if (!(momentum >= 0 && momentum <= 1))
    throw ValueError("SGD: momentum must be in [0, 1]. Received: momentum=" +
                     std::to_string(momentum));
}

namespace {

// A chunk of a parameter-shaped matrix as a (1, size) view; every parameter is contiguous.
MatrixOut chunk_of(RowMatrix& m, Index start, Index size) {
  return Eigen::Map<RowMatrix>(m.data() + start, 1, size);
}

// Empty when the matrix is (momentum 0: no slot).
MatrixOut slot_chunk(RowMatrix& slot, Index start, Index size) {
  return slot.size() == 0 ? MatrixOut(slot) : chunk_of(slot, start, size);
}

}  // namespace

void SGD::build(const std::vector<std::shared_ptr<Parameter>>& params) {
  for (const auto& p : params) {
    if (!p->trainable) continue;
    ++parameter_count_;
    if (momentum == 0 || slots_.count(p.get())) continue;  // as Keras: no slots without momentum
    slots_.emplace(p.get(), RowMatrix::Zero(p->value.rows(), p->value.cols()));
    owners_.push_back(p);
  }
  const size_t parts = size_t(Partition::per_thread().parts());
  chunks_.reserve(parameter_count_ * parts);
  run_starts_.reserve(parts + 1);
  scales_.reserve(parameter_count_);
  squares_.reserve(parameter_count_);
}

RowMatrix* SGD::momentum_slot(const Parameter* p) {
  auto it = slots_.find(p);
  return it == slots_.end() ? nullptr : &it->second;
}

RowMatrix& SGD::slot_for_update(Parameter* p) {
  static RowMatrix empty;  // stands for "no slot" when momentum is 0; never written
  if (momentum == 0) return empty;
  RowMatrix* slot = momentum_slot(p);
  if (!slot)
    throw ValueError("SGD: parameter '" + p->name +
                     "' has no momentum slot; compile the model again");
  return *slot;
}

// Deals every parameter out in the parts of the Partition its gradient had (a matrix: a product
// over batch_rows rows; a vector: a loop over the batch's columns, as batch norm's column tiles;
// per_thread when batch_rows is not known), so
// each thread updates the rows whose gradient it computed and which it reads in the next step: on
// these shared cores a cache line that moves between the two cores costs 4-5x more at times. A
// gradient computed whole, on the calling thread, stays whole on it (20 layers of 100x100 at
// batch 32: 1400 -> 770 µs a step at such times). A part is whole rows (elements of a 1-row
// parameter): a chunk must be contiguous, so a wide kernel, whose gradient was split by columns,
// is still updated by rows. Part t's chunks are [run_starts_[t], run_starts_[t + 1]). Throws
// (slot_for_update) before any write when a parameter has no slot.
void SGD::split_into_runs(const std::vector<Parameter*>& params, Index parts, Index batch_rows) {
  chunks_.clear();
  run_starts_.assign(1, 0);
  for (Index t = 0; t < parts; ++t) {
    for (size_t i = 0; i < params.size(); ++i) {
      RowMatrix* slot = &slot_for_update(params[i]);
      const Index rows = params[i]->value.rows(), cols = params[i]->value.cols();
      const Index extent = rows > 1 ? rows : cols, row_size = rows > 1 ? cols : 1;
      const Partition plan = batch_rows == 0 ? Partition::per_thread()
                             : rows > 1      ? Partition::product(rows, cols, batch_rows)
                                             : Partition::loop(batch_rows * cols);
      const auto [start, size] = plan.share(extent, t);
      if (size > 0)
        chunks_.push_back(Chunk{params[i], slot, i, start * row_size, size * row_size, 0.0});
    }
    run_starts_.push_back(chunks_.size());
  }
}

// g ← g · c / max(‖g‖, c), each parameter by its own norm or all by their joint norm. A NaN norm
// leaves the scale at 1 (the check pass then refuses the step); an infinite one gives 0.
void SGD::compute_clip_scales(size_t parameters) {
  scales_.assign(parameters, Scalar(1));
  const double limit = clip.clipnorm > 0 ? clip.clipnorm : clip.global_clipnorm;
  if (!(limit > 0)) return;
  squares_.assign(parameters, 0.0);
  for (const Chunk& c : chunks_) squares_[c.owner] += c.squares;
  if (clip.global_clipnorm > 0) {
    double total = 0;
    for (double squares : squares_) total += squares;
    const double norm = std::sqrt(total);
    std::fill(scales_.begin(), scales_.end(), norm > limit ? Scalar(limit / norm) : Scalar(1));
    return;
  }
  for (size_t i = 0; i < parameters; ++i) {
    const double norm = std::sqrt(squares_[i]);
    scales_[i] = norm > limit ? Scalar(limit / norm) : Scalar(1);
  }
}

bool SGD::apply(const std::vector<Parameter*>& params, Index batch_rows) {
  Index elements = 0;
  for (const Parameter* p : params) elements += p->value.size();
  // One run per part of the per-thread Partition (a gradient's product has as many parts or one);
  // how many threads run them now does not change the chunks, so nor the norms' sums.
  const Index threads = Partition::per_thread().parts();
  split_into_runs(params, threads, batch_rows);
  // body(chunk) over every chunk, each thread along its own run (on one thread: all, in order).
  const auto over_runs = [&](const auto& body) {
    parallel_for(threads, elements, [&](Index t) {
      for (size_t c = run_starts_[t]; c < run_starts_[t + 1]; ++c) body(chunks_[c]);
    });
  };
  const auto sum_over_runs = [&](const auto& body) {
    return parallel_sum(threads, elements, [&](Index t) {
      double total = 0;
      for (size_t c = run_starts_[t]; c < run_starts_[t + 1]; ++c) total += body(chunks_[c]);
      return total;
    });
  };
  if (clip.clipnorm > 0 || clip.global_clipnorm > 0)
    over_runs(
        [&](Chunk& c) { c.squares = squared_norm(chunk_of(c.parameter->grad, c.start, c.size)); });
  // A non-finite norm means a non-finite gradient: refuse before clipping writes anything, so
  // the gradients stay as they came (with clipvalue or no clipping, the check pass below finds it
  // and the gradients are left clipped).
  for (const Chunk& c : chunks_)
    if (!std::isfinite(c.squares)) return false;
  compute_clip_scales(params.size());
  // Clip in place and check in one pass: the sum is 0, or NaN when a gradient or a result is not.
  const double marker = sum_over_runs([&](const Chunk& c) {
    MatrixOut g = chunk_of(c.parameter->grad, c.start, c.size);
    if (momentum == 0)  // the common case, in one pass
      return sgd_clip_and_check(c.parameter->value.data() + c.start, g.data(), c.size,
                                scales_[c.owner], clip.clipvalue, learning_rate)
                 ? 0.0
                 : std::nan("");
    const double raw = all_finite(g) ? 0.0 : std::nan("");
    if (scales_[c.owner] != Scalar(1)) g *= scales_[c.owner];
    if (clip.clipvalue > 0) clip_by_value(g, clip.clipvalue);
    const bool finite = sgd_update_is_finite(chunk_of(c.parameter->value, c.start, c.size), g,
                                             slot_chunk(*c.slot, c.start, c.size), learning_rate,
                                             momentum, nesterov);
    return raw + (finite ? 0.0 : std::nan(""));
  });
  if (!(marker == 0)) return false;
  over_runs([&](const Chunk& c) {
    sgd_update(chunk_of(c.parameter->value, c.start, c.size),
               chunk_of(c.parameter->grad, c.start, c.size), slot_chunk(*c.slot, c.start, c.size),
               learning_rate, momentum, nesterov);
  });
  ++iterations;
  return true;
}

}  // namespace densekit
