#include "densekit/layers/noise.hpp"

#include <cmath>

#include "densekit/counter_random.hpp"
#include "densekit/error.hpp"

namespace densekit {

NoiseLayer::NoiseLayer(NoiseKind kind, double amount, std::uint64_t seed, NoisePattern pattern)
    : Layer(pattern.units(), pattern.units()),
      kind_(kind),
      seed_(seed),
      pattern_(std::move(pattern)) {
  set_amount(amount);
}

void NoiseLayer::set_amount(double amount) {
  if (kind_ == NoiseKind::gaussian_noise) {
    if (!(amount >= 0) || !std::isfinite(amount))
      throw ValueError("GaussianNoise: stddev must be a finite number >= 0. Received: stddev=" +
                       std::to_string(amount));
  } else if (!(amount >= 0 && amount < 1)) {
    throw ValueError(this->kind() +
                     ": rate must be in [0, 1). Received: rate=" + std::to_string(amount));
  }
  amount_ = amount;
}

std::string NoiseLayer::kind() const {
  switch (kind_) {
    case NoiseKind::dropout:
      return "Dropout";
    case NoiseKind::alpha_dropout:
      return "AlphaDropout";
    case NoiseKind::gaussian_noise:
      return "GaussianNoise";
    case NoiseKind::gaussian_dropout:
      return "GaussianDropout";
  }
  return "Noise";
}

// GaussianNoise's backward is the identity: it keeps nothing.
void NoiseLayer::reserve(Index max_batch) {
  if (kind_ != NoiseKind::gaussian_noise && factor_.rows() < max_batch)
    factor_.resize(max_batch, output_units_);
}

void NoiseLayer::forward(MatrixIn x, MatrixOut y, bool training) {
  // A literal: a name built from kind() would allocate on every step.
  require_shape("NoiseLayer.forward", "x", x.rows(), x.cols(), -1, input_units_);
  require_shape("NoiseLayer.forward", "y", y.rows(), y.cols(), x.rows(), input_units_);
  const bool noisy =
      amount_ > 0 &&
      (training_mode == NoiseTraining::follow ? training : training_mode == NoiseTraining::always);
  last_forward_noisy_ = noisy;
  if (!noisy) {
    if (x.data() != y.data()) y = x;
    return;
  }
  reserve(x.rows());  // a no-op once the network has reserved the batch
  const std::uint64_t key = counter_random::step_key(seed_, step_++);
  auto factor = factor_.topRows(kind_ == NoiseKind::gaussian_noise ? 0 : x.rows());
  switch (kind_) {
    case NoiseKind::dropout:
      return dropout_forward(x, amount_, pattern_, key, factor, y);
    case NoiseKind::alpha_dropout:
      return alpha_dropout_forward(x, amount_, pattern_, key, factor, y);
    case NoiseKind::gaussian_noise:
      return gaussian_noise_forward(x, amount_, key, y);
    case NoiseKind::gaussian_dropout:
      return gaussian_dropout_forward(x, amount_, key, factor, y);
  }
}

// dx = dy after an identity forward or GaussianNoise's; else through the forward's mask/factor.
void NoiseLayer::backward(MatrixIn /*x*/, MatrixIn /*y*/, MatrixIn dy, MatrixOut dx,
                          bool /*update_weights*/, bool /*dy_is_preactivation*/) {
  if (dx.rows() == 0) return;
  const Index n = dy.rows();
  if (!last_forward_noisy_ || kind_ == NoiseKind::gaussian_noise) {
    if (dx.data() != dy.data()) dx = dy;
    return;
  }
  if (n > factor_.rows())
    throw ShapeError(kind() + ".backward: dy has " + std::to_string(n) +
                     " rows but the training forward pass kept noise for " +
                     std::to_string(factor_.rows()));
  if (kind_ == NoiseKind::dropout) return dropout_backward(factor_.topRows(n), amount_, dy, dx);
  noise_backward(factor_.topRows(n), dy, dx);
}

}  // namespace densekit
