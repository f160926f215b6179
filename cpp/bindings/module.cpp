// densekit._core: one submodule per part, each registered by its own file.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace densekit::bindings {
void register_kernels(py::module_& m);
void register_layers(py::module_& m);
void register_noise_layers(py::module_& m);
void register_network(py::module_& m);
void register_runtime(py::module_& m);
void register_schedules(py::module_& m);
}  // namespace densekit::bindings

PYBIND11_MODULE(_core, m) {
  m.doc() = "densekit's C++ core (private: use the densekit package).";
  using namespace densekit::bindings;
  register_runtime(m);
  auto kernels = m.def_submodule("kernels", "Kernels on numpy arrays (float32, row-major).");
  register_kernels(kernels);
  auto layers = m.def_submodule("layers", "C++ layers: parameters, gradients and buffers.");
  register_layers(layers);
  register_noise_layers(layers);
  register_network(m);
  auto schedules = m.def_submodule("schedules", "Learning-rate schedules the optimizer calls.");
  register_schedules(schedules);
}
