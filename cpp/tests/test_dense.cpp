// Dense kernels against float64 triple loops, their backward passes against central finite
// differences of L = Σ g ⊙ y, and the multi-threaded products against the single-threaded ones.
#include <gtest/gtest.h>

#include <array>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/kernels/dense.hpp"
#include "densekit/parallel.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

using test::expect_close;
using test::expect_close_to_scale;
using test::MatD;
using test::numeric_gradient;
using test::random_matrix;
using test::random_vector;
using test::to_double;
using test::weighted_sum;

const RowVector kNoBias;

// y = x w + b, b empty for no bias.
MatD reference_forward(const MatD& x, const MatD& w, const MatD& b) {
  MatD y(x.rows(), w.cols());
  for (Index i = 0; i < x.rows(); ++i)
    for (Index j = 0; j < w.cols(); ++j) {
      double s = b.size() ? b(0, j) : 0.0;
      for (Index k = 0; k < x.cols(); ++k) s += x(i, k) * w(k, j);
      y(i, j) = s;
    }
  return y;
}

// dx = dy wᵀ.
MatD reference_backward_data(const MatD& dy, const MatD& w) {
  MatD dx(dy.rows(), w.rows());
  for (Index i = 0; i < dy.rows(); ++i)
    for (Index k = 0; k < w.rows(); ++k) {
      double s = 0;
      for (Index j = 0; j < dy.cols(); ++j) s += dy(i, j) * w(k, j);
      dx(i, k) = s;
    }
  return dx;
}

// dw = xᵀ dy, db = Σ_rows dy.
std::pair<MatD, MatD> reference_backward_weights(const MatD& x, const MatD& dy) {
  MatD dw(x.cols(), dy.cols()), db(1, dy.cols());
  for (Index k = 0; k < x.cols(); ++k)
    for (Index j = 0; j < dy.cols(); ++j) {
      double s = 0;
      for (Index i = 0; i < x.rows(); ++i) s += x(i, k) * dy(i, j);
      dw(k, j) = s;
    }
  for (Index j = 0; j < dy.cols(); ++j) {
    double s = 0;
    for (Index i = 0; i < dy.rows(); ++i) s += dy(i, j);
    db(0, j) = s;
  }
  return {dw, db};
}

// (n, in, units): a single row, sizes below and above Eigen's packet and GEMM block sizes.
const std::vector<std::vector<Index>> kShapes = {
    {1, 1, 1}, {1, 5, 3}, {7, 13, 5}, {33, 70, 19}, {64, 300, 10}};

TEST(DenseKernel, ForwardMatchesDoubleLoopWithAndWithoutBias) {
  std::mt19937 rng(1);
  for (const auto& s : kShapes)
    for (bool use_bias : {false, true}) {
      const RowMatrix x = random_matrix(s[0], s[1], rng, -1, 1),
                      w = random_matrix(s[1], s[2], rng, -1, 1);
      const RowVector b = use_bias ? random_vector(s[2], rng, -1, 1) : kNoBias;
      RowMatrix y(s[0], s[2]);
      dense_forward(x, w, b, y);
      expect_close(y, reference_forward(to_double(x), to_double(w), to_double(b)), 1e-5,
                   "y bias=" + std::to_string(use_bias) + " n=" + std::to_string(s[0]));
    }
}

TEST(DenseKernel, BackwardDataMatchesDoubleLoop) {
  std::mt19937 rng(2);
  for (const auto& s : kShapes) {
    const RowMatrix dy = random_matrix(s[0], s[2], rng, -1, 1),
                    w = random_matrix(s[1], s[2], rng, -1, 1);
    RowMatrix dx(s[0], s[1]);
    dense_backward_data(dy, w, dx);
    expect_close(dx, reference_backward_data(to_double(dy), to_double(w)), 1e-5, "dx");
  }
}

