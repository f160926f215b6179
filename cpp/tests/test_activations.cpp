// Activation kernels and layers against independent double-precision oracles written from the
// Keras 3 definitions, backward passes against central finite differences of those oracles.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "densekit/error.hpp"
#include "densekit/kernels/activations.hpp"
#include "densekit/layers/activation.hpp"
#include "densekit/parallel.hpp"
#include "test_util.hpp"

namespace densekit {
namespace {

constexpr double kSeluAlpha = 1.67326324235437728481704299167171;
constexpr double kSeluScale = 1.05070098735548049341933498529460;

ActivationSpec spec_of(ActivationKind kind) {
  ActivationSpec s;
  s.kind = kind;
  return s;
}
ActivationSpec relu_spec(float slope, float max_value, float threshold) {
  ActivationSpec s = spec_of(ActivationKind::relu);
  s.negative_slope = slope;
  s.max_value = max_value;
  s.threshold = threshold;
  return s;
}

struct Case {
  std::string label;
  ActivationSpec spec;
};

// Every element-wise kind, and the relu variants that take different paths in Keras's ReLU.
std::vector<Case> elementwise_cases() {
  using K = ActivationKind;
  ActivationSpec leaky = spec_of(K::leaky_relu), elu_half = spec_of(K::elu);
  ActivationSpec gelu_tanh = spec_of(K::gelu), thresholded = spec_of(K::thresholded_relu);
  leaky.negative_slope = 0.3f;
  elu_half.alpha = 0.5f;
  gelu_tanh.approximate = true;
  thresholded.threshold = 1.0f;
  return {{"linear", spec_of(K::linear)},
          {"sigmoid", spec_of(K::sigmoid)},
          {"tanh", spec_of(K::tanh)},
          {"relu", spec_of(K::relu)},
          {"relu_slope", relu_spec(0.1f, -1, 0)},
          {"relu6", relu_spec(0, 6, 0)},
          {"relu_max5", relu_spec(0, 5, 0)},
          {"relu_slope_max6", relu_spec(0.2f, 6, 0)},
          {"relu_threshold", relu_spec(0, -1, 1)},
          {"relu_all", relu_spec(0.1f, 5, 1)},
          {"relu_negative_threshold_max", relu_spec(0, 4, -1)},
          {"leaky_relu", leaky},
          {"elu", spec_of(K::elu)},
          {"elu_half", elu_half},
          {"selu", spec_of(K::selu)},
          {"gelu", spec_of(K::gelu)},
          {"gelu_tanh", gelu_tanh},
          {"swish", spec_of(K::swish)},
          {"softplus", spec_of(K::softplus)},
          {"softsign", spec_of(K::softsign)},
          {"hard_sigmoid", spec_of(K::hard_sigmoid)},
          {"exponential", spec_of(K::exponential)},
          {"thresholded_relu", thresholded}};
}

// Keras 3 ReLU.static_call transcribed to double.
double reference_relu(const ActivationSpec& s, double x) {
  const double slope = s.negative_slope, max_value = s.max_value, t = s.threshold;
  if (slope != 0 && max_value < 0 && t == 0) return std::max(x, slope * x);  // numpy leaky_relu
  const double negative_part = slope != 0 ? std::max(t - x, 0.0) : 0.0;
  double pos = t != 0 ? (x > t ? x : 0.0) : std::max(x, 0.0);
  if (max_value >= 0) pos = std::clamp(pos, 0.0, max_value);
  return pos - slope * negative_part;
}

// The oracle, from keras/src/backend/numpy/nn.py, in double.
double reference(const ActivationSpec& s, double x) {
  switch (s.kind) {
    case ActivationKind::linear:
      return x;
    case ActivationKind::sigmoid:
      return 1 / (1 + std::exp(-x));
    case ActivationKind::tanh:
      return std::tanh(x);
    case ActivationKind::relu:
      return reference_relu(s, x);
    case ActivationKind::leaky_relu:
      return std::max(x, s.negative_slope * x);
    case ActivationKind::elu:
      return x >= 0 ? x : s.alpha * std::expm1(x);
    case ActivationKind::selu:
      return kSeluScale * (x >= 0 ? x : kSeluAlpha * std::expm1(x));
    case ActivationKind::gelu:
      if (s.approximate) {
        // ½x(1 + tanh u) written as x·σ(2u): in double too, 1 + tanh u cancels to 0 for x < -9
        const double u = std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
        return x / (1 + std::exp(-2 * u));
      }
      return 0.5 * x * std::erfc(-x / std::sqrt(2.0));  // ½x(1 + erf(x/√2))
    case ActivationKind::swish:
      return x / (1 + std::exp(-x));
    case ActivationKind::softplus:  // np.logaddexp(x, 0)
      return std::max(x, 0.0) + std::log1p(std::exp(-std::abs(x)));
    case ActivationKind::softsign:
      return x / (1 + std::abs(x));
    case ActivationKind::hard_sigmoid:
      return std::clamp(x / 6 + 0.5, 0.0, 1.0);
    case ActivationKind::exponential:
      return std::exp(x);
    case ActivationKind::thresholded_relu:
      return x > s.threshold ? x : 0.0;
    case ActivationKind::softmax:
      break;
  }
  ADD_FAILURE() << "no scalar reference for this kind";
  return 0;
}

std::vector<double> reference_softmax(const std::vector<double>& x) {
  const double top = *std::max_element(x.begin(), x.end());
  std::vector<double> y(x.size());
  double total = 0;
  for (size_t j = 0; j < x.size(); ++j) total += y[j] = std::exp(x[j] - top);
  for (double& v : y) v /= total;
  return y;
}

using test::random_matrix;

bool near_kink(const ActivationSpec& s, float x) {
  const float kinks[] = {0, -3, 3, 6, s.threshold, s.max_value};
  return std::any_of(std::begin(kinks), std::end(kinks),
                     [x](float k) { return std::abs(x - k) < 1e-2f; });
}

// Points away from every kink an activation of the list can have, so that x ± h stays on one side.
RowMatrix smooth_points(const ActivationSpec& s, Index rows, Index cols, unsigned seed) {
  RowMatrix x = random_matrix(rows, cols, -4, 4, seed);
  for (Index i = 0; i < x.size(); ++i)
    while (near_kink(s, x.data()[i])) x.data()[i] += 0.05f;
  return x;
}

double central_difference(const ActivationSpec& s, double x) {
  const double h = 1e-5;
  return (reference(s, x + h) - reference(s, x - h)) / (2 * h);
}

bool close(double got, double want, double rel, double abs) {
  return std::abs(got - want) <= rel * std::abs(want) + abs;
}

using ThreadGuard = test::ThreadsGuard;

// 0, ±tiny, the kinks, ±50, and ±100, ±1000 where e^|x| overflows float: a naive softplus,
// sigmoid, swish or gelu would give inf or NaN there.
const std::vector<float> kGrid = {0,    1e-30f, -1e-30f, 1e-7f, -1e-7f, 0.5f, -0.5f, 1,  -1,
                                  2.9f, -2.9f,  3,       -3,    5,      -5,   6,     -6, 10,
                                  -10,  50,     -50,     100,   -100,   1000, -1000};

// exponential overflows float like Keras's does; every other kind stays finite.
bool overflows(const ActivationSpec& s, double x) {
  return s.kind == ActivationKind::exponential && std::exp(x) > 3.4e38;
}

TEST(ActivationKernels, ForwardMatchesDoubleReferenceOnGrid) {
  RowMatrix x(1, static_cast<Index>(kGrid.size()));
  for (size_t j = 0; j < kGrid.size(); ++j) x(0, j) = kGrid[j];
  for (const Case& c : elementwise_cases()) {
    RowMatrix y(x.rows(), x.cols());
    activation_forward(c.spec, x, y);
    for (Index j = 0; j < x.cols(); ++j) {
      const double want = reference(c.spec, x(0, j));
      if (overflows(c.spec, x(0, j))) {
        EXPECT_EQ(y(0, j), INFINITY);
        continue;
      }
      EXPECT_TRUE(std::isfinite(y(0, j))) << c.label << " at x=" << x(0, j);
      EXPECT_TRUE(close(y(0, j), want, 4e-6, 1e-38))
          << c.label << " at x=" << x(0, j) << ": got " << y(0, j) << ", want " << want;
    }
  }
}

TEST(ActivationKernels, BackwardMatchesFiniteDifferences) {
  for (const Case& c : elementwise_cases()) {
    const RowMatrix x = smooth_points(c.spec, 6, 11, 1);
    const RowMatrix dy = random_matrix(6, 11, -1, 1, 2);
    RowMatrix y(6, 11), dx(6, 11);
    activation_forward(c.spec, x, y);
    activation_backward(c.spec, x, y, dy, dx);
    for (Index i = 0; i < x.size(); ++i) {
      const double want = dy.data()[i] * central_difference(c.spec, x.data()[i]);
      EXPECT_TRUE(close(dx.data()[i], want, 2e-5, 1e-6))
          << c.label << " at x=" << x.data()[i] << ": got " << dx.data()[i] << ", want " << want;
    }
  }
}

// The grid again, now through backward: finite everywhere (no 0·∞ in gelu or swish), and equal
// to the finite difference of the reference away from the kinks.
TEST(ActivationKernels, BackwardOnGridIsFiniteAndMatchesFiniteDifferences) {
  RowMatrix x(1, static_cast<Index>(kGrid.size()));
  for (size_t j = 0; j < kGrid.size(); ++j) x(0, j) = kGrid[j];
  const RowMatrix dy = RowMatrix::Ones(x.rows(), x.cols());
  for (const Case& c : elementwise_cases()) {
    RowMatrix y(x.rows(), x.cols()), dx(x.rows(), x.cols());
    activation_forward(c.spec, x, y);
    activation_backward(c.spec, x, y, dy, dx);
    for (Index j = 0; j < x.cols(); ++j) {
      if (overflows(c.spec, x(0, j))) continue;
      EXPECT_TRUE(std::isfinite(dx(0, j))) << c.label << " at x=" << x(0, j);
      if (near_kink(c.spec, x(0, j))) continue;
      const double want = central_difference(c.spec, x(0, j));
      EXPECT_TRUE(close(dx(0, j), want, 2e-5, 1e-6))
          << c.label << " at x=" << x(0, j) << ": got " << dx(0, j) << ", want " << want;
    }
  }
}

// f' at the points where f has a kink: the values TF's gradient ops give, so Keras agrees.
TEST(ActivationKernels, DerivativeAtKinksFollowsTensorFlow) {
  struct Kink {
    ActivationSpec spec;
    float x, want;
  };
  ActivationSpec leaky = spec_of(ActivationKind::leaky_relu);
  ActivationSpec elu_half = spec_of(ActivationKind::elu);
  ActivationSpec thresholded = spec_of(ActivationKind::thresholded_relu);
  leaky.negative_slope = 0.3f;
  elu_half.alpha = 0.5f;
  thresholded.threshold = 1;
  const float sixth = 1.0f / 6;
  const Kink kinks[] = {
      {spec_of(ActivationKind::relu), 0, 0},                  // relu'(0) = 0
      {leaky, 0, 0.3f},                                       // LeakyReluGrad: x > 0 ? 1 : slope
      {relu_spec(0.1f, -1, 0), 0, 0.1f},                      // the same via relu(negative_slope)
      {spec_of(ActivationKind::elu), 0, 1},                   // EluGrad: y < 0 ? y + 1 : 1
      {elu_half, 0, 0.5f},                                    // tf.where(x > 0, ·, α·elu): α·1
      {spec_of(ActivationKind::selu), 0, float(kSeluScale)},  // SeluGrad: y < 0 ? … : scale
      {spec_of(ActivationKind::hard_sigmoid), 3, 0},          // Relu6Grad on x + 3: 0 < x+3 < 6
      {spec_of(ActivationKind::hard_sigmoid), -3, 0},
      {spec_of(ActivationKind::hard_sigmoid), 0, sixth},
      {thresholded, 1, 0},         // where(x > θ, x, 0)
      {relu_spec(0, 6, 0), 6, 0},  // relu6 path: 0 < x < 6
      {relu_spec(0, 6, 0), 0, 0},
      {relu_spec(0, 5, 0), 5, 1},     // clip_by_value passes at the bound
      {relu_spec(0.1f, 5, 1), 1, 0},  // where() 0 and relu(t - x)'(0) = 0
      {relu_spec(0.1f, 5, 1), 0.5f, 0.1f},
  };
  for (const Kink& k : kinks) {
    RowMatrix x = RowMatrix::Constant(1, 1, k.x), y(1, 1), dy = RowMatrix::Ones(1, 1), dx(1, 1);
    activation_forward(k.spec, x, y);
    activation_backward(k.spec, x, y, dy, dx);
    EXPECT_FLOAT_EQ(dx(0, 0), k.want) << activation_name(k.spec.kind) << " at x=" << k.x;
  }
}

// leaky_relu with slope 0.25 and thresholded_relu with θ = 0.5, for the NaN tests below.
std::pair<ActivationSpec, ActivationSpec> leaky_and_thresholded() {
  ActivationSpec leaky = spec_of(ActivationKind::leaky_relu);
  leaky.negative_slope = 0.25f;
  ActivationSpec thresholded = spec_of(ActivationKind::thresholded_relu);
  thresholded.threshold = 0.5f;
  return {leaky, thresholded};
}

// A NaN input compares false at every kink test, so the gradient takes the "else" side there
// (relu'(NaN) = 0, as TF's ReluGrad), and a NaN upstream gradient passes where the mask holds.
// Checked across a whole 16-wide lane with the NaN in every position.
TEST(ActivationKernels, KinkTestsTreatNaNAsFalseInEveryLane) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto [leaky, thresholded] = leaky_and_thresholded();
  struct Case {
    ActivationSpec spec;
    float at_nan_input;  // dx where x is NaN and dy is 1
  };
  const Case cases[] = {{spec_of(ActivationKind::relu), 0},
                        {leaky, 0.25f},
                        {spec_of(ActivationKind::selu), float(kSeluScale)},
                        {spec_of(ActivationKind::hard_sigmoid), 0},
                        {thresholded, 0}};
  for (const Case& c : cases) {
    for (int position = 0; position < 19; ++position) {
      RowMatrix x = RowMatrix::Constant(1, 19, 2.0f), y(1, 19), dy = RowMatrix::Ones(1, 19),
                dx(1, 19);
      x(0, position) = nan;
      activation_forward(c.spec, x, y);
      activation_backward(c.spec, x, y, dy, dx);
      EXPECT_EQ(dx(0, position), c.at_nan_input) << activation_name(c.spec.kind) << " " << position;
      const float elsewhere = c.spec.kind == ActivationKind::selu           ? float(kSeluScale)
                              : c.spec.kind == ActivationKind::hard_sigmoid ? 1.0f / 6
                                                                            : 1.0f;
      for (int j = 0; j < 19; ++j) {
        if (j == position) continue;
        EXPECT_FLOAT_EQ(dx(0, j), elsewhere) << activation_name(c.spec.kind);
      }
      dy(0, (position + 1) % 19) = nan;  // x = 2 there: every mask holds, NaN passes
      activation_backward(c.spec, x, y, dy, dx);
      EXPECT_TRUE(std::isnan(dx(0, (position + 1) % 19))) << activation_name(c.spec.kind);
    }
  }
}

// The forward kinks too: where(x > θ, x, 0) gives 0 at NaN, leaky_relu's s·x keeps the NaN, and
// every other lane (x = 2) passes x; with the NaN in every position of a 16-wide lane.
TEST(ActivationKernels, ForwardKinksTreatNaNAsFalseInEveryLane) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto [leaky, thresholded] = leaky_and_thresholded();
  for (const ActivationSpec& spec : {leaky, thresholded}) {
    for (int position = 0; position < 19; ++position) {
      RowMatrix x = RowMatrix::Constant(1, 19, 2.0f), y(1, 19);
      x(0, position) = nan;
      activation_forward(spec, x, y);
      if (spec.kind == ActivationKind::leaky_relu) {
        EXPECT_TRUE(std::isnan(y(0, position))) << "leaky_relu " << position;
      } else {
        EXPECT_EQ(y(0, position), 0.0f) << "thresholded_relu " << position;
      }
      for (int j = 0; j < 19; ++j) {
        if (j == position) continue;
        EXPECT_EQ(y(0, j), 2.0f) << activation_name(spec.kind) << " " << j;
      }
    }
  }
}

