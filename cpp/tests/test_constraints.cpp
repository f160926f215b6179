// The constraint kernels against hand-computed projections, for each norm axis.
#include <gtest/gtest.h>

#include "densekit/error.hpp"
#include "densekit/kernels/constraints.hpp"

using namespace densekit;

namespace {

RowMatrix constrained(const ConstraintSpec& spec, RowMatrix w) {
  Eigen::VectorXd norms(constraint_norm_count(spec, w.rows(), w.cols()));
  apply_constraint(spec, w, norms);
  return w;
}

RowMatrix three_four() {
  RowMatrix w(2, 2);
  w << 3, 0.3f, 4, 0.4f;  // column norms 5 and 0.5; row norms √9.09 and √16.16
  return w;
}

}  // namespace

TEST(Constraints, MaxNormOverRowsShrinksOnlyLargeColumns) {
  const RowMatrix out =
      constrained({ConstraintKind::max_norm, 0, 2, 1, NormAxis::over_rows}, three_four());
  EXPECT_NEAR(out(0, 0), 1.2f, 1e-6);  // 3 · 2 / 5
  EXPECT_NEAR(out(1, 0), 1.6f, 1e-6);
  EXPECT_NEAR(out(0, 1), 0.3f, 1e-6);  // 0.5 <= 2: 0.3 · 0.5 / (ε + 0.5)
}

TEST(Constraints, UnitNormOverColumnsNormalizesEachRow) {
  const RowMatrix out =
      constrained({ConstraintKind::unit_norm, 0, 0, 1, NormAxis::over_columns}, three_four());
  for (Index r = 0; r < 2; ++r) EXPECT_NEAR(out.row(r).norm(), 1.0f, 1e-6);
  EXPECT_NEAR(out(0, 0) / out(0, 1), 10.0f, 1e-4);
}

TEST(Constraints, MinMaxNormOverAllMovesTheWholeNormByRate) {
  // Whole norm √(9 + 16 + 0.09 + 0.16) = √25.25; clipped to 2, rate 0.5: (2 + √25.25) / 2.
  const RowMatrix w = three_four();
  const RowMatrix out =
      constrained({ConstraintKind::min_max_norm, 1, 2, 0.5, NormAxis::over_all}, w);
  const double norm = std::sqrt(25.25);
  EXPECT_NEAR(out.norm(), (2 + norm) / 2, 1e-5);
  EXPECT_NEAR(out(1, 1) / w(1, 1), out(0, 0) / w(0, 0), 1e-6);
}

TEST(Constraints, MinMaxNormRaisesSmallNorms) {
  RowMatrix w(1, 2);
  w << 0.3f, 0.4f;  // norm 0.5 below min 1
  const RowMatrix out = constrained({ConstraintKind::min_max_norm, 1, 2, 1, NormAxis::over_all}, w);
  EXPECT_NEAR(out.norm(), 1.0f, 1e-6);
}

TEST(Constraints, NonNegZeroesNegatives) {
  RowMatrix w(1, 3);
  w << -1, 0, 2;
  const RowMatrix out = constrained({ConstraintKind::non_neg, 0, 0, 1, NormAxis::over_rows}, w);
  EXPECT_EQ(out(0, 0), 0.0f);
  EXPECT_EQ(out(0, 2), 2.0f);
}

TEST(Constraints, ChecksRefuseBadValues) {
  EXPECT_THROW(check_constraint({ConstraintKind::max_norm, 0, -1, 1, NormAxis::over_rows}, "t"),
               ValueError);
  EXPECT_THROW(check_constraint({ConstraintKind::min_max_norm, 2, 1, 1, NormAxis::over_rows}, "t"),
               ValueError);
  EXPECT_THROW(
      check_constraint({ConstraintKind::min_max_norm, 0, 1, 1.5, NormAxis::over_rows}, "t"),
      ValueError);
}
