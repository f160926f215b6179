// Batch normalization kernels and layer against float64 oracles: a naive double loop for the
// forward passes, central finite differences of L = Σ w ⊙ y for the backward passes.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/kernels/batch_norm.hpp"
#include "densekit/layers/batch_norm.hpp"
#include "densekit/parallel.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

using test::expect_close;
using test::MatD;
using test::numeric_gradient;
using VecD = Eigen::Matrix<double, 1, Eigen::Dynamic>;

constexpr Scalar kEps = 1e-3f;  // Keras's default epsilon
const RowVector kNone;          // gamma / beta of scale=False / center=False

RowMatrix random_matrix(Index rows, Index cols, std::mt19937& rng, double lo, double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  RowMatrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = Scalar(u(rng));
  return m;
}

RowVector random_vector(Index n, std::mt19937& rng, double lo, double hi) {
  return random_matrix(1, n, rng, lo, hi).row(0);
}

// Float64 oracle of the training forward; empty gamma / beta mean 1 / 0.
MatD reference_training(const MatD& x, const VecD& gamma, const VecD& beta, double eps,
                        VecD* mean_out = nullptr, VecD* var_out = nullptr) {
  const Index n = x.rows(), f = x.cols();
  MatD y(n, f);
  VecD mean(f), var(f);
  for (Index j = 0; j < f; ++j) {
    double m = 0, v = 0;
    for (Index i = 0; i < n; ++i) m += x(i, j);
    m /= n;
    for (Index i = 0; i < n; ++i) v += (x(i, j) - m) * (x(i, j) - m);
    v /= n;
    mean(j) = m;
    var(j) = v;
    for (Index i = 0; i < n; ++i) {
      const double x_hat = (x(i, j) - m) / std::sqrt(v + eps);
      y(i, j) = (gamma.size() ? gamma(j) : 1.0) * x_hat + (beta.size() ? beta(j) : 0.0);
    }
  }
  if (mean_out) *mean_out = mean;
  if (var_out) *var_out = var;
  return y;
}

MatD reference_inference(const MatD& x, const VecD& gamma, const VecD& beta, const VecD& mm,
                         const VecD& mv, double eps) {
  MatD y(x.rows(), x.cols());
  for (Index i = 0; i < x.rows(); ++i)
    for (Index j = 0; j < x.cols(); ++j)
      y(i, j) = (gamma.size() ? gamma(j) : 1.0) * (x(i, j) - mm(j)) / std::sqrt(mv(j) + eps) +
                (beta.size() ? beta(j) : 0.0);
  return y;
}

// L = Σ w ⊙ y. Plain loops in the oracles: GCC 12 warns (-Wmaybe-uninitialized, a false
// positive inside its AVX-512 intrinsics) on Eigen's vectorized double reductions.
double weighted_sum(const MatD& w, const MatD& y) {
  double total = 0;
  for (Index i = 0; i < w.size(); ++i) total += w.data()[i] * y.data()[i];
  return total;
}

// Σ_rows a ⊙ b, (1, cols).
MatD column_sums(const MatD& a, const MatD& b) {
  MatD sums = MatD::Zero(1, a.cols());
  for (Index i = 0; i < a.rows(); ++i)
    for (Index j = 0; j < a.cols(); ++j) sums(0, j) += a(i, j) * b(i, j);
  return sums;
}

MatD to_double(const RowMatrix& m) { return m.cast<double>(); }
VecD to_double(const RowVector& v) { return v.cast<double>(); }

// Restores the thread count however the test ends.
using test::ThreadsGuard;

