// Parameter-free activation layers (Activation, ReLU, LeakyReLU, ELU, Softmax, ThresholdedReLU,
// ...), and the two with state: PReLU (a learned slope per unit) and RReLU (random slopes).
#pragma once

#include <cstdint>

#include "densekit/batch_buffer.hpp"
#include "densekit/kernels/activations.hpp"
#include "densekit/layers/layer.hpp"

namespace densekit {

class ActivationLayer : public Layer {
 public:
  ActivationLayer(Index units, const ActivationSpec& activation, std::string kind_name);

  std::string kind() const override { return kind_name_; }
  void forward(MatrixIn x, MatrixOut y, bool training) override;
  void backward(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, bool update_weights,
                bool dy_is_preactivation) override;
  const ActivationSpec* output_activation() const override { return &activation_; }

 private:
  ActivationSpec activation_;
  std::string kind_name_;
};

class PReLULayer : public Layer {
 public:
  explicit PReLULayer(Index units);

  std::string kind() const override { return "PReLU"; }
  void forward(MatrixIn x, MatrixOut y, bool training) override;
  void backward(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, bool update_weights,
                bool dy_is_preactivation) override;

 private:
  std::shared_ptr<Parameter> alpha_;
};

class RReLULayer : public Layer {
 public:
  RReLULayer(Index units, Scalar lower, Scalar upper, std::uint64_t seed);

  std::string kind() const override { return "RReLU"; }
  std::uint64_t random_step() const override { return step_; }
  void set_random_step(std::uint64_t step) override { step_ = step; }
  void reserve(Index max_batch) override;
  void forward(MatrixIn x, MatrixOut y, bool training) override;
  void backward(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, bool update_weights,
                bool dy_is_preactivation) override;

 private:
  Scalar lower_, upper_;
  std::uint64_t seed_;
  std::uint64_t step_ = 0;  // advances every training forward, so each batch draws new slopes
  BatchBuffer slopes_;
  bool last_forward_training_ = false;
};

}  // namespace densekit
