// Gradient clipping and the SGD update on numpy arrays, in place: the arrays updated must already
// be writable C-contiguous float32 (matrix_inplace), 1-D arrays are taken as one row.
#include <pybind11/stl.h>

#include <vector>

#include "arrays.hpp"
#include "densekit/kernels/clipping.hpp"
#include "densekit/kernels/sgd.hpp"

namespace densekit::bindings {

void register_optimizer_kernels(py::module_& m) {
  m.def(
      "clip_by_value",
      [](py::array& g, Scalar v) {
        auto gm = matrix_inplace(g, "clip_by_value", "g");
        py::gil_scoped_release release;
        clip_by_value(gm, v);
      },
      py::arg("g"), py::arg("clip_value"), "In place.");
  m.def(
      "clip_by_norm",
      [](py::array& g, Scalar c) {
        auto gm = matrix_inplace(g, "clip_by_norm", "g");
        py::gil_scoped_release release;
        clip_by_norm(gm, c);
      },
      py::arg("g"), py::arg("clip_norm"), "In place.");
  m.def(
      "clip_by_global_norm",
      [](std::vector<py::array> grads, Scalar c) {
        std::vector<MatrixOut> views;
        for (auto& g : grads) views.emplace_back(matrix_inplace(g, "clip_by_global_norm", "grads"));
        py::gil_scoped_release release;
        clip_by_global_norm(views, c);
      },
      py::arg("grads"), py::arg("clip_norm"), "In place, all arrays by their joint norm.");
  m.def(
      "sgd_update",
      [](py::array& w, const Floats& g, py::array& m_slot, Scalar lr, Scalar momentum,
         bool nesterov) {
        auto wm = matrix_inplace(w, "sgd_update", "w");
        auto mm = matrix_inplace(m_slot, "sgd_update", "m");
        auto gm = matrix_or_row_in(g, "sgd_update", "g");
        py::gil_scoped_release release;
        sgd_update(wm, gm, mm, lr, momentum, nesterov);
      },
      py::arg("w"), py::arg("g"), py::arg("m"), py::arg("learning_rate"), py::arg("momentum") = 0,
      py::arg("nesterov") = false,
      "In place: w (and m when momentum > 0); 1-D arrays are one row.");
}

}  // namespace densekit::bindings
