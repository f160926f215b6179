// Activation kernels with Keras 3 definitions (keras/src/backend/*/nn.py), forward and backward
// side by side. Every array is (n, units); backward computes dx = dy ⊙ f'(x) (softmax: the row's
// Jacobian product). Where f has a kink, f' takes the value TensorFlow's gradient op gives, so that
// training matches Keras on the TF backend.
//
// The loops are those of elementwise.hpp: over rows, in fixed-size chunks, so the result does not
// depend on the thread count, the batch size or the row an example sits in, and x == y and
// dy == dx may alias (softmax reads only its own row).
#include "densekit/kernels/activations.hpp"

#include <algorithm>
#include <cmath>

#include "densekit/error.hpp"
#include "elementwise.hpp"

namespace densekit {
namespace {

using elementwise::blend;
using elementwise::both;
using elementwise::Chunk;
using elementwise::for_each_row;
using elementwise::greater;
using elementwise::greater_equal;
using elementwise::kChunk;
using elementwise::less;
using elementwise::map_chunks;
using elementwise::map_derivative;
using elementwise::map_elements;
using elementwise::map_rows;
using elementwise::padded;
using elementwise::store_short;
using elementwise::sum_chunks;

// Klambauer et al. 2017, the constants of keras/src/backend/numpy/nn.py selu.
constexpr double kSeluAlpha = 1.67326324235437728481704299167171;
constexpr double kSeluScale = 1.05070098735548049341933498529460;
constexpr Scalar kScale = static_cast<Scalar>(kSeluScale);
constexpr Scalar kScaleAlpha = static_cast<Scalar>(kSeluScale * kSeluAlpha);
constexpr Scalar kInvSqrt2 = 0.70710678118654752440f;     // 1/√2
constexpr Scalar kInvSqrt2Pi = 0.39894228040143267794f;   // 1/√(2π)
constexpr Scalar kSqrt2OverPi = 0.79788456080286535588f;  // √(2/π)
constexpr Scalar kGeluCubic = 0.044715f;

struct NamedKind {
  const char* name;
  ActivationKind kind;
};
// Keras 3 names; "silu" is Keras's own name for swish (activations.ALL_OBJECTS_DICT).
constexpr NamedKind kNames[] = {
    {"linear", ActivationKind::linear},
    {"sigmoid", ActivationKind::sigmoid},
    {"tanh", ActivationKind::tanh},
    {"relu", ActivationKind::relu},
    {"leaky_relu", ActivationKind::leaky_relu},
    {"elu", ActivationKind::elu},
    {"selu", ActivationKind::selu},
    {"gelu", ActivationKind::gelu},
    {"silu", ActivationKind::swish},
    {"swish", ActivationKind::swish},
    {"softplus", ActivationKind::softplus},
    {"softsign", ActivationKind::softsign},
    {"hard_sigmoid", ActivationKind::hard_sigmoid},
    {"exponential", ActivationKind::exponential},
    {"thresholded_relu", ActivationKind::thresholded_relu},
    {"softmax", ActivationKind::softmax},
};

// e^x - 1 for x <= 0, as 2t / (1 - t) with t = tanh(x / 2) (t in (-1, 0], so no cancellation).
template <class A>
auto expm1_nonpositive(const A& x) {
  const auto t = (Scalar(0.5) * x).tanh();
  return Scalar(2) * t / (Scalar(1) - t);
}

// Keras 3 ReLU.static_call(x, negative_slope s, max_value m, threshold t), element-wise:
//   s ≠ 0, no m, t = 0:  leaky_relu, x if x > 0 else s·x
//   otherwise            pos = x if x > t else 0      (t ≠ 0)
//                            = min(max(x, 0), 6)      (t = 0, m = 6: tf.nn.relu6)
//                            = max(x, 0)              (t = 0)
//                        pos = clip(pos, 0, m)        (m given, except on the relu6 path)
//                        y   = pos - s·max(t - x, 0)
// f' as TF's gradient ops give it: relu and where() pass the gradient on the strict side only
// (relu'(0) = 0, 0 at x = t), relu6 on 0 < x < 6 only, clip_by_value on the closed [0, m],
// leaky_relu takes the slope at 0.
struct Relu {
  Scalar s, m, t;
  bool leaky() const { return s != 0 && m < 0 && t == 0; }
  bool relu6() const { return t == 0 && m == 6; }
  bool clip() const { return m >= 0 && !relu6(); }