// The examples of keras.activations.relu's docstring.
TEST(ActivationKernels, ReluMatchesKerasDocstringExamples) {
  RowMatrix x(1, 5), y(1, 5);
  x << -10, -5, 0, 5, 10;
  auto run = [&](const ActivationSpec& s) {
    activation_forward(s, x, y);
    return std::vector<float>(y.data(), y.data() + 5);
  };
  EXPECT_EQ(run(relu_spec(0, -1, 0)), (std::vector<float>{0, 0, 0, 5, 10}));
  EXPECT_EQ(run(relu_spec(0.5f, -1, 0)), (std::vector<float>{-5, -2.5f, 0, 5, 10}));
  EXPECT_EQ(run(relu_spec(0, 5, 0)), (std::vector<float>{0, 0, 0, 5, 5}));
  EXPECT_EQ(run(relu_spec(0, -1, 5)), (std::vector<float>{0, 0, 0, 0, 10}));
}

// Widths 1..16 fit one chunk and take their own path; 17 and 33 take the chunked one. Each width
// against the float64 reference, in place as out of place, and a NaN stays within its row.
TEST(ActivationKernels, SoftmaxOfEveryWidthMatchesReference) {
  const ActivationSpec s = spec_of(ActivationKind::softmax);
  for (Index n : {1, 2, 7, 10, 15, 16, 17, 33}) {
    RowMatrix x = random_matrix(6, n, -20, 20, unsigned(n)), y(6, n);
    x(4, n - 1) = std::nanf("");
    activation_forward(s, x, y);
    for (Index r = 0; r < x.rows(); ++r) {
      if (r == 4) {
        for (Index j = 0; j < n; ++j) EXPECT_TRUE(std::isnan(y(r, j))) << "width " << n;
        continue;
      }
      std::vector<double> row(x.row(r).data(), x.row(r).data() + n);
      const std::vector<double> want = reference_softmax(row);
      for (Index j = 0; j < n; ++j)
        EXPECT_TRUE(close(y(r, j), want[j], 4e-6, 1e-38)) << "width " << n << " col " << j;
    }
    RowMatrix inplace = x;
    activation_forward(s, inplace, inplace);
    const auto same =
        (inplace.array() == y.array()) || (inplace.array().isNaN() && y.array().isNaN());
    EXPECT_TRUE(same.all()) << "width " << n;
  }
}

