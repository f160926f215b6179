// Loss kernels against float64 oracles transcribed from Keras 3 (keras/src/losses/losses.py and
// the backend's crossentropy functions), gradients against central finite differences of those
// oracles, the fused softmax/sigmoid gradient against finite differences through the activation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/kernels/losses.hpp"
#include "densekit/parallel.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

using test::expect_close;
using test::MatD;
using test::numeric_gradient;
using test::random_labels;
using test::random_matrix;
using test::to_double;

constexpr double kEpsD = 1e-7;  // Keras's backend.epsilon()

LossSpec spec(LossKind kind, bool from_logits = false) { return LossSpec{kind, from_logits}; }

std::string name_of(const LossSpec& s) {
  const char* names[] = {"sparse_categorical_crossentropy", "categorical_crossentropy",
                         "binary_crossentropy", "mean_squared_error"};
  return std::string(names[static_cast<int>(s.kind)]) + (s.from_logits ? " (logits)" : "");
}

// Target weight of class j in row r, one-hot for the sparse loss.
double target_at(const LossSpec& s, const MatD& t, Index r, Index j) {
  if (s.kind == LossKind::sparse_categorical_crossentropy) return Index(t(r, 0)) == j ? 1.0 : 0.0;
  return t(r, j);
}

// The Keras 3 losses in float64, mean over the batch:
//   categorical, probabilities: q = p / Σp, c = clip(q, ε, 1-ε), l = -Σ t log c
//   categorical, logits:        l = -Σ t log_softmax(z)
//   binary, probabilities:      c = clip(p, ε, 1-ε), l = mean_j -(t log c + (1-t) log(1-c))
//   binary, logits:             l = mean_j max(z,0) - z t + log1p(e^{-|z|})
//   mean squared error:         l = mean_j (p - t)²
double reference_loss(const LossSpec& s, const MatD& pred, const MatD& t) {
  const Index n = pred.rows(), classes = pred.cols();
  double total = 0;
  for (Index r = 0; r < n; ++r) {
    double row = 0;
    switch (s.kind) {
      case LossKind::sparse_categorical_crossentropy:
      case LossKind::categorical_crossentropy: {
        if (s.from_logits) {
          double top = pred(r, 0), sum_exp = 0;
          for (Index j = 1; j < classes; ++j) top = std::max(top, pred(r, j));
          for (Index j = 0; j < classes; ++j) sum_exp += std::exp(pred(r, j) - top);
          const double lse = top + std::log(sum_exp);
          for (Index j = 0; j < classes; ++j) row -= target_at(s, t, r, j) * (pred(r, j) - lse);
        } else {
          double sum = 0;
          for (Index j = 0; j < classes; ++j) sum += pred(r, j);
          for (Index j = 0; j < classes; ++j) {
            const double c = std::clamp(pred(r, j) / sum, kEpsD, 1 - kEpsD);
            row -= target_at(s, t, r, j) * std::log(c);
          }
        }
        break;
      }
      case LossKind::binary_crossentropy:
        for (Index j = 0; j < classes; ++j) {
          const double z = pred(r, j), y = t(r, j);
          if (s.from_logits) {
            row += std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::abs(z)));
          } else {
            const double c = std::clamp(z, kEpsD, 1 - kEpsD);
            row -= y * std::log(c) + (1 - y) * std::log(1 - c);
          }
        }
        row /= classes;
        break;
      case LossKind::mean_squared_error:
        for (Index j = 0; j < classes; ++j) row += (pred(r, j) - t(r, j)) * (pred(r, j) - t(r, j));
        row /= classes;
        break;
    }
    total += row;
  }
  return total / n;
}

MatD softmax(const MatD& z) {
  MatD p(z.rows(), z.cols());
  for (Index r = 0; r < z.rows(); ++r) {
    double top = z(r, 0), sum = 0;
    for (Index j = 1; j < z.cols(); ++j) top = std::max(top, z(r, j));
    for (Index j = 0; j < z.cols(); ++j) sum += (p(r, j) = std::exp(z(r, j) - top));
    for (Index j = 0; j < z.cols(); ++j) p(r, j) /= sum;
  }
  return p;
}