TEST(DenseKernel, BackwardWeightsMatchesDoubleLoopWithAndWithoutBias) {
  std::mt19937 rng(3);
  for (const auto& s : kShapes)
    for (bool use_bias : {false, true}) {
      const RowMatrix x = random_matrix(s[0], s[1], rng, -1, 1),
                      dy = random_matrix(s[0], s[2], rng, -1, 1);
      RowMatrix dw(s[1], s[2]);
      RowVector db = use_bias ? RowVector(s[2]) : RowVector();
      dense_backward_weights(x, dy, dw, db);
      const auto [ref_dw, ref_db] = reference_backward_weights(to_double(x), to_double(dy));
      expect_close(dw, ref_dw, 1e-5, "dw");
      if (use_bias)
        expect_close(db, ref_db, 1e-5, "db");
      else
        EXPECT_EQ(db.cols(), 0);
    }
}

// L = Σ g ⊙ (x w + b) for a random g: ∂L/∂x = g wᵀ, ∂L/∂w = xᵀ g, ∂L/∂b = Σ_rows g, which is what
// the backward kernels give with dy = g.
TEST(DenseKernel, GradientsMatchFiniteDifferences) {
  std::mt19937 rng(4);
  const Index n = 5, in = 6, units = 4;
  for (bool use_bias : {false, true}) {
    const RowMatrix x = random_matrix(n, in, rng, -1, 1), w = random_matrix(in, units, rng, -1, 1);
    const RowMatrix g = random_matrix(n, units, rng, -1, 1);
    const RowVector b = use_bias ? random_vector(units, rng, -1, 1) : kNoBias;
    RowMatrix dx(n, in), dw(in, units);
    RowVector db = use_bias ? RowVector(units) : RowVector();
    dense_backward_data(g, w, dx);
    dense_backward_weights(x, g, dw, db);

    MatD xd = to_double(x), wd = to_double(w), bd = to_double(b);
    const MatD gd = to_double(g);
    auto loss = [&] { return weighted_sum(gd, reference_forward(xd, wd, bd)); };
    expect_close(dx, numeric_gradient(xd, loss), 1e-5, "dx");
    expect_close(dw, numeric_gradient(wd, loss), 1e-5, "dw");
    if (use_bias) expect_close(db, numeric_gradient(bd, loss), 1e-5, "db");
  }
}

// The outputs are views into larger buffers, as the network passes topRows of its activations.
TEST(DenseKernel, WritesIntoBlocksOfLargerBuffersOnly) {
  std::mt19937 rng(5);
  const Index n = 3, capacity = 8, in = 4, units = 5;
  const RowMatrix x = random_matrix(n, in, rng, -1, 1), w = random_matrix(in, units, rng, -1, 1);
  const RowVector b = random_vector(units, rng, -1, 1);
  RowMatrix y = RowMatrix::Constant(capacity, units, 42.0f);
  dense_forward(x, w, b, y.topRows(n));
  expect_close(y.topRows(n), reference_forward(to_double(x), to_double(w), to_double(b)), 1e-6,
               "y");
  EXPECT_TRUE((y.bottomRows(capacity - n).array() == 42.0f).all());

  RowMatrix dx = RowMatrix::Constant(capacity, in, 42.0f);
  dense_backward_data(y.topRows(n), w, dx.topRows(n));
  EXPECT_TRUE((dx.bottomRows(capacity - n).array() == 42.0f).all());
}