TEST(BatchNormKernel, ForwardTrainingMatchesDoubleLoop) {
  std::mt19937 rng(1);
  const Index f = 70;  // two column tiles, the second partial
  for (Index n : {1, 2, 7, 64})
    for (bool center : {false, true})
      for (bool scale : {false, true}) {
        SCOPED_TRACE("n=" + std::to_string(n) + " center=" + std::to_string(center) +
                     " scale=" + std::to_string(scale));
        // An offset of 5 with a spread of 1 would break E[x²] - E[x]² in float.
        RowMatrix x = random_matrix(n, f, rng, 4.0, 6.0);
        RowVector gamma = scale ? random_vector(f, rng, 0.5, 1.5) : kNone;
        RowVector beta = center ? random_vector(f, rng, -1, 1) : kNone;
        RowVector mean(f), var(f), inv_std(f);
        RowMatrix x_hat(n, f), y(n, f);
        batch_norm_forward_training(x, gamma, beta, kEps, mean, var, inv_std, x_hat, y);

        VecD ref_mean, ref_var;
        MatD ref_y = reference_training(to_double(x), to_double(gamma), to_double(beta), kEps,
                                        &ref_mean, &ref_var);
        MatD ref_x_hat = reference_training(to_double(x), VecD(), VecD(), kEps);
        VecD ref_inv_std(f);
        for (Index j = 0; j < f; ++j) ref_inv_std(j) = 1 / std::sqrt(ref_var(j) + kEps);
        expect_close(y, ref_y, 2e-5, "y");
        expect_close(x_hat, ref_x_hat, 2e-5, "x_hat");
        expect_close(mean, ref_mean, 1e-6, "mean");
        expect_close(var, ref_var, 1e-5, "var");
        expect_close(inv_std, ref_inv_std, 1e-5, "inv_std");
      }
}

TEST(BatchNormKernel, BatchOfOneGivesZeroNormalizedInputAndNoNaN) {
  RowMatrix x(1, 3), dy(1, 3);
  x << 5, -2, 1e30f;
  dy << 1, 2, 3;
  RowVector gamma(3), beta(3), mean(3), var(3), inv_std(3), dgamma(3), dbeta(3);
  gamma << 2, 3, 4;
  beta << 0.5, -1, 7;
  RowMatrix x_hat(1, 3), y(1, 3), dx(1, 3);
  batch_norm_forward_training(x, gamma, beta, kEps, mean, var, inv_std, x_hat, y);
  batch_norm_backward_training(x_hat, dy, gamma, inv_std, dx, dgamma, dbeta);
  // σ² = 0, x̂ = 0: y = β;  dx = γ s (dy - dy - 0) = 0;  dγ = dy·0 = 0;  dβ = dy.
  EXPECT_TRUE(x_hat.isZero(0));
  EXPECT_EQ(y, RowMatrix(beta));
  EXPECT_TRUE(var.isZero(0));
  EXPECT_TRUE(dx.isZero(0));
  EXPECT_TRUE(dgamma.isZero(0));
  EXPECT_EQ(dbeta, RowVector(dy.row(0)));

  // epsilon = 0 on a constant feature: inv_std is defined as 0 rather than 1/0.
  batch_norm_forward_training(x, gamma, beta, 0, mean, var, inv_std, x_hat, y);
  EXPECT_TRUE(inv_std.isZero(0));
  EXPECT_TRUE(y.allFinite());
  EXPECT_EQ(y, RowMatrix(beta));
}

TEST(BatchNormKernel, UpdateMovingMatchesHandComputedValues) {
  RowVector moving_mean(2), moving_var(2), mean(2), var(2);
  moving_mean << 0, 2;
  moving_var << 1, 0.5;
  mean << 1, -1;
  var << 4, 0;
  batch_norm_update_moving(moving_mean, moving_var, mean, var, 0.9f);
  // moving_mean = [0·0.9 + 1·0.1, 2·0.9 + (-1)·0.1] = [0.1, 1.7]
  // moving_var  = [1·0.9 + 4·0.1, 0.5·0.9 + 0·0.1]  = [1.3, 0.45]
  EXPECT_NEAR(moving_mean(0), 0.1, 1e-7);
  EXPECT_NEAR(moving_mean(1), 1.7, 1e-6);
  EXPECT_NEAR(moving_var(0), 1.3, 1e-6);
  EXPECT_NEAR(moving_var(1), 0.45, 1e-7);
}

