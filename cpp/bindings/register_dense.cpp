// Dense kernels on numpy arrays: inputs are converted to float32 2-D views, outputs are allocated
// here and returned. Shapes are checked by the kernels (ShapeError -> ValueError).
#include "arrays.hpp"
#include "densekit/kernels/dense.hpp"

namespace densekit::bindings {

void register_dense(py::module_& m) {
  m.def(
      "dense_forward",
      [](const Floats& x, const Floats& w, const Floats& b) {
        auto xm = matrix_in(x, "dense_forward", "x");
        auto wm = matrix_in(w, "dense_forward", "w");
        auto bm = vector_in(b, "dense_forward", "b");
        FloatArray y = new_matrix(xm.rows(), wm.cols());
        auto ym = matrix_out(y);
        py::gil_scoped_release release;
        dense_forward(xm, wm, bm, ym);
        return y;
      },
      py::arg("x"), py::arg("w"), py::arg("b"), "y = x w + b (pass an empty b for no bias).");
  m.def(
      "dense_backward_data",
      [](const Floats& dy, const Floats& w) {
        auto dym = matrix_in(dy, "dense_backward_data", "dy");
        auto wm = matrix_in(w, "dense_backward_data", "w");
        FloatArray dx = new_matrix(dym.rows(), wm.rows());
        auto dxm = matrix_out(dx);
        py::gil_scoped_release release;
        dense_backward_data(dym, wm, dxm);
        return dx;
      },
      py::arg("dy"), py::arg("w"), "dx = dy wᵀ.");
  m.def(
      "dense_backward_weights",
      [](const Floats& x, const Floats& dy, bool use_bias) {
        auto xm = matrix_in(x, "dense_backward_weights", "x");
        auto dym = matrix_in(dy, "dense_backward_weights", "dy");
        FloatArray dw = new_matrix(xm.cols(), dym.cols());
        FloatArray db = new_vector(use_bias ? dym.cols() : Index(0));
        auto dwm = matrix_out(dw);
        auto dbm = vector_out(db);
        {
          py::gil_scoped_release release;
          dense_backward_weights(xm, dym, dwm, dbm);
        }
        return py::make_tuple(dw, db);
      },
      py::arg("x"), py::arg("dy"), py::arg("use_bias") = true, "(dw, db) = (xᵀ dy, Σ_rows dy).");
}

}  // namespace densekit::bindings