MatD sigmoid(const MatD& z) {
  MatD p(z.rows(), z.cols());
  for (Index i = 0; i < z.size(); ++i) p.data()[i] = 1 / (1 + std::exp(-z.data()[i]));
  return p;
}

// A prediction and target for each loss: probabilities kept away from the clip range (so the
// finite differences see a smooth function), unnormalized for the categorical loss to exercise
// its division by Σp; soft targets, whose rows do not sum to 1 in the categorical case.
struct Case {
  LossSpec spec;
  RowMatrix pred, target;
};

std::vector<Case> cases(Index n, Index classes, std::mt19937& rng) {
  using K = LossKind;
  std::vector<Case> out;
  for (bool logits : {false, true}) {
    const double lo = logits ? -3 : 0.1, hi = logits ? 3 : 1;
    out.push_back({spec(K::sparse_categorical_crossentropy, logits),
                   random_matrix(n, classes, rng, lo, hi), random_labels(n, classes, rng)});
    RowMatrix one_hot = RowMatrix::Zero(n, classes);
    for (Index r = 0; r < n; ++r) one_hot(r, r % classes) = 1;
    out.push_back({spec(K::categorical_crossentropy, logits),
                   random_matrix(n, classes, rng, lo, hi), one_hot});
    out.push_back({spec(K::categorical_crossentropy, logits),
                   random_matrix(n, classes, rng, lo, hi), random_matrix(n, classes, rng, 0, 0.6)});
    out.push_back({spec(K::binary_crossentropy, logits),
                   random_matrix(n, classes, rng, logits ? -3 : 0.05, logits ? 3 : 0.95),
                   random_matrix(n, classes, rng, 0, 1)});
  }
  out.push_back({spec(K::mean_squared_error), random_matrix(n, classes, rng, -2, 2),
                 random_matrix(n, classes, rng, -2, 2)});
  return out;
}

TEST(Losses, ValuesMatchKerasDefinitionsInDouble) {
  std::mt19937 rng(1);
  for (Index n : {1, 5, 64})
    for (const Case& c : cases(n, 4, rng)) {
      const double expected = reference_loss(c.spec, to_double(c.pred), to_double(c.target));
      RowMatrix dpred(n, 4);
      EXPECT_NEAR(loss_value(c.spec, c.pred, c.target), expected, 1e-5 * (1 + expected))
          << name_of(c.spec);
      EXPECT_NEAR(loss_value_and_gradient(c.spec, c.pred, c.target, dpred), expected,
                  1e-5 * (1 + expected))
          << name_of(c.spec);
    }
}

// Hand-computed values. Sparse from probabilities, p = [0.2, 0.2, 0.6] (sums to 1), label 2:
// -log 0.6 = 0.5108256. Unnormalized p = [1, 1, 3]: q = [0.2, 0.2, 0.6], the same 0.5108256.
// Logits z = [0, 0, ln 3]: softmax = [1, 1, 3]/5, the same 0.5108256.
// Binary p = [0.8, 0.3], t = [1, 0]: (-log 0.8 - log 0.7)/2 = (0.2231436 + 0.3566749)/2 =
// 0.2899092. MSE p = [1, 2], t = [0, 4]: (1 + 4)/2 = 2.5.
TEST(Losses, HandComputedValues) {
  using K = LossKind;
  const RowMatrix label2 = RowMatrix::Constant(1, 1, 2);
  RowMatrix p(1, 3), p_unnormalized(1, 3), z(1, 3), one_hot(1, 3);
  p << 0.2f, 0.2f, 0.6f;
  p_unnormalized << 1, 1, 3;
  z << 0, 0, std::log(3.0f);
  one_hot << 0, 0, 1;
  EXPECT_NEAR(loss_value(spec(K::sparse_categorical_crossentropy), p, label2), 0.5108256, 1e-6);
  EXPECT_NEAR(loss_value(spec(K::sparse_categorical_crossentropy), p_unnormalized, label2),
              0.5108256, 1e-6);
  EXPECT_NEAR(loss_value(spec(K::sparse_categorical_crossentropy, true), z, label2), 0.5108256,
              1e-6);
  EXPECT_NEAR(loss_value(spec(K::categorical_crossentropy), p, one_hot), 0.5108256, 1e-6);
  EXPECT_NEAR(loss_value(spec(K::categorical_crossentropy, true), z, one_hot), 0.5108256, 1e-6);
  RowMatrix pb(1, 2), tb(1, 2), pm(1, 2), tm(1, 2);
  pb << 0.8f, 0.3f;
  tb << 1, 0;
  pm << 1, 2;
  tm << 0, 4;
  EXPECT_NEAR(loss_value(spec(K::binary_crossentropy), pb, tb), 0.2899092, 1e-6);
  EXPECT_NEAR(loss_value(spec(K::mean_squared_error), pm, tm), 2.5, 1e-6);
}

