// The penalty kernels against double-precision references and central differences.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "densekit/error.hpp"
#include "densekit/kernels/penalties.hpp"
#include "densekit/regularization.hpp"
#include "test_util.hpp"

using namespace densekit;

namespace {

double value_of(const PenaltySpec& spec, const RowMatrix& w) {
  PenaltyScratch scratch;
  scratch.reserve(spec, w.rows(), w.cols());
  return penalty_value(spec, w, scratch);
}

// ∂P/∂w by central differences in float (h = 1e-2 keeps the rounding small against it).
RowMatrix numeric_gradient(const PenaltySpec& spec, const RowMatrix& w) {
  RowMatrix g(w.rows(), w.cols());
  const float h = 1e-2f;
  for (Index i = 0; i < w.size(); ++i) {
    RowMatrix up = w, down = w;
    up.data()[i] += h;
    down.data()[i] -= h;
    g.data()[i] = float((value_of(spec, up) - value_of(spec, down)) / (2 * h));
  }
  return g;
}

}  // namespace

TEST(Penalties, L1L2ValueIsTheWeightedSums) {
  RowMatrix w(2, 2);
  w << 1, -2, 0, 3;
  // 0.5 (1 + 2 + 0 + 3) + 0.25 (1 + 4 + 0 + 9) = 3 + 3.5 = 6.5
  EXPECT_DOUBLE_EQ(value_of(PenaltySpec{PenaltyKind::l1_l2, 0.5, 0.25, 0, false}, w), 6.5);
}

TEST(Penalties, L1L2GradientAddsSignAndTwiceL2W) {
  RowMatrix w(1, 3);
  w << -2, 0, 4;
  RowMatrix g = RowMatrix::Ones(1, 3);
  PenaltyScratch scratch;
  penalty_add_gradient(PenaltySpec{PenaltyKind::l1_l2, 0.5, 0.25, 0, false}, w, g, 1.0, scratch);
  // 1 + 0.5 sign(w) + 0.5 w: 1 - 0.5 - 1, 1 + 0 + 0, 1 + 0.5 + 2
  EXPECT_FLOAT_EQ(g(0, 0), -0.5f);
  EXPECT_FLOAT_EQ(g(0, 1), 1.0f);
  EXPECT_FLOAT_EQ(g(0, 2), 3.5f);
}

TEST(Penalties, OrthogonalOfParallelRowsIsTheFactor) {
  // Three equal rows: every |n_i . n_k| = 1, so factor / 2 · 6 / 3 = factor.
  RowMatrix w = RowMatrix::Constant(3, 4, 2.0f);
  EXPECT_NEAR(value_of(PenaltySpec{PenaltyKind::orthogonal, 0, 0, 0.3, false}, w), 0.3, 1e-6);
  EXPECT_NEAR(
      value_of(PenaltySpec{PenaltyKind::orthogonal, 0, 0, 0.3, false}, RowMatrix::Identity(3, 3)),
      0.0, 1e-7);
}

TEST(Penalties, OrthogonalGradientMatchesCentralDifferences) {
  std::mt19937 rng(3);
  const RowMatrix w = test::random_matrix(5, 4, rng, -1, 1);
  for (bool columns : {false, true}) {
    const PenaltySpec spec{PenaltyKind::orthogonal, 0, 0, 0.5, columns};
    PenaltyScratch scratch;
    scratch.reserve(spec, w.rows(), w.cols());
    RowMatrix g = RowMatrix::Zero(w.rows(), w.cols());
    penalty_add_gradient(spec, w, g, 1.0, scratch);
    const RowMatrix numeric = numeric_gradient(spec, w);
    for (Index i = 0; i < w.size(); ++i)
      EXPECT_NEAR(g.data()[i], numeric.data()[i], 2e-3) << "columns=" << columns << " i=" << i;
  }
}

TEST(Penalties, ChecksRefuseNegativeFactorsAndSingleRows) {
  EXPECT_THROW(check_penalty(PenaltySpec{PenaltyKind::l1_l2, -1, 0, 0, false}, 2, 2, "t"),
               ValueError);
  EXPECT_THROW(check_penalty(PenaltySpec{PenaltyKind::l1_l2, 0, NAN, 0, false}, 2, 2, "t"),
               ValueError);
  EXPECT_THROW(check_penalty(PenaltySpec{PenaltyKind::orthogonal, 0, 0, 0.1, true}, 3, 1, "t"),
               ValueError);
  EXPECT_NO_THROW(check_penalty(PenaltySpec{PenaltyKind::orthogonal, 0, 0, 0.1, false}, 2, 1, "t"));
}

TEST(Penalties, ActivityPenaltyIsDividedByTheBatch) {
  ActivityPenalty activity;
  activity.set(PenaltySpec{PenaltyKind::l1_l2, 0, 1, 0, false}, "t");
  RowMatrix y = RowMatrix::Constant(4, 2, 2.0f);  // Σ y² = 32, / 4 rows = 8
  RowMatrix dy = RowMatrix::Zero(4, 2);
  EXPECT_DOUBLE_EQ(activity.add_gradient(y, dy, 4), 8.0);
  EXPECT_FLOAT_EQ(dy(0, 0), 1.0f);  // 2 y / 4
  EXPECT_THROW(activity.set(PenaltySpec{PenaltyKind::orthogonal, 0, 0, 0.1, false}, "t"),
               ValueError);
}
