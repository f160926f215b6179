// Dense(units, activation, use_bias): y = f(x w + b), with the activation fused into the layer
// so that the pre-activation z is kept for the backward pass without another layer's buffer.
#pragma once

#include "densekit/batch_buffer.hpp"
#include "densekit/kernels/activations.hpp"
#include "densekit/layers/layer.hpp"

namespace densekit {

class DenseLayer : public Layer {
 public:
  DenseLayer(Index input_units, Index units, const ActivationSpec& activation, bool use_bias);

  std::string kind() const override { return "Dense"; }
  void reserve(Index max_batch) override;
  void forward(MatrixIn x, MatrixOut y, bool training) override;
  void backward(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, bool update_weights,
                bool dy_is_preactivation) override;
  const ActivationSpec* output_activation() const override { return &activation_; }

  Parameter& kernel() { return *kernel_; }
  Parameter* bias() { return bias_.get(); }
  const ActivationSpec& activation() const { return activation_; }
  // dz = ∂loss/∂(x w + b) for the last forward's output y: dy itself (a linear layer, or dy that
  // already is the pre-activation gradient), else dy ⊙ f'(z) in a buffer of the layer.
  MatrixIn preactivation_grad(MatrixIn y, MatrixIn dy, bool dy_is_preactivation);

 private:
  ActivationSpec activation_;
  std::shared_ptr<Parameter> kernel_;
  std::shared_ptr<Parameter> bias_;  // null without bias
  BatchBuffer z_;   // pre-activation, (max_batch, units); unused for a linear activation
  BatchBuffer dz_;  // gradient w.r.t. the pre-activation
};

}  // namespace densekit