// A class the target does not name still decides whether the loss is finite, as in Keras, where
// its term is 0·log c. Row 1 has an infinite probability in a class that is not its label: its
// label's q = 0.5/∞ = 0 is clipped to ε and finite, but the other class's q = ∞/∞ is NaN.
TEST(Losses, ANaNProbabilityInAClassTheTargetDoesNotNameMakesTheLossNaN) {
  RowMatrix p(2, 3), labels(2, 1), one_hot = RowMatrix::Zero(2, 3);
  p << 0.2f, 0.2f, 0.6f,  //
      0.5f, std::numeric_limits<float>::infinity(), 0.5f;
  labels << 2, 0;
  one_hot(0, 2) = one_hot(1, 0) = 1;
  EXPECT_TRUE(std::isnan(loss_value(spec(LossKind::sparse_categorical_crossentropy), p, labels)));
  EXPECT_TRUE(std::isnan(loss_value(spec(LossKind::categorical_crossentropy), p, one_hot)));
  EXPECT_NEAR(
      loss_value(spec(LossKind::sparse_categorical_crossentropy), p.topRows(1), labels.topRows(1)),
      0.5108256, 1e-6);
}

// A probability of exactly 0 is clipped to ε: p = [1, 0], t = [0, 1] gives -log(1e-7) = 16.118096
// for the categorical loss, and for binary p = [0, 1], t = [1, 0]: two terms of -log(1e-7),
// mean 16.118096.
TEST(Losses, ProbabilitiesAreClippedToEpsilon) {
  RowMatrix p(1, 2), t(1, 2), dpred(1, 2);
  p << 1, 0;
  t << 0, 1;
  const LossSpec cat = spec(LossKind::categorical_crossentropy);
  EXPECT_NEAR(loss_value_and_gradient(cat, p, t, dpred), 16.118096, 1e-4);
  EXPECT_TRUE(dpred.allFinite());
  p << 0, 1;
  t << 1, 0;
  const LossSpec bin = spec(LossKind::binary_crossentropy);
  EXPECT_NEAR(loss_value_and_gradient(bin, p, t, dpred), 16.118096, 1e-4);
  EXPECT_TRUE(dpred.allFinite());
}

TEST(Losses, GradientsMatchFiniteDifferences) {
  std::mt19937 rng(2);
  for (Index n : {1, 6})
    for (const Case& c : cases(n, 4, rng)) {
      RowMatrix dpred(n, 4);
      loss_value_and_gradient(c.spec, c.pred, c.target, dpred);
      MatD pd = to_double(c.pred);
      const MatD td = to_double(c.target);
      const MatD numeric =
          numeric_gradient(pd, [&] { return reference_loss(c.spec, pd, td); }, 1e-6);
      expect_close(dpred, numeric, 1e-4, name_of(c.spec) + " n=" + std::to_string(n));
    }
}