TEST(ActivationKernels, SoftmaxRowsSumToOneAndMatchReference) {
  RowMatrix x(4, 6);
  x << 0, 1e-30f, -1e-30f, 1, -1, 2,  //
      50, -50, 0, 49, 48, -49,        // a naive exp would overflow
      -50, -50, -50, -50, -50, -50,   // uniform: 1/6 each
      1000, 0, -1000, 3, 2, 1;
  RowMatrix y(4, 6);
  activation_forward(spec_of(ActivationKind::softmax), x, y);
  for (Index r = 0; r < x.rows(); ++r) {
    std::vector<double> row(x.row(r).data(), x.row(r).data() + x.cols());
    const std::vector<double> want = reference_softmax(row);
    EXPECT_NEAR(y.row(r).cast<double>().sum(), 1.0, 1e-6);
    for (Index j = 0; j < x.cols(); ++j) {
      EXPECT_TRUE(std::isfinite(y(r, j)));
      EXPECT_TRUE(close(y(r, j), want[j], 4e-6, 1e-38)) << "row " << r << " col " << j;
    }
  }
}

// dx_j = Σ_i dy_i ∂y_i/∂x_j, by central differences of L(x) = Σ dy ⊙ softmax(x) in double.
TEST(ActivationKernels, SoftmaxBackwardMatchesFiniteDifferences) {
  const ActivationSpec s = spec_of(ActivationKind::softmax);
  const RowMatrix x = random_matrix(5, 7, -3, 3, 3), dy = random_matrix(5, 7, -1, 1, 4);
  RowMatrix y(5, 7), dx(5, 7);
  activation_forward(s, x, y);
  activation_backward(s, x, y, dy, dx);
  const double h = 1e-6;
  for (Index r = 0; r < x.rows(); ++r) {
    for (Index j = 0; j < x.cols(); ++j) {
      auto loss = [&](double shift) {
        std::vector<double> row(x.row(r).data(), x.row(r).data() + x.cols());
        row[j] += shift;
        const std::vector<double> p = reference_softmax(row);
        double l = 0;
        for (Index k = 0; k < x.cols(); ++k) l += dy(r, k) * p[k];
        return l;
      };
      const double want = (loss(h) - loss(-h)) / (2 * h);
      EXPECT_NEAR(dx(r, j), want, 2e-6) << "row " << r << " col " << j;
    }
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases = elementwise_cases();
  cases.push_back({"softmax", spec_of(ActivationKind::softmax)});
  return cases;
}

TEST(ActivationKernels, InPlaceMatchesOutOfPlace) {
  for (const Case& c : all_cases()) {
    const RowMatrix x = random_matrix(9, 37, -5, 5, 5), dy = random_matrix(9, 37, -1, 1, 6);
    RowMatrix y(9, 37), dx(9, 37);
    activation_forward(c.spec, x, y);
    activation_backward(c.spec, x, y, dy, dx);
    RowMatrix inplace = x;
    activation_forward(c.spec, inplace, inplace);
    EXPECT_EQ(inplace, y) << c.label;
    RowMatrix grad = dy;
    activation_backward(c.spec, x, y, grad, grad);
    EXPECT_EQ(grad, dx) << c.label;
  }
}

// An element's value depends on its inputs only: the same rows give the same bits alone, inside a
// larger batch, or at an odd column offset of a wider buffer (Eigen's unaligned-head peeling
// would otherwise compute some of them with scalar code).
TEST(ActivationKernels, ValuesDoNotDependOnPositionInMemory) {
  const RowMatrix x = random_matrix(5, 37, -5, 5, 21), dy = random_matrix(5, 37, -1, 1, 22);
  RowMatrix wide_x = RowMatrix::Zero(7, 41), wide_dy = RowMatrix::Zero(7, 41);
  wide_x.block(1, 3, 5, 37) = x;
  wide_dy.block(1, 3, 5, 37) = dy;
  for (const Case& c : all_cases()) {
    RowMatrix y(5, 37), dx(5, 37), wide_y(7, 41), wide_dx(7, 41), row_y(1, 37), row_dx(1, 37);
    activation_forward(c.spec, x, y);
    activation_backward(c.spec, x, y, dy, dx);
    activation_forward(c.spec, wide_x.block(1, 3, 5, 37), wide_y.block(1, 3, 5, 37));
    activation_backward(c.spec, wide_x.block(1, 3, 5, 37), wide_y.block(1, 3, 5, 37),
                        wide_dy.block(1, 3, 5, 37), wide_dx.block(1, 3, 5, 37));
    EXPECT_EQ(RowMatrix(wide_y.block(1, 3, 5, 37)), y) << c.label;
    EXPECT_EQ(RowMatrix(wide_dx.block(1, 3, 5, 37)), dx) << c.label;
    activation_forward(c.spec, x.row(2), row_y);
    activation_backward(c.spec, x.row(2), row_y, dy.row(2), row_dx);
    EXPECT_EQ(row_y, y.row(2)) << c.label;
    EXPECT_EQ(row_dx, dx.row(2)) << c.label;
  }
}

double max_relative_difference(const RowMatrix& a, const RowMatrix& b) {
  return ((a - b).array().abs() / (b.array().abs() + 1e-30f)).cast<double>().maxCoeff();
}

// 256 × 512 is four times the size above which the loops fork (and small enough to keep every
// kind of the list under a second on two busy cores).
TEST(ActivationKernels, MultiThreadedMatchesSingleThreaded) {
  ThreadGuard guard;
  const Index n = 256, units = 512;
  const RowMatrix x = random_matrix(n, units, -6, 6, 7), dy = random_matrix(n, units, -1, 1, 8);
  RowMatrix y1(n, units), dx1(n, units), y2(n, units), dx2(n, units);
  for (const Case& c : all_cases()) {
    set_num_threads(1);
    activation_forward(c.spec, x, y1);
    activation_backward(c.spec, x, y1, dy, dx1);
    set_num_threads(2);
    activation_forward(c.spec, x, y2);
    activation_backward(c.spec, x, y2, dy, dx2);
    EXPECT_LE(max_relative_difference(y2, y1), 1e-6) << c.label;
    EXPECT_LE(max_relative_difference(dx2, dx1), 1e-6) << c.label;
  }
}

TEST(ActivationKernels, BadShapesThrowShapeError) {
  const ActivationSpec s = spec_of(ActivationKind::relu);
  RowMatrix x(3, 4), y(3, 4), wrong(3, 5);
  x.setZero();
  EXPECT_THROW(activation_forward(s, x, wrong), ShapeError);
  EXPECT_THROW(activation_backward(s, x, wrong, y, y), ShapeError);
  EXPECT_THROW(activation_backward(s, x, y, wrong, y), ShapeError);
  EXPECT_THROW(activation_backward(s, x, y, y, wrong), ShapeError);
  try {
    activation_forward(s, x, wrong);
  } catch (const ShapeError& e) {
    EXPECT_EQ(std::string(e.what()).rfind("activation_forward: y must have shape (3, 4)", 0), 0u)
        << e.what();
  }
}

TEST(ActivationKernels, NamesRoundTripAndUnknownNamesThrowValueError) {
  const char* names[] = {"linear",      "sigmoid",
                         "tanh",        "relu",
                         "leaky_relu",  "elu",
                         "selu",        "gelu",
                         "silu",        "softplus",
                         "softsign",    "hard_sigmoid",
                         "exponential", "thresholded_relu",
                         "softmax"};
  for (const char* name : names) EXPECT_EQ(activation_name(activation_kind_from_name(name)), name);
  EXPECT_EQ(activation_kind_from_name("swish"), ActivationKind::swish);
  EXPECT_EQ(activation_kind_from_name("silu"), ActivationKind::swish);
  EXPECT_THROW(activation_kind_from_name("relu7"), ValueError);
  EXPECT_THROW(activation_kind_from_name("ReLU"), ValueError);
  try {
    activation_kind_from_name("relu7");
  } catch (const ValueError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("hard_sigmoid"), std::string::npos) << message;
    EXPECT_NE(message.find("Received: name=relu7"), std::string::npos) << message;
  }
}

