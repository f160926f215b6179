// The backward pass of a training step as a list of stages, planned when the network is compiled
// (and again only if the set of trained parameters changes): the step runs them from the top
// down without looking at the topology. A stage is one layer's backward, or a fusion of adjacent
// layers that gives the same gradients more cheaply; fusions are found here, once, so layers stay
// forward, backward and their parameters.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "densekit/layers/layer.hpp"

namespace densekit {

struct BackwardStage {
  Index top;     // the stage's top layer: it receives dy = ∂loss/∂(its output)
  Index lowest;  // the lowest layer the stage covers: top, or lower for a fusion
  bool need_dx;  // whether to write ∂loss/∂(lowest's input)
  // A fusion: given the top layer's output y and dy, writes the parameter gradients of every
  // layer of the stage (never dx). Empty for a plain stage, which runs top's backward.
  std::function<void(MatrixIn y, MatrixIn dy, bool dy_is_preactivation)> fused;
};

// Stages that take the backward from the last layer down to layer `lowest` (the lowest layer
// with trained parameters). all_input_grads: every layer's input gradient is written (the
// gradient diagnostics), so nothing is fused and the lowest layer's dx is written too.
//
// The one fusion, batch norm first: a trained Dense directly above a trained BatchNormalization
// that is the lowest trained layer. Its input gradient would serve only γ's and β's gradients,
// which the Dense's weight-gradient product gives directly (dense_backward_normalized_input),
// skipping the product dx = dy wᵀ and batch norm's backward.
std::vector<BackwardStage> plan_backward(const std::vector<std::shared_ptr<Layer>>& layers,
                                         Index lowest, bool all_input_grads);

}  // namespace densekit
