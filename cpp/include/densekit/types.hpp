// Scalar and matrix types shared by every kernel and layer.
//
// Everything is float32 and row-major, so a C-contiguous numpy array of shape (batch, features)
// maps onto a RowMatrix without a copy, one sample per row.
#pragma once

#include <Eigen/Core>
#include <cstdint>

namespace densekit {

using Scalar = float;
using Index = Eigen::Index;  // signed 64-bit: arrays beyond 2^31 elements index correctly

using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RowVector = Eigen::Matrix<Scalar, 1, Eigen::Dynamic, Eigen::RowMajor>;

// Kernel arguments: read-only inputs and caller-allocated outputs written in place.
using MatrixIn = Eigen::Ref<const RowMatrix>;
using MatrixOut = Eigen::Ref<RowMatrix>;
using VectorIn = Eigen::Ref<const RowVector>;
using VectorOut = Eigen::Ref<RowVector>;

// Keras's backend.epsilon(): its normalize (the orthogonal penalty) and norm constraints use it.
inline constexpr double kKerasEpsilon = 1e-7;

}  // namespace densekit