TEST(BatchNormKernel, BackwardTrainingMatchesFiniteDifferences) {
  std::mt19937 rng(2);
  const Index f = 5;
  for (Index n : {2, 7, 16})
    for (bool center : {false, true})
      for (bool scale : {false, true}) {
        SCOPED_TRACE("n=" + std::to_string(n) + " center=" + std::to_string(center) +
                     " scale=" + std::to_string(scale));
        RowMatrix x = random_matrix(n, f, rng, -2, 2), w = random_matrix(n, f, rng, -1, 1);
        RowVector gamma = scale ? random_vector(f, rng, 0.5, 1.5) : kNone;
        RowVector beta = center ? random_vector(f, rng, -1, 1) : kNone;
        RowVector mean(f), var(f), inv_std(f), dgamma(f), dbeta(f);
        RowMatrix x_hat(n, f), y(n, f), dx(n, f);
        batch_norm_forward_training(x, gamma, beta, kEps, mean, var, inv_std, x_hat, y);
        // dy = ∂(Σ w ⊙ y)/∂y = w.
        RowVector skip;
        batch_norm_backward_training(x_hat, w, gamma, inv_std, dx, scale ? dgamma : skip,
                                     center ? dbeta : skip);

        MatD xd = to_double(x), wd = to_double(w);
        VecD gd = to_double(gamma), bd = to_double(beta);
        auto loss = [&] { return weighted_sum(wd, reference_training(xd, gd, bd, kEps)); };
        expect_close(dx, numeric_gradient(xd, loss), 1e-4, "dx");
        if (scale) expect_close(dgamma, numeric_gradient(gd, loss), 1e-4, "dgamma");
        if (center) expect_close(dbeta, numeric_gradient(bd, loss), 1e-4, "dbeta");
      }
}

TEST(BatchNormKernel, BackwardTrainingSkipsEmptyOutputs) {
  std::mt19937 rng(3);
  RowMatrix x = random_matrix(9, 4, rng, -1, 1), dy = random_matrix(9, 4, rng, -1, 1);
  RowVector gamma = random_vector(4, rng, 0.5, 1.5), beta = random_vector(4, rng, -1, 1);
  RowVector mean(4), var(4), inv_std(4), dgamma(4), dbeta(4), dgamma2(4), dbeta2(4), skip;
  RowMatrix x_hat(9, 4), y(9, 4), dx(9, 4), dx2(9, 4), none(0, 4);
  batch_norm_forward_training(x, gamma, beta, kEps, mean, var, inv_std, x_hat, y);
  batch_norm_backward_training(x_hat, dy, gamma, inv_std, dx, dgamma, dbeta);
  batch_norm_backward_training(x_hat, dy, gamma, inv_std, none, dgamma2, dbeta2);
  batch_norm_backward_training(x_hat, dy, gamma, inv_std, dx2, skip, skip);
  EXPECT_EQ(dgamma, dgamma2);
  EXPECT_EQ(dbeta, dbeta2);
  EXPECT_EQ(dx, dx2);
  // dx may overwrite dy.
  RowMatrix in_place = dy;
  batch_norm_backward_training(x_hat, in_place, gamma, inv_std, in_place, skip, skip);
  EXPECT_EQ(in_place, dx);
}

