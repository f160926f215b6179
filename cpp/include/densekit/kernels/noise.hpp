// The noise layers' kernels (Keras 3's Dropout, AlphaDropout, GaussianNoise, GaussianDropout),
// forward and backward side by side. Every array is (n, units); the random draws come from
// counter_random.hpp keyed by (key, row, column), so they do not depend on the thread count.
//
//   dropout           kept = u >= rate;  y = kept ? x / (1 - rate) : 0  (mask = kept as 1 / 0)
//                     dx = kept ? dy / (1 - rate) : 0
//   alpha_dropout     kept = u >= rate;  y = a (x ⊙ kept + α' (1 - kept)) + b
//                     α' = -scale·alpha (SELU's constants), a = ((1 - rate)(1 + rate α'²))^-½,
//                     b = -a α' rate;  so y = kept ? a x + b : a α' + b, and with f = a·kept,
//                     dx = dy ⊙ f
//   gaussian_noise    y = x + stddev·z,  z ~ N(0, 1);  dx = dy
//   gaussian_dropout  y = x ⊙ f,  f = 1 + σ z,  σ = √(rate / (1 - rate));  dx = dy ⊙ f
//
// u is uniform in [0, 1) with 32 bits: kept exactly when the bits are >= round(rate·2³²), so
// P(kept) = 1 - rate to 2⁻³². z comes from Box–Muller on two 24-bit uniforms (|z| < 5.9). The
// rates are doubles, as Keras's Python floats, so 1 - rate rounds to float once, as in Keras.
#pragma once

#include <cstdint>
#include <vector>

#include "densekit/types.hpp"

namespace densekit {

// Which noise element each input element draws: Keras's noise_shape over a sample flattened to
// one row. Elements that draw the same noise element share its mask.
struct NoisePattern {
  bool share_rows = false;             // noise_shape's batch entry is 1: one mask for the batch
  std::vector<std::uint32_t> columns;  // column c of a row draws noise column columns[c]

  // Every element its own draw.
  explicit NoisePattern(Index units);
  // sample_shape (d1, ..., dk) as the layer sees one sample; noise_shape (n0, n1, ..., nk):
  // n0 is 1 (shared over the batch) or 0 (the batch's size), each other ni is di, 1 (shared along
  // that axis) or 0 (di). ValueError naming noise_shape for any other shape.
  NoisePattern(const std::vector<Index>& sample_shape, const std::vector<Index>& noise_shape);

  Index units() const { return static_cast<Index>(columns.size()); }
};

// rate in [0, 1). mask receives kept (1 or 0) for dropout_backward.
void dropout_forward(MatrixIn x, double rate, const NoisePattern& pattern, std::uint64_t key,
                     MatrixOut mask, MatrixOut y);
void dropout_backward(MatrixIn mask, double rate, MatrixIn dy, MatrixOut dx);

// factor receives a·kept for noise_backward.
void alpha_dropout_forward(MatrixIn x, double rate, const NoisePattern& pattern, std::uint64_t key,
                           MatrixOut factor, MatrixOut y);
// stddev >= 0; its backward is the identity.
void gaussian_noise_forward(MatrixIn x, double stddev, std::uint64_t key, MatrixOut y);
// factor receives 1 + σ z for noise_backward.
void gaussian_dropout_forward(MatrixIn x, double rate, std::uint64_t key, MatrixOut factor,
                              MatrixOut y);
// dx = dy ⊙ factor; dx may be dy.
void noise_backward(MatrixIn factor, MatrixIn dy, MatrixOut dx);

}  // namespace densekit