// fused_probability_loss_gradient(p = softmax(z)) = ∂ loss(softmax(z)) / ∂z, and the same with
// sigmoid for binary cross-entropy; the loss it returns is the loss of the probabilities.
TEST(Losses, FusedGradientMatchesFiniteDifferencesThroughTheActivation) {
  std::mt19937 rng(3);
  const Index n = 5, classes = 4;
  for (const Case& c : cases(n, classes, rng)) {
    if (c.spec.from_logits || c.spec.kind == LossKind::mean_squared_error) continue;
    const bool binary = c.spec.kind == LossKind::binary_crossentropy;
    MatD zd = to_double(random_matrix(n, classes, rng, -3, 3));
    const MatD td = to_double(c.target);
    auto activation = [&](const MatD& z) { return binary ? sigmoid(z) : softmax(z); };
    const RowMatrix prob = activation(zd).cast<Scalar>();
    RowMatrix dz(n, classes);
    const Scalar loss = fused_probability_loss_gradient(c.spec, prob, c.target, dz);
    const double expected = reference_loss(c.spec, activation(zd), td);
    EXPECT_NEAR(loss, expected, 1e-5 * (1 + expected)) << name_of(c.spec);
    const MatD numeric =
        numeric_gradient(zd, [&] { return reference_loss(c.spec, activation(zd), td); }, 1e-6);
    expect_close(dz, numeric, 1e-4, "fused " + name_of(c.spec));
  }
}

TEST(Losses, FusedGradientRejectsLogitsAndMeanSquaredError) {
  RowMatrix p = RowMatrix::Constant(2, 3, 1.0f / 3), t = RowMatrix::Zero(2, 3), dz(2, 3);
  EXPECT_THROW(
      fused_probability_loss_gradient(spec(LossKind::categorical_crossentropy, true), p, t, dz),
      ValueError);
  EXPECT_THROW(fused_probability_loss_gradient(spec(LossKind::mean_squared_error), p, t, dz),
               ValueError);
}

// z = [1e4, -1e4, 0], label 1: logsumexp = 1e4 (the other terms underflow), loss = 1e4 - (-1e4) =
// 2e4; gradient softmax - one_hot = [1, 0, 0] - [0, 1, 0] = [1, -1, 0]. Binary logits z = [1e4,
// -1e4], t = [0, 0]: (1e4 + 0)/2 = 5e3; gradient (σ(z) - t)/2 = [0.5, 0].
TEST(Losses, ExtremeLogitsGiveFiniteLossAndGradient) {
  RowMatrix z(1, 3), dz(1, 3);
  z << 1e4f, -1e4f, 0;
  const RowMatrix label1 = RowMatrix::Constant(1, 1, 1);
  const RowMatrix one_hot = (RowMatrix(1, 3) << 0, 1, 0).finished();
  for (const LossSpec& s : {spec(LossKind::sparse_categorical_crossentropy, true),
                            spec(LossKind::categorical_crossentropy, true)}) {
    const RowMatrix& t = s.kind == LossKind::sparse_categorical_crossentropy ? label1 : one_hot;
    const Scalar loss = loss_value_and_gradient(s, z, t, dz);
    EXPECT_TRUE(std::isfinite(loss)) << name_of(s);
    EXPECT_NEAR(loss, 2e4, 1e-2) << name_of(s);
    expect_close(dz, (MatD(1, 3) << 1, -1, 0).finished(), 1e-6, name_of(s));
  }
  RowMatrix zb(1, 2), tb = RowMatrix::Zero(1, 2), dzb(1, 2);
  zb << 1e4f, -1e4f;
  const Scalar loss =
      loss_value_and_gradient(spec(LossKind::binary_crossentropy, true), zb, tb, dzb);
  EXPECT_NEAR(loss, 5e3, 1e-3);
  expect_close(dzb, (MatD(1, 2) << 0.5, 0).finished(), 1e-6, "binary logits");
  // Positive targets on the far side: z = [-1e4, 1e4], t = [1, 0]: (1e4 + 1e4)/2 = 1e4, dz = [-0.5,
  // 0.5].
  zb << -1e4f, 1e4f;
  tb << 1, 0;
  EXPECT_NEAR(loss_value_and_gradient(spec(LossKind::binary_crossentropy, true), zb, tb, dzb), 1e4,
              1e-2);
  expect_close(dzb, (MatD(1, 2) << -0.5, 0.5).finished(), 1e-6, "binary logits, far side");
}