TEST(BatchNormKernel, InferenceForwardUsesMovingStatistics) {
  RowMatrix x(1, 2), y(1, 2);
  x << 3, 2.5;
  RowVector gamma(2), beta(2), mm(2), mv(2);
  gamma << 2, 1;
  beta << 0.5, -1;
  mm << 1, 2;
  mv << 3.999, 0.249;  // + ε = 4 and 0.25, standard deviations 2 and 0.5
  batch_norm_forward_inference(x, gamma, beta, mm, mv, kEps, y);
  // y = [2·(3 - 1)/2 + 0.5, 1·(2.5 - 2)/0.5 - 1] = [2.5, 0]
  EXPECT_NEAR(y(0, 0), 2.5, 1e-5);
  EXPECT_NEAR(y(0, 1), 0.0, 1e-5);

  std::mt19937 rng(4);
  for (bool center : {false, true})
    for (bool scale : {false, true}) {
      RowMatrix xs = random_matrix(33, 70, rng, -3, 3), ys(33, 70);
      RowVector g = scale ? random_vector(70, rng, 0.5, 1.5) : kNone;
      RowVector b = center ? random_vector(70, rng, -1, 1) : kNone;
      RowVector m = random_vector(70, rng, -1, 1), v = random_vector(70, rng, 0.1, 3);
      batch_norm_forward_inference(xs, g, b, m, v, kEps, ys);
      expect_close(ys,
                   reference_inference(to_double(xs), to_double(g), to_double(b), to_double(m),
                                       to_double(v), kEps),
                   1e-5, "y center=" + std::to_string(center) + " scale=" + std::to_string(scale));
    }
}

TEST(BatchNormKernel, BackwardInferenceMatchesFiniteDifferences) {
  std::mt19937 rng(5);
  const Index n = 6, f = 5;
  for (bool center : {false, true})
    for (bool scale : {false, true}) {
      SCOPED_TRACE("center=" + std::to_string(center) + " scale=" + std::to_string(scale));
      RowMatrix x = random_matrix(n, f, rng, -2, 2), w = random_matrix(n, f, rng, -1, 1);
      RowVector gamma = scale ? random_vector(f, rng, 0.5, 1.5) : kNone;
      RowVector beta = center ? random_vector(f, rng, -1, 1) : kNone;
      RowVector mm = random_vector(f, rng, -1, 1), mv = random_vector(f, rng, 0.1, 3);
      RowVector dgamma(f), dbeta(f), skip;
      RowMatrix dx(n, f);
      batch_norm_backward_inference(x, w, gamma, mm, mv, kEps, dx, scale ? dgamma : skip,
                                    center ? dbeta : skip);

      MatD xd = to_double(x), wd = to_double(w);
      VecD gd = to_double(gamma), bd = to_double(beta);
      const VecD md = to_double(mm), vd = to_double(mv);
      auto loss = [&] { return weighted_sum(wd, reference_inference(xd, gd, bd, md, vd, kEps)); };
      expect_close(dx, numeric_gradient(xd, loss), 1e-4, "dx");
      if (scale) expect_close(dgamma, numeric_gradient(gd, loss), 1e-4, "dgamma");
      if (center) expect_close(dbeta, numeric_gradient(bd, loss), 1e-4, "dbeta");
      // dx alone, written over dy.
      RowMatrix in_place = w;
      batch_norm_backward_inference(x, in_place, gamma, mm, mv, kEps, in_place, skip, skip);
      EXPECT_EQ(in_place, dx);
    }
}

