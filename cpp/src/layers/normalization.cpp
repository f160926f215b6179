#include "densekit/layers/normalization.hpp"

#include <string>

#include "densekit/error.hpp"
#include "densekit/kernels/normalization.hpp"

namespace densekit {

NormalizationLayer::NormalizationLayer(std::vector<Index> stat_of_feature, Index statistics,
                                       bool invert, Scalar epsilon)
    : Layer(static_cast<Index>(stat_of_feature.size()), static_cast<Index>(stat_of_feature.size())),
      stat_of_feature_(std::move(stat_of_feature)),
      invert_(invert),
      epsilon_(epsilon) {
  if (input_units_ < 1) throw ValueError("Normalization: a sample must have at least 1 feature");
  if (statistics < 1) throw ValueError("Normalization: statistics must be >= 1");
  if (!(epsilon > 0)) throw ValueError("Normalization: epsilon must be > 0");
  for (Index s : stat_of_feature_)
    if (s < 0 || s >= statistics)
      throw ValueError("Normalization: stat_of_feature holds " + std::to_string(s) +
                       ", outside [0, " + std::to_string(statistics) + ")");
  mean_ = add_parameter("mean", 1, statistics, /*trainable=*/false, /*is_vector=*/true);
  variance_ = add_parameter("variance", 1, statistics, /*trainable=*/false, /*is_vector=*/true);
  variance_->value.setOnes();
  add_parameter("count", 1, 1, /*trainable=*/false, /*is_vector=*/true);
  shift_.resize(input_units_);
  spread_.resize(input_units_);
}

// The coefficients are recomputed at every forward (O(features), small beside the batch), so a
// write to the variables through their numpy views takes effect at once.
void NormalizationLayer::forward(MatrixIn x, MatrixOut y, bool /*training*/) {
  require_shape("Normalization.forward", "x", x.rows(), x.cols(), -1, input_units_);
  normalization_coefficients(mean_->value.row(0), variance_->value.row(0), stat_of_feature_,
                             epsilon_, shift_, spread_);
  normalization_forward(x, shift_, spread_, invert_, y);
}

void NormalizationLayer::backward(MatrixIn /*x*/, MatrixIn /*y*/, MatrixIn dy, MatrixOut dx,
                                  bool /*update_weights*/, bool /*dy_is_preactivation*/) {
  if (dx.rows() == 0) return;
  normalization_backward(dy, spread_, invert_, dx);
}

}  // namespace densekit
