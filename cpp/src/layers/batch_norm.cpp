#include "densekit/layers/batch_norm.hpp"

#include <string>

#include "densekit/error.hpp"
#include "densekit/kernels/batch_norm.hpp"

namespace densekit {

BatchNormLayer::BatchNormLayer(Index features, Scalar momentum, Scalar epsilon, bool center,
                               bool scale)
    : Layer(features, features), momentum_(momentum), epsilon_(epsilon) {
  // Keras accepts any float; a negative epsilon would put NaN in every output.
  if (!(epsilon >= 0))
    throw ValueError("BatchNormalization: epsilon must be >= 0. Received: epsilon=" +
                     std::to_string(epsilon));
  if (scale) {
    gamma_ = add_parameter("gamma", 1, features, true, true);
    gamma_->value.setOnes();
  }
  if (center) beta_ = add_parameter("beta", 1, features, true, true);  // zeros
  moving_mean_ = add_parameter("moving_mean", 1, features, false, true);
  moving_variance_ = add_parameter("moving_variance", 1, features, false, true);
  moving_mean_->value.setZero();
  moving_variance_->value.setOnes();
  mean_.resize(features);
  var_.resize(features);
  inv_std_.resize(features);
}

void BatchNormLayer::reserve(Index max_batch) {
  if (x_hat_.rows() < max_batch) x_hat_.resize(max_batch, input_units_);
}

// Training a trainable layer: batch statistics, x̂ kept for the backward, moving statistics
// updated after the output is computed (Keras normalizes with the batch statistics, not the
// updated moving ones). Otherwise, including a frozen layer asked to train: moving statistics.
void BatchNormLayer::forward(MatrixIn x, MatrixOut y, bool training) {
  require_shape("BatchNormalization", "x", x.rows(), x.cols(), -1, input_units_);
  const RowVector none;
  VectorIn gamma = gamma_ ? VectorIn(gamma_->value.row(0)) : VectorIn(none);
  VectorIn beta = beta_ ? VectorIn(beta_->value.row(0)) : VectorIn(none);
  const Index n = x.rows();
  last_batch_ = n;
  last_forward_training_ = training && trainable;
  moving_update_pending_ = false;  // a discarded earlier training forward must not commit later
  if (!last_forward_training_) {
    batch_norm_forward_inference(x, gamma, beta, moving_mean_->value.row(0),
                                 moving_variance_->value.row(0), epsilon_, y);
    return;
  }
  if (x_hat_.rows() < n) reserve(n);
  batch_norm_forward_training(x, gamma, beta, epsilon_, mean_, var_, inv_std_, x_hat_.topRows(n),
                              y);
  moving_update_pending_ = true;
}

// A spread beyond ~1.8e19 overflows the float32 variance: such a step is not applied.
bool BatchNormLayer::pending_state_finite() const {
  return !moving_update_pending_ || (mean_.allFinite() && var_.allFinite());
}

// The moving statistics move only once the step is known to be finite (see Layer), and only by
// finite batch statistics.
void BatchNormLayer::commit_forward() {
  if (!moving_update_pending_) return;
  const bool finite = pending_state_finite();  // reads the pending flag: before clearing it
  moving_update_pending_ = false;
  // A batch with a NaN or Inf row (from model(x, training=True), say) would leave the moving
  // statistics non-finite for good, and every later inference output with them: it moves nothing.
  if (!finite) return;
  batch_norm_update_moving(moving_mean_->value.row(0), moving_variance_->value.row(0), mean_, var_,
                           momentum_);
}

MatrixIn BatchNormLayer::normalized() const {
  return x_hat_.topRows(last_forward_training_ ? last_batch_ : 0);
}

// No activation, so dy_is_preactivation changes nothing.
void BatchNormLayer::backward(MatrixIn x, MatrixIn /*y*/, MatrixIn dy, MatrixOut dx,
                              bool update_weights, bool /*dy_is_preactivation*/) {
  if (dx.rows() == 0 && !update_weights) return;
  require_shape("BatchNormalization", "dy", dy.rows(), dy.cols(), last_batch_, input_units_);
  RowVector none;
  VectorIn gamma = gamma_ ? VectorIn(gamma_->value.row(0)) : VectorIn(none);
  VectorOut dgamma = update_weights && gamma_ ? VectorOut(gamma_->grad.row(0)) : VectorOut(none);
  VectorOut dbeta = update_weights && beta_ ? VectorOut(beta_->grad.row(0)) : VectorOut(none);
  if (last_forward_training_) {
    batch_norm_backward_training(x_hat_.topRows(last_batch_), dy, gamma, inv_std_, dx, dgamma,
                                 dbeta);
  } else {
    batch_norm_backward_inference(x, dy, gamma, moving_mean_->value.row(0),
                                  moving_variance_->value.row(0), epsilon_, dx, dgamma, dbeta);
  }
}

}  // namespace densekit
