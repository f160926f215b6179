// PReLU and RReLU kernels and layers against double-precision oracles: PReLU's backward against
// central finite differences, RReLU's draws against their distribution and the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/kernels/learned_activations.hpp"
#include "densekit/layers/activation.hpp"
#include "densekit/parallel.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

using test::random_matrix;

using ThreadGuard = test::ThreadsGuard;

// ---- PReLU -----------------------------------------------------------------------------------

// PReLU in double: y = x if x > 0 else α·x, L = Σ dy ⊙ y.
double prelu_loss(const RowMatrix& x, const std::vector<double>& alpha, const RowMatrix& dy,
                  Index shift_r, Index shift_c, double shift_x, Index shift_alpha, double shift_a) {
  double loss = 0;
  for (Index r = 0; r < x.rows(); ++r)
    for (Index c = 0; c < x.cols(); ++c) {
      const double v = x(r, c) + (r == shift_r && c == shift_c ? shift_x : 0.0);
      const double a = alpha[c] + (c == shift_alpha ? shift_a : 0.0);
      loss += dy(r, c) * (v > 0 ? v : a * v);
    }
  return loss;
}

TEST(PReLU, ForwardAndBackwardMatchFiniteDifferences) {
  PReLULayer layer(6);
  ASSERT_EQ(layer.parameters().size(), 1u);
  Parameter& alpha = *layer.parameters()[0];
  EXPECT_EQ(alpha.name, "alpha");
  EXPECT_EQ(alpha.value.rows(), 1);
  EXPECT_EQ(alpha.value.cols(), 6);
  EXPECT_TRUE(alpha.trainable && alpha.is_vector);
  EXPECT_TRUE(alpha.value.isZero());  // Keras's alpha_initializer="Zeros"
  EXPECT_EQ(layer.output_activation(), nullptr);
  alpha.value << 0.1f, -0.2f, 0.3f, 0.25f, 1.5f, 0;
  const std::vector<double> a(alpha.value.data(), alpha.value.data() + 6);

  RowMatrix x = random_matrix(5, 6, -2, 2, 13);
  for (Index i = 0; i < x.size(); ++i)
    if (std::abs(x.data()[i]) < 1e-2f) x.data()[i] = 0.5f;
  const RowMatrix dy = random_matrix(5, 6, -1, 1, 14);
  RowMatrix y(5, 6), dx(5, 6);
  layer.forward(x, y, true);
  for (Index r = 0; r < 5; ++r)
    for (Index c = 0; c < 6; ++c)
      EXPECT_FLOAT_EQ(y(r, c), x(r, c) > 0 ? x(r, c) : float(a[c] * x(r, c)));

  layer.backward(x, y, dy, dx, /*update_weights=*/true, false);
  const double h = 1e-5;
  for (Index r = 0; r < 5; ++r)
    for (Index c = 0; c < 6; ++c) {
      const double fd =
          (prelu_loss(x, a, dy, r, c, h, -1, 0) - prelu_loss(x, a, dy, r, c, -h, -1, 0)) / (2 * h);
      EXPECT_NEAR(dx(r, c), fd, 1e-5);
    }
  for (Index c = 0; c < 6; ++c) {
    const double fd =
        (prelu_loss(x, a, dy, -1, -1, 0, c, h) - prelu_loss(x, a, dy, -1, -1, 0, c, -h)) / (2 * h);
    EXPECT_NEAR(alpha.grad(0, c), fd, 1e-5);
  }
}

TEST(PReLU, GradientOnlyWhenUpdatingWeightsAndDxOnlyWhenAsked) {
  PReLULayer layer(3);
  Parameter& alpha = *layer.parameters()[0];
  const RowMatrix x = random_matrix(4, 3, -1, 1, 15), dy = random_matrix(4, 3, -1, 1, 16);
  RowMatrix y(4, 3), dx = RowMatrix::Constant(4, 3, 7), none(0, 3);
  layer.forward(x, y, true);
  alpha.grad.setConstant(42);
  layer.backward(x, y, dy, dx, /*update_weights=*/false, false);
  EXPECT_TRUE((alpha.grad.array() == 42).all());
  EXPECT_FALSE((dx.array() == 7).all());
  layer.backward(x, y, dy, none, /*update_weights=*/true, false);
  EXPECT_FALSE((alpha.grad.array() == 42).all());
}