// Every way a product splits across threads: the forward over the inner dimension (batch
// narrower than the inputs, partial sums added per column share; a single sample too), and over
// the batch's rows when it is taller; the backward products over the output's rows or columns.
// On 2 and 3 threads (three partial sums, uneven shares).
TEST(DenseKernel, MultiThreadedMatchesSingleThreaded) {
  test::ThreadsGuard guard;
  std::mt19937 rng(6);
  for (const auto& [n, in, units] :
       {std::tuple<Index, Index, Index>{256, 784, 300}, {1, 784, 300}, {512, 100, 100}}) {
    const RowMatrix x = random_matrix(n, in, rng, -1, 1),
                    w = random_matrix(in, units, rng, -0.1, 0.1);
    const RowVector b = random_vector(units, rng, -1, 1);
    const RowMatrix dy = random_matrix(n, units, rng, -1, 1);
    struct Outputs {
      RowMatrix y, dx, dw;
      RowVector db;
    };
    auto run = [&](int threads) {
      set_num_threads(threads);
      Outputs o{RowMatrix(n, units), RowMatrix(n, in), RowMatrix(in, units), RowVector(units)};
      dense_forward(x, w, b, o.y);
      dense_backward_data(dy, w, o.dx);
      dense_backward_weights(x, dy, o.dw, o.db);
      return o;
    };
    const Outputs one = run(1);
    for (int threads : {2, 3}) {
      const Outputs many = run(threads);
      const std::string what = std::to_string(n) + "x" + std::to_string(in) + "x" +
                               std::to_string(units) + " threads=" + std::to_string(threads);
      // Relative to the largest entry: single entries of a 784-term sum may cancel to ~0.
      expect_close_to_scale(many.y, one.y, 1e-6, "y " + what);
      expect_close_to_scale(many.dx, one.dx, 1e-6, "dx " + what);
      expect_close_to_scale(many.dw, one.dw, 1e-6, "dw " + what);
      expect_close_to_scale(many.db, one.db, 1e-6, "db " + what);
    }
  }
}

// A product may run on one thread while two are configured (a ThreadCap, a nested call). The
// forward split over its inner dimension is cut by the configured count, and the other splits deal
// out whole output rows or columns, so every product has the same bits either way (and training
// stays reproducible for a given thread count).
TEST(DenseKernel, ProductsUnderAThreadCapHaveTheSameBits) {
  test::ThreadsGuard guard;
  std::mt19937 rng(9);
  for (const auto& [n, in, units] : {std::tuple<Index, Index, Index>{32, 784, 300},
                                     {1, 784, 300},
                                     {256, 784, 300},
                                     {512, 100, 100}})
    for (int threads : {2, 3}) {
      set_num_threads(threads);
      const RowMatrix x = random_matrix(n, in, rng, -1, 1),
                      w = random_matrix(in, units, rng, -0.2, 0.2);
      const RowMatrix dy = random_matrix(n, units, rng, -1, 1);
      const RowVector b = random_vector(units, rng, -1, 1);
      const auto run = [&] {
        std::array<RowMatrix, 3> out{RowMatrix(n, units), RowMatrix(n, in), RowMatrix(in, units)};
        RowVector db(units);
        dense_forward(x, w, b, out[0]);
        dense_backward_data(dy, w, out[1]);
        dense_backward_weights(x, dy, out[2], db);
        return out;
      };
      const auto all = run();
      std::array<RowMatrix, 3> capped;
      {
        const ThreadCap cap(1);
        capped = run();
      }
      const std::string what = std::to_string(n) + "x" + std::to_string(in) + "x" +
                               std::to_string(units) + " threads=" + std::to_string(threads);
      EXPECT_TRUE(capped[0] == all[0]) << "y " << what;
      EXPECT_TRUE(capped[1] == all[1]) << "dx " << what;
      EXPECT_TRUE(capped[2] == all[2]) << "dw " << what;
      expect_close(all[0], reference_forward(to_double(x), to_double(w), to_double(b)), 1e-4,
                   "y " + what);
    }
}