TEST(BatchNormKernel, MultiThreadedMatchesSingleThreaded) {
  ThreadsGuard guard;
  std::mt19937 rng(6);
  const Index n = 256, f = 784;
  const RowMatrix x = random_matrix(n, f, rng, -1, 3), dy = random_matrix(n, f, rng, -1, 1);
  const RowVector gamma = random_vector(f, rng, 0.5, 1.5), beta = random_vector(f, rng, -1, 1);
  const RowVector mm = random_vector(f, rng, -1, 1), mv = random_vector(f, rng, 0.1, 3);
  struct Outputs {
    RowVector mean, var, inv_std, dgamma, dbeta, dgamma_inf, dbeta_inf;
    RowMatrix x_hat, y, dx, y_inf, dx_inf;
  };
  auto run = [&](int threads) {
    set_num_threads(threads);
    Outputs o{RowVector(f),    RowVector(f),    RowVector(f),    RowVector(f),
              RowVector(f),    RowVector(f),    RowVector(f),    RowMatrix(n, f),
              RowMatrix(n, f), RowMatrix(n, f), RowMatrix(n, f), RowMatrix(n, f)};
    batch_norm_forward_training(x, gamma, beta, kEps, o.mean, o.var, o.inv_std, o.x_hat, o.y);
    batch_norm_backward_training(o.x_hat, dy, gamma, o.inv_std, o.dx, o.dgamma, o.dbeta);
    batch_norm_forward_inference(x, gamma, beta, mm, mv, kEps, o.y_inf);
    batch_norm_backward_inference(x, dy, gamma, mm, mv, kEps, o.dx_inf, o.dgamma_inf, o.dbeta_inf);
    return o;
  };
  const Outputs one = run(1), many = run(4);
  expect_close(many.mean, one.mean, 1e-6, "mean");
  expect_close(many.var, one.var, 1e-6, "var");
  expect_close(many.inv_std, one.inv_std, 1e-6, "inv_std");
  expect_close(many.x_hat, one.x_hat, 1e-6, "x_hat");
  expect_close(many.y, one.y, 1e-6, "y");
  expect_close(many.dx, one.dx, 1e-6, "dx");
  expect_close(many.dgamma, one.dgamma, 1e-6, "dgamma");
  expect_close(many.dbeta, one.dbeta, 1e-6, "dbeta");
  expect_close(many.y_inf, one.y_inf, 1e-6, "y_inf");
  expect_close(many.dx_inf, one.dx_inf, 1e-6, "dx_inf");
  expect_close(many.dgamma_inf, one.dgamma_inf, 1e-6, "dgamma_inf");
  expect_close(many.dbeta_inf, one.dbeta_inf, 1e-6, "dbeta_inf");
}

TEST(BatchNormKernel, BadShapesThrowShapeError) {
  RowMatrix x(4, 3), y(4, 3), x_hat(4, 3), dx(4, 3), wide(4, 2), tall(5, 3), empty(0, 3);
  x.setOnes();
  RowVector v3 = RowVector::Ones(3), v2 = RowVector::Ones(2), a(3), b(3), c(3);
  EXPECT_THROW(batch_norm_forward_training(x, v2, v3, kEps, a, b, c, x_hat, y), ShapeError);
  EXPECT_THROW(batch_norm_forward_training(x, v3, v2, kEps, a, b, c, x_hat, y), ShapeError);
  EXPECT_THROW(batch_norm_forward_training(x, v3, v3, kEps, v2, b, c, x_hat, y), ShapeError);
  EXPECT_THROW(batch_norm_forward_training(x, v3, v3, kEps, a, b, c, tall, y), ShapeError);
  EXPECT_THROW(batch_norm_forward_training(x, v3, v3, kEps, a, b, c, x_hat, wide), ShapeError);
  EXPECT_THROW(batch_norm_forward_training(empty, v3, v3, kEps, a, b, c, empty, empty), ShapeError);
  EXPECT_THROW(batch_norm_update_moving(a, v2, v3, v3, 0.99f), ShapeError);
  EXPECT_THROW(batch_norm_update_moving(a, b, v3, v2, 0.99f), ShapeError);
  EXPECT_THROW(batch_norm_forward_inference(x, v3, v3, v2, v3, kEps, y), ShapeError);
  EXPECT_THROW(batch_norm_forward_inference(x, v3, v3, v3, v3, kEps, tall), ShapeError);
  EXPECT_THROW(batch_norm_backward_training(x_hat, tall, v3, v3, dx, a, b), ShapeError);
  EXPECT_THROW(batch_norm_backward_training(x_hat, y, v3, v2, dx, a, b), ShapeError);
  EXPECT_THROW(batch_norm_backward_training(x_hat, y, v3, v3, wide, a, b), ShapeError);
  EXPECT_THROW(batch_norm_backward_training(x_hat, y, v3, v3, dx, v2, b), ShapeError);
  EXPECT_THROW(batch_norm_backward_inference(x, wide, v3, v3, v3, kEps, dx, a, b), ShapeError);
  EXPECT_THROW(batch_norm_backward_inference(x, y, v3, v3, v2, kEps, dx, a, b), ShapeError);
  EXPECT_THROW(batch_norm_backward_inference(x, y, v3, v3, v3, kEps, dx, a, v2), ShapeError);
  try {
    batch_norm_forward_training(x, v3, v3, kEps, a, b, c, x_hat, wide);
    FAIL() << "no exception";
  } catch (const ShapeError& e) {
    EXPECT_EQ(std::string(e.what()),
              "batch_norm_forward_training: y must have shape (4, 3); got (4, 2)");
  }
}

