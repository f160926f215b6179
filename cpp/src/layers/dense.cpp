#include "densekit/layers/dense.hpp"

#include "densekit/kernels/dense.hpp"

namespace densekit {

DenseLayer::DenseLayer(Index input_units, Index units, const ActivationSpec& activation,
                       bool use_bias)
    : Layer(input_units, units), activation_(activation) {
  kernel_ = add_parameter("kernel", input_units, units, true, false);
  if (use_bias) bias_ = add_parameter("bias", 1, units, true, true);
}

void DenseLayer::reserve(Index max_batch) {
  if (activation_.is_identity()) return;
  if (z_.rows() < max_batch) {
    z_.resize(max_batch, output_units_);
    dz_.resize(max_batch, output_units_);
  }
}

// y = f(x w + b); z = x w + b is kept for the backward pass unless f is the identity.
void DenseLayer::forward(MatrixIn x, MatrixOut y, bool /*training*/) {
  const RowVector none;
  VectorIn b = bias_ ? VectorIn(bias_->value.row(0)) : VectorIn(none);
  if (activation_.is_identity()) {
    dense_forward(x, kernel_->value, b, y);
    return;
  }
  if (z_.rows() < x.rows()) reserve(x.rows());
  dense_activation_forward(x, kernel_->value, b, activation_, z_.topRows(x.rows()), y);
}

MatrixIn DenseLayer::preactivation_grad(MatrixIn y, MatrixIn dy, bool dy_is_preactivation) {
  if (activation_.is_identity() || dy_is_preactivation) return dy;
  const Index n = y.rows();
  activation_backward(activation_, z_.topRows(n), y, dy, dz_.topRows(n));
  return dz_.topRows(n);
}

// dz = dy ⊙ f'(z);  dw = xᵀ dz, db = Σ dz (when training the weights);  dx = dz wᵀ (when asked).
void DenseLayer::backward(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, bool update_weights,
                          bool dy_is_preactivation) {
  MatrixIn dz = preactivation_grad(y, dy, dy_is_preactivation);
  if (update_weights) {
    RowVector none;
    VectorOut db = bias_ ? VectorOut(bias_->grad.row(0)) : VectorOut(none);
    dense_backward_weights(x, dz, kernel_->grad, db);
  }
  if (dx.rows() > 0) dense_backward_data(dz, kernel_->value, dx);
}

}  // namespace densekit
