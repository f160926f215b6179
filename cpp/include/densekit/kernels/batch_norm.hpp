// Batch normalization kernels (Keras 3 BatchNormalization over the last axis), forward and backward
// for both modes, and the moving-statistics update. Per feature j (column), over the n rows:
//
//   training   μ = (1/n) Σ x,  σ² = (1/n) Σ (x - μ)²  (biased, as Keras 3's ops.moments)
//              inv_std = 1/√(σ² + ε),  x̂ = (x - μ)·inv_std,  y = γ x̂ + β
//   inference  y = γ (x - moving_mean)/√(moving_var + ε) + β
//   moving     moving_mean ← moving_mean·momentum + μ·(1 - momentum)   (same for moving_var, σ²)
//
// Shapes: x, x̂, y, dy, dx (n, features); γ, β, μ, σ², inv_std, moving_* (1, features).
// γ and β may be empty (0 columns) for scale=False / center=False: γ is then 1 and β 0, and the
// matching gradient is not written. Like ATen's batch_norm_kernel, the training forward saves μ
// and inv_std (and σ² for the moving update); it also writes x̂, which its backward reads.
// When σ² + ε is 0 (a constant feature with epsilon=0) inv_std is defined as 0, so x̂ = 0 and no
// NaN appears; with ε > 0 a batch of one row gives σ² = 0, x̂ = 0, y = β, dx = 0.
#pragma once

#include "densekit/types.hpp"

namespace densekit {

// Writes mean, var, inv_std (1, features), x_hat and y (n, features). y may alias x.
void batch_norm_forward_training(MatrixIn x, VectorIn gamma, VectorIn beta, Scalar epsilon,
                                 VectorOut mean, VectorOut var, VectorOut inv_std, MatrixOut x_hat,
                                 MatrixOut y);

// moving ← moving·momentum + batch·(1 - momentum), for the mean and the (biased) variance.
void batch_norm_update_moving(VectorOut moving_mean, VectorOut moving_var, VectorIn mean,
                              VectorIn var, Scalar momentum);

// y = γ (x - moving_mean)/√(moving_var + ε) + β. y may alias x.
void batch_norm_forward_inference(MatrixIn x, VectorIn gamma, VectorIn beta, VectorIn moving_mean,
                                  VectorIn moving_var, Scalar epsilon, MatrixOut y);

// The full gradient through μ and σ², from the x̂ and inv_std of the training forward:
//   dβ = Σ dy,  dγ = Σ dy ⊙ x̂,  dx = γ·inv_std·(dy - Σdy/n - x̂·Σ(dy ⊙ x̂)/n).
// dx may be empty (0 rows) and dgamma / dbeta empty (0 columns) to skip them. dx may alias dy.
void batch_norm_backward_training(MatrixIn x_hat, MatrixIn dy, VectorIn gamma, VectorIn inv_std,
                                  MatrixOut dx, VectorOut dgamma, VectorOut dbeta);

// The statistics are constants in inference mode (a frozen BatchNormalization inside a trained
// stack, or a trainable one called with training=False):
//   dx = dy·γ/√(moving_var + ε),  dγ = Σ dy ⊙ (x - moving_mean)/√(moving_var + ε),  dβ = Σ dy.
// dx may be empty (0 rows) and dgamma / dbeta empty (0 columns) to skip them. dx may alias dy.
void batch_norm_backward_inference(MatrixIn x, MatrixIn dy, VectorIn gamma, VectorIn moving_mean,
                                   VectorIn moving_var, Scalar epsilon, MatrixOut dx,
                                   VectorOut dgamma, VectorOut dbeta);

}  // namespace densekit