// Sparse: pred argmax per row = 1, 0, 2, 1, 0 (first of a tie, as Keras's argmax);
// labels 1, 2, 2, 0, 0 → hits 1 + 0 + 1 + 0 + 1 = 3.
// Categorical: the same pred against one-hot argmax 1, 0, 2, 2, 1 → hits 1 + 1 + 1 + 0 + 0 = 3.
// Binary: row 0 p = [0.9, 0.2] t = [1, 0]: 2/2 = 1; row 1 p = [0.4, 0.6] t = [1, 1]: 1/2;
// row 2 p = [0.5, 0.51] t = [0, 1]: 0.5 is not > 0.5, so [0, 1], 2/2 = 1. Total 1 + 0.5 + 1 = 2.5.
TEST(Losses, AccuracySumHandCases) {
  RowMatrix pred(5, 3), labels(5, 1), one_hot = RowMatrix::Zero(5, 3);
  pred << 0.1f, 0.7f, 0.2f,  //
      0.5f, 0.3f, 0.2f,      //
      0.2f, 0.2f, 0.6f,      //
      0.3f, 0.4f, 0.3f,      //
      0.4f, 0.4f, 0.2f;
  labels << 1, 2, 2, 0, 0;
  const Index hot[] = {1, 0, 2, 2, 1};
  for (Index r = 0; r < 5; ++r) one_hot(r, hot[r]) = 1;
  EXPECT_EQ(accuracy_sum(AccuracyKind::sparse_categorical, pred, labels), 3.0);
  EXPECT_EQ(accuracy_sum(AccuracyKind::categorical, pred, one_hot), 3.0);
  RowMatrix pb(3, 2), tb(3, 2);
  pb << 0.9f, 0.2f, 0.4f, 0.6f, 0.5f, 0.51f;
  tb << 1, 0, 1, 1, 0, 1;
  EXPECT_EQ(accuracy_sum(AccuracyKind::binary, pb, tb), 2.5);
}

TEST(Losses, CheckSparseLabelsRejectsNonClassValues) {
  const Index classes = 3;
  auto labels = [](std::initializer_list<float> values) {
    RowMatrix m(static_cast<Index>(values.size()), 1);
    Index i = 0;
    for (float v : values) m(i++, 0) = v;
    return m;
  };
  EXPECT_NO_THROW(check_sparse_labels(labels({0, 1, 2}), classes));
  EXPECT_THROW(check_sparse_labels(labels({0, -1, 2}), classes), ValueError);
  EXPECT_THROW(check_sparse_labels(labels({0, 3}), classes), ValueError);  // == classes
  EXPECT_THROW(check_sparse_labels(labels({1.5f}), classes), ValueError);
  EXPECT_THROW(check_sparse_labels(labels({std::nanf("")}), classes), ValueError);
}

TEST(Losses, MultiThreadedMatchesSingleThreaded) {
  test::ThreadsGuard guard;
  std::mt19937 rng(4);
  const Index n = 4096, classes = 10;  // 40960 elements: above the OpenMP threshold
  for (const Case& c : cases(n, classes, rng)) {
    auto run = [&](int threads, RowMatrix& dpred) {
      set_num_threads(threads);
      return loss_value_and_gradient(c.spec, c.pred, c.target, dpred);
    };
    RowMatrix one(n, classes), two(n, classes);
    const Scalar l1 = run(1, one), l2 = run(2, two);
    EXPECT_NEAR(l2, l1, 1e-6 * std::abs(l1)) << name_of(c.spec);
    EXPECT_EQ(one, two) << name_of(c.spec);  // rows are independent
  }
}

