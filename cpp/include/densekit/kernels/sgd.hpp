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

}  // namespace densekit
