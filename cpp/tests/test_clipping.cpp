// Gradient clipping on hand-computed cases, Keras 3 definitions:
//   clipvalue g ← clip(g, -v, v); clipnorm g ← g·c / max(‖g‖, c); global g_i ← g_i·c /
//   max(‖(g_1..g_k)‖, c).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/kernels/clipping.hpp"
#include "densekit/parallel.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

using test::expect_close;
using test::MatD;

RowMatrix matrix(Index rows, Index cols, std::initializer_list<float> values) {
  RowMatrix m(rows, cols);
  Index i = 0;
  for (float v : values) m.data()[i++] = v;
  return m;
}

// clip([-3, 0.5, 2, -0.2], -1, 1) = [-1, 0.5, 1, -0.2]: only the entries beyond ±1 move.
TEST(Clipping, ClipByValueClampsEachEntry) {
  RowMatrix g = matrix(2, 2, {-3, 0.5f, 2, -0.2f});
  clip_by_value(g, 1);
  EXPECT_EQ(g, matrix(2, 2, {-1, 0.5f, 1, -0.2f}));
  // Inside the range: unchanged.
  RowMatrix small = matrix(1, 3, {0.1f, -0.2f, 0.3f});
  const RowMatrix saved = small;
  clip_by_value(small, 0.5f);
  EXPECT_EQ(small, saved);
  EXPECT_THROW(clip_by_value(g, -1), ValueError);
}

// g = [3, 4]: ‖g‖ = √(9 + 16) = 5. clipnorm 1: g·1/5 = [0.6, 0.8].
TEST(Clipping, ClipByNormRescalesToTheNorm) {
  RowMatrix g = matrix(1, 2, {3, 4});
  clip_by_norm(g, 1);
  expect_close(g, matrix(1, 2, {0.6f, 0.8f}), 1e-7, "g");
  EXPECT_NEAR(std::sqrt(squared_norm(g)), 1.0, 1e-6);
}

// A matrix is clipped by its Frobenius norm: [[1, 2], [2, 4]] has ‖g‖ = √(1 + 4 + 4 + 16) = 5;
// clipnorm 2.5 halves it: [[0.5, 1], [1, 2]].
TEST(Clipping, ClipByNormUsesTheFrobeniusNormOfAMatrix) {
  RowMatrix g = matrix(2, 2, {1, 2, 2, 4});
  clip_by_norm(g, 2.5f);
  expect_close(g, matrix(2, 2, {0.5f, 1, 1, 2}), 1e-7, "g");
}

// ‖[3, 4]‖ = 5 is not above clipnorm 5 or 10: g·c / max(5, c) = g, unchanged bit for bit.
TEST(Clipping, ClipByNormLeavesGradientsWithinTheNormUnchanged) {
  for (float c : {5.0f, 10.0f}) {
    RowMatrix g = matrix(1, 2, {3, 4});
    clip_by_norm(g, c);
    EXPECT_EQ(g, matrix(1, 2, {3, 4})) << "clipnorm " << c;
  }
  RowMatrix zero = RowMatrix::Zero(2, 3);  // norm 0: no division by zero
  clip_by_norm(zero, 1);
  EXPECT_EQ(zero, RowMatrix::Zero(2, 3));
  EXPECT_THROW(clip_by_norm(zero, 0), ValueError);
  EXPECT_THROW(clip_by_norm(zero, -1), ValueError);
}

// squared_norm([[1, 2], [3, 4]]) = 1 + 4 + 9 + 16 = 30.
TEST(Clipping, SquaredNormSumsSquares) {
  EXPECT_EQ(squared_norm(matrix(2, 2, {1, 2, 3, 4})), 30.0);
  EXPECT_EQ(squared_norm(RowMatrix(0, 3)), 0.0);
}