TEST(Losses, BadShapesThrowShapeError) {
  const RowMatrix pred = RowMatrix::Constant(3, 4, 0.25f), t = RowMatrix::Zero(3, 4);
  RowMatrix dpred(3, 4), wrong_dpred(3, 3);
  const LossSpec cat = spec(LossKind::categorical_crossentropy);
  EXPECT_THROW(loss_value(cat, pred, RowMatrix::Zero(3, 3)), ShapeError);  // target cols != classes
  EXPECT_THROW(loss_value(cat, pred, RowMatrix::Zero(2, 4)), ShapeError);  // target rows != batch
  EXPECT_THROW(loss_value(spec(LossKind::sparse_categorical_crossentropy), pred, t),
               ShapeError);  // not (n, 1)
  EXPECT_THROW(loss_value_and_gradient(cat, pred, t, wrong_dpred), ShapeError);
  EXPECT_THROW(loss_value(cat, RowMatrix(0, 4), RowMatrix(0, 4)), ShapeError);  // empty batch
  EXPECT_THROW(accuracy_sum(AccuracyKind::categorical, pred, RowMatrix::Zero(3, 2)), ShapeError);
  EXPECT_THROW(loss_kind_from_name("hinge"), ValueError);
  EXPECT_EQ(loss_kind_from_name("mse"), LossKind::mean_squared_error);
}

// Keras 3's weighted reduction ("sum_over_batch_size"): Σ_r w_r l_r / n, over the batch size and
// not over Σ w, in float64 from the unweighted per-row oracle.
double reference_weighted_loss(const LossSpec& s, const MatD& pred, const MatD& t,
                               const std::vector<double>& w) {
  double total = 0;
  for (Index r = 0; r < pred.rows(); ++r)
    total += w[size_t(r)] * reference_loss(s, pred.middleRows(r, 1), t.middleRows(r, 1));
  return total / double(pred.rows());
}

RowVector as_weights(const std::vector<double>& w) {
  RowVector v(Index(w.size()));
  for (size_t i = 0; i < w.size(); ++i) v[Index(i)] = Scalar(w[i]);
  return v;
}

TEST(WeightedLosses, ValuesAndGradientsMatchTheWeightedOracle) {
  std::mt19937 rng(5);
  const Index n = 6, classes = 4;
  // Zero, fractional and large weights; their sum (6.75) differs from n, so dividing by Σ w
  // instead of n would fail.
  const std::vector<double> w = {0.0, 0.5, 1.0, 2.0, 0.25, 3.0};
  const RowVector wv = as_weights(w);
  for (const Case& c : cases(n, classes, rng)) {
    MatD pd = to_double(c.pred);
    const MatD td = to_double(c.target);
    const double expected = reference_weighted_loss(c.spec, pd, td, w);
    EXPECT_NEAR(loss_value(c.spec, c.pred, c.target, wv), expected, 1e-5 * (1 + expected))
        << name_of(c.spec);
    RowMatrix dpred(n, classes);
    EXPECT_NEAR(loss_value_and_gradient(c.spec, c.pred, c.target, wv, dpred), expected,
                1e-5 * (1 + expected))
        << name_of(c.spec);
    const MatD numeric =
        numeric_gradient(pd, [&] { return reference_weighted_loss(c.spec, pd, td, w); }, 1e-6);
    expect_close(dpred, numeric, 1e-4, "weighted " + name_of(c.spec));
    EXPECT_TRUE((dpred.row(0).array() == 0).all()) << "a zero weight gives a zero gradient";
  }
}

