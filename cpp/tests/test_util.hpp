// Helpers shared by the dense, losses, clipping, SGD, network and allocation tests: random float32
// inputs, float64 copies for the oracles, central finite differences and a tolerant comparison.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "densekit/parallel.hpp"
#include "densekit/types.hpp"

namespace densekit {
namespace test {

using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

inline RowMatrix random_matrix(Index rows, Index cols, std::mt19937& rng, double lo, double hi) {
  std::uniform_real_distribution<double> u(lo, hi);
  RowMatrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = Scalar(u(rng));
  return m;
}

// Uniform float32 entries in [lo, hi), from a generator seeded with `seed` and drawn in float.
inline RowMatrix random_matrix(Index rows, Index cols, float lo, float hi, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  RowMatrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = dist(gen);
  return m;
}

inline RowVector random_vector(Index n, std::mt19937& rng, double lo, double hi) {
  return random_matrix(1, n, rng, lo, hi).row(0);
}

// (n, 1) float class indices in [0, classes).
inline RowMatrix random_labels(Index n, Index classes, std::mt19937& rng) {
  std::uniform_int_distribution<Index> u(0, classes - 1);
  RowMatrix m(n, 1);
  for (Index i = 0; i < n; ++i) m(i, 0) = Scalar(u(rng));
  return m;
}

template <class M>
MatD to_double(const M& m) {
  return m.template cast<double>();
}

// Central differences of loss() with respect to every entry of p (perturbed in place, restored).
template <class M, class Loss>
MatD numeric_gradient(M& p, Loss loss, double h = 1e-5) {
  MatD g(p.rows(), p.cols());
  for (Index i = 0; i < p.size(); ++i) {
    const double saved = p.data()[i];
    p.data()[i] = saved + h;
    const double up = loss();
    p.data()[i] = saved - h;
    const double down = loss();
    p.data()[i] = saved;
    g.data()[i] = (up - down) / (2 * h);
  }
  return g;
}

// |actual - expected| <= tol·(1 + |expected|) everywhere; reports the first mismatch.
template <class A, class B>
void expect_close(const A& actual, const B& expected, double tol, const std::string& what) {
  ASSERT_EQ(actual.rows(), expected.rows()) << what;
  ASSERT_EQ(actual.cols(), expected.cols()) << what;
  for (Index i = 0; i < actual.rows(); ++i)
    for (Index j = 0; j < actual.cols(); ++j) {
      const double a = actual(i, j), e = expected(i, j);
      if (!(std::abs(a - e) <= tol * (1 + std::abs(e)))) {
        ADD_FAILURE() << what << " at (" << i << ", " << j << "): " << a << " vs " << e;
        return;
      }
    }
}

// |actual - expected| <= tol·max|expected| everywhere: relative to the scale of the whole result,
// for sums whose single entries may cancel to ~0.
template <class A, class B>
void expect_close_to_scale(const A& actual, const B& expected, double tol,
                           const std::string& what) {
  ASSERT_EQ(actual.rows(), expected.rows()) << what;
  ASSERT_EQ(actual.cols(), expected.cols()) << what;
  double scale = 0;
  for (Index i = 0; i < expected.rows(); ++i)
    for (Index j = 0; j < expected.cols(); ++j)
      scale = std::max(scale, std::abs(double(expected(i, j))));
  for (Index i = 0; i < actual.rows(); ++i)
    for (Index j = 0; j < actual.cols(); ++j) {
      const double a = actual(i, j), e = expected(i, j);
      if (!(std::abs(a - e) <= tol * scale)) {
        ADD_FAILURE() << what << " at (" << i << ", " << j << "): " << a << " vs " << e
                      << " (scale " << scale << ")";
        return;
      }
    }
}

// Σ a ⊙ b in plain loops: GCC 12 warns (-Wmaybe-uninitialized, a false positive inside its
// AVX-512 intrinsics) on Eigen's vectorized double reductions.
template <class A, class B>
double weighted_sum(const A& a, const B& b) {
  double total = 0;
  for (Index i = 0; i < a.rows(); ++i)
    for (Index j = 0; j < a.cols(); ++j) total += double(a(i, j)) * double(b(i, j));
  return total;
}

// Restores the thread count however the test ends.
struct ThreadsGuard {
  int saved = get_num_threads();
  ~ThreadsGuard() { set_num_threads(saved); }
};

}  // namespace test
}  // namespace densekit
