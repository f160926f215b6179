// Gradient clipping, exactly as Keras 3's base optimizer defines it:
//   clipvalue        g ← clip(g, -v, v), element-wise
//   clipnorm         g ← g · c / max(‖g‖₂, c), each variable by its own norm
//   global_clipnorm  g ← g · c / max(‖(g₁, …, g_k)‖₂, c), all variables by their joint norm
#pragma once

#include <vector>

#include "densekit/types.hpp"

namespace densekit {

void clip_by_value(MatrixOut g, Scalar clip_value);

void clip_by_norm(MatrixOut g, Scalar clip_norm);

// Squared L2 norm, accumulated in double.
double squared_norm(MatrixIn g);

// Whether every entry of g is finite (no NaN, no ±Inf): one vectorized pass.
bool all_finite(MatrixIn g);

// The gradients are given as views so the optimizer can pass its list without copying.
void clip_by_global_norm(const std::vector<MatrixOut>& grads, Scalar clip_norm);

}  // namespace densekit