std::vector<std::string> parameter_names(BatchNormLayer& layer) {
  std::vector<std::string> names;
  for (auto& p : layer.parameters()) names.push_back(p->name);
  return names;
}

TEST(BatchNormLayer, ParametersInKerasOrder) {
  using Names = std::vector<std::string>;
  BatchNormLayer both(3, 0.99f, kEps, true, true);
  EXPECT_EQ(parameter_names(both), (Names{"gamma", "beta", "moving_mean", "moving_variance"}));
  EXPECT_EQ(parameter_names(*std::make_unique<BatchNormLayer>(3, 0.99f, kEps, false, true)),
            (Names{"gamma", "moving_mean", "moving_variance"}));
  EXPECT_EQ(parameter_names(*std::make_unique<BatchNormLayer>(3, 0.99f, kEps, true, false)),
            (Names{"beta", "moving_mean", "moving_variance"}));
  EXPECT_EQ(parameter_names(*std::make_unique<BatchNormLayer>(3, 0.99f, kEps, false, false)),
            (Names{"moving_mean", "moving_variance"}));

  const std::vector<bool> trainable{true, true, false, false};
  const std::vector<float> initial{1, 0, 0, 1};
  for (size_t k = 0; k < 4; ++k) {
    const Parameter& p = *both.parameters()[k];
    SCOPED_TRACE(p.name);
    EXPECT_EQ(p.trainable, trainable[k]);
    EXPECT_TRUE(p.is_vector);
    EXPECT_EQ(p.value.rows(), 1);
    EXPECT_EQ(p.value.cols(), 3);
    EXPECT_TRUE((p.value.array() == initial[k]).all());
    EXPECT_EQ(p.grad.size(), trainable[k] ? 3 : 0);
  }
  EXPECT_EQ(both.kind(), "BatchNormalization");
  EXPECT_TRUE(both.inference_when_frozen());
  EXPECT_EQ(both.input_units(), 3);
  EXPECT_EQ(both.output_units(), 3);
  EXPECT_THROW(BatchNormLayer(3, 0.99f, -1e-3f, true, true), ValueError);
}

