// Dropout, AlphaDropout, GaussianNoise and GaussianDropout, forward and backward side by side
// (formulas in kernels/noise.hpp). Rows are split among threads as the element-wise activations
// split them; every draw is a hash of (key, row, column), so results do not depend on the thread
// count.
#include "densekit/kernels/noise.hpp"

#include <cmath>
#include <string>

#include "densekit/counter_random.hpp"
#include "densekit/error.hpp"
#include "elementwise.hpp"

namespace densekit {
namespace {

using counter_random::RowKey;
using elementwise::blend;
using elementwise::Chunk;
using elementwise::for_each_row;
using elementwise::greater;
using elementwise::kChunk;
using elementwise::map_chunks;

// SELU's constants, as Keras's AlphaDropout writes them.
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;

void check_rate(const char* where, double rate) {
  if (!(rate >= 0 && rate < 1))
    throw ValueError(std::string(where) +
                     ": rate must be in [0, 1). Received: rate=" + std::to_string(rate));
}

void check_same_shape(const char* where, const char* name, MatrixIn x, Index rows, Index cols) {
  require_shape(where, name, rows, cols, x.rows(), x.cols());
}

// The bits at or above which an element is kept: round(rate·2³²), below 2³².
std::uint32_t keep_threshold(double rate) {
  const double t = std::nearbyint(rate * 4294967296.0);
  return t >= 4294967295.0 ? 0xffffffffU : static_cast<std::uint32_t>(t);
}

RowKey row_key_of(const NoisePattern& pattern, std::uint64_t key, Index r) {
  return counter_random::row_key(key, pattern.share_rows ? 0 : static_cast<std::uint64_t>(r));
}

// kept[c] = 1 where the row's draw for pattern column c reaches the threshold, else 0. Plain
// 32-bit integer arithmetic on restrict pointers: the compiler vectorizes it.
void draw_kept(RowKey key, const std::uint32_t* __restrict columns, Index units,
               std::uint32_t threshold, Scalar* __restrict kept) {
  for (Index c = 0; c < units; ++c)
    kept[c] = counter_random::bits(key, columns[c]) >= threshold ? Scalar(1) : Scalar(0);
}

// z[c] ~ N(0, 1) for the row's columns, by Box–Muller: z = √(-2 ln u₁) cos(2π u₂). The two
// uniforms of a column are two draws of the row's stream (columns < 2³¹, so c and c | 2³¹ differ).
// Fixed-size chunks, so every z goes through the same vectorized log and cos.
template <class Write>
void draw_normal(RowKey key, Index units, Write write) {
  for (Index c0 = 0; c0 < units; c0 += kChunk) {
    Chunk u1, u2;
    for (Index j = 0; j < kChunk; ++j) {
      const auto c = static_cast<std::uint32_t>(c0 + j);
      u1[j] = counter_random::uniform_open01(counter_random::bits(key, c));
      u2[j] = counter_random::uniform01(counter_random::bits(key, c | 0x80000000U));
    }
    const Chunk z = (Scalar(-2) * u1.log()).sqrt() * (Scalar(2 * M_PI) * u2).cos();
    const Index width = std::min(kChunk, units - c0);
    for (Index j = 0; j < width; ++j) write(c0 + j, z[j]);
  }
}

}  // namespace

NoisePattern::NoisePattern(Index units) : columns(static_cast<size_t>(units)) {
  for (Index c = 0; c < units; ++c) columns[size_t(c)] = static_cast<std::uint32_t>(c);
}

// Column c of the flattened sample has the multi-index (i1, ..., ik); it draws the noise
// element whose index is ij along axis j, or 0 where the noise shape is 1 there.
NoisePattern::NoisePattern(const std::vector<Index>& sample_shape,
                           const std::vector<Index>& noise_shape) {
  const auto refuse = [&](const std::string& why) {
    std::string shape = "(None";
    for (Index d : sample_shape) shape += ", " + std::to_string(d);
    throw ValueError("noise_shape " + why + " for inputs of shape " + shape + ")");
  };
  const size_t k = sample_shape.size();
  if (noise_shape.size() != k + 1) refuse("must have one entry per input axis");
  if (noise_shape[0] != 0 && noise_shape[0] != 1) refuse("must have None or 1 on the batch axis");
  share_rows = noise_shape[0] == 1;
  std::vector<Index> size(k), stride(k);  // the noise element's size and stride per axis
  Index units = 1, noise_units = 1;
  for (size_t j = k; j-- > 0;) {
    const Index d = sample_shape[j], n = noise_shape[j + 1] == 0 ? d : noise_shape[j + 1];
    if (d < 1) refuse("needs a sample shape of positive sizes");
    if (n != d && n != 1) refuse("must have None, 1 or the input's size on every axis");
    size[j] = d;
    stride[j] = n == 1 ? 0 : noise_units;
    noise_units *= n;
    units *= d;
  }
  if (units > 0x7fffffff) refuse("covers more than 2^31 - 1 features");
  columns.resize(size_t(units));
  std::vector<Index> index(k, 0);
  for (Index c = 0; c < units; ++c) {
    Index column = 0;
    for (size_t j = 0; j < k; ++j) column += index[j] * stride[j];
    columns[size_t(c)] = static_cast<std::uint32_t>(column);
    for (size_t j = k; j-- > 0;) {  // the next multi-index, last axis fastest
      if (++index[j] < size[j]) break;
      index[j] = 0;
    }
  }
}

// y = kept ? x / (1 - rate) : 0, with 1 - rate rounded to float once, as Keras's torch backend
// divides a float32 tensor by it.
void dropout_forward(MatrixIn x, double rate, const NoisePattern& pattern, std::uint64_t key,
                     MatrixOut mask, MatrixOut y) {
  const char* where = "dropout_forward";
  check_rate(where, rate);
  require_shape(where, "x", x.rows(), x.cols(), -1, pattern.units());
  check_same_shape(where, "mask", x, mask.rows(), mask.cols());
  check_same_shape(where, "y", x, y.rows(), y.cols());
  const std::uint32_t threshold = keep_threshold(rate);
  const auto keep = static_cast<Scalar>(1 - rate);
  for_each_row(x.rows(), x.cols(), [&](Index r) {
    draw_kept(row_key_of(pattern, key, r), pattern.columns.data(), x.cols(), threshold,
              mask.row(r).data());
    y.row(r).array() = x.row(r).array() * mask.row(r).array() / keep;
  });
}

// dx = kept ? dy / (1 - rate) : 0: the derivative of the forward, division included.
void dropout_backward(MatrixIn mask, double rate, MatrixIn dy, MatrixOut dx) {
  const char* where = "dropout_backward";
  check_rate(where, rate);
  check_same_shape(where, "dy", mask, dy.rows(), dy.cols());
  check_same_shape(where, "dx", mask, dx.rows(), dx.cols());
  const auto keep = static_cast<Scalar>(1 - rate);
  for_each_row(mask.rows(), mask.cols(), [&](Index r) {
    dx.row(r).array() = dy.row(r).array() * mask.row(r).array() / keep;
  });
}

// y = kept ? a x + b : a α' + b, the forms of Keras's a (x ⊙ kept + α' (1 - kept)) + b.
void alpha_dropout_forward(MatrixIn x, double rate, const NoisePattern& pattern, std::uint64_t key,
                           MatrixOut factor, MatrixOut y) {
  const char* where = "alpha_dropout_forward";
  check_rate(where, rate);
  require_shape(where, "x", x.rows(), x.cols(), -1, pattern.units());
  check_same_shape(where, "factor", x, factor.rows(), factor.cols());
  check_same_shape(where, "y", x, y.rows(), y.cols());
  const double alpha_p = -kSeluAlpha * kSeluScale;
  const double a64 = std::pow((1 - rate) * (1 + rate * alpha_p * alpha_p), -0.5);
  const auto a = static_cast<Scalar>(a64), b = static_cast<Scalar>(-a64 * alpha_p * rate);
  const auto dropped = static_cast<Scalar>(a64 * alpha_p) + b;
  const std::uint32_t threshold = keep_threshold(rate);
  for_each_row(x.rows(), x.cols(), [&](Index r) {
    auto f = factor.row(r).array();
    draw_kept(row_key_of(pattern, key, r), pattern.columns.data(), x.cols(), threshold, f.data());
    map_chunks(
        x.cols(), y.row(r).data(),
        [a, b, dropped](const auto& kept, const auto& v) -> Chunk {
          return blend(greater(kept, 0), a * v + b, dropped);
        },
        f.data(), x.row(r).data());
    f *= a;
  });
}

void gaussian_noise_forward(MatrixIn x, double stddev, std::uint64_t key, MatrixOut y) {
  const char* where = "gaussian_noise_forward";
  if (!(stddev >= 0) || !std::isfinite(stddev))
    throw ValueError(std::string(where) + ": stddev must be a finite number >= 0. Received: " +
                     "stddev=" + std::to_string(stddev));
  check_same_shape(where, "y", x, y.rows(), y.cols());
  const auto s = static_cast<Scalar>(stddev);
  for_each_row(x.rows(), x.cols(), [&](Index r) {
    draw_normal(counter_random::row_key(key, std::uint64_t(r)), x.cols(),
                [&](Index c, Scalar z) { y(r, c) = x(r, c) + s * z; });
  });
}

void gaussian_dropout_forward(MatrixIn x, double rate, std::uint64_t key, MatrixOut factor,
                              MatrixOut y) {
  const char* where = "gaussian_dropout_forward";
  check_rate(where, rate);
  check_same_shape(where, "factor", x, factor.rows(), factor.cols());
  check_same_shape(where, "y", x, y.rows(), y.cols());
  const auto sigma = static_cast<Scalar>(std::sqrt(rate / (1 - rate)));
  for_each_row(x.rows(), x.cols(), [&](Index r) {
    draw_normal(counter_random::row_key(key, std::uint64_t(r)), x.cols(), [&](Index c, Scalar z) {
      const Scalar f = 1 + sigma * z;
      factor(r, c) = f;
      y(r, c) = x(r, c) * f;
    });
  });
}

void noise_backward(MatrixIn factor, MatrixIn dy, MatrixOut dx) {
  const char* where = "noise_backward";
  check_same_shape(where, "dy", factor, dy.rows(), dy.cols());
  check_same_shape(where, "dx", factor, dx.rows(), dx.cols());
  for_each_row(factor.rows(), factor.cols(),
               [&](Index r) { dx.row(r).array() = dy.row(r).array() * factor.row(r).array(); });
}

}  // namespace densekit
