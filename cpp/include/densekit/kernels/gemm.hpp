// The matrix-product engine: out = a b for one block of a product, on the calling thread.
//
//   a (m, k), b (k, n), out (m, n); a and b row-major in memory or transposed views of row-major
//   memory (xᵀ, wᵀ as the dense kernels use them), each with its own row stride.
//
// Eigen computes every product unless OpenBLAS was loaded (gemm_use_openblas) and the block is
// large enough for its sgemm to be faster (gemm_uses_openblas). OpenBLAS is loaded at run time
// from a path (dlopen), so nothing links against it, and it runs single-threaded: each block
// already is one part of densekit's own split (parallel.hpp), and OpenBLAS's idle pool would
// spin against densekit's thread team.
#pragma once

#include <string>

#include "densekit/types.hpp"

namespace densekit {

// A matrix as it lies in memory: element (i, j) at data[i * stride + j], or at
// data[j * stride + i] when transposed (the transpose of a row-major matrix).
struct GemmOperand {
  const Scalar* data;
  Index rows, cols, stride;
  bool transposed;
};

// The operand of any Eigen matrix with direct access and unit inner stride: a RowMatrix, a Ref
// of one, a block of either, or the transpose of any of those.
template <class Derived>
GemmOperand gemm_operand(const Eigen::MatrixBase<Derived>& m) {
  static_assert(int(Derived::InnerStrideAtCompileTime) == 1,
                "gemm operands need contiguous rows (or columns, when transposed)");
  const Derived& d = m.derived();
  return {d.data(), d.rows(), d.cols(), d.outerStride(), !bool(Derived::IsRowMajor)};
}

// out = a b (out is overwritten; it must not overlap a or b).
void gemm(const GemmOperand& a, const GemmOperand& b, MatrixOut out);

template <class Lhs, class Rhs>
void gemm(const Lhs& a, const Rhs& b, MatrixOut out) {
  gemm(gemm_operand(a), gemm_operand(b), out);
}

// Whether gemm computes an (m x k) (k x n) product with OpenBLAS now: loaded, and large enough.
bool gemm_uses_openblas(Index m, Index n, Index k);

struct GemmEngine {
  std::string name;     // "eigen" or "openblas"
  std::string library;  // the shared library's path for OpenBLAS, empty for Eigen
  std::string config;   // OpenBLAS's own description (version, kernel), empty for Eigen
};

// Loads OpenBLAS (a build exporting scipy_cblas_sgemm and scipy_openblas_{set,get}_num_threads, as
// the scipy-openblas32 package ships it) from `path`, sets it to one thread and makes it the
// engine of large products. A file that cannot be loaded or lacks a symbol raises
// std::runtime_error naming the path and the reason, and the engine stays as it was.
void gemm_use_openblas(const std::string& path);
// Back to Eigen for every product. A loaded library stays loaded (a product may still run in it).
void gemm_use_eigen();
GemmEngine gemm_engine();

}  // namespace densekit