TEST(BatchNormLayer, TrainingForwardUpdatesMovingStatisticsWithBiasedVariance) {
  BatchNormLayer layer(2, 0.9f, kEps, true, true);
  RowMatrix x(2, 2), y(2, 2);
  x << 0, 3, 2, 3;
  layer.forward(x, y, true);  // no reserve: the layer grows its scratch for the first batch
  // The moving statistics move when the step is committed (the network does it once the step is
  // known to be finite), not during the forward.
  EXPECT_EQ(layer.moving_mean().value(0, 0), 0);
  EXPECT_TRUE(layer.pending_state_finite());
  layer.commit_forward();
  // Batch mean [1, 3]; biased variance [((0-1)² + (2-1)²)/2, 0] = [1, 0] (unbiased would be 2).
  // moving_mean     = [0·0.9 + 1·0.1, 0·0.9 + 3·0.1] = [0.1, 0.3]
  // moving_variance = [1·0.9 + 1·0.1, 1·0.9 + 0·0.1] = [1.0, 0.9]
  EXPECT_NEAR(layer.moving_mean().value(0, 0), 0.1, 1e-6);
  EXPECT_NEAR(layer.moving_mean().value(0, 1), 0.3, 1e-6);
  EXPECT_NEAR(layer.moving_variance().value(0, 0), 1.0, 1e-6);
  EXPECT_NEAR(layer.moving_variance().value(0, 1), 0.9, 1e-6);
  // Normalized with the batch statistics: y = ∓1/√1.001 = ∓0.99950037 in column 0, 0 in column 1.
  EXPECT_NEAR(y(0, 0), -0.99950037, 1e-6);
  EXPECT_NEAR(y(1, 0), 0.99950037, 1e-6);
  EXPECT_EQ(y(0, 1), 0);
  EXPECT_EQ(y(1, 1), 0);

  // training=false: moving statistics, no update.
  RowMatrix expected(2, 2);
  batch_norm_forward_inference(x, layer.gamma()->value.row(0), layer.beta()->value.row(0),
                               layer.moving_mean().value.row(0),
                               layer.moving_variance().value.row(0), kEps, expected);
  layer.forward(x, y, false);
  EXPECT_EQ(y, expected);
  EXPECT_NEAR(layer.moving_mean().value(0, 0), 0.1, 1e-6);
  EXPECT_NEAR(layer.moving_variance().value(0, 1), 0.9, 1e-6);
}

TEST(BatchNormLayer, FrozenLayerRunsInInferenceMode) {
  std::mt19937 rng(7);
  BatchNormLayer layer(4, 0.99f, kEps, true, true);
  layer.trainable = false;
  layer.gamma()->value = random_matrix(1, 4, rng, 0.5, 1.5);
  layer.beta()->value = random_matrix(1, 4, rng, -1, 1);
  layer.moving_mean().value = random_matrix(1, 4, rng, -1, 1);
  layer.moving_variance().value = random_matrix(1, 4, rng, 0.1, 3);
  const RowMatrix mm = layer.moving_mean().value, mv = layer.moving_variance().value;
  RowMatrix x = random_matrix(5, 4, rng, -2, 2), dy = random_matrix(5, 4, rng, -1, 1);
  RowMatrix y(5, 4), dx(5, 4), expected_y(5, 4), expected_dx(5, 4);

  layer.reserve(5);
  layer.forward(x, y, true);  // the network passes training=false; the layer guards anyway
  layer.backward(x, y, dy, dx, false, false);
  batch_norm_forward_inference(x, layer.gamma()->value.row(0), layer.beta()->value.row(0),
                               mm.row(0), mv.row(0), kEps, expected_y);
  // dx = dy·γ/√(moving_var + ε)
  for (Index i = 0; i < 5; ++i)
    for (Index j = 0; j < 4; ++j)
      expected_dx(i, j) = dy(i, j) * layer.gamma()->value(0, j) / std::sqrt(mv(0, j) + kEps);
  EXPECT_EQ(y, expected_y);
  expect_close(dx, expected_dx, 1e-6, "dx");
  EXPECT_EQ(layer.moving_mean().value, mm);
  EXPECT_EQ(layer.moving_variance().value, mv);
}

