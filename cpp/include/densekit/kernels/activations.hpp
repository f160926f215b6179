// Element-wise and row-wise activation kernels, forward and backward, with Keras 3 definitions.
//
// The backward kernels receive both the input x and the output y of the forward pass, because
// some derivatives are cheapest from y (sigmoid: y(1-y), tanh: 1-y², exponential: y, softmax).
#pragma once

#include <cstdint>
#include <string>

#include "densekit/types.hpp"

namespace densekit {

enum class ActivationKind {
  linear,
  sigmoid,
  tanh,
  relu,              // Keras 3 relu(x, negative_slope, max_value, threshold)
  leaky_relu,        // slope = negative_slope
  elu,               // alpha
  selu,              // Klambauer's exact alpha and scale
  gelu,              // exact erf form, or the tanh form when approximate
  swish,             // x * sigmoid(x), also called silu
  softplus,
  softsign,
  hard_sigmoid,      // Keras 3: relu6(x + 3) / 6
  exponential,
  thresholded_relu,  // x where x > threshold (theta), else 0
  softmax,           // row-wise, numerically stable
};

// An activation and its parameters; fields that do not apply to the kind are ignored.
struct ActivationSpec {
  ActivationKind kind = ActivationKind::linear;
  Scalar negative_slope = 0;   // relu, leaky_relu
  Scalar max_value = -1;       // relu: < 0 means no upper bound
  Scalar threshold = 0;        // relu threshold, thresholded_relu theta
  Scalar alpha = 1;            // elu
  bool approximate = false;    // gelu

  bool is_identity() const { return kind == ActivationKind::linear; }
};

// Parses a Keras name ("relu", "silu", "hard_sigmoid", ...); throws ValueError listing the valid ones.
ActivationKind activation_kind_from_name(const std::string& name);
std::string activation_name(ActivationKind kind);

// y = f(x). x and y may alias (in place).
void activation_forward(const ActivationSpec& spec, MatrixIn x, MatrixOut y);

// dx = dy ⊙ f'(x) (softmax: the row-wise Jacobian product). dx may alias dy.
void activation_backward(const ActivationSpec& spec, MatrixIn x, MatrixIn y, MatrixIn dy,
                         MatrixOut dx);

// PReLU with one learned slope per unit: y = max(0, x) + alpha ⊙ min(0, x), alpha (1, units).
void prelu_forward(MatrixIn x, VectorIn alpha, MatrixOut y);
// dx = dy where x > 0 else alpha·dy;  dalpha = Σ_rows dy ⊙ min(0, x). dx may be empty (skipped).
void prelu_backward(MatrixIn x, VectorIn alpha, MatrixIn dy, MatrixOut dx, VectorOut dalpha);

// Randomized leaky ReLU (Xu et al. 2015). Training: slope drawn uniformly in [lower, upper] for
// each element from a counter-based generator keyed by (seed, step, element), so the draw does
// not depend on the thread count; the slopes are written to `slopes` for the backward pass.
// Inference: the fixed slope (lower + upper) / 2.
void rrelu_forward_training(MatrixIn x, Scalar lower, Scalar upper, std::uint64_t seed,
                            std::uint64_t step, MatrixOut slopes, MatrixOut y);
void rrelu_forward_inference(MatrixIn x, Scalar lower, Scalar upper, MatrixOut y);
// dx = dy where x >= 0 else slope·dy, with the slopes saved by the training forward.
void rrelu_backward(MatrixIn x, MatrixIn slopes, MatrixIn dy, MatrixOut dx);

}  // namespace densekit