// ---- layers ----------------------------------------------------------------------------------

TEST(ActivationLayer, ForwardBackwardCallTheKernels) {
  const ActivationSpec s = spec_of(ActivationKind::tanh);
  ActivationLayer layer(5, s, "Activation");
  EXPECT_EQ(layer.kind(), "Activation");
  ASSERT_NE(layer.output_activation(), nullptr);
  EXPECT_EQ(layer.output_activation()->kind, ActivationKind::tanh);
  EXPECT_FALSE(layer.ends_in(ActivationKind::softmax));
  EXPECT_TRUE(layer.parameters().empty());
  const RowMatrix x = random_matrix(4, 5, -2, 2, 9), dy = random_matrix(4, 5, -1, 1, 10);
  RowMatrix y(4, 5), dx(4, 5), want_y(4, 5), want_dx(4, 5);
  layer.forward(x, y, true);
  layer.backward(x, y, dy, dx, true, false);
  activation_forward(s, x, want_y);
  activation_backward(s, x, want_y, dy, want_dx);
  EXPECT_EQ(y, want_y);
  EXPECT_EQ(dx, want_dx);
  RowMatrix wrong(4, 6);
  EXPECT_THROW(layer.forward(wrong, wrong, false), ShapeError);
}

TEST(ActivationLayer, FusedSoftmaxPassesDyThroughAndEmptyDxIsSkipped) {
  ActivationLayer layer(3, spec_of(ActivationKind::softmax), "Softmax");
  EXPECT_TRUE(layer.ends_in(ActivationKind::softmax));
  EXPECT_TRUE(ActivationLayer(3, spec_of(ActivationKind::sigmoid), "Activation")
                  .ends_in(ActivationKind::sigmoid));
  const RowMatrix x = random_matrix(2, 3, -1, 1, 11), dy = random_matrix(2, 3, -1, 1, 12);
  RowMatrix y(2, 3), dx(2, 3);
  layer.forward(x, y, true);
  layer.backward(x, y, dy, dx, true, /*dy_is_preactivation=*/true);
  EXPECT_EQ(dx, dy);
  RowMatrix none(0, 3);
  EXPECT_NO_THROW(layer.backward(x, y, dy, none, true, false));
}

}  // namespace
}  // namespace densekit