TEST(BatchNormLayer, BackwardFollowsTheLastForward) {
  std::mt19937 rng(8);
  const Index n = 6, f = 3;
  BatchNormLayer layer(f, 0.99f, kEps, true, true);
  layer.gamma()->value = random_matrix(1, f, rng, 0.5, 1.5);
  layer.beta()->value = random_matrix(1, f, rng, -1, 1);
  RowMatrix x = random_matrix(n, f, rng, -2, 2), dy = random_matrix(n, f, rng, -1, 1);
  RowMatrix y(n, f), dx(n, f), none(0, f);
  layer.reserve(n);

  // Training: the full gradient, as the double oracle's finite differences give it.
  layer.forward(x, y, true);
  layer.gamma()->grad.setConstant(42);
  layer.backward(x, y, dy, dx, false, false);
  EXPECT_TRUE((layer.gamma()->grad.array() == 42).all()) << "update_weights=false writes dγ";
  MatD xd = to_double(x), wd = to_double(dy);
  const VecD gd = to_double(RowVector(layer.gamma()->value.row(0)));
  const VecD bd = to_double(RowVector(layer.beta()->value.row(0)));
  auto loss = [&] { return weighted_sum(wd, reference_training(xd, gd, bd, kEps)); };
  expect_close(dx, numeric_gradient(xd, loss), 1e-4, "dx training");

  layer.backward(x, y, dy, none, true, false);  // first layer: no dx, weights only
  MatD x_hat = reference_training(to_double(x), VecD(), VecD(), kEps);
  expect_close(layer.beta()->grad, column_sums(wd, MatD::Ones(n, f)), 1e-5, "dbeta");
  expect_close(layer.gamma()->grad, column_sums(wd, x_hat), 1e-5, "dgamma");

  // Inference on a trainable layer (training=False in a trained stack): constant statistics.
  layer.forward(x, y, false);
  layer.backward(x, y, dy, dx, true, false);
  RowMatrix expected_dx(n, f);
  RowVector expected_dgamma(f), expected_dbeta(f);
  batch_norm_backward_inference(
      x, dy, layer.gamma()->value.row(0), layer.moving_mean().value.row(0),
      layer.moving_variance().value.row(0), kEps, expected_dx, expected_dgamma, expected_dbeta);
  EXPECT_EQ(dx, expected_dx);
  EXPECT_EQ(RowVector(layer.gamma()->grad.row(0)), expected_dgamma);
  EXPECT_EQ(RowVector(layer.beta()->grad.row(0)), expected_dbeta);
}

TEST(BatchNormLayer, BatchOfOneTrainingHasNoNaN) {
  BatchNormLayer layer(3, 0.99f, kEps, true, false);
  layer.beta()->value << 1, 2, 3;
  RowMatrix x(1, 3), y(1, 3), dy(1, 3), dx(1, 3);
  x << 10, -10, 0;
  dy << 1, 1, 1;
  layer.forward(x, y, true);
  layer.backward(x, y, dy, dx, true, false);
  layer.commit_forward();
  EXPECT_EQ(y, layer.beta()->value);  // x̂ = 0
  EXPECT_TRUE(dx.isZero(0));
  EXPECT_EQ(layer.beta()->grad, dy);
  // Moving variance decays towards the batch variance 0: 1·0.99 + 0·0.01.
  EXPECT_NEAR(layer.moving_variance().value(0, 0), 0.99, 1e-7);
}

TEST(BatchNormLayer, HugeSpreadMakesThePendingStatisticsNonFinite) {
  BatchNormLayer layer(1, 0.99f, kEps, true, true);
  RowMatrix x(2, 1), y(2, 1);
  x << 2e19f, -2e19f;  // variance 4e38 > FLT_MAX: the step must not be applied
  layer.forward(x, y, true);
  EXPECT_FALSE(layer.pending_state_finite());
  layer.forward(x, y, false);  // an inference forward drops the pending statistics
  EXPECT_TRUE(layer.pending_state_finite());
}

TEST(BatchNormLayer, BadShapesThrowShapeError) {
  BatchNormLayer layer(3, 0.99f, kEps, true, true);
  RowMatrix x(4, 3), y(4, 3), wide(4, 2), dy(5, 3), dx(4, 3);
  x.setRandom();
  EXPECT_THROW(layer.forward(wide, y, true), ShapeError);
  EXPECT_THROW(layer.forward(x, wide, false), ShapeError);
  layer.forward(x, y, true);
  EXPECT_THROW(layer.backward(x, y, dy, dx, true, false), ShapeError);
  EXPECT_THROW(layer.backward(x, y, y, wide, true, false), ShapeError);
}

}  // namespace
}  // namespace densekit
