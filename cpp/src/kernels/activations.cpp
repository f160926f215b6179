// Activation kernels with Keras 3 definitions (keras/src/backend/*/nn.py), forward and backward
// side by side. Every array is (n, units); backward computes dx = dy ⊙ f'(x) (softmax: the row's
// Jacobian product). Where f has a kink, f' takes the value TensorFlow's gradient op gives, so that
// training matches Keras on the TF backend.
//
// Every loop runs over rows on loop_threads(n·units) threads, and every element goes through the
// same instructions wherever it lies (map_chunks), so the result does not depend on the thread
// count, the batch size or the row an example sits in. Each output coefficient is computed from
// the same coefficient of the inputs only (softmax: the same row), which is what makes x == y and
// dy == dx safe.
#include "densekit/kernels/activations.hpp"

#include <algorithm>
#include <cmath>

#include "densekit/error.hpp"
#include "densekit/parallel.hpp"

namespace densekit {
namespace {

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

template <class Body>
void for_each_row(Index rows, Index cols, Body body) {
  parallel_for(rows, rows * cols, body);
}

// Element-wise work runs through chunks of kChunk coefficients mapped as fixed-size Eigen arrays,
// the last one zero-padded on the stack. Eigen evaluates a fixed-size map without peeling off an
// unaligned head, so every coefficient goes through the same vectorized instructions wherever it
// lies: a value depends on its inputs only, not on its row, column offset, batch size or thread.
// (A dynamic-size expression computes the head before the first aligned address with scalar code,
// whose exp differs from the vectorized one by an ulp.)
constexpr Index kChunk = 16;
using Chunk = Eigen::Array<Scalar, 1, kChunk>;

Chunk padded(const Scalar* p, Index from, Index to) {
  Chunk v = Chunk::Zero();
  std::copy(p + from, p + to, v.data());
  return v;
}

// out[0, n) = f(in[0, n), ...) with f an Eigen array expression; out may be one of the inputs.
template <class F, class... In>
void map_chunks(Index n, Scalar* out, F f, In... in) {
  Index c = 0;
  for (; c + kChunk <= n; c += kChunk)
    Eigen::Map<Chunk>(out + c) = f(Eigen::Map<const Chunk>(in + c)...);
  if (c == n) return;
  const Chunk last = f(padded(in, c, n)...);
  std::copy(last.data(), last.data() + (n - c), out + c);
}

// Σ f(in[0, n), ...) in one fixed order; f of zeros must be zero (the padding).
template <class F, class... In>
Scalar sum_chunks(Index n, F f, In... in) {
  Chunk acc = Chunk::Zero();
  Index c = 0;
  for (; c + kChunk <= n; c += kChunk) acc += f(Eigen::Map<const Chunk>(in + c)...);
  if (c < n) acc += f(padded(in, c, n)...);
  return acc.sum();
}

// y.row(r) = f(x.row(r)) for every row.
template <class F>
void map_rows(MatrixIn x, MatrixOut y, F f) {
  for_each_row(x.rows(), x.cols(), [&](Index r) {
    map_chunks(x.cols(), y.row(r).data(), f, x.row(r).data());
  });
}

// dx.row(r) = g(x.row(r), y.row(r), dy.row(r)) for every row.
template <class G>
void map_rows(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, G g) {
  for_each_row(x.rows(), x.cols(), [&](Index r) {
    map_chunks(x.cols(), dx.row(r).data(), g, x.row(r).data(), y.row(r).data(), dy.row(r).data());
  });
}

// The same with scalar functions, for the kinds that need std::erfc or branches.
template <class F>
void map_elements(MatrixIn x, MatrixOut y, F f) {
  for_each_row(x.rows(), x.cols(), [&](Index r) {
    for (Index c = 0; c < x.cols(); ++c) y(r, c) = f(x(r, c));
  });
}
// dx = dy ⊙ f'(x, y) with f' a scalar function of x and y.
template <class D>
void map_derivative(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, D derivative) {
  for_each_row(x.rows(), x.cols(), [&](Index r) {
    for (Index c = 0; c < x.cols(); ++c) dx(r, c) = dy(r, c) * derivative(x(r, c), y(r, c));
  });
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

// Softmax of one row, stable: y = e^(x - max x) / Σ e^(x - max x).
// Backward (J = diag(y) - y yᵀ is symmetric): dx = J dy = y ⊙ (dy - Σ dy ⊙ y).
void softmax_forward(MatrixIn x, MatrixOut y) {
  const Index n = x.cols();
  if (n == 0) return;
  for_each_row(x.rows(), n, [&](Index r) {
    const Scalar top = x.row(r).maxCoeff();  // exact in any order
    Scalar* out = y.row(r).data();
    map_chunks(n, out, [top](const auto& a) { return (a - top).exp(); }, x.row(r).data());
    const Scalar total = sum_chunks(n, [](const auto& e) { return e; }, out);
    map_chunks(n, out, [total](const auto& e) { return e / total; }, out);
  });
}
void softmax_backward(MatrixIn y, MatrixIn dy, MatrixOut dx) {
  const Index n = y.cols();
  for_each_row(y.rows(), n, [&](Index r) {
    const Scalar* yr = y.row(r).data();
    const Scalar* dyr = dy.row(r).data();
    const Scalar dot = sum_chunks(n, [](const auto& a, const auto& g) { return a * g; }, yr, dyr);
    map_chunks(n, dx.row(r).data(), [dot](const auto& a, const auto& g) { return a * (g - dot); },
               yr, dyr);
  });
}

// A nested splitmix64 hash (Steele, Lea & Flood 2014) of (seed, step, element): each element's
// draw depends on nothing else, so it is the same whatever thread computes it.
std::uint64_t splitmix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
// The top 24 bits as a float in [0, 1): exact, so never rounds up to 1.
Scalar uniform01(std::uint64_t key, std::uint64_t element) {
  return static_cast<Scalar>(splitmix64(key ^ element) >> 40) * 0x1p-24f;
}

void check_rrelu_bounds(const char* where, Scalar lower, Scalar upper) {
  if (!(lower <= upper) || !std::isfinite(lower) || !std::isfinite(upper))
    throw ValueError(std::string(where) +
                     ": lower and upper must be finite with lower <= upper. Received: lower=" +
                     std::to_string(lower) + ", upper=" + std::to_string(upper));
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
      if (x.data() != y.data()) map_rows(x, y, [](const auto& a) { return a; });
      return;
    case ActivationKind::sigmoid:  // 1/(1 + e^-x): for x < -88, e^-x = inf and y = 0, never NaN
      return map_rows(x, y, [](const auto& a) { return (1 + (-a).exp()).inverse(); });
    case ActivationKind::tanh:
      return map_rows(x, y, [](const auto& a) { return a.tanh(); });
    case ActivationKind::relu:
      if (plain_relu(spec)) return map_rows(x, y, [](const auto& a) { return a.max(Scalar(0)); });
      return map_elements(x, y, [r = relu_of(spec)](Scalar v) { return r.value(v); });
    case ActivationKind::leaky_relu:  // TF's kernel; equals Keras-numpy's max(x, s·x) for s <= 1
      return map_rows(x, y, [slope](const auto& a) { return (a > 0).select(a, slope * a); });
    // elu: x if x > 0 else α(e^x - 1), written max(x, 0) + α·expm1(min(x, 0)) (one of the two
    // terms is exactly 0) because Eigen 3.4 evaluates select() one scalar at a time. expm1 as
    // 2t / (1 - t) with t = tanh(x/2): exact to a few ulp near 0 (where exp(x) - 1 loses every
    // digit) and three times faster than Eigen's vectorized expm1.
    case ActivationKind::elu:
      return map_rows(x, y, [alpha](const auto& a) {
        return a.max(Scalar(0)) + alpha * expm1_nonpositive(a.min(Scalar(0)));
      });
    case ActivationKind::selu:  // scale·elu(x, α)
      return map_rows(x, y, [](const auto& a) {
        return kScale * a.max(Scalar(0)) + kScaleAlpha * expm1_nonpositive(a.min(Scalar(0)));
      });
    case ActivationKind::gelu:
      if (!spec.approximate) return map_elements(x, y, gelu_exact);
      return map_rows(x, y, [](const auto& a) { return a * gelu_tanh_sigma(a); });
    case ActivationKind::swish:  // x·σ(x)
      return map_rows(x, y, [](const auto& a) { return a * (1 + (-a).exp()).inverse(); });
    case ActivationKind::softplus:  // log(1 + e^x) = log1p(e^-|x|) + max(x, 0), never overflows
      return map_rows(x, y, [](const auto& a) {
        return (-a.abs()).exp().log1p() + a.max(Scalar(0));
      });
    case ActivationKind::softsign:  // x / (1 + |x|)
      return map_rows(x, y, [](const auto& a) { return a / (1 + a.abs()); });
    case ActivationKind::hard_sigmoid:  // relu6(x + 3) / 6, TF's form
      return map_rows(x, y, [](const auto& a) {
        return (a + Scalar(3)).max(Scalar(0)).min(Scalar(6)) / Scalar(6);
      });
    case ActivationKind::exponential:
      return map_rows(x, y, [](const auto& a) { return a.exp(); });
    case ActivationKind::thresholded_relu:  // x if x > θ else 0
      return map_rows(x, y, [theta](const auto& a) { return (a > theta).select(a, Scalar(0)); });
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
      if (dy.data() != dx.data()) map_rows(dy, dx, [](const auto& g) { return g; });
      return;
    case ActivationKind::sigmoid:
      return map_rows(x, y, dy, dx, [](const auto&, const auto& o, const auto& g) {
        return g * o * (1 - o);
      });
    case ActivationKind::tanh:
      return map_rows(x, y, dy, dx, [](const auto&, const auto& o, const auto& g) {
        return g * (1 - o.square());
      });
    case ActivationKind::relu:
      if (plain_relu(spec))
        return map_rows(x, y, dy, dx, [](const auto& a, const auto&, const auto& g) {
          return (a > 0).select(g, Scalar(0));
        });
      return map_derivative(x, y, dy, dx, [r = relu_of(spec)](Scalar v, Scalar) {
        return r.derivative(v);
      });
    case ActivationKind::leaky_relu:
      return map_rows(x, y, dy, dx, [slope](const auto& a, const auto&, const auto& g) {
        return (a > 0).select(g, slope * g);
      });
    // elu and selu from y, as TF's EluGrad and SeluGrad do: no exp, and the select stays cheap
    // enough to vectorize. For x ≪ 0 the absolute error is an ulp of α, not of αe^x.
    case ActivationKind::elu:
      return map_rows(x, y, dy, dx, [alpha](const auto& a, const auto& o, const auto& g) {
        return (a > 0).select(g, g * (o + alpha));
      });
    case ActivationKind::selu:
      return map_rows(x, y, dy, dx, [](const auto& a, const auto& o, const auto& g) {
        return (a < 0).select(g * (o + kScaleAlpha), kScale * g);
      });
    case ActivationKind::gelu:
      if (!spec.approximate) return map_derivative(x, y, dy, dx, gelu_exact_derivative);
      return map_rows(x, y, dy, dx, [](const auto& a, const auto&, const auto& g) {
        const auto s = gelu_tanh_sigma(a);
        const auto du = kSqrt2OverPi * (1 + 3 * kGeluCubic * a.square().min(Scalar(1e8)));
        return g * (s + 2 * a * s * (1 - s) * du);
      });
    case ActivationKind::swish:
      return map_rows(x, y, dy, dx, [](const auto& a, const auto& o, const auto& g) {
        return g * (o + (1 + (-a).exp()).inverse() * (1 - o));
      });
    case ActivationKind::softplus:
      return map_rows(x, y, dy, dx, [](const auto& a, const auto&, const auto& g) {
        return g * (1 + (-a).exp()).inverse();
      });
    case ActivationKind::softsign:
      return map_rows(x, y, dy, dx, [](const auto& a, const auto&, const auto& g) {
        return g / (1 + a.abs()).square();
      });
    case ActivationKind::hard_sigmoid:  // TF divides dy by 6 first, then masks
      return map_rows(x, y, dy, dx, [](const auto& a, const auto&, const auto& g) {
        return ((a + Scalar(3) > Scalar(0)) && (a + Scalar(3) < Scalar(6)))
            .select(g / Scalar(6), Scalar(0));
      });
    case ActivationKind::exponential:
      return map_rows(x, y, dy, dx, [](const auto&, const auto& o, const auto& g) {
        return g * o;
      });
    case ActivationKind::thresholded_relu:
      return map_rows(x, y, dy, dx, [theta](const auto& a, const auto&, const auto& g) {
        return (a > theta).select(g, Scalar(0));
      });
    case ActivationKind::softmax:
      return softmax_backward(y, dy, dx);
  }
  throw ValueError("activation_backward: unknown ActivationKind");
}

// y = max(0, x) + α ⊙ min(0, x), α (1, units) broadcast over rows: Keras's
// relu(x) - α·relu(-x), which is x for x > 0 and α·x otherwise.
void prelu_forward(MatrixIn x, VectorIn alpha, MatrixOut y) {
  require_shape("prelu_forward", "alpha", alpha.rows(), alpha.cols(), 1, x.cols());
  require_shape("prelu_forward", "y", y.rows(), y.cols(), x.rows(), x.cols());
  for_each_row(x.rows(), x.cols(), [&](Index r) {
    const auto a = x.row(r).array();
    y.row(r).array() = (a > 0).select(a, alpha.array() * a);
  });
}

// dx = dy where x > 0 else α·dy (α·dy at x = 0, as the header specifies; TF's autodiff of
// Keras's relu(x) - α·relu(-x) would give 0 there).
// dα_j = Σ_r dy_rj · min(0, x_rj). The columns are split among threads in blocks and each sum
// runs down the rows in order, so dα does not depend on the thread count either.
// dx may have no rows and dalpha no columns: that part is skipped.
void prelu_backward(MatrixIn x, VectorIn alpha, MatrixIn dy, MatrixOut dx, VectorOut dalpha) {
  const char* where = "prelu_backward";
  const Index n = x.rows(), units = x.cols();
  require_shape(where, "alpha", alpha.rows(), alpha.cols(), 1, units);
  require_shape(where, "dy", dy.rows(), dy.cols(), n, units);
  if (dx.rows() != 0) {
    require_shape(where, "dx", dx.rows(), dx.cols(), n, units);
    for_each_row(n, units, [&](Index r) {
      const auto g = dy.row(r).array();
      dx.row(r).array() = (x.row(r).array() > 0).select(g, alpha.array() * g);
    });
  }
  if (dalpha.cols() == 0) return;
  require_shape(where, "dalpha", dalpha.rows(), dalpha.cols(), 1, units);
  constexpr Index kBlock = 64;
  const Index blocks = (units + kBlock - 1) / kBlock;
  parallel_for(blocks, n * units, [&](Index b) {
    const Index c0 = b * kBlock, width = std::min(kBlock, units - c0);
    auto acc = dalpha.segment(c0, width).array();
    acc.setZero();
    for (Index r = 0; r < n; ++r)
      acc += dy.row(r).segment(c0, width).array() *
             x.row(r).segment(c0, width).array().min(Scalar(0));
  });
}

// y = x where x >= 0 else a·x, a = lower + (upper - lower)·u per element, u uniform in [0, 1)
// from splitmix64(splitmix64(splitmix64(seed) ^ step) ^ element), element = r·units + c.
void rrelu_forward_training(MatrixIn x, Scalar lower, Scalar upper, std::uint64_t seed,
                            std::uint64_t step, MatrixOut slopes, MatrixOut y) {
  const char* where = "rrelu_forward_training";
  check_rrelu_bounds(where, lower, upper);
  require_shape(where, "slopes", slopes.rows(), slopes.cols(), x.rows(), x.cols());
  require_shape(where, "y", y.rows(), y.cols(), x.rows(), x.cols());
  const std::uint64_t key = splitmix64(splitmix64(seed) ^ step);
  const Index units = x.cols();
  const Scalar width = upper - lower;
  for_each_row(x.rows(), units, [&](Index r) {
    for (Index c = 0; c < units; ++c) {
      const auto element = static_cast<std::uint64_t>(r * units + c);
      // min: lower + width·u may round up past upper when u is close to 1
      const Scalar a = std::min(lower + width * uniform01(key, element), upper);
      const Scalar v = x(r, c);
      slopes(r, c) = a;
      y(r, c) = v >= 0 ? v : a * v;
    }
  });
}

// y = x where x >= 0 else ((lower + upper) / 2)·x: the expected slope.
void rrelu_forward_inference(MatrixIn x, Scalar lower, Scalar upper, MatrixOut y) {
  check_rrelu_bounds("rrelu_forward_inference", lower, upper);
  require_shape("rrelu_forward_inference", "y", y.rows(), y.cols(), x.rows(), x.cols());
  const Scalar mean = (lower + upper) / 2;
  map_rows(x, y, [mean](const auto& a) { return (a >= 0).select(a, mean * a); });
}

// dx = dy where x >= 0 else a·dy, with the slopes a of the forward pass.
void rrelu_backward(MatrixIn x, MatrixIn slopes, MatrixIn dy, MatrixOut dx) {
  const char* where = "rrelu_backward";
  require_shape(where, "slopes", slopes.rows(), slopes.cols(), x.rows(), x.cols());
  require_shape(where, "dy", dy.rows(), dy.cols(), x.rows(), x.cols());
  require_shape(where, "dx", dx.rows(), dx.cols(), x.rows(), x.cols());
  map_rows(x, slopes, dy, dx, [](const auto& a, const auto& s, const auto& g) {
    return (a >= 0).select(g, s * g);
  });
}

}  // namespace densekit