  Scalar value(Scalar x) const {
    if (leaky()) return x > 0 ? x : s * x;
    Scalar pos = t != 0 ? (x > t ? x : Scalar(0)) : std::max(x, Scalar(0));
    if (relu6()) pos = std::min(pos, Scalar(6));
    if (clip()) pos = std::clamp(pos, Scalar(0), m);
    return s != 0 ? pos - s * std::max(t - x, Scalar(0)) : pos;
  }
  Scalar derivative(Scalar x) const {
    if (leaky()) return x > 0 ? Scalar(1) : s;
    Scalar pos = t != 0 ? (x > t ? x : Scalar(0)) : std::max(x, Scalar(0));
    Scalar d = x > t ? Scalar(1) : Scalar(0);
    if (relu6() && !(x < 6)) d = 0;
    if (clip() && (pos < 0 || pos > m)) d = 0;
    return t - x > 0 ? d + s : d;
  }
};

Relu relu_of(const ActivationSpec& spec) {
  return {spec.negative_slope, spec.max_value, spec.threshold};
}
bool plain_relu(const ActivationSpec& spec) {
  return spec.negative_slope == 0 && spec.max_value < 0 && spec.threshold == 0;
}

// gelu exact: y = ½x(1 + erf(x/√2)) = ½x·erfc(-x/√2), TF's form (no cancellation for x ≪ 0).
//   f' = Φ(x) + x·φ(x), with Φ = y/x read from the forward output instead of a second erfc
//   (Φ = ½ for |x| < 1e-30, where y/x would lose digits to underflow).
Scalar gelu_exact(Scalar x) { return Scalar(0.5) * x * std::erfc(-x * kInvSqrt2); }
Scalar gelu_exact_derivative(Scalar x, Scalar y) {
  const Scalar cdf = std::abs(x) > Scalar(1e-30) ? y / x : Scalar(0.5);
  return cdf + x * kInvSqrt2Pi * std::exp(Scalar(-0.5) * x * x);
}

// gelu approximate: u = √(2/π)(x + 0.044715x³), y = ½x(1 + tanh u) = x·σ(2u): the same function
// without the cancellation of 1 + tanh u for x ≪ 0, and vectorized.
//   f' = σ(2u) + 2x·σ(2u)(1 - σ(2u))·√(2/π)(1 + 3·0.044715x²),
// x² capped at 1e8 in the last factor, where σ(2u)(1 - σ(2u)) is already 0, to avoid 0·∞.
template <class A>
auto gelu_tanh_sigma(const A& a) {  // σ(2u)
  return (1 + (Scalar(-2) * kSqrt2OverPi * (a + kGeluCubic * a.cube())).exp()).inverse();
}

// A row of at most kChunk classes, a classifier's usual output, stays in one chunk from load to
// store. The lanes go through the instructions of the general path below, the padding is zeroed
// where that path sums zeros, and so the bits are the same (256 rows of 10 classes, one thread:
// 18 -> 12 µs).
void softmax_short_rows(MatrixIn x, MatrixOut y) {
  const Index n = x.cols();
  Chunk real;
  for (Index k = 0; k < kChunk; ++k) real[k] = k < n ? Scalar(1) : Scalar(0);
  const Chunk in_row = greater(real, Scalar(0));
  for_each_row(x.rows(), n, [&](Index r) {
    const Scalar top = x.row(r).maxCoeff();  // exact in any order
    const Chunk e = blend(in_row, (padded(x.row(r).data(), 0, n) - top).exp(), Scalar(0));
    const Scalar total = e.sum();
    store_short(e / total, y.row(r).data(), n);
  });
}

// Softmax of one row, stable: y = e^(x - max x) / Σ e^(x - max x).
// Backward (J = diag(y) - y yᵀ is symmetric): dx = J dy = y ⊙ (dy - Σ dy ⊙ y).
void softmax_forward(MatrixIn x, MatrixOut y) {
  const Index n = x.cols();
  if (n == 0) return;
  if (n <= kChunk) return softmax_short_rows(x, y);
  for_each_row(x.rows(), n, [&](Index r) {
    const Scalar top = x.row(r).maxCoeff();  // exact in any order
    Scalar* out = y.row(r).data();
    map_chunks(n, out, [top](const auto& a) -> Chunk { return (a - top).exp(); }, x.row(r).data());
    const Scalar total = sum_chunks(n, [](const auto& e) -> Chunk { return e; }, out);
    map_chunks(n, out, [total](const auto& e) -> Chunk { return e / total; }, out);
  });
}
void softmax_backward(MatrixIn y, MatrixIn dy, MatrixOut dx) {
  const Index n = y.cols();
  for_each_row(y.rows(), n, [&](Index r) {
    const Scalar* yr = y.row(r).data();
    const Scalar* dyr = dy.row(r).data();
    const Scalar dot =
        sum_chunks(n, [](const auto& a, const auto& g) -> Chunk { return a * g; }, yr, dyr);
    map_chunks(
        n, dx.row(r).data(), [dot](const auto& a, const auto& g) -> Chunk { return a * (g - dot); },
        yr, dyr);
  });
}

}  // namespace

ActivationKind activation_kind_from_name(const std::string& name) {
  for (const auto& entry : kNames)
    if (name == entry.name) return entry.kind;
  std::string valid;
  for (const auto& entry : kNames) valid += (valid.empty() ? "" : ", ") + std::string(entry.name);
  throw ValueError("activation_kind_from_name: unknown activation; expected one of " + valid +
                   ". Received: name=" + name);
}

std::string activation_name(ActivationKind kind) {
  for (const auto& entry : kNames)
    if (entry.kind == kind) return entry.name;
  throw ValueError("activation_name: unknown ActivationKind. Received: kind=" +
                   std::to_string(static_cast<int>(kind)));
}

// y = f(x), f as in the comments of ActivationKind and below.
void activation_forward(const ActivationSpec& spec, MatrixIn x, MatrixOut y) {
  require_shape("activation_forward", "y", y.rows(), y.cols(), x.rows(), x.cols());
  const Scalar slope = spec.negative_slope, alpha = spec.alpha, theta = spec.threshold;
  switch (spec.kind) {
    case ActivationKind::linear:
      if (x.data() != y.data()) map_rows(x, y, [](const auto& a) -> Chunk { return a; });
      return;
    case ActivationKind::sigmoid:  // 1/(1 + e^-x): for x < -88, e^-x = inf and y = 0, never NaN
      return map_rows(x, y, [](const auto& a) -> Chunk { return (1 + (-a).exp()).inverse(); });
    case ActivationKind::tanh:
      return map_rows(x, y, [](const auto& a) -> Chunk { return a.tanh(); });
    case ActivationKind::relu:
      if (plain_relu(spec))
        return map_rows(x, y, [](const auto& a) -> Chunk { return a.max(Scalar(0)); });
      return map_elements(x, y, [r = relu_of(spec)](Scalar v) { return r.value(v); });
    case ActivationKind::leaky_relu:  // TF's kernel; equals Keras-numpy's max(x, s·x) for s <= 1
      return map_rows(
          x, y, [slope](const auto& a) -> Chunk { return blend(greater(a, 0), a, slope * a); });
    // elu: x if x > 0 else α(e^x - 1), written max(x, 0) + α·expm1(min(x, 0)) (one of the two
    // terms is exactly 0) because Eigen 3.4 evaluates select() one scalar at a time. expm1 as
    // 2t / (1 - t) with t = tanh(x/2): exact to a few ulp near 0 (where exp(x) - 1 loses every
    // digit) and three times faster than Eigen's vectorized expm1.
    case ActivationKind::elu:
      return map_rows(x, y, [alpha](const auto& a) -> Chunk {
        return a.max(Scalar(0)) + alpha * expm1_nonpositive(a.min(Scalar(0)));
      });
    case ActivationKind::selu:  // scale·elu(x, α)
      return map_rows(x, y, [](const auto& a) -> Chunk {
        return kScale * a.max(Scalar(0)) + kScaleAlpha * expm1_nonpositive(a.min(Scalar(0)));
      });
    case ActivationKind::gelu:
      if (!spec.approximate) return map_elements(x, y, gelu_exact);
      return map_rows(x, y, [](const auto& a) -> Chunk { return a * gelu_tanh_sigma(a); });
    case ActivationKind::swish:  // x·σ(x)
      return map_rows(x, y, [](const auto& a) -> Chunk { return a * (1 + (-a).exp()).inverse(); });
    case ActivationKind::softplus:  // log(1 + e^x) = log1p(e^-|x|) + max(x, 0), never overflows
      return map_rows(
          x, y, [](const auto& a) -> Chunk { return (-a.abs()).exp().log1p() + a.max(Scalar(0)); });
    case ActivationKind::softsign:  // x / (1 + |x|)
      return map_rows(x, y, [](const auto& a) -> Chunk { return a / (1 + a.abs()); });
    case ActivationKind::hard_sigmoid:  // relu6(x + 3) / 6, TF's form
      return map_rows(x, y, [](const auto& a) -> Chunk {
        return (a + Scalar(3)).max(Scalar(0)).min(Scalar(6)) / Scalar(6);
      });
    case ActivationKind::exponential:
      return map_rows(x, y, [](const auto& a) -> Chunk { return a.exp(); });
    case ActivationKind::thresholded_relu:  // x if x > θ else 0
      return map_rows(x, y,
                      [theta](const auto& a) -> Chunk { return blend(greater(a, theta), a, 0); });
    case ActivationKind::softmax:
      return softmax_forward(x, y);
  }
  throw ValueError("activation_forward: unknown ActivationKind");
}

// dx = dy ⊙ f'(x). Derivatives, with TF's value at the kinks:
//   sigmoid σ(1-σ) = y(1-y);  tanh 1-y²;  exponential y;  swish σ + xσ(1-σ) = y + σ(1-y);
//   softplus σ(x);  softsign 1/(1+|x|)²;  leaky_relu 1 if x > 0 else s (s at 0);
//   elu 1 if x > 0 else αe^x = y + α (α at 0: tf.where(x > 0, elu, α·elu));
//   selu scale if x >= 0 else scale·α·e^x = y + scale·α (scale at 0: SeluGrad tests y < 0);
//   hard_sigmoid 1/6 on -3 < x < 3 (0 at ±3: Relu6Grad on x + 3);  thresholded_relu 1 if x > θ.
void activation_backward(const ActivationSpec& spec, MatrixIn x, MatrixIn y, MatrixIn dy,
                         MatrixOut dx) {
  const char* where = "activation_backward";
  require_shape(where, "y", y.rows(), y.cols(), x.rows(), x.cols());
  require_shape(where, "dy", dy.rows(), dy.cols(), x.rows(), x.cols());
  require_shape(where, "dx", dx.rows(), dx.cols(), x.rows(), x.cols());
  const Scalar slope = spec.negative_slope, alpha = spec.alpha, theta = spec.threshold;
  switch (spec.kind) {
    case ActivationKind::linear:
      if (dy.data() != dx.data()) map_rows(dy, dx, [](const auto& g) -> Chunk { return g; });
      return;
    case ActivationKind::sigmoid:
      return map_rows(x, y, dy, dx, [](const auto&, const auto& o, const auto& g) -> Chunk {
        return g * o * (1 - o);
      });
    case ActivationKind::tanh:
      return map_rows(x, y, dy, dx, [](const auto&, const auto& o, const auto& g) -> Chunk {
        return g * (1 - o.square());
      });
    case ActivationKind::relu:
      if (plain_relu(spec))
        return map_rows(x, y, dy, dx, [](const auto& a, const auto&, const auto& g) -> Chunk {
          return blend(greater(a, 0), g, 0);
        });
      return map_derivative(x, y, dy, dx,
                            [r = relu_of(spec)](Scalar v, Scalar) { return r.derivative(v); });
    case ActivationKind::leaky_relu:
      return map_rows(x, y, dy, dx, [slope](const auto& a, const auto&, const auto& g) -> Chunk {
        return blend(greater(a, 0), g, slope * g);
      });
    // elu and selu from y, as TF's EluGrad and SeluGrad do: no exp, and the select stays cheap
    // enough to vectorize. For x ≪ 0 the absolute error is an ulp of α, not of αe^x.
    case ActivationKind::elu:
      return map_rows(x, y, dy, dx, [alpha](const auto& a, const auto& o, const auto& g) -> Chunk {
        return blend(greater(a, 0), g, g * (o + alpha));
      });
    case ActivationKind::selu:
      return map_rows(x, y, dy, dx, [](const auto& a, const auto& o, const auto& g) -> Chunk {
        return blend(less(a, 0), g * (o + kScaleAlpha), kScale * g);
      });
    case ActivationKind::gelu:
      if (!spec.approximate) return map_derivative(x, y, dy, dx, gelu_exact_derivative);
      return map_rows(x, y, dy, dx, [](const auto& a, const auto&, const auto& g) -> Chunk {
        const auto s = gelu_tanh_sigma(a);
        const auto du = kSqrt2OverPi * (1 + 3 * kGeluCubic * a.square().min(Scalar(1e8)));
        return g * (s + 2 * a * s * (1 - s) * du);
      });
    case ActivationKind::swish:
      return map_rows(x, y, dy, dx, [](const auto& a, const auto& o, const auto& g) -> Chunk {
        return g * (o + (1 + (-a).exp()).inverse() * (1 - o));
      });
    case ActivationKind::softplus:
      return map_rows(x, y, dy, dx, [](const auto& a, const auto&, const auto& g) -> Chunk {
        return g * (1 + (-a).exp()).inverse();
      });
    case ActivationKind::softsign:
      return map_rows(x, y, dy, dx, [](const auto& a, const auto&, const auto& g) -> Chunk {
        return g / (1 + a.abs()).square();
      });
    case ActivationKind::hard_sigmoid:  // TF divides dy by 6 first, then masks
      return map_rows(x, y, dy, dx, [](const auto& a, const auto&, const auto& g) -> Chunk {
        const Chunk shifted = a + Scalar(3);
        return blend(both(greater(shifted, 0), less(shifted, 6)), g / Scalar(6), 0);
      });
    case ActivationKind::exponential:
      return map_rows(x, y, dy, dx,
                      [](const auto&, const auto& o, const auto& g) -> Chunk { return g * o; });
    case ActivationKind::thresholded_relu:
      return map_rows(x, y, dy, dx, [theta](const auto& a, const auto&, const auto& g) -> Chunk {
        return blend(greater(a, theta), g, 0);
      });
    case ActivationKind::softmax:
      return softmax_backward(y, dy, dx);
  }
  throw ValueError("activation_backward: unknown ActivationKind");
}

}  // namespace densekit
