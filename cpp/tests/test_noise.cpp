// The noise kernels and layer against their distributions (tolerances of 5 standard errors),
// double-precision re-computations given the drawn mask, and the thread count.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/kernels/noise.hpp"
#include "densekit/layers/noise.hpp"
#include "densekit/parallel.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

using test::random_matrix;

struct Moments {
  double mean = 0, sd = 0;
};
template <class M>
Moments moments(const M& m) {
  Moments s;
  for (Index i = 0; i < m.size(); ++i) s.mean += m.data()[i];
  s.mean /= double(m.size());
  for (Index i = 0; i < m.size(); ++i) s.sd += std::pow(m.data()[i] - s.mean, 2);
  s.sd = std::sqrt(s.sd / double(m.size() - 1));
  return s;
}

RowMatrix standard_normal(Index rows, Index cols, unsigned seed) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(0, 1);
  RowMatrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = dist(gen);
  return m;
}

// ---- Dropout ---------------------------------------------------------------------------------

// 300 × 200 = 60,000 draws at rate 0.3: the dropped fraction's standard error is
// √(0.3·0.7 / 60000) = 0.0019, so 5 standard errors are 0.0094.
TEST(Dropout, DropsRateOfTheInputsAndScalesTheRestExactly) {
  const RowMatrix x = random_matrix(300, 200, 0.5f, 2, 1);
  RowMatrix mask(300, 200), y(300, 200);
  const double rate = 0.3;
  dropout_forward(x, rate, NoisePattern(200), 11, mask, y);
  Index dropped = 0;
  const float keep = float(1 - rate);
  for (Index i = 0; i < x.size(); ++i) {
    if (mask.data()[i] == 0) {
      ++dropped;
      EXPECT_EQ(y.data()[i], 0.0f);
    } else {
      ASSERT_EQ(mask.data()[i], 1.0f);
      ASSERT_EQ(y.data()[i], x.data()[i] / keep);  // bit for bit: Keras divides by 1 - rate
    }
  }
  EXPECT_NEAR(double(dropped) / double(x.size()), rate, 5 * std::sqrt(rate * (1 - rate) / 6e4));
}

TEST(Dropout, BackwardUsesTheForwardMask) {
  const RowMatrix x = random_matrix(7, 33, -1, 1, 2), dy = random_matrix(7, 33, -1, 1, 3);
  RowMatrix mask(7, 33), y(7, 33), dx(7, 33);
  dropout_forward(x, 0.5, NoisePattern(33), 5, mask, y);
  dropout_backward(mask, 0.5, dy, dx);
  // y is linear in x: dx_i = ∂(Σ dy ⊙ y)/∂x_i = dy_i · y_i / x_i.
  for (Index i = 0; i < x.size(); ++i)
    EXPECT_NEAR(dx.data()[i], dy.data()[i] * y.data()[i] / x.data()[i], 1e-5);
  EXPECT_GT(mask.sum(), 0);
  EXPECT_LT(mask.sum(), mask.size());
}

TEST(Dropout, MaskDependsOnKeyAndNotOnThreadCount) {
  test::ThreadsGuard guard;
  const RowMatrix x = random_matrix(256, 256, -1, 1, 4);
  RowMatrix m1(256, 256), m2(256, 256), m3(256, 256), y(256, 256);
  set_num_threads(1);
  dropout_forward(x, 0.4, NoisePattern(256), 77, m1, y);
  set_num_threads(2);
  dropout_forward(x, 0.4, NoisePattern(256), 77, m2, y);
  EXPECT_EQ(std::memcmp(m1.data(), m2.data(), sizeof(float) * m1.size()), 0);
  dropout_forward(x, 0.4, NoisePattern(256), 78, m3, y);
  // Independent masks agree on 0.4² + 0.6² = 52% of the elements (sd 0.1% here).
  const double agree = (m1.array() == m3.array()).cast<double>().mean();
  EXPECT_NEAR(agree, 0.52, 0.005);
}

// Neighbouring elements, rows and keys draw independently: the agreement of masks shifted by one
// column, one row or one step is that of independent draws.
TEST(Dropout, NeighbouringDrawsAreIndependent) {
  const RowMatrix x = RowMatrix::Ones(400, 400);
  RowMatrix a(400, 400), b(400, 400), y(400, 400);
  dropout_forward(x, 0.5, NoisePattern(400), 1, a, y);
  dropout_forward(x, 0.5, NoisePattern(400), 2, b, y);
  const double tol = 5 * 0.5 / 400;  // 5 standard errors of a mean of 400² coin flips
  EXPECT_NEAR((a.array() == b.array()).cast<double>().mean(), 0.5, tol);
  EXPECT_NEAR((a.leftCols(399).array() == a.rightCols(399).array()).cast<double>().mean(), 0.5,
              tol);
  EXPECT_NEAR((a.topRows(399).array() == a.bottomRows(399).array()).cast<double>().mean(), 0.5,
              tol);
}

