#include "densekit/diagnostics.hpp"

#include <cmath>

#include "densekit/kernels/clipping.hpp"

namespace densekit {
namespace {

// Saturation: an output within 1% of a limit of a squashing activation, where its derivative
// is nearly zero: sigmoid and hard_sigmoid in [0, 1] (y ≤ 0.01 or y ≥ 0.99), tanh and softsign in
// [-1, 1] (|y| ≥ 0.99).
double saturated_fraction(ActivationKind kind, MatrixIn y) {
  Index saturated = 0;
  if (kind == ActivationKind::sigmoid || kind == ActivationKind::hard_sigmoid) {
    saturated = ((y.array() <= 0.01f) || (y.array() >= 0.99f)).count();
  } else {
    saturated = (y.array().abs() >= 0.99f).count();
  }
  return y.size() ? double(saturated) / double(y.size()) : 0.0;
}

// A dead unit outputs zero (or less) for every sample of the batch, so no gradient reaches its
// weights through this batch.
double dead_fraction(MatrixIn y) {
  if (y.rows() == 0) return 0.0;
  const Index dead = (y.array() <= 0.0f).colwise().all().count();
  return double(dead) / double(y.cols());
}

bool squashes(ActivationKind kind) {
  return kind == ActivationKind::sigmoid || kind == ActivationKind::tanh ||
         kind == ActivationKind::softsign || kind == ActivationKind::hard_sigmoid;
}

bool can_die(const ActivationSpec& spec) {
  return (spec.kind == ActivationKind::relu && spec.negative_slope == 0) ||
         spec.kind == ActivationKind::thresholded_relu;
}

}  // namespace

LayerStats layer_stats(Layer& layer, MatrixIn y, MatrixIn dx) {
  LayerStats stats;
  double grad_sq = 0;
  bool has_grads = false;
  for (auto& p : layer.parameters()) {
    if (!p->trainable || !layer.trainable) continue;
    grad_sq += squared_norm(p->grad);
    has_grads = true;
  }
  if (has_grads) stats.weight_grad_norm = std::sqrt(grad_sq);
  if (dx.rows() > 0) stats.input_grad_norm = std::sqrt(squared_norm(dx));
  const double count = static_cast<double>(y.size());
  if (count > 0) {
    const double mean = y.cast<double>().sum() / count;
    stats.output_mean = mean;
    stats.output_std = std::sqrt((y.cast<double>().array() - mean).square().sum() / count);
  }
  if (const ActivationSpec* spec = layer.output_activation()) {
    if (squashes(spec->kind)) stats.saturated_fraction = saturated_fraction(spec->kind, y);
    if (can_die(*spec)) stats.dead_fraction = dead_fraction(y);
  }
  return stats;
}

}  // namespace densekit
