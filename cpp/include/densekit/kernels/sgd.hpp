// The SGD update of Keras 3 (keras/src/optimizers/sgd.py), for one variable:
//   momentum = 0:  w ← w - lr·g
//   momentum > 0:  m ← momentum·m - lr·g
//                  plain:    w ← w + m
//                  nesterov: w ← w + momentum·m - lr·g
#pragma once

#include "densekit/types.hpp"

namespace densekit {

// m is ignored (may be empty) when momentum == 0.
void sgd_update(MatrixOut w, MatrixIn g, MatrixOut m, Scalar learning_rate, Scalar momentum,
                bool nesterov);

// The check of a plain SGD step (momentum 0) fused with its clipping, in one pass: g ← g·scale,
// clipped to ±clip_value when clip_value > 0, in place; returns whether the incoming g and
// w - lr·g are all finite (g is clipped either way). w and g are contiguous runs of n floats.
bool sgd_clip_and_check(const Scalar* w, Scalar* g, Index n, Scalar scale, Scalar clip_value,
                        Scalar learning_rate);

}  // namespace densekit
