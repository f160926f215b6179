// Internal to cpp/src/kernels: the row loops and fixed-size chunks shared by the element-wise
// kernels (activations.cpp, learned_activations.cpp). Not installed, not part of the API.
//
// Every loop runs over rows as Partition::loop(rows·cols) splits it, and every element goes through
// the same instructions wherever it lies (map_chunks), so a result does not depend on the thread
// count, the batch size or the row an example sits in. Each output coefficient is computed from
// the same coefficient of the inputs only, which is what makes x == y and dy == dx safe.
#pragma once

#include <type_traits>

#include "densekit/parallel.hpp"
#include "densekit/types.hpp"

namespace densekit::elementwise {

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
inline constexpr Index kChunk = 16;
using Chunk = Eigen::Array<Scalar, 1, kChunk>;

// p[from, to) in a chunk, zero-padded, for to - from <= kChunk; store_short writes a chunk's first
// n lanes. Element by element under a bound the compiler knows, which it turns into masked
// moves: std::copy called memmove for every short tail (a softmax over 10 classes spent most of
// its time there).
inline Chunk padded(const Scalar* p, Index from, Index to) {
  Chunk v;
  for (Index k = 0; k < kChunk; ++k) v[k] = k < to - from ? p[from + k] : Scalar(0);
  return v;
}
inline void store_short(const Chunk& v, Scalar* p, Index n) {
  for (Index k = 0; k < kChunk; ++k)
    if (k < n) p[k] = v[k];
}

// Kinks without select(): Eigen 3.4 evaluates select() one coefficient at a time (a relu's
// backward pass ran at 1 ns an element), so these masks and blends go through Eigen's packet
// functions, a register at a time. A mask holds all-one bits where its condition holds; NaN
// compares false, as in select(), so blend(greater(a, 0), g, 0) has select()'s bits exactly.
namespace lanes {
using Packet = Eigen::internal::packet_traits<Scalar>::type;
inline constexpr Index kWidth = Eigen::internal::packet_traits<Scalar>::size;
static_assert(kChunk % kWidth == 0, "a chunk holds whole packets");

template <class Op>
inline Chunk combine(const Chunk& a, const Chunk& b, Op op) {
  Chunk out;
  for (Index i = 0; i < kChunk; i += kWidth)
    Eigen::internal::pstoreu(out.data() + i, op(Eigen::internal::ploadu<Packet>(a.data() + i),
                                                Eigen::internal::ploadu<Packet>(b.data() + i)));
  return out;
}
}  // namespace lanes

// a > b, a >= b, a < b per coefficient, as masks.
inline Chunk greater(const Chunk& a, const Chunk& b) {
  return lanes::combine(
      a, b, [](const auto& u, const auto& v) { return Eigen::internal::pcmp_lt(v, u); });
}
inline Chunk greater(const Chunk& a, Scalar b) { return greater(a, Chunk::Constant(b)); }
inline Chunk greater_equal(const Chunk& a, Scalar b) {
  return lanes::combine(a, Chunk::Constant(b), [](const auto& u, const auto& v) {
    return Eigen::internal::pcmp_le(v, u);
  });
}
inline Chunk less(const Chunk& a, Scalar b) { return greater(Chunk::Constant(b), a); }
// Both masks hold.
inline Chunk both(const Chunk& m, const Chunk& n) {
  return lanes::combine(m, n,
                        [](const auto& u, const auto& v) { return Eigen::internal::pand(u, v); });
}

// `then` where the mask holds, `otherwise` elsewhere.
inline Chunk blend(const Chunk& mask, const Chunk& then, const Chunk& otherwise) {
  Chunk out;
  for (Index i = 0; i < kChunk; i += lanes::kWidth)
    Eigen::internal::pstoreu(
        out.data() + i,
        Eigen::internal::pselect(Eigen::internal::ploadu<lanes::Packet>(mask.data() + i),
                                 Eigen::internal::ploadu<lanes::Packet>(then.data() + i),
                                 Eigen::internal::ploadu<lanes::Packet>(otherwise.data() + i)));
  return out;
}
inline Chunk blend(const Chunk& mask, const Chunk& then, Scalar otherwise) {
  return blend(mask, then, Chunk::Constant(otherwise));
}

// A body returns an evaluated Chunk, never an Eigen expression: an expression returned from a
// lambda may refer to temporaries of the lambda's frame (`(a > 0).select(g, Scalar(0))` holds
// its constant that way), and GCC's -O3 vectorizer then reads freed stack slots.
//
// out[0, n) = f(in[0, n), ...) with f an element-wise body; out may be one of the inputs.
template <class F, class... In>
void map_chunks(Index n, Scalar* out, F f, In... in) {
  static_assert(std::is_same_v<decltype(f(Eigen::Map<const Chunk>(in)...)), Chunk>,
                "an element-wise body returns an evaluated Chunk: write `-> Chunk`");
  Index c = 0;
  for (; c + kChunk <= n; c += kChunk)
    Eigen::Map<Chunk>(out + c) = f(Eigen::Map<const Chunk>(in + c)...);
  if (c == n) return;
  store_short(f(padded(in, c, n)...), out + c, n - c);
}

// Σ f(in[0, n), ...) in one fixed order; f of zeros must be zero (the padding).
template <class F, class... In>
Scalar sum_chunks(Index n, F f, In... in) {
  static_assert(std::is_same_v<decltype(f(Eigen::Map<const Chunk>(in)...)), Chunk>,
                "an element-wise body returns an evaluated Chunk: write `-> Chunk`");
  Chunk acc = Chunk::Zero();
  Index c = 0;
  for (; c + kChunk <= n; c += kChunk) acc += f(Eigen::Map<const Chunk>(in + c)...);
  if (c < n) acc += f(padded(in, c, n)...);
  return acc.sum();
}

// y.row(r) = f(x.row(r)) for every row.
template <class F>
void map_rows(MatrixIn x, MatrixOut y, F f) {
  for_each_row(x.rows(), x.cols(),
               [&](Index r) { map_chunks(x.cols(), y.row(r).data(), f, x.row(r).data()); });
}

// dx.row(r) = g(x.row(r), y.row(r), dy.row(r)) for every row.
template <class G>
void map_rows(MatrixIn x, MatrixIn y, MatrixIn dy, MatrixOut dx, G g) {
  for_each_row(x.rows(), x.cols(), [&](Index r) {
    map_chunks(x.cols(), dx.row(r).data(), g, x.row(r).data(), y.row(r).data(), dy.row(r).data());
  });
}

// y = f(x) with f a scalar function, for the activations that need std::erfc or branches.
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

// x·0 is 0 for a finite x and NaN for ±Inf or NaN, so the sum of such products is 0 exactly
// when every x is finite: one reduction that Eigen vectorizes, where isFinite().all() runs
// element by element (it was 17% of a seed-model step). Takes any Eigen array expression.
template <class Array>
double non_finite_marker(const Array& a) {
  return double((a * Scalar(0)).sum());
}

}  // namespace densekit::elementwise
