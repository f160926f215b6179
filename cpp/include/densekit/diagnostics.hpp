// Per-layer figures that tell a user why a deep network trains badly, while it trains: vanishing
// or exploding gradients (norms), saturating activations and dead ReLUs (fractions of units).
#pragma once

#include <limits>
#include <vector>

#include "densekit/layers/layer.hpp"

namespace densekit {

constexpr double kNotApplicable = std::numeric_limits<double>::quiet_NaN();

struct LayerStats {
  double weight_grad_norm = kNotApplicable;  // L2 norm of the layer's trainable gradients
  double input_grad_norm = kNotApplicable;   // L2 norm of ∂loss/∂(the layer's input)
  double output_mean = 0;
  double output_std = 0;
  double saturated_fraction =
      kNotApplicable;                     // sigmoid/tanh/softsign/hard_sigmoid outputs near a limit
  double dead_fraction = kNotApplicable;  // ReLU units that are zero for the whole batch
};

struct MonitorRecord {
  std::int64_t step = 0;  // training steps done by the network before this one
  std::vector<LayerStats> layers;
};

// The figures of one layer after a forward and backward pass: y its output (n, units), dx the
// gradient w.r.t. its input (empty when not computed).
LayerStats layer_stats(Layer& layer, MatrixIn y, MatrixIn dx);

}  // namespace densekit
