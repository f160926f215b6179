// densekit._core.kernels: every kernel, callable on numpy arrays. Inputs are converted to float32
// 2-D views, outputs are allocated here and returned; shapes are checked by the kernels
// (ShapeError -> ValueError). One file per family: register_dense.cpp, register_activations.cpp,
// register_batch_norm.cpp, register_optimizer_kernels.cpp, register_regularization.cpp; the losses
// are registered here.
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "densekit/kernels/losses.hpp"

namespace densekit::bindings {

void register_dense(py::module_& m);
void register_activations(py::module_& m);
void register_batch_norm(py::module_& m);
void register_optimizer_kernels(py::module_& m);
void register_regularization(py::module_& m);

namespace {

void register_losses(py::module_& m) {
  py::enum_<LossKind>(m, "LossKind", "The losses the kernels know.")
      .value("sparse_categorical_crossentropy", LossKind::sparse_categorical_crossentropy)
      .value("categorical_crossentropy", LossKind::categorical_crossentropy)
      .value("binary_crossentropy", LossKind::binary_crossentropy)
      .value("mean_squared_error", LossKind::mean_squared_error);
  py::class_<LossSpec>(m, "LossSpec", "A loss and whether its predictions are logits.")
      .def(py::init([](const std::string& name, bool from_logits) {
             return LossSpec{loss_kind_from_name(name), from_logits};
           }),
           py::arg("name"), py::arg("from_logits") = false,
           "The loss called `name` (a Keras name); ValueError for an unknown one.")
      .def_readonly("kind", &LossSpec::kind, "The LossKind.")
      .def_readonly("from_logits", &LossSpec::from_logits,
                    "Whether predictions are logits rather than probabilities.");
  m.def(
      "loss_value",
      [](const LossSpec& spec, const Floats& pred, const Floats& target,
         const std::optional<Floats>& sample_weight) {
        auto pm = matrix_in(pred, "loss_value", "pred");
        auto tm = matrix_in(target, "loss_value", "target");
        auto wm = optional_vector_in(sample_weight, "loss_value", "sample_weight");
        py::gil_scoped_release release;
        return loss_value(spec, pm, tm, wm);
      },
      py::arg("spec"), py::arg("pred"), py::arg("target"), py::arg("sample_weight") = py::none(),
      "The mean loss over the rows; with sample_weight, Σ w·loss / rows (Keras's reduction).");
  m.def(
      "loss_value_and_gradient",
      [](const LossSpec& spec, const Floats& pred, const Floats& target, bool fused,
         const std::optional<Floats>& sample_weight) {
        auto pm = matrix_in(pred, "loss_value_and_gradient", "pred");
        auto tm = matrix_in(target, "loss_value_and_gradient", "target");
        auto wm = optional_vector_in(sample_weight, "loss_value_and_gradient", "sample_weight");
        FloatArray grad = new_matrix(pm.rows(), pm.cols());
        auto gm = matrix_out(grad);
        Scalar loss;
        {
          py::gil_scoped_release release;
          loss = fused ? fused_probability_loss_gradient(spec, pm, tm, wm, gm)
                       : loss_value_and_gradient(spec, pm, tm, wm, gm);
        }
        return py::make_tuple(loss, grad);
      },
      py::arg("spec"), py::arg("pred"), py::arg("target"), py::arg("fused") = false,
      py::arg("sample_weight") = py::none(),
      "(loss, ∂loss/∂pred); fused: the gradient w.r.t. the softmax/sigmoid pre-activation.");
  m.def(
      "accuracy_sum",
      [](const LossSpec& spec, const Floats& pred, const Floats& target) {
        auto pm = matrix_in(pred, "accuracy_sum", "pred");
        auto tm = matrix_in(target, "accuracy_sum", "target");
        return accuracy_sum(accuracy_for_loss(spec), pm, tm);
      },
      py::arg("spec"), py::arg("pred"), py::arg("target"),
      "Σ over rows of the accuracy that goes with the loss (divide by the rows for Keras's).");
  m.def(
      "check_sparse_labels",
      [](const Floats& target, Index classes) {
        check_sparse_labels(matrix_in(target, "check_sparse_labels", "target"), classes);
      },
      py::arg("target"), py::arg("classes"),
      "ValueError unless every label is an integer in [0, classes).");
}

}  // namespace

void register_kernels(py::module_& m) {
  register_dense(m);
  register_activations(m);
  register_batch_norm(m);
  register_losses(m);
  register_optimizer_kernels(m);
  register_regularization(m);
}

}  // namespace densekit::bindings