// ---- noise_shape -------------------------------------------------------------------------------

// Samples of shape (3, 4) with noise_shape (None, 1, 4): the mask is shared along the first
// sample axis, so column c = 4i + j draws noise column j.
TEST(NoisePattern, SharesAlongAxesOfSizeOne) {
  const NoisePattern p({3, 4}, {0, 1, 4});
  EXPECT_FALSE(p.share_rows);
  ASSERT_EQ(p.units(), 12);
  for (Index c = 0; c < 12; ++c) EXPECT_EQ(p.columns[size_t(c)], std::uint32_t(c % 4));
  const NoisePattern q({3, 4}, {1, 3, 1});  // shared over the batch and along the last axis
  EXPECT_TRUE(q.share_rows);
  for (Index c = 0; c < 12; ++c) EXPECT_EQ(q.columns[size_t(c)], std::uint32_t(c / 4));
  const NoisePattern all({3, 4}, {0, 0, 0});
  for (Index c = 0; c < 12; ++c) EXPECT_EQ(all.columns[size_t(c)], std::uint32_t(c));
  EXPECT_THROW(NoisePattern({3, 4}, {0, 2, 4}), ValueError);
  EXPECT_THROW(NoisePattern({3, 4}, {0, 4}), ValueError);
  EXPECT_THROW(NoisePattern({3, 4}, {5, 3, 4}), ValueError);
}

TEST(NoisePattern, SharedMasksAreEqualWhereTheyShare) {
  const RowMatrix x = RowMatrix::Ones(64, 12);
  RowMatrix mask(64, 12), y(64, 12);
  dropout_forward(x, 0.5, NoisePattern({3, 4}, {1, 1, 4}), 9, mask, y);
  for (Index r = 0; r < 64; ++r)
    for (Index c = 0; c < 12; ++c) ASSERT_EQ(mask(r, c), mask(0, c % 4));
  const double kept = mask.row(0).head(4).sum();  // one draw for all 768 elements
  EXPECT_EQ(mask.sum(), kept * 3 * 64);
}

// ---- AlphaDropout ------------------------------------------------------------------------------

// Standard normal inputs keep mean 0 and standard deviation 1 (standard errors for 80,000 values:
// 0.0035 for the mean, ~0.004 for the sd).
TEST(AlphaDropout, KeepsMeanAndVarianceOfStandardizedInputs) {
  const RowMatrix x = standard_normal(400, 200, 5);
  RowMatrix factor(400, 200), y(400, 200);
  alpha_dropout_forward(x, 0.2, NoisePattern(200), 3, factor, y);
  const Moments m = moments(y);
  EXPECT_NEAR(m.mean, 0, 0.02);
  EXPECT_NEAR(m.sd, 1, 0.03);
}

// y against Keras's formula in double, given which elements were kept; dx = a·dy where kept.
TEST(AlphaDropout, MatchesTheAffineFormulaGivenTheMask) {
  const RowMatrix x = random_matrix(9, 21, -3, 3, 6), dy = random_matrix(9, 21, -1, 1, 7);
  RowMatrix factor(9, 21), y(9, 21), dx(9, 21);
  const double rate = 0.35, alpha = 1.6732632423543772848170429916717;
  const double alpha_p = -alpha * 1.0507009873554804934193349852946;
  const double a = std::pow((1 - rate) * (1 + rate * alpha_p * alpha_p), -0.5);
  const double b = -a * alpha_p * rate;
  alpha_dropout_forward(x, rate, NoisePattern(21), 8, factor, y);
  noise_backward(factor, dy, dx);
  Index kept = 0;
  for (Index i = 0; i < x.size(); ++i) {
    const bool k = factor.data()[i] != 0;
    kept += k;
    const double expected = a * (k ? double(x.data()[i]) : alpha_p) + b;
    EXPECT_NEAR(y.data()[i], expected, 1e-6 * (1 + std::abs(expected)));
    EXPECT_NEAR(dx.data()[i], k ? a * dy.data()[i] : 0.0, 1e-6);
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, x.size());
}

// ---- Gaussian ----------------------------------------------------------------------------------

TEST(GaussianNoise, AddsNoiseOfTheGivenStddev) {
  const RowMatrix x = RowMatrix::Constant(300, 300, 2.0f);
  RowMatrix y(300, 300);
  gaussian_noise_forward(x, 0.5, 4, y);
  const Moments m = moments(y);  // 90,000 values: standard error of the mean 0.0017
  EXPECT_NEAR(m.mean, 2, 0.009);
  EXPECT_NEAR(m.sd, 0.5, 0.006);
  // A normal's 4th moment is 3 sd⁴: checks the shape, not only the spread.
  double m4 = 0;
  for (Index i = 0; i < y.size(); ++i) m4 += std::pow((y.data()[i] - 2) / 0.5, 4);
  EXPECT_NEAR(m4 / double(y.size()), 3, 0.15);
}

