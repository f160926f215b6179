// PReLU (learned slopes) and RReLU (random slopes), forward and backward side by side. Every
// array is (n, units); the row loops and chunks are those of the element-wise activations
// (elementwise.hpp), so results do not depend on the thread count either.
#include "densekit/kernels/learned_activations.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "densekit/counter_random.hpp"
#include "densekit/error.hpp"
#include "densekit/parallel.hpp"
#include "elementwise.hpp"

namespace densekit {
namespace {

using elementwise::blend;
using elementwise::Chunk;
using elementwise::for_each_row;
using elementwise::greater;
using elementwise::greater_equal;
using elementwise::less;
using elementwise::map_chunks;
using elementwise::map_rows;

// A nested splitmix64 hash of (seed, step, element): each element's draw depends on nothing
// else, so it is the same whatever thread computes it.
using counter_random::splitmix64;
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

// y = max(0, x) + α ⊙ min(0, x), α (1, units) broadcast over rows: Keras's
// relu(x) - α·relu(-x), which is x for x > 0 and α·x otherwise.
void prelu_forward(MatrixIn x, VectorIn alpha, MatrixOut y) {
  require_shape("prelu_forward", "alpha", alpha.rows(), alpha.cols(), 1, x.cols());
  require_shape("prelu_forward", "y", y.rows(), y.cols(), x.rows(), x.cols());
  for_each_row(x.rows(), x.cols(), [&](Index r) {
    map_chunks(
        x.cols(), y.row(r).data(),
        [](const auto& a, const auto& slope) -> Chunk {
          return blend(greater(a, 0), a, slope * a);
        },
        x.row(r).data(), alpha.data());
  });
}

// dx = dy where x > 0, α·dy where x < 0, and 0 at x = 0: TF's gradient of Keras's
// relu(x) - α·relu(-x), in which both relus pass nothing at 0 (relu'(0) = 0).
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
      map_chunks(
          units, dx.row(r).data(),
          [](const auto& a, const auto& slope, const auto& g) -> Chunk {
            return blend(greater(a, 0), g, blend(less(a, 0), slope * g, 0));
          },
          x.row(r).data(), alpha.data(), dy.row(r).data());
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
      acc +=
          dy.row(r).segment(c0, width).array() * x.row(r).segment(c0, width).array().min(Scalar(0));
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
  const std::uint64_t key = counter_random::step_key(seed, step);
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
  map_rows(x, y,
           [mean](const auto& a) -> Chunk { return blend(greater_equal(a, 0), a, mean * a); });
}

// Training draws the slopes; inference writes the mean slope (lower + upper) / 2 everywhere.
void rrelu_forward(MatrixIn x, Scalar lower, Scalar upper, bool training, std::uint64_t seed,
                   std::uint64_t step, MatrixOut slopes, MatrixOut y) {
  if (training) return rrelu_forward_training(x, lower, upper, seed, step, slopes, y);
  check_rrelu_bounds("rrelu_forward", lower, upper);
  require_shape("rrelu_forward", "slopes", slopes.rows(), slopes.cols(), x.rows(), x.cols());
  require_shape("rrelu_forward", "y", y.rows(), y.cols(), x.rows(), x.cols());
  rrelu_forward_inference(x, lower, upper, y);
  const Scalar mean = (lower + upper) / 2;
  for_each_row(slopes.rows(), slopes.cols(), [&](Index r) { slopes.row(r).setConstant(mean); });
}

// dx = dy where x >= 0 else a·dy, with the slopes a of the forward pass.
void rrelu_backward(MatrixIn x, MatrixIn slopes, MatrixIn dy, MatrixOut dx) {
  const char* where = "rrelu_backward";
  require_shape(where, "slopes", slopes.rows(), slopes.cols(), x.rows(), x.cols());
  require_shape(where, "dy", dy.rows(), dy.cols(), x.rows(), x.cols());
  require_shape(where, "dx", dx.rows(), dx.cols(), x.rows(), x.cols());
  map_rows(x, slopes, dy, dx, [](const auto& a, const auto& s, const auto& g) -> Chunk {
    return blend(greater_equal(a, 0), g, s * g);
  });
}

}  // namespace densekit