TEST(WeightedLosses, FusedGradientMatchesTheWeightedOracleThroughTheActivation) {
  std::mt19937 rng(6);
  const Index n = 5, classes = 3;
  const std::vector<double> w = {1.5, 0.0, 0.2, 4.0, 1.0};
  for (const Case& c : cases(n, classes, rng)) {
    if (c.spec.from_logits || c.spec.kind == LossKind::mean_squared_error) continue;
    const bool binary = c.spec.kind == LossKind::binary_crossentropy;
    MatD zd = to_double(random_matrix(n, classes, rng, -3, 3));
    const MatD td = to_double(c.target);
    auto activation = [&](const MatD& z) { return binary ? sigmoid(z) : softmax(z); };
    const RowMatrix prob = activation(zd).cast<Scalar>();
    RowMatrix dz(n, classes);
    const Scalar loss = fused_probability_loss_gradient(c.spec, prob, c.target, as_weights(w), dz);
    const double expected = reference_weighted_loss(c.spec, activation(zd), td, w);
    EXPECT_NEAR(loss, expected, 1e-5 * (1 + expected)) << name_of(c.spec);
    const MatD numeric = numeric_gradient(
        zd, [&] { return reference_weighted_loss(c.spec, activation(zd), td, w); }, 1e-6);
    expect_close(dz, numeric, 1e-4, "weighted fused " + name_of(c.spec));
  }
}

// Weights of exactly 1 multiply by 1.0f: the same bits as no weights, in every kernel.
TEST(WeightedLosses, AllOnesWeightsGiveTheUnweightedBits) {
  std::mt19937 rng(7);
  const Index n = 7, classes = 3;
  const RowVector ones = RowVector::Ones(n);
  for (const Case& c : cases(n, classes, rng)) {
    RowMatrix plain(n, classes), weighted(n, classes);
    EXPECT_EQ(loss_value(c.spec, c.pred, c.target), loss_value(c.spec, c.pred, c.target, ones));
    EXPECT_EQ(loss_value_and_gradient(c.spec, c.pred, c.target, plain),
              loss_value_and_gradient(c.spec, c.pred, c.target, ones, weighted));
    EXPECT_TRUE(plain == weighted) << name_of(c.spec);
    if (c.spec.from_logits || c.spec.kind == LossKind::mean_squared_error) continue;
    EXPECT_EQ(fused_probability_loss_gradient(c.spec, c.pred, c.target, plain),
              fused_probability_loss_gradient(c.spec, c.pred, c.target, ones, weighted));
    EXPECT_TRUE(plain == weighted) << "fused " << name_of(c.spec);
  }
}

// Hand case: MSE rows with losses 1 and 4 (p = [1], [2]; t = [0], [4]), weights 3 and 0.5:
// (3·1 + 0.5·4) / 2 = 2.5, where dividing by Σ w = 3.5 would give 1.4286.
TEST(WeightedLosses, DividesByTheBatchSizeNotTheWeightSum) {
  RowMatrix p(2, 1), t(2, 1), dpred(2, 1);
  p << 1, 2;
  t << 0, 4;
  RowVector w(2);
  w << 3, 0.5f;
  const LossSpec mse = spec(LossKind::mean_squared_error);
  EXPECT_FLOAT_EQ(loss_value(mse, p, t, w), 2.5f);
  // ∂/∂p = w · 2 (p - t) / n: 3 · 2 · 1 / 2 = 3 and 0.5 · 2 · (-2) / 2 = -1.
  EXPECT_FLOAT_EQ(loss_value_and_gradient(mse, p, t, w, dpred), 2.5f);
  EXPECT_FLOAT_EQ(dpred(0, 0), 3.0f);
  EXPECT_FLOAT_EQ(dpred(1, 0), -1.0f);
}

TEST(WeightedLosses, WrongWeightCountThrowsShapeError) {
  const RowMatrix pred = RowMatrix::Constant(3, 4, 0.25f), t = RowMatrix::Zero(3, 4);
  RowMatrix dpred(3, 4);
  const LossSpec cat = spec(LossKind::categorical_crossentropy);
  EXPECT_THROW(loss_value(cat, pred, t, RowVector::Ones(2)), ShapeError);
  EXPECT_THROW(loss_value_and_gradient(cat, pred, t, RowVector::Ones(4), dpred), ShapeError);
  EXPECT_THROW(fused_probability_loss_gradient(cat, pred, t, RowVector::Ones(1), dpred),
               ShapeError);
}

}  // namespace
}  // namespace densekit
