// Dense (fully connected) kernels, split as forward / backward-data / backward-weights so that a
// frozen layer skips its weight gradient and the first layer skips its input gradient.
//
//   forward          y  = x w + b          x (n, in), w (in, units), b (1, units), y (n, units)
//   backward_data    dx = dy wᵀ            dy (n, units), dx (n, in)
//   backward_weights dw = xᵀ dy, db = Σ_rows dy
#pragma once

#include "densekit/types.hpp"

namespace densekit {

// b may be empty (0 columns) for a layer without bias.
void dense_forward(MatrixIn x, MatrixIn w, VectorIn b, MatrixOut y);

void dense_backward_data(MatrixIn dy, MatrixIn w, MatrixOut dx);

// db may be empty (0 columns) for a layer without bias.
void dense_backward_weights(MatrixIn x, MatrixIn dy, MatrixOut dw, VectorOut db);

}  // namespace densekit