TEST(PReLU, BadShapesThrowShapeError) {
  RowMatrix x(2, 3), y(2, 3), dx(2, 3);
  x.setZero();
  RowVector alpha = RowVector::Zero(4), dalpha(4), good_alpha = RowVector::Zero(3);
  EXPECT_THROW(prelu_forward(x, alpha, y), ShapeError);
  EXPECT_THROW(prelu_backward(x, good_alpha, y, dx, dalpha), ShapeError);
  RowMatrix wrong(2, 4);
  EXPECT_THROW(prelu_forward(x, good_alpha, wrong), ShapeError);
}

// At x = 0 Keras's relu(x) - α·relu(-x) has TF gradient 0 (relu'(0) = 0 in both terms).
//   x = (-2, 0, 3), α = (0.5, 0.25, 0.5), dy = (1, 4, 2):
//   dx = (0.5·1, 0, 2) = (0.5, 0, 2);  dα = dy ⊙ min(0, x) = (-2, 0, 0).
TEST(PReLU, DerivativeAtZeroIsZeroAsInTensorFlow) {
  RowMatrix x(1, 3), dy(1, 3), y(1, 3), dx(1, 3);
  x << -2, 0, 3;
  dy << 1, 4, 2;
  RowVector alpha(3), dalpha(3);
  alpha << 0.5f, 0.25f, 0.5f;
  prelu_forward(x, alpha, y);
  EXPECT_EQ(y, (RowMatrix(1, 3) << -1, 0, 3).finished());
  prelu_backward(x, alpha, dy, dx, dalpha);
  EXPECT_EQ(dx, (RowMatrix(1, 3) << 0.5f, 0, 2).finished());
  EXPECT_EQ(dalpha, (RowVector(3) << -2, 0, 0).finished());
  // -0.0 is zero too
  x(0, 1) = -0.0f;
  prelu_backward(x, alpha, dy, dx, dalpha);
  EXPECT_EQ(dx(0, 1), 0);
}

// ---- RReLU -----------------------------------------------------------------------------------

TEST(RReLU, SlopesLieInRangeAndDependOnSeedAndStep) {
  const float lower = 0.125f, upper = 1.0f / 3;
  const RowMatrix x = random_matrix(64, 50, -1, 1, 17);
  RowMatrix s1(64, 50), s2(64, 50), s3(64, 50), s4(64, 50), y(64, 50);
  rrelu_forward_training(x, lower, upper, 7, 0, s1, y);
  rrelu_forward_training(x, lower, upper, 7, 0, s2, y);
  rrelu_forward_training(x, lower, upper, 7, 1, s3, y);
  rrelu_forward_training(x, lower, upper, 8, 0, s4, y);
  EXPECT_GE(s1.minCoeff(), lower);
  EXPECT_LE(s1.maxCoeff(), upper);
  EXPECT_NEAR(s1.cast<double>().mean(), (lower + upper) / 2, 0.01);  // 3200 uniform draws
  EXPECT_EQ(s1, s2);
  // one draw per element, not one per column or per row
  EXPECT_GT(std::set<float>(s1.data(), s1.data() + s1.size()).size(), 3100u);
  EXPECT_GT((s1.array() != s3.array()).count(), 3100);
  EXPECT_GT((s1.array() != s4.array()).count(), 3100);
  for (Index i = 0; i < x.size(); ++i) {
    const float v = x.data()[i];
    EXPECT_EQ(y.data()[i], v >= 0 ? v : s4.data()[i] * v);
  }
}

TEST(RReLU, InferenceUsesMeanSlopeAndBackwardUsesSlopes) {
  RowMatrix x(1, 4), y(1, 4), slopes(1, 4), dy = RowMatrix::Ones(1, 4), dx(1, 4);
  x << -2, -1, 0, 3;
  rrelu_forward_inference(x, 0.1f, 0.3f, y);
  EXPECT_FLOAT_EQ(y(0, 0), -0.4f);  // -2 · (0.1 + 0.3)/2
  EXPECT_FLOAT_EQ(y(0, 1), -0.2f);
  EXPECT_EQ(y(0, 2), 0);
  EXPECT_EQ(y(0, 3), 3);
  slopes << 0.5f, 0.25f, 0.75f, 0.125f;
  rrelu_backward(x, slopes, dy, dx);
  EXPECT_EQ(dx, (RowMatrix(1, 4) << 0.5f, 0.25f, 1, 1).finished());  // dy where x >= 0
  EXPECT_THROW(rrelu_forward_inference(x, 0.5f, 0.1f, y), ValueError);
  RowMatrix wrong(1, 5);
  EXPECT_THROW(rrelu_forward_training(x, 0.1f, 0.3f, 0, 0, wrong, y), ShapeError);
  EXPECT_THROW(rrelu_backward(x, slopes, wrong, dx), ShapeError);
}