// The fused forward (bias and activation in each thread's block of the product) equals the
// separate kernels bit for bit: on one and two threads, for products split over the batch's rows
// (512x100x100) and over the inner dimension (32x784x300, 128x300x100), with and without bias, for
// element-wise activations and softmax (which runs after the product), and in place (y = z).
TEST(DenseKernel, ActivationForwardEqualsProductThenActivation) {
  test::ThreadsGuard guard;
  std::mt19937 rng(8);
  for (const auto& [n, in, units] :
       {std::tuple<Index, Index, Index>{512, 100, 100}, {128, 300, 100}, {32, 784, 300}, {3, 5, 4}})
    for (ActivationKind kind : {ActivationKind::elu, ActivationKind::relu, ActivationKind::softmax})
      for (bool use_bias : {false, true})
        for (int threads : {1, 2}) {
          set_num_threads(threads);
          const RowMatrix x = random_matrix(n, in, rng, -1, 1),
                          w = random_matrix(in, units, rng, -0.2, 0.2);
          const RowVector b = use_bias ? random_vector(units, rng, -1, 1) : kNoBias;
          ActivationSpec f;
          f.kind = kind;
          RowMatrix z_expected(n, units), y_expected(n, units), z(n, units), y(n, units);
          dense_forward(x, w, b, z_expected);
          activation_forward(f, z_expected, y_expected);
          dense_activation_forward(x, w, b, f, z, y);
          const std::string what = activation_name(kind) + " n=" + std::to_string(n) +
                                   " bias=" + std::to_string(use_bias) +
                                   " threads=" + std::to_string(threads);
          EXPECT_EQ(z, z_expected) << what;
          EXPECT_EQ(y, y_expected) << what;
          RowMatrix in_place(n, units);
          dense_activation_forward(x, w, b, f, in_place, in_place);
          EXPECT_EQ(in_place, y_expected) << what << " in place";
        }
}

// x = x̂ γ + β (row-broadcast; γ, β optional) in double.
MatD affine(const MatD& x_hat, const MatD& gamma, const MatD& beta) {
  MatD x = x_hat;
  for (Index i = 0; i < x.rows(); ++i)
    for (Index j = 0; j < x.cols(); ++j)
      x(i, j) = x_hat(i, j) * (gamma.size() ? gamma(0, j) : 1.0) + (beta.size() ? beta(0, j) : 0.0);
  return x;
}

// L = Σ g ⊙ ((x̂ γ + β) w): the kernel's dγ, dβ and dw against finite differences, Σ g as dy_sum,
// and each of γ and β absent (1 and 0) or present.
TEST(DenseKernel, BackwardNormalizedInputMatchesFiniteDifferences) {
  std::mt19937 rng(7);
  for (const auto& s : kShapes)
    for (bool has_gamma : {false, true})
      for (bool has_beta : {false, true}) {
        const Index n = s[0], in = s[1], units = s[2];
        const RowMatrix x_hat = random_matrix(n, in, rng, -2, 2),
                        w = random_matrix(in, units, rng, -1, 1);
        const RowMatrix g = random_matrix(n, units, rng, -1, 1);
        const RowVector gamma = has_gamma ? random_vector(in, rng, 0.5, 2) : RowVector();
        const RowVector beta = has_beta ? random_vector(in, rng, -1, 1) : RowVector();
        RowMatrix dw(in, units);
        RowVector dy_sum(units), dgamma(has_gamma ? in : 0), dbeta(has_beta ? in : 0);
        dense_backward_normalized_input(x_hat, gamma, beta, g, w, dw, dy_sum, dgamma, dbeta);

        MatD gammad = to_double(gamma), betad = to_double(beta), wd = to_double(w);
        const MatD x_hatd = to_double(x_hat), gd = to_double(g), none;
        auto loss = [&] {
          return weighted_sum(gd, reference_forward(affine(x_hatd, gammad, betad), wd, none));
        };
        const std::string what = " n=" + std::to_string(n) + " in=" + std::to_string(in) +
                                 " gamma=" + std::to_string(has_gamma) +
                                 " beta=" + std::to_string(has_beta);
        expect_close(dw, numeric_gradient(wd, loss), 1e-5, "dw" + what);
        expect_close(dy_sum, reference_backward_weights(x_hatd, gd).second, 1e-5, "dy_sum" + what);
        if (has_gamma) expect_close(dgamma, numeric_gradient(gammad, loss), 1e-4, "dgamma" + what);
        if (has_beta) expect_close(dbeta, numeric_gradient(betad, loss), 1e-4, "dbeta" + what);
      }
}

