// BatchNormalization(momentum, epsilon, center, scale) over the features of (batch, features),
// as Keras 3: batch statistics and a moving-average update when training a trainable layer,
// the moving statistics otherwise (a frozen layer runs in inference mode, Keras 3 behaviour).
#pragma once

#include "densekit/batch_buffer.hpp"
#include "densekit/layers/layer.hpp"

namespace densekit {

class BatchNormLayer : public Layer {
 public:
  // Variables in Keras's order: gamma (if scale), beta (if center), moving_mean, moving_variance,
  // initialized to 1, 0, 0, 1; the moving statistics are non-trainable.
  BatchNormLayer(Index features, Scalar momentum, Scalar epsilon, bool center, bool scale);

  std::string kind() const override { return "BatchNormalization"; }
  void reserve(Index max_batch) override;
  void forward(MatrixIn x, MatrixOut y, bool training) override;
  // Differentiates the mode of the last forward: through the batch statistics after a training
  // forward, with the moving statistics as constants after an inference one.
  void backward(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, bool update_weights,
                bool dy_is_preactivation) override;
  bool inference_when_frozen() const override { return true; }
  void commit_forward() override;
  bool pending_state_finite() const override;

  Parameter* gamma() { return gamma_.get(); }
  Parameter* beta() { return beta_.get(); }
  Parameter& moving_mean() { return *moving_mean_; }
  Parameter& moving_variance() { return *moving_variance_; }
  Scalar momentum() const { return momentum_; }
  Scalar epsilon() const { return epsilon_; }
  // x̂ = (x - mean) / √(var + ε) of the last training forward, (batch, features); empty after an
  // inference one.
  MatrixIn normalized() const;

 private:
  Scalar momentum_, epsilon_;
  std::shared_ptr<Parameter> gamma_;  // null when scale=False
  std::shared_ptr<Parameter> beta_;   // null when center=False
  std::shared_ptr<Parameter> moving_mean_;
  std::shared_ptr<Parameter> moving_variance_;
  BatchBuffer x_hat_;               // (max_batch, features), written by the training forward
  RowVector mean_, var_, inv_std_;  // batch statistics of the last training forward
  Index last_batch_ = 0;
  bool last_forward_training_ = false;
  bool moving_update_pending_ = false;  // a training forward's statistics, not yet committed
};

}  // namespace densekit