// g1 = [3, 4] (‖g1‖ = 5), g2 = [[12]] (‖g2‖ = 12): global norm √(25 + 144) = 13. clip 6.5:
// both scaled by 6.5/13 = 0.5 → g1 = [1.5, 2], g2 = [[6]]. Per-variable clipnorm 6.5 would
// instead leave g1 alone (5 < 6.5) and set g2 to 6.5: the joint norm is what makes it global.
TEST(Clipping, ClipByGlobalNormScalesAllByTheJointNorm) {
  RowMatrix g1 = matrix(1, 2, {3, 4}), g2 = matrix(1, 1, {12});
  clip_by_global_norm({MatrixOut(g1), MatrixOut(g2)}, 6.5f);
  expect_close(g1, matrix(1, 2, {1.5f, 2}), 1e-7, "g1");
  expect_close(g2, matrix(1, 1, {6}), 1e-7, "g2");
}

// Two matrices: g1 = [[3, 0], [0, 0]], g2 = [[0], [4]]; joint norm √(9 + 16) = 5; clip 1 → / 5:
// g1 = [[0.6, 0], [0, 0]], g2 = [[0], [0.8]].
TEST(Clipping, ClipByGlobalNormOverMatricesOfDifferentShapes) {
  RowMatrix g1 = matrix(2, 2, {3, 0, 0, 0}), g2 = matrix(2, 1, {0, 4});
  std::vector<MatrixOut> grads{MatrixOut(g1), MatrixOut(g2)};
  clip_by_global_norm(grads, 1);
  expect_close(g1, matrix(2, 2, {0.6f, 0, 0, 0}), 1e-7, "g1");
  expect_close(g2, matrix(2, 1, {0, 0.8f}), 1e-7, "g2");
}

// Joint norm 13 is not above 13 or 20: unchanged. An empty list is a no-op.
TEST(Clipping, ClipByGlobalNormLeavesGradientsWithinTheNormUnchanged) {
  for (float c : {13.0f, 20.0f}) {
    RowMatrix g1 = matrix(1, 2, {3, 4}), g2 = matrix(1, 1, {12});
    clip_by_global_norm({MatrixOut(g1), MatrixOut(g2)}, c);
    EXPECT_EQ(g1, matrix(1, 2, {3, 4})) << c;
    EXPECT_EQ(g2, matrix(1, 1, {12})) << c;
  }
  EXPECT_NO_THROW(clip_by_global_norm({}, 1));
  RowMatrix g = matrix(1, 1, {1});
  EXPECT_THROW(clip_by_global_norm({MatrixOut(g)}, 0), ValueError);
}

// A NaN anywhere makes the joint norm NaN: the gradients are left as they are for the network's
// finiteness check to see, rather than scaled into all-NaN (Keras) or a partial mix.
TEST(Clipping, ClipByGlobalNormLeavesNonFiniteGradientsAsTheyAre) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  RowMatrix g1 = matrix(1, 2, {30, 40}), g2 = matrix(1, 1, {nan});
  clip_by_global_norm({MatrixOut(g1), MatrixOut(g2)}, 1);
  EXPECT_EQ(g1, matrix(1, 2, {30, 40}));
  EXPECT_TRUE(std::isnan(g2(0, 0)));
}

TEST(Clipping, MultiThreadedNormMatchesSingleThreaded) {
  test::ThreadsGuard guard;
  std::mt19937 rng(1);
  const RowMatrix g = test::random_matrix(784, 300, rng, -1, 1);
  set_num_threads(1);
  const double one = squared_norm(g);
  RowMatrix clipped_one = g;
  clip_by_norm(clipped_one, 1);
  set_num_threads(2);
  const double two = squared_norm(g);
  RowMatrix clipped_two = g;
  clip_by_norm(clipped_two, 1);
  EXPECT_NEAR(two, one, 1e-12 * one);
  test::expect_close_to_scale(clipped_two, clipped_one, 1e-6, "clipped");
  EXPECT_NEAR(std::sqrt(squared_norm(clipped_two)), 1.0, 1e-5);
}

}  // namespace
}  // namespace densekit

TEST(SquaredNorm, LargeFiniteValuesStayFiniteAndNonFiniteValuesShow) {
  // 1e25² = 1e50 overflows float but not double: the norm is finite, as the value is.
  densekit::RowMatrix g(1, 3);
  g << 1e25f, 0, 0;
  EXPECT_NEAR(densekit::squared_norm(g), 1e50, 1e44);
  g(0, 1) = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(std::isfinite(densekit::squared_norm(g)));
  g(0, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(std::isfinite(densekit::squared_norm(g)));
}
