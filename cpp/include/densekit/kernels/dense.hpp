// Dense (fully connected) kernels, split as forward / backward-data / backward-weights so that a
// frozen layer skips its weight gradient and the first layer skips its input gradient.
//
//   forward          y  = x w + b          x (n, in), w (in, units), b (1, units), y (n, units)
//   backward_data    dx = dy wᵀ            dy (n, units), dx (n, in)
//   backward_weights dw = xᵀ dy, db = Σ_rows dy
//
// backward_normalized_input serves a dense layer whose input is x = x̂ ⊙ γ + β (a batch
// normalization below it, whose own input gradient nothing needs: the first trained layer). The
// gradients of γ and β then follow from one product instead of two, with M = x̂ᵀ dy, s = Σ_rows dy:
//   dγ_j = Σ_k w_jk M_jk,  dβ_j = Σ_k w_jk s_k,  dw_jk = γ_j M_jk + β_j s_k,  db = s
// (dγ_j = Σ_i x̂_ij (dy wᵀ)_ij = Σ_k w_jk Σ_i x̂_ij dy_ik, and x = x̂ γ + β inside xᵀ dy),
// which skips dx = dy wᵀ, a third of the layer's multiply-adds.
#pragma once

#include "densekit/kernels/activations.hpp"
#include "densekit/types.hpp"

namespace densekit {

// b may be empty (0 columns) for a layer without bias.
void dense_forward(MatrixIn x, MatrixIn w, VectorIn b, MatrixOut y);

// z = x w + b and y = f(z) in one pass over each thread's block of the product (z is kept for
// the backward). y may be z.
void dense_activation_forward(MatrixIn x, MatrixIn w, VectorIn b, const ActivationSpec& f,
                              MatrixOut z, MatrixOut y);

void dense_backward_data(MatrixIn dy, MatrixIn w, MatrixOut dx);

// db may be empty (0 columns) for a layer without bias.
void dense_backward_weights(MatrixIn x, MatrixIn dy, MatrixOut dw, VectorOut db);

// x_hat (n, in); gamma, beta (1, in) or empty (γ = 1, β = 0); dy_sum (1, units) receives s (it may
// be db); dgamma, dbeta (1, in) or empty to skip. dw is always written.
void dense_backward_normalized_input(MatrixIn x_hat, VectorIn gamma, VectorIn beta, MatrixIn dy,
                                     MatrixIn w, MatrixOut dw, VectorOut dy_sum, VectorOut dgamma,
                                     VectorOut dbeta);

}  // namespace densekit
