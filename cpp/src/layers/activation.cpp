#include "densekit/layers/activation.hpp"

#include <string>

#include "densekit/error.hpp"
#include "densekit/kernels/learned_activations.hpp"

namespace densekit {

ActivationLayer::ActivationLayer(Index units, const ActivationSpec& activation,
                                 std::string kind_name)
    : Layer(units, units), activation_(activation), kind_name_(std::move(kind_name)) {}

void ActivationLayer::forward(MatrixIn x, MatrixOut y, bool /*training*/) {
  require_shape("ActivationLayer.forward", "x", x.rows(), x.cols(), -1, input_units_);
  activation_forward(activation_, x, y);
}

// dx = dy ⊙ f'(x), or dx = dy when the loss already differentiated through f (fused
// softmax/sigmoid + cross-entropy: dy is then ∂loss/∂x).
void ActivationLayer::backward(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx,
                               bool /*update_weights*/, bool dy_is_preactivation) {
  if (dx.rows() == 0) return;
  if (!dy_is_preactivation) return activation_backward(activation_, x, y, dy, dx);
  require_shape("ActivationLayer.backward", "dx", dx.rows(), dx.cols(), dy.rows(), dy.cols());
  if (dx.data() != dy.data()) dx = dy;
}

// Keras's PReLU: alpha has the shape of one sample, (units,), initialized by "Zeros" (the
// Parameter starts zeroed), so a fresh PReLU is a ReLU.
PReLULayer::PReLULayer(Index units) : Layer(units, units) {
  alpha_ = add_parameter("alpha", 1, units, /*trainable=*/true, /*is_vector=*/true);
}

void PReLULayer::forward(MatrixIn x, MatrixOut y, bool /*training*/) {
  prelu_forward(x, alpha_->value.row(0), y);
}

// PReLU never ends a network before a fused loss, so dy_is_preactivation does not arise.
void PReLULayer::backward(MatrixIn x, MatrixIn /*y*/, MatrixIn dy, MatrixOut dx,
                          bool update_weights, bool /*dy_is_preactivation*/) {
  if (dx.rows() == 0 && !update_weights) return;
  RowVector none;
  VectorOut dalpha = update_weights ? VectorOut(alpha_->grad.row(0)) : VectorOut(none);
  prelu_backward(x, alpha_->value.row(0), dy, dx, dalpha);
}

RReLULayer::RReLULayer(Index units, Scalar lower, Scalar upper, std::uint64_t seed)
    : Layer(units, units), lower_(lower), upper_(upper), seed_(seed) {
  if (!(lower <= upper))
    throw ValueError("RReLU: lower must be <= upper. Received: lower=" + std::to_string(lower) +
                     ", upper=" + std::to_string(upper));
}

void RReLULayer::reserve(Index max_batch) {
  if (slopes_.rows() < max_batch) slopes_.resize(max_batch, output_units_);
}

// Training draws fresh slopes for every batch (step_ advances) and keeps them for backward;
// inference uses the mean slope (lower + upper) / 2.
void RReLULayer::forward(MatrixIn x, MatrixOut y, bool training) {
  require_shape("RReLU.forward", "x", x.rows(), x.cols(), -1, input_units_);
  last_forward_training_ = training;
  if (!training) return rrelu_forward_inference(x, lower_, upper_, y);
  reserve(x.rows());  // a no-op once the network has reserved the batch
  rrelu_forward_training(x, lower_, upper_, seed_, step_++, slopes_.topRows(x.rows()), y);
}

// After an inference forward the slope is the fixed mean, written over the stale training slopes.
void RReLULayer::backward(MatrixIn x, MatrixIn /*y*/, MatrixIn dy, MatrixOut dx,
                          bool /*update_weights*/, bool /*dy_is_preactivation*/) {
  if (dx.rows() == 0) return;
  const Index n = x.rows();
  if (last_forward_training_ && n > slopes_.rows())
    throw ShapeError("RReLU.backward: x has " + std::to_string(n) +
                     " rows but the training forward pass saved slopes for " +
                     std::to_string(slopes_.rows()));
  if (!last_forward_training_) {
    reserve(n);
    slopes_.topRows(n).setConstant((lower_ + upper_) / 2);
  }
  rrelu_backward(x, slopes_.topRows(n), dy, dx);
}

}  // namespace densekit
