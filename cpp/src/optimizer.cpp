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
    throw ValueError("SGD: momentum must be in [0, 1]. Received: momentum=" + std::to_string(momentum));
}

namespace {

// Elements of a parameter per chunk: 64 KiB of gradient, a few microseconds of work, so the
// 784x300 kernel spreads over threads while a bias stays one chunk.
constexpr Index kChunkElements = 1 << 14;

Index chunks_of(const Parameter& p) { return (p.value.size() + kChunkElements - 1) / kChunkElements; }

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
    chunk_count_ += size_t(chunks_of(*p));
    if (momentum == 0 || slots_.count(p.get())) continue;  // as Keras: no slots without momentum
    slots_.emplace(p.get(), RowMatrix::Zero(p->value.rows(), p->value.cols()));
    owners_.push_back(p);
  }
  chunks_.reserve(chunk_count_);
  scales_.reserve(parameter_count_);
}

RowMatrix* SGD::momentum_slot(const Parameter* p) {
  auto it = slots_.find(p);
  return it == slots_.end() ? nullptr : &it->second;
}

RowMatrix& SGD::slot_for_update(Parameter* p) {
  static RowMatrix empty;  // stands for "no slot" when momentum is 0; never written
  if (momentum == 0) return empty;
  RowMatrix* slot = momentum_slot(p);
  if (!slot) throw ValueError("SGD: parameter '" + p->name + "' has no momentum slot; compile the model again");
  return *slot;
}

// Throws (slot_for_update) before any write when a parameter has no slot.
void SGD::split_into_chunks(const std::vector<Parameter*>& params) {
  chunks_.clear();
  for (size_t i = 0; i < params.size(); ++i) {
    RowMatrix* slot = &slot_for_update(params[i]);
    for (Index start = 0; start < params[i]->value.size(); start += kChunkElements)
      chunks_.push_back(Chunk{params[i], slot, i, start,
                              std::min(kChunkElements, params[i]->value.size() - start), 0.0});
  }
}

// g ← g · c / max(‖g‖, c), each parameter by its own norm or all by their joint norm. A NaN norm
// leaves the scale at 1 (the check pass then refuses the step); an infinite one gives 0.
void SGD::compute_clip_scales(size_t parameters) {
  scales_.assign(parameters, Scalar(1));
  const double limit = clip.clipnorm > 0 ? clip.clipnorm : clip.global_clipnorm;
  if (!(limit > 0)) return;
  if (clip.global_clipnorm > 0) {
    double total = 0;
    for (const Chunk& c : chunks_) total += c.squares;
    const double norm = std::sqrt(total);
    std::fill(scales_.begin(), scales_.end(), norm > limit ? Scalar(limit / norm) : Scalar(1));
    return;
  }
  size_t c = 0;  // chunks_ lists each parameter's chunks together, in parameter order
  for (size_t i = 0; i < parameters; ++i) {
    double squares = 0;
    for (; c < chunks_.size() && chunks_[c].owner == i; ++c) squares += chunks_[c].squares;
    const double norm = std::sqrt(squares);
    scales_[i] = norm > limit ? Scalar(limit / norm) : Scalar(1);
  }
}

bool SGD::apply(const std::vector<Parameter*>& params) {
  split_into_chunks(params);
  Index elements = 0;
  for (const Parameter* p : params) elements += p->value.size();
  const Index count = static_cast<Index>(chunks_.size());
  if (clip.clipnorm > 0 || clip.global_clipnorm > 0)
    parallel_for(count, elements, [&](Index i) {
      Chunk& c = chunks_[i];
      c.squares = squared_norm(chunk_of(c.parameter->grad, c.start, c.size));
    });
  // A non-finite norm means a non-finite gradient: refuse before clipping writes anything, so
  // the gradients stay as they came (with clipvalue or no clipping, the check pass below finds it
  // and the gradients are left clipped).
  for (const Chunk& c : chunks_)
    if (!std::isfinite(c.squares)) return false;
  compute_clip_scales(params.size());
  // Clip in place and check in one pass: the sum is 0, or NaN when a gradient or a result is not.
  const double marker = parallel_sum(count, elements, [&](Index i) {
    const Chunk& c = chunks_[i];
    MatrixOut g = chunk_of(c.parameter->grad, c.start, c.size);
    if (momentum == 0)  // the common case, in one pass
      return sgd_clip_and_check(c.parameter->value.data() + c.start, g.data(), c.size,
                                scales_[c.owner], clip.clipvalue, learning_rate)
                 ? 0.0 : std::nan("");
    const double raw = all_finite(g) ? 0.0 : std::nan("");
    if (scales_[c.owner] != Scalar(1)) g *= scales_[c.owner];
    if (clip.clipvalue > 0) clip_by_value(g, clip.clipvalue);
    const bool finite = sgd_update_is_finite(chunk_of(c.parameter->value, c.start, c.size), g,
                                             slot_chunk(*c.slot, c.start, c.size), learning_rate,
                                             momentum, nesterov);
    return raw + (finite ? 0.0 : std::nan(""));
  });
  if (!(marker == 0)) return false;
  parallel_for(count, elements, [&](Index i) {
    const Chunk& c = chunks_[i];
    sgd_update(chunk_of(c.parameter->value, c.start, c.size), chunk_of(c.parameter->grad, c.start, c.size),
               slot_chunk(*c.slot, c.start, c.size), learning_rate, momentum, nesterov);
  });
  ++iterations;
  return true;
}

}  // namespace densekit
