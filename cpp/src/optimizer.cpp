#include "densekit/optimizer.hpp"

#include <cmath>

#include "densekit/error.hpp"
#include "densekit/kernels/clipping.hpp"
#include "densekit/kernels/sgd.hpp"

namespace densekit {

SGD::SGD(Scalar learning_rate_, Scalar momentum_, bool nesterov_, const ClipSpec& clip_)
    : learning_rate(learning_rate_), momentum(momentum_), nesterov(nesterov_), clip(clip_) {
  const int clips = (clip.clipvalue > 0) + (clip.clipnorm > 0) + (clip.global_clipnorm > 0);
  if (clips > 1)
    throw ValueError("SGD: only one of clipnorm, clipvalue and global_clipnorm can be set");
  if (!(momentum >= 0 && momentum <= 1))
    throw ValueError("SGD: momentum must be in [0, 1]. Received: momentum=" + std::to_string(momentum));
}

void SGD::build(const std::vector<std::shared_ptr<Parameter>>& params) {
  for (const auto& p : params) {
    if (!p->trainable) continue;
    ++parameter_count_;
    if (momentum == 0 || slots_.count(p.get())) continue;  // as Keras: no slots without momentum
    slots_.emplace(p.get(), RowMatrix::Zero(p->value.rows(), p->value.cols()));
    owners_.push_back(p);
  }
  grads_.reserve(parameter_count_);
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

bool SGD::apply(const std::vector<Parameter*>& params) {
  if (clip.global_clipnorm > 0) {
    grads_.clear();
    for (Parameter* p : params) grads_.emplace_back(p->grad);
    clip_by_global_norm(grads_, clip.global_clipnorm);
  }
  for (Parameter* p : params) {
    if (clip.clipvalue > 0) clip_by_value(p->grad, clip.clipvalue);
    if (clip.clipnorm > 0) clip_by_norm(p->grad, clip.clipnorm);
  }
  for (Parameter* p : params)
    if (!sgd_update_is_finite(p->value, p->grad, slot_for_update(p), learning_rate, momentum, nesterov))
      return false;
  for (Parameter* p : params)
    sgd_update(p->value, p->grad, slot_for_update(p), learning_rate, momentum, nesterov);
  ++iterations;
  return true;
}

}  // namespace densekit