TEST(DenseKernel, BackwardNormalizedInputBadShapesThrowShapeError) {
  const RowMatrix x_hat = RowMatrix::Zero(3, 4), w = RowMatrix::Zero(4, 5),
                  dy = RowMatrix::Zero(3, 5);
  const RowVector gamma = RowVector::Ones(4), short_gamma = RowVector::Ones(3), none;
  RowMatrix dw(4, 5), wrong_dw(5, 4);
  RowVector dy_sum(5), short_dy_sum(4), dgamma(4), short_dgamma(3);
  RowVector no_grad;
  EXPECT_THROW(
      dense_backward_normalized_input(x_hat, short_gamma, none, dy, w, dw, dy_sum, dgamma, no_grad),
      ShapeError);
  EXPECT_THROW(dense_backward_normalized_input(x_hat, gamma, short_gamma, dy, w, dw, dy_sum, dgamma,
                                               no_grad),
               ShapeError);
  EXPECT_THROW(
      dense_backward_normalized_input(x_hat, gamma, none, dy, w, wrong_dw, dy_sum, dgamma, no_grad),
      ShapeError);
  EXPECT_THROW(
      dense_backward_normalized_input(x_hat, gamma, none, dy, w, dw, short_dy_sum, dgamma, no_grad),
      ShapeError);
  EXPECT_THROW(
      dense_backward_normalized_input(x_hat, gamma, none, dy, w, dw, dy_sum, short_dgamma, no_grad),
      ShapeError);
  EXPECT_THROW(dense_backward_normalized_input(x_hat, gamma, none, RowMatrix::Zero(2, 5), w, dw,
                                               dy_sum, dgamma, no_grad),
               ShapeError);
}

TEST(DenseKernel, BadShapesThrowShapeError) {
  const RowMatrix x = RowMatrix::Zero(3, 4), w = RowMatrix::Zero(4, 5), dy = RowMatrix::Zero(3, 5);
  const RowVector b = RowVector::Zero(5), short_b = RowVector::Zero(4);
  RowMatrix y(3, 5), dx(3, 4), dw(4, 5);
  RowVector db(5), short_db(4);
  RowMatrix wrong_y(3, 4), wrong_rows_y(2, 5), wrong_w = RowMatrix::Zero(3, 5);
  RowMatrix wrong_dx(3, 5), wrong_dw(5, 4), wrong_dy = RowMatrix::Zero(2, 5);

  EXPECT_THROW(dense_forward(x, wrong_w, b, y), ShapeError);              // w rows != x cols
  EXPECT_THROW(dense_forward(x, w, b, wrong_y), ShapeError);              // y cols != units
  EXPECT_THROW(dense_forward(x, w, b, wrong_rows_y), ShapeError);         // y rows != batch
  EXPECT_THROW(dense_forward(x, w, short_b, y), ShapeError);              // b cols != units
  EXPECT_THROW(dense_backward_data(dy, wrong_dw, dx), ShapeError);        // w cols != dy cols
  EXPECT_THROW(dense_backward_data(dy, w, wrong_dx), ShapeError);         // dx cols != in
  EXPECT_THROW(dense_backward_weights(x, wrong_dy, dw, db), ShapeError);  // dy rows != x rows
  EXPECT_THROW(dense_backward_weights(x, dy, wrong_dw, db), ShapeError);  // dw (5, 4) != (4, 5)
  EXPECT_THROW(dense_backward_weights(x, dy, dw, short_db), ShapeError);  // db cols != units
  // ShapeError is a ValueError, so the bindings raise Python's ValueError.
  EXPECT_THROW(dense_forward(x, wrong_w, b, y), ValueError);
}

}  // namespace
}  // namespace densekit