TEST(GaussianDropout, MultipliesByNoiseOfMeanOneAndStddevFromTheRate) {
  test::ThreadsGuard guard;
  const RowMatrix x = random_matrix(300, 300, 1, 2, 9);
  RowMatrix f1(300, 300), y1(300, 300), f2(300, 300), y2(300, 300);
  set_num_threads(1);
  gaussian_dropout_forward(x, 0.2, 6, f1, y1);
  set_num_threads(2);
  gaussian_dropout_forward(x, 0.2, 6, f2, y2);
  EXPECT_EQ(std::memcmp(y1.data(), y2.data(), sizeof(float) * y1.size()), 0);
  const Moments m = moments(f1);
  EXPECT_NEAR(m.mean, 1, 0.009);
  EXPECT_NEAR(m.sd, std::sqrt(0.2 / 0.8), 0.006);
  EXPECT_TRUE(y1.isApprox(x.cwiseProduct(f1)));
}

// ---- the layer ---------------------------------------------------------------------------------

TEST(NoiseLayer, IdentityInInferenceNewNoiseEachTrainingForward) {
  NoiseLayer layer(NoiseKind::dropout, 0.5, 3, NoisePattern(40));
  EXPECT_EQ(layer.kind(), "Dropout");
  layer.reserve(8);
  const RowMatrix x = random_matrix(8, 40, 1, 2, 10), dy = random_matrix(8, 40, -1, 1, 11);
  RowMatrix y1(8, 40), y2(8, 40), dx(8, 40);
  layer.forward(x, y1, false);
  EXPECT_EQ(y1, x);
  layer.backward(x, y1, dy, dx, false, false);
  EXPECT_EQ(dx, dy);
  EXPECT_EQ(layer.random_step(), 0u);
  layer.forward(x, y1, true);
  layer.forward(x, y2, true);
  EXPECT_EQ(layer.random_step(), 2u);
  EXPECT_NE(y1, y2);
  layer.backward(x, y2, dy, dx, false, false);
  for (Index i = 0; i < x.size(); ++i)
    EXPECT_EQ(dx.data()[i], y2.data()[i] == 0 ? 0.0f : dy.data()[i] / 0.5f);
}

TEST(NoiseLayer, TrainingModeOverridesTheNetwork) {
  NoiseLayer layer(NoiseKind::gaussian_dropout, 0.3, 3, NoisePattern(10));
  const RowMatrix x = random_matrix(4, 10, 1, 2, 12);
  RowMatrix y(4, 10);
  layer.training_mode = NoiseTraining::always;
  layer.run(x, y, false);
  EXPECT_NE(y, x);
  layer.training_mode = NoiseTraining::never;
  layer.run(x, y, true);
  EXPECT_EQ(y, x);
}

TEST(NoiseLayer, RefusesBadAmounts) {
  EXPECT_THROW(NoiseLayer(NoiseKind::dropout, 1.0, 0, NoisePattern(3)), ValueError);
  EXPECT_THROW(NoiseLayer(NoiseKind::alpha_dropout, -0.1, 0, NoisePattern(3)), ValueError);
  EXPECT_THROW(NoiseLayer(NoiseKind::gaussian_noise, -1, 0, NoisePattern(3)), ValueError);
  EXPECT_NO_THROW(NoiseLayer(NoiseKind::gaussian_noise, 2.5, 0, NoisePattern(3)));
  EXPECT_THROW(NoiseLayer(NoiseKind::gaussian_dropout, std::nan(""), 0, NoisePattern(3)),
               ValueError);
}

TEST(NoiseLayer, AChangedRateAppliesFromTheNextForwardAndABadOneChangesNothing) {
  NoiseLayer layer(NoiseKind::dropout, 0.5, 3, NoisePattern(40));
  const RowMatrix x = random_matrix(8, 40, 1, 2, 13);
  RowMatrix y(8, 40);
  layer.set_amount(0.0);
  layer.forward(x, y, true);
  EXPECT_EQ(y, x);
  EXPECT_THROW(layer.set_amount(1.0), ValueError);
  EXPECT_EQ(layer.amount(), 0.0);
  layer.set_amount(0.25);
  layer.forward(x, y, true);
  for (Index i = 0; i < x.size(); ++i)
    EXPECT_TRUE(y.data()[i] == 0 || y.data()[i] == x.data()[i] / 0.75f) << i;
}

}  // namespace
}  // namespace densekit
