#include "densekit/kernels/normalization.hpp"

#include <cmath>

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"

namespace densekit {

void normalization_coefficients(VectorIn mean, VectorIn variance,
                                const std::vector<Index>& stat_of_feature, Scalar epsilon,
                                VectorOut shift, VectorOut spread) {
  const Index features = static_cast<Index>(stat_of_feature.size());
  require_shape("normalization_coefficients", "shift", shift.rows(), shift.cols(), 1, features);
  require_shape("normalization_coefficients", "spread", spread.rows(), spread.cols(), 1, features);
  for (Index j = 0; j < features; ++j) {
    const Index s = stat_of_feature[j];
    // std::max(NaN, ε) is NaN, so a negative variance gives NaN as Keras's sqrt does.
    spread[j] = std::max(std::sqrt(variance[s]), epsilon);
    shift[j] = mean[s];
  }
}

void normalization_forward(MatrixIn x, VectorIn shift, VectorIn spread, bool invert, MatrixOut y) {
  require_shape("normalization_forward", "x", x.rows(), x.cols(), -1, shift.cols());
  require_shape("normalization_forward", "y", y.rows(), y.cols(), x.rows(), x.cols());
  parallel_for(x.rows(), x.size(), [&](Index r) {
    if (invert)
      y.row(r) = x.row(r).cwiseProduct(spread) + shift;
    else
      y.row(r) = (x.row(r) - shift).cwiseQuotient(spread);
  });
}

void normalization_backward(MatrixIn dy, VectorIn spread, bool invert, MatrixOut dx) {
  require_shape("normalization_backward", "dx", dx.rows(), dx.cols(), dy.rows(), dy.cols());
  parallel_for(dy.rows(), dy.size(), [&](Index r) {
    if (invert)
      dx.row(r) = dy.row(r).cwiseProduct(spread);
    else
      dx.row(r) = dy.row(r).cwiseQuotient(spread);
  });
}

}  // namespace densekit
