// Normalization(axis, invert), as Keras 3: standardizes each feature with a mean and variance
// set by adapt() or given, the same in training and inference; no variable trains.
#pragma once

#include <vector>

#include "densekit/layers/layer.hpp"

namespace densekit {

class NormalizationLayer : public Layer {
 public:
  // stat_of_feature[j]: which of the `statistics` means and variances feature j of a flattened
  // sample uses (the kept axes' index). Variables in Keras's order: mean (zeros), variance
  // (ones), count (zero; adapt() does not change it, as in Keras).
  NormalizationLayer(std::vector<Index> stat_of_feature, Index statistics, bool invert,
                     Scalar epsilon);

  std::string kind() const override { return "Normalization"; }
  void forward(MatrixIn x, MatrixOut y, bool training) override;
  void backward(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, bool update_weights,
                bool dy_is_preactivation) override;

 private:
  std::vector<Index> stat_of_feature_;
  bool invert_;
  Scalar epsilon_;
  std::shared_ptr<Parameter> mean_, variance_;
  RowVector shift_, spread_;  // per feature, from the variables at each forward
};

}  // namespace densekit
