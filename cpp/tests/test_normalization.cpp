// Normalization's kernels and layer against double-precision arithmetic: the map, its inverse,
// the input gradient, and features that share a statistic.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/kernels/normalization.hpp"
#include "densekit/layers/normalization.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

using test::random_matrix;

// Six features, three statistics: feature j uses statistic j % 3 (a (2, 3) sample, axis=-1).
struct Shared {
  std::vector<Index> stat_of_feature{0, 1, 2, 0, 1, 2};
  std::vector<double> mean{0.5, -2.0, 3.0};
  std::vector<double> variance{4.0, 0.0, 2.25};  // the second spread falls back on epsilon
  static constexpr double epsilon = 1e-3;

  NormalizationLayer layer(bool invert) const {
    NormalizationLayer l(stat_of_feature, 3, invert, Scalar(epsilon));
    for (Index s = 0; s < 3; ++s) {
      l.parameters()[0]->value(0, s) = Scalar(mean[s]);
      l.parameters()[1]->value(0, s) = Scalar(variance[s]);
    }
    return l;
  }
  double spread(Index j) const {
    return std::max(std::sqrt(variance[stat_of_feature[j]]), epsilon);
  }
};

TEST(Normalization, StandardizesAndInvertsPerStatistic) {
  const Shared shared;
  std::mt19937 rng(3);
  const RowMatrix x = random_matrix(5, 6, rng, -4, 4);
  for (bool invert : {false, true}) {
    NormalizationLayer layer = shared.layer(invert);
    RowMatrix y(5, 6);
    layer.forward(x, y, /*training=*/true);
    for (Index r = 0; r < 5; ++r)
      for (Index j = 0; j < 6; ++j) {
        const double m = shared.mean[shared.stat_of_feature[j]];
        const double want =
            invert ? x(r, j) * shared.spread(j) + m : (x(r, j) - m) / shared.spread(j);
        EXPECT_NEAR(y(r, j), want, 1e-6 * std::max(1.0, std::abs(want))) << r << "," << j;
      }
  }
}

TEST(Normalization, InputGradientIsTheSlope) {
  const Shared shared;
  std::mt19937 rng(4);
  const RowMatrix x = random_matrix(4, 6, rng, -1, 1);
  const RowMatrix dy = random_matrix(4, 6, rng, -1, 1);
  for (bool invert : {false, true}) {
    NormalizationLayer layer = shared.layer(invert);
    RowMatrix y(4, 6), dx(4, 6);
    layer.forward(x, y, true);
    layer.backward(x, y, dy, dx, true, false);
    for (Index r = 0; r < 4; ++r)
      for (Index j = 0; j < 6; ++j) {
        const double slope = invert ? shared.spread(j) : 1.0 / shared.spread(j);
        EXPECT_NEAR(dx(r, j), dy(r, j) * slope, 1e-6 * std::max(1.0, std::abs(dy(r, j) * slope)));
      }
  }
}

TEST(Normalization, VariablesStartAsKerasAndBadLayoutsAreRefused) {
  NormalizationLayer layer({0, 0}, 1, false, 1e-7f);
  ASSERT_EQ(layer.parameters().size(), 3u);
  EXPECT_EQ(layer.parameters()[0]->name, "mean");
  EXPECT_EQ(layer.parameters()[0]->value(0, 0), 0.0f);
  EXPECT_EQ(layer.parameters()[1]->value(0, 0), 1.0f);
  EXPECT_EQ(layer.parameters()[2]->name, "count");
  for (const auto& p : layer.parameters()) EXPECT_FALSE(p->trainable);
  EXPECT_THROW(NormalizationLayer({0, 2}, 2, false, 1e-7f), ValueError);
  EXPECT_THROW(NormalizationLayer({}, 1, false, 1e-7f), ValueError);
  EXPECT_THROW(NormalizationLayer({0}, 1, false, 0.0f), ValueError);
}

}  // namespace
}  // namespace densekit
