#include "densekit/backward_plan.hpp"

#include "densekit/kernels/dense.hpp"
#include "densekit/layers/batch_norm.hpp"
#include "densekit/layers/dense.hpp"

namespace densekit {
namespace {

// Batch norm first (see plan_backward), with y = f(x w + b) and x = x̂ ⊙ γ + β:
//   dz = dy ⊙ f'(z);  M = x̂ᵀ dz, s = Σ_rows dz;  dγ_j = w_j · M_j, dβ_j = w_j · s;
//   dw_j = γ_j M_j + β_j s;  db = s   (kernels/dense.hpp, dense_backward_normalized_input).
// The normalized x̂ is the one batch norm's training forward kept for its backward.
BackwardStage batch_norm_first(BatchNormLayer& norm, DenseLayer& dense, Index top) {
  // Σ_rows dz goes to the bias gradient, or here when the Dense has no bias.
  auto dz_sum = std::make_shared<RowVector>(dense.bias() ? 0 : dense.output_units());
  auto fused = [&norm, &dense, dz_sum](MatrixIn y, MatrixIn dy, bool dy_is_preactivation) {
    static const RowVector none;
    static RowVector no_grad;
    Parameter *gamma = norm.gamma(), *beta = norm.beta();
    MatrixIn dz = dense.preactivation_grad(y, dy, dy_is_preactivation);
    VectorOut s = dense.bias() ? VectorOut(dense.bias()->grad.row(0)) : VectorOut(*dz_sum);
    dense_backward_normalized_input(
        norm.normalized(), gamma ? VectorIn(gamma->value.row(0)) : VectorIn(none),
        beta ? VectorIn(beta->value.row(0)) : VectorIn(none), dz, dense.kernel().value,
        dense.kernel().grad, s, gamma ? VectorOut(gamma->grad.row(0)) : VectorOut(no_grad),
        beta ? VectorOut(beta->grad.row(0)) : VectorOut(no_grad));
  };
  return BackwardStage{top, top - 1, false, fused};
}

}  // namespace

std::vector<BackwardStage> plan_backward(const std::vector<std::shared_ptr<Layer>>& layers,
                                         Index lowest, bool all_input_grads) {
  std::vector<BackwardStage> stages;
  for (Index i = Index(layers.size()) - 1; i >= lowest; --i) {
    if (i == lowest + 1 && !all_input_grads) {
      auto* norm = dynamic_cast<BatchNormLayer*>(layers[size_t(lowest)].get());
      auto* dense = dynamic_cast<DenseLayer*>(layers[size_t(i)].get());
      // The lowest trained layer, so a trainable BatchNormalization: its training-mode forward
      // keeps x̂. The Dense must train, as the product lands in its kernel's gradient.
      if (norm && dense && norm->trainable && dense->trainable) {
        stages.push_back(batch_norm_first(*norm, *dense, i));
        break;
      }
    }
    // The lowest layer's input gradient feeds nothing, unless the diagnostics want it.
    stages.push_back(BackwardStage{i, i, i > lowest || all_input_grads, {}});
  }
  return stages;
}

}  // namespace densekit
