// The noise layers: Keras 3's Dropout, AlphaDropout, GaussianNoise and GaussianDropout. Identity
// in inference; in training each forward draws new noise (the step counter advances) from a
// stream seeded by `seed`, and keeps what the backward pass needs in a buffer sized by reserve().
#pragma once

#include <cstdint>
#include <string>

#include "densekit/batch_buffer.hpp"
#include "densekit/kernels/noise.hpp"
#include "densekit/layers/layer.hpp"

namespace densekit {

enum class NoiseKind { dropout, alpha_dropout, gaussian_noise, gaussian_dropout };

// Whether the layer adds noise: when the network trains (Keras's default), or always, or never
// whatever the network does (a subclass whose call fixes `training`, as Monte Carlo dropout's
// `super().call(inputs, training=True)` does).
enum class NoiseTraining { follow, always, never };

class NoiseLayer : public Layer {
 public:
  // amount: the rate in [0, 1), or GaussianNoise's stddev >= 0. pattern: which elements share a
  // draw (Dropout's and AlphaDropout's noise_shape); its units are the layer's. The Gaussian
  // layers have no noise_shape in Keras: they draw for every element and use only the units.
  NoiseLayer(NoiseKind kind, double amount, std::uint64_t seed, NoisePattern pattern);

  std::string kind() const override;
  void reserve(Index max_batch) override;
  void forward(MatrixIn x, MatrixOut y, bool training) override;
  void backward(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, bool update_weights,
                bool dy_is_preactivation) override;

  // The rate (or stddev) from the next forward on: Keras reads it at every call, so a changed
  // `layer.rate` applies to the next batch. Checked as in the constructor.
  double amount() const { return amount_; }
  void set_amount(double amount);

  NoiseTraining training_mode = NoiseTraining::follow;
  std::uint64_t random_step() const override { return step_; }
  void set_random_step(std::uint64_t step) override { step_ = step; }

 private:
  NoiseKind kind_;
  double amount_ = 0;  // set by set_amount, which checks it
  std::uint64_t seed_;
  std::uint64_t step_ = 0;  // advances every noisy forward, so each batch draws new noise
  NoisePattern pattern_;
  BatchBuffer factor_;  // the last noisy forward's mask or factor, for the backward pass
  bool last_forward_noisy_ = false;
};

}  // namespace densekit
