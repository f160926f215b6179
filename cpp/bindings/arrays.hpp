// numpy <-> Eigen glue for the bindings: 2-D float32 C-contiguous arrays map onto RowMatrix
// without a copy (other dtypes and layouts are converted once by pybind11's forcecast), and
// parameters are handed to numpy as views that keep their owner alive.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <optional>
#include <string>

#include "densekit/types.hpp"

namespace densekit::bindings {

namespace py = pybind11;

#if defined(__GNUC__) || defined(__clang__)
#define DENSEKIT_BINDINGS_HIDDEN __attribute__((visibility("hidden")))
#else
#define DENSEKIT_BINDINGS_HIDDEN
#endif

using FloatArray = py::array_t<Scalar, py::array::c_style | py::array::forcecast>;
using MatrixMap = Eigen::Map<RowMatrix>;
using ConstMatrixMap = Eigen::Map<const RowMatrix>;

// A float32 array argument. Unlike a plain FloatArray it refuses data that would convert to
// garbage: complex numbers (their imaginary part dropped), objects (None turned into NaN),
// strings and raw bytes raise ValueError instead. Hidden like pybind11's own types, which it
// derives from (GCC warns about a visible type with a hidden base otherwise).
struct DENSEKIT_BINDINGS_HIDDEN Floats : FloatArray {
  using FloatArray::FloatArray;
  explicit Floats(FloatArray a) : FloatArray(std::move(a)) {}
};

}  // namespace densekit::bindings

namespace pybind11::detail {
template <>
struct type_caster<densekit::bindings::Floats> {
  PYBIND11_TYPE_CASTER(densekit::bindings::Floats, const_name("numpy.ndarray[float32]"));

  bool load(handle src, bool convert) {
    if (!convert && !isinstance<array_t<float>>(src)) return false;
    array converted = module_::import("numpy").attr("asarray")(src);
    const char kind = converted.dtype().kind();
    if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b')
      throw value_error("densekit kernels take arrays of real numbers; got dtype " +
                        std::string(str(converted.dtype())));
    auto floats = densekit::bindings::FloatArray::ensure(converted);
    if (!floats) return false;
    value = densekit::bindings::Floats(std::move(floats));
    return true;
  }

  static handle cast(const densekit::bindings::Floats& src, return_value_policy, handle) {
    return src.inc_ref();
  }
};
}  // namespace pybind11::detail

namespace densekit::bindings {

// A 2-D view of `a`; ValueError "<where>: <name> must be a 2-D array; got N-D" otherwise.
inline ConstMatrixMap matrix_in(const FloatArray& a, const char* where, const char* name) {
  if (a.ndim() != 2)
    throw py::value_error(std::string(where) + ": " + name + " must be a 2-D array of shape " +
                          "(batch, features); got " + std::to_string(a.ndim()) + "-D");
  return ConstMatrixMap(a.data(), a.shape(0), a.shape(1));
}

inline MatrixMap matrix_out(FloatArray& a) {
  return MatrixMap(a.mutable_data(), a.shape(0), a.shape(1));
}

// A (1, n) vector argument given as a 1-D array.
inline Eigen::Map<const RowVector> vector_in(const FloatArray& a, const char* where,
                                             const char* name) {
  if (a.ndim() != 1)
    throw py::value_error(std::string(where) + ": " + name + " must be a 1-D array; got " +
                          std::to_string(a.ndim()) + "-D");
  return Eigen::Map<const RowVector>(a.data(), a.shape(0));
}

// An optional 1-D argument (per-row weights): an empty vector when None.
inline Eigen::Map<const RowVector> optional_vector_in(const std::optional<Floats>& a,
                                                      const char* where, const char* name) {
  if (!a) return Eigen::Map<const RowVector>(nullptr, 0);
  return vector_in(*a, where, name);
}

// The same for an argument that may also be 1-D, taken as one row: a bias, its gradient, a
// vector parameter (the arrays that are 1-D in Keras and (1, n) in the core).
inline ConstMatrixMap matrix_or_row_in(const FloatArray& a, const char* where, const char* name) {
  if (a.ndim() == 1) return ConstMatrixMap(a.data(), 1, a.shape(0));
  if (a.ndim() == 2) return ConstMatrixMap(a.data(), a.shape(0), a.shape(1));
  throw py::value_error(std::string(where) + ": " + name + " must be 1-D or 2-D; got " +
                        std::to_string(a.ndim()) + "-D");
}

inline FloatArray new_matrix(Index rows, Index cols) { return FloatArray({rows, cols}); }

using VectorMap = Eigen::Map<RowVector>;

inline FloatArray new_vector(Index n) { return FloatArray({n}); }
inline VectorMap vector_out(FloatArray& a) { return VectorMap(a.mutable_data(), a.shape(0)); }

// A numpy view of a matrix owned by `owner` (1-D when as_vector); writes go through.
inline py::array view_of(RowMatrix& m, bool as_vector, py::handle owner) {
  if (as_vector) return py::array_t<Scalar>({m.size()}, {sizeof(Scalar)}, m.data(), owner);
  return py::array_t<Scalar>(
      {m.rows(), m.cols()},
      {static_cast<Index>(m.cols() * sizeof(Scalar)), static_cast<Index>(sizeof(Scalar))}, m.data(),
      owner);
}

// A new numpy array that takes over `m` (no copy; 1-D when as_vector).
inline py::array array_of(RowMatrix&& m, bool as_vector) {
  auto owned = std::make_unique<RowMatrix>(std::move(m));
  py::capsule owner(owned.get(), [](void* p) { delete static_cast<RowMatrix*>(p); });
  return view_of(*owned.release(), as_vector, owner);
}

// An array updated in place (clipping, optimizer steps): must already be float32 and
// C-contiguous, 1-D (taken as one row) or 2-D; ValueError otherwise.
inline MatrixMap matrix_inplace(py::array& a, const char* where, const char* name) {
  if (!py::isinstance<py::array_t<Scalar>>(a) || !(a.flags() & py::array::c_style) ||
      !a.writeable())
    throw py::value_error(
        std::string(where) + ": " + name +
        " must be a writable C-contiguous float32 array (it is updated in place)");
  if (a.ndim() == 1) return MatrixMap(static_cast<Scalar*>(a.mutable_data()), 1, a.shape(0));
  if (a.ndim() == 2)
    return MatrixMap(static_cast<Scalar*>(a.mutable_data()), a.shape(0), a.shape(1));
  throw py::value_error(std::string(where) + ": " + name + " must be 1-D or 2-D; got " +
                        std::to_string(a.ndim()) + "-D");
}

}  // namespace densekit::bindings
