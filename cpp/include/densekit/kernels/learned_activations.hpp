// Leaky ReLUs whose slopes are not configuration but state: PReLU's slopes are learned weights,
// RReLU's are drawn at random for every training batch and saved for the backward pass.
// Forward and backward side by side; every array is (n, units).
#pragma once

#include <cstdint>

#include "densekit/types.hpp"

namespace densekit {

// PReLU with one learned slope per unit: y = max(0, x) + alpha ⊙ min(0, x), alpha (1, units).
void prelu_forward(MatrixIn x, VectorIn alpha, MatrixOut y);
// dx = dy where x > 0, alpha·dy where x < 0 and 0 at x == 0 (Keras's relu(x) - alpha·relu(-x)
// differentiated by TF, where relu'(0) = 0);  dalpha = Σ_rows dy ⊙ min(0, x).
// dx may be empty (skipped), and so may dalpha.
void prelu_backward(MatrixIn x, VectorIn alpha, MatrixIn dy, MatrixOut dx, VectorOut dalpha);

// Randomized leaky ReLU (Xu et al. 2015). Training: slope drawn uniformly in [lower, upper] for
// each element from a counter-based generator keyed by (seed, step, element), so the draw does
// not depend on the thread count; the slopes are written to `slopes` for the backward pass.
// Inference: the fixed slope (lower + upper) / 2.
void rrelu_forward_training(MatrixIn x, Scalar lower, Scalar upper, std::uint64_t seed,
                            std::uint64_t step, MatrixOut slopes, MatrixOut y);
void rrelu_forward_inference(MatrixIn x, Scalar lower, Scalar upper, MatrixOut y);
// Either of the two, and in both modes the slopes used written to `slopes` (inference: the
// constant mean slope), so that rrelu_backward applies after either.
void rrelu_forward(MatrixIn x, Scalar lower, Scalar upper, bool training, std::uint64_t seed,
                   std::uint64_t step, MatrixOut slopes, MatrixOut y);
// dx = dy where x >= 0 else slope·dy, with the slopes saved by the forward.
void rrelu_backward(MatrixIn x, MatrixIn slopes, MatrixIn dy, MatrixOut dx);

}  // namespace densekit
