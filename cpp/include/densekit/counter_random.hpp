// Counter-based random numbers: a draw is a hash of (seed, step, element), so it is the same
// whatever thread computes it and in whatever order. RReLU's slopes and the noise layers' masks
// come from here.
#pragma once

#include <cstdint>

#include "densekit/types.hpp"

namespace densekit::counter_random {

// splitmix64's finalizer (Steele, Lea & Flood 2014): a 64-bit bijection with full avalanche.
inline std::uint64_t splitmix64(std::uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The key of one step of a seeded stream: different for every (seed, step).
inline std::uint64_t step_key(std::uint64_t seed, std::uint64_t step) {
  return splitmix64(splitmix64(seed) ^ step);
}

// A 32-bit bijection with low bias (Wellons's lowbias32). Only 32-bit shifts, xors and
// multiplies, so a loop of them vectorizes (16 lanes with AVX-512), where splitmix64's 64-bit
// multiplies do not on AVX2.
inline std::uint32_t mix32(std::uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// The keys of one row of a step: two independent 32-bit words, from a 64-bit hash of the row.
struct RowKey {
  std::uint32_t a, b;
};
inline RowKey row_key(std::uint64_t step_key, std::uint64_t row) {
  const std::uint64_t h = splitmix64(step_key ^ splitmix64(row));
  return RowKey{static_cast<std::uint32_t>(h), static_cast<std::uint32_t>(h >> 32)};
}

// 32 random bits for column `column` of a row: two rounds, each keyed by a word of the row's key,
// so rows and steps do not see shifted copies of one another's bits.
inline std::uint32_t bits(RowKey key, std::uint32_t column) {
  return mix32(mix32(column ^ key.a) + key.b);
}

// The top 24 bits as a float in [0, 1): exact, so never rounds up to 1.
inline Scalar uniform01(std::uint32_t bits) { return static_cast<Scalar>(bits >> 8) * 0x1p-24f; }
// ... and in (0, 1): the centre of the same 2^24 cells, so its log is finite.
inline Scalar uniform_open01(std::uint32_t bits) {
  return (static_cast<Scalar>(bits >> 8) + 0.5f) * 0x1p-24f;
}

}  // namespace densekit::counter_random
