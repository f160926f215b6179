// Weight and activity penalties (Keras's regularizers): the value of a penalty on a (rows, cols)
// matrix and its gradient, side by side. Vectors are stored as (1, n).
//
//   L1L2:        P = l1 Σ|w| + l2 Σ w²                     ∂P/∂w = l1 sign(w) + 2 l2 w
//   Orthogonal:  rows mode, size = rows (columns mode: the same on wᵀ):
//                n_i = w_i · min(1/‖w_i‖, 1/ε)  (Keras's normalize, ε = 1e-7)
//                P = c Σ_{i≠k} |n_i · n_k|,  c = factor / 2 / (size (size - 1) / 2)
//                ∂P/∂n = 2c S n with S_ik = sign(n_i · n_k) off the diagonal, 0 on it;
//                ∂P/∂w_i = inv_i (G_i − n_i (n_i · G_i)) where the norm is used, inv_i G_i where
//                1/ε caps it (a row of zeros).
// Sums accumulate in double; sign(0) = 0, as the gradient of |x| at 0 in Keras's backends.
#pragma once

#include "densekit/types.hpp"

namespace densekit {

enum class PenaltyKind { none, l1_l2, orthogonal };

struct PenaltySpec {
  PenaltyKind kind = PenaltyKind::none;
  double l1 = 0;  // l1_l2
  double l2 = 0;
  double factor = 0;     // orthogonal
  bool columns = false;  // orthogonal: the columns are made orthogonal instead of the rows
};

// Scratch of the orthogonal penalty for a (rows, cols) matrix, sized once (no allocation per call).
struct PenaltyScratch {
  RowMatrix normalized;  // n: (rows, cols)
  RowMatrix products;    // n nᵀ or nᵀ n: (size, size), then S
  RowMatrix dn;          // ∂P/∂n: (rows, cols)
  RowVector inverse;     // inv: (size)
  void reserve(const PenaltySpec& spec, Index rows, Index cols);
};

// ValueError (prefixed with `where`) when a factor is negative or not finite, or an orthogonal
// penalty has fewer than 2 rows (columns) to compare.
void check_penalty(const PenaltySpec& spec, Index rows, Index cols, const char* where);

// The penalty of w; scratch is used by the orthogonal penalty only.
double penalty_value(const PenaltySpec& spec, MatrixIn w, PenaltyScratch& scratch);

// grad += scale · ∂P/∂w; returns P (unscaled).
double penalty_add_gradient(const PenaltySpec& spec, MatrixIn w, MatrixOut grad, double scale,
                            PenaltyScratch& scratch);

}  // namespace densekit
