// Normalization's map, per feature j of a flattened sample: standardize,
//   y = (x - m_j) / s_j,      s_j = max(sqrt(v_j), ε)
// or its inverse, y = x s_j + m_j, where (m, v) are the mean and variance of the statistic that
// feature j belongs to (all of a sample's features may share one, or each has its own).
#pragma once

#include <vector>

#include "densekit/types.hpp"

namespace densekit {

// shift_j = m[stat_j] and spread_j = s_j, for every feature j.
void normalization_coefficients(VectorIn mean, VectorIn variance,
                                const std::vector<Index>& stat_of_feature, Scalar epsilon,
                                VectorOut shift, VectorOut spread);

// y = (x - shift) / spread, or y = x ⊙ spread + shift when inverting, row by row. A division, not
// a product with 1 / spread, so that the result has the same bits as Keras's.
void normalization_forward(MatrixIn x, VectorIn shift, VectorIn spread, bool invert, MatrixOut y);

// dx = dy / spread, or dy ⊙ spread when inverting.
void normalization_backward(MatrixIn dy, VectorIn spread, bool invert, MatrixOut dx);

}  // namespace densekit