// 256 × 256 is above the threshold where the loop forks.
TEST(RReLU, OneThreadAndTwoThreadsAreBitIdentical) {
  ThreadGuard guard;
  const RowMatrix x = random_matrix(256, 256, -1, 1, 18);
  RowMatrix s1(256, 256), y1(256, 256), s2(256, 256), y2(256, 256);
  set_num_threads(1);
  rrelu_forward_training(x, 0.1f, 0.4f, 99, 3, s1, y1);
  set_num_threads(2);
  rrelu_forward_training(x, 0.1f, 0.4f, 99, 3, s2, y2);
  EXPECT_EQ(std::memcmp(s1.data(), s2.data(), sizeof(float) * s1.size()), 0);
  EXPECT_EQ(std::memcmp(y1.data(), y2.data(), sizeof(float) * y1.size()), 0);
}

TEST(RReLU, LayerDrawsNewSlopesEachStepAndBackpropagatesThroughThem) {
  RReLULayer layer(8, 0.1f, 0.3f, 5);
  EXPECT_EQ(layer.kind(), "RReLU");
  layer.reserve(6);
  const RowMatrix x = random_matrix(6, 8, -2, -0.1f, 19);  // all negative: y = slope·x
  const RowMatrix dy = random_matrix(6, 8, -1, 1, 20);
  RowMatrix y1(6, 8), y2(6, 8), dx(6, 8);
  layer.forward(x, y1, true);
  layer.forward(x, y2, true);
  EXPECT_NE(y1, y2);  // the step advanced
  layer.backward(x, y2, dy, dx, true, false);
  for (Index i = 0; i < x.size(); ++i) {
    const float slope = y2.data()[i] / x.data()[i];
    EXPECT_GE(slope, 0.1f - 1e-6f);
    EXPECT_LE(slope, 0.3f + 1e-6f);
    EXPECT_NEAR(dx.data()[i], slope * dy.data()[i], 1e-6f);
  }
  layer.forward(x, y1, false);
  layer.backward(x, y1, dy, dx, true, false);
  EXPECT_TRUE(y1.isApprox(0.2f * x));
  EXPECT_TRUE(dx.isApprox(0.2f * dy));
  RowMatrix none(0, 8);
  EXPECT_NO_THROW(layer.backward(x, y1, dy, none, true, false));
  EXPECT_THROW(RReLULayer(8, 0.5f, 0.1f, 0), ValueError);
}

// rrelu_forward: training is rrelu_forward_training; inference writes the mean slope, so that
// rrelu_backward applies after either mode.
TEST(RReLU, ForwardWritesTheSlopesUsedInBothModes) {
  const RowMatrix x = random_matrix(5, 7, -1, 1, 21);
  RowMatrix s1(5, 7), y1(5, 7), s2(5, 7), y2(5, 7);
  rrelu_forward(x, 0.1f, 0.3f, /*training=*/true, 4, 2, s1, y1);
  rrelu_forward_training(x, 0.1f, 0.3f, 4, 2, s2, y2);
  EXPECT_EQ(s1, s2);
  EXPECT_EQ(y1, y2);
  rrelu_forward(x, 0.1f, 0.3f, /*training=*/false, 4, 2, s1, y1);
  rrelu_forward_inference(x, 0.1f, 0.3f, y2);
  EXPECT_TRUE((s1.array() == (0.1f + 0.3f) / 2).all());
  EXPECT_EQ(y1, y2);
  RowMatrix wrong(5, 6);
  EXPECT_THROW(rrelu_forward(x, 0.1f, 0.3f, false, 0, 0, wrong, y1), ShapeError);
  EXPECT_THROW(rrelu_forward(x, 0.3f, 0.1f, false, 0, 0, s1, y1), ValueError);
}

}  // namespace
}  // namespace densekit
