// Element-wise and row-wise activation kernels, forward and backward, with Keras 3 definitions.
//
// The backward kernels receive both the input x and the output y of the forward pass, because
// some derivatives are cheapest from y (sigmoid: y(1-y), tanh: 1-y², exponential: y, softmax).
// PReLU and RReLU, whose slopes are state, are in learned_activations.hpp.
#pragma once

#include <string>

#include "densekit/types.hpp"

namespace densekit {

enum class ActivationKind {
  linear,
  sigmoid,
  tanh,
  relu,        // Keras 3 relu(x, negative_slope, max_value, threshold)
  leaky_relu,  // slope = negative_slope
  elu,         // alpha
  selu,        // Klambauer's exact alpha and scale
  gelu,        // exact erf form, or the tanh form when approximate
  swish,       // x * sigmoid(x), also called silu
  softplus,
  softsign,
  hard_sigmoid,  // Keras 3: relu6(x + 3) / 6
  exponential,
  thresholded_relu,  // x where x > threshold (theta), else 0
  softmax,           // row-wise, numerically stable
};

// An activation and its parameters; fields that do not apply to the kind are ignored.
struct ActivationSpec {
  ActivationKind kind = ActivationKind::linear;
  Scalar negative_slope = 0;  // relu, leaky_relu
  Scalar max_value = -1;      // relu: < 0 means no upper bound
  Scalar threshold = 0;       // relu threshold, thresholded_relu theta
  Scalar alpha = 1;           // elu
  bool approximate = false;   // gelu

  bool is_identity() const { return kind == ActivationKind::linear; }
  // Each output from its own input only (every kind but softmax): it may run on any block.
  bool is_elementwise() const { return kind != ActivationKind::softmax; }
};

// Parses a Keras name ("relu", "silu", "hard_sigmoid", ...); throws ValueError listing the valid
// ones.
ActivationKind activation_kind_from_name(const std::string& name);
std::string activation_name(ActivationKind kind);

// y = f(x). x and y may alias (in place).
void activation_forward(const ActivationSpec& spec, MatrixIn x, MatrixOut y);

// dx = dy ⊙ f'(x) (softmax: the row-wise Jacobian product). dx may alias dy.
void activation_backward(const ActivationSpec& spec, MatrixIn x, MatrixIn y, MatrixIn dy,
                         MatrixOut dx);

}  // namespace densekit
