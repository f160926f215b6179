// C++ layers as Python objects. Parameters reach numpy as views of the C++ memory; assign and
// copy (one parameter or a list) read and write under the compute lock instead.
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "densekit/layers/activation.hpp"
#include "densekit/layers/batch_norm.hpp"
#include "densekit/layers/dense.hpp"
#include "densekit/layers/normalization.hpp"

namespace densekit::bindings {

void register_layers(py::module_& m) {
  py::class_<Parameter, std::shared_ptr<Parameter>>(
      m, "Parameter", "A variable of a layer (kernel, bias, gamma, moving_mean, ...).")
      .def_readonly("name", &Parameter::name, "Keras's variable name.")
      .def_readonly("trainable", &Parameter::trainable,
                    "False for variables no gradient reaches (moving statistics).")
      .def_readonly("is_vector", &Parameter::is_vector, "Whether numpy sees it as 1-D.")
      .def_property_readonly(
          "value",
          [](py::object self) {
            return view_of(self.cast<Parameter&>().value, self.cast<Parameter&>().is_vector, self);
          },
          "A numpy view of the value: writes change the model.")
      .def_property_readonly(
          "grad",
          [](py::object self) {
            return view_of(self.cast<Parameter&>().grad, self.cast<Parameter&>().is_vector, self);
          },
          "A numpy view of the last gradient (empty for non-trainable variables).")
      .def(
          "assign",
          [](Parameter& p, const Floats& value) {
            auto v = matrix_or_row_in(value, "Parameter.assign", "value");
            py::gil_scoped_release
                release;  // the compute lock may be held by fit in another thread
            p.assign(v);
          },
          py::arg("value"),
          "Copies value in under the compute lock; ValueError for a wrong shape or NaN/Inf.")
      .def(
          "copy",
          [](const Parameter& p) {
            RowMatrix copy;
            {
              py::gil_scoped_release release;
              copy = p.copy();
            }
            return array_of(std::move(copy), p.is_vector);
          },
          "A new numpy array with the value, read under the compute lock.")
      .def("set_penalty", &Parameter::set_penalty, py::arg("spec"),
           py::call_guard<py::gil_scoped_release>(),
           "Sets the regularizer (a kernels.PenaltySpec); ValueError when it does not fit.")
      .def("set_constraint", &Parameter::set_constraint, py::arg("spec"),
           py::call_guard<py::gil_scoped_release>(),
           "Sets the constraint (a kernels.ConstraintSpec); ValueError when it is invalid.")
      .def("penalty", &Parameter::penalty, py::call_guard<py::gil_scoped_release>(),
           "The regularizer's penalty of the current value (0 without one).");

  m.def(
      "assign_parameters",
      [](const std::vector<std::shared_ptr<Parameter>>& parameters,
         const std::vector<Floats>& values) {
        std::vector<MatrixIn> views;
        for (const auto& v : values)
          views.emplace_back(matrix_or_row_in(v, "assign_parameters", "values"));
        py::gil_scoped_release release;
        assign_parameters(parameters, views);
      },
      py::arg("parameters"), py::arg("values"),
      "values[i] into parameters[i], all or nothing, under one hold of the compute lock.");
  m.def(
      "copy_parameters",
      [](const std::vector<std::shared_ptr<Parameter>>& parameters) {
        std::vector<RowMatrix> copies;
        {
          py::gil_scoped_release release;
          copies = copy_parameters(parameters);
        }
        py::list arrays;
        for (size_t i = 0; i < copies.size(); ++i)
          arrays.append(array_of(std::move(copies[i]), parameters[i]->is_vector));
        return arrays;
      },
      py::arg("parameters"), "Copies of the values, all read under one hold of the compute lock.");

  py::class_<Layer, std::shared_ptr<Layer>>(m, "Layer",
                                            "A C++ layer: its parameters, forward and backward.")
      .def_property_readonly("kind", &Layer::kind, "Keras's class name, for messages.")
      .def_property_readonly("input_units", &Layer::input_units, "Features of its input.")
      .def_property_readonly("output_units", &Layer::output_units, "Features of its output.")
      .def_readwrite("trainable", &Layer::trainable,
                     "Keras's layer.trainable: a frozen layer gets no gradient and no update.")
      .def("set_activity_penalty", &Layer::set_activity_penalty, py::arg("spec"),
           py::call_guard<py::gil_scoped_release>(),
           "Sets the activity regularizer (an L1L2 kernels.PenaltySpec) on the output.")
      .def_property_readonly(
          "parameters", [](Layer& l) { return l.parameters(); },
          "Its Parameters, in Keras's order.")
      .def_property("random_step", &Layer::random_step, &Layer::set_random_step,
                    "Training forwards that drew random numbers so far (0 for layers that draw "
                    "none); with the layer's seed, it fixes the draws to come.")
      .def(
          "forward",
          [](Layer& layer, const Floats& x, bool training) {
            auto xm = matrix_in(x, "Layer.forward", "x");
            FloatArray y = new_matrix(xm.rows(), layer.output_units());
            auto ym = matrix_out(y);
            py::gil_scoped_release release;
            layer.run(xm, ym, training);
            return y;
          },
          py::arg("x"), py::arg("training") = false,
          "y = layer(x), under the compute lock; training: batch statistics, random slopes.");

  py::class_<DenseLayer, Layer, std::shared_ptr<DenseLayer>>(m, "Dense",
                                                             "y = activation(x kernel + bias).")
      .def(py::init<Index, Index, const ActivationSpec&, bool>(), py::arg("input_units"),
           py::arg("units"), py::arg("activation"), py::arg("use_bias"),
           "kernel (input_units, units) and bias (units) as zeros; the caller initializes them.");
  py::class_<ActivationLayer, Layer, std::shared_ptr<ActivationLayer>>(
      m, "Activation", "An element-wise activation layer (Activation, ReLU, ELU, ...).")
      .def(py::init<Index, const ActivationSpec&, std::string>(), py::arg("units"),
           py::arg("activation"), py::arg("kind_name"),
           "kind_name: the Keras class name it stands for, for messages.");
  py::class_<PReLULayer, Layer, std::shared_ptr<PReLULayer>>(
      m, "PReLU", "y = x where x > 0, else alpha ⊙ x, alpha learned per unit.")
      .def(py::init<Index>(), py::arg("units"), "alpha as zeros; the caller initializes it.");
  py::class_<RReLULayer, Layer, std::shared_ptr<RReLULayer>>(
      m, "RReLU", "Randomized leaky ReLU: slopes drawn from [lower, upper] while training.")
      .def(py::init<Index, Scalar, Scalar, std::uint64_t>(), py::arg("units"), py::arg("lower"),
           py::arg("upper"), py::arg("seed"),
           "Slopes from a generator seeded by seed; inference uses (lower + upper) / 2.");
  py::class_<BatchNormLayer, Layer, std::shared_ptr<BatchNormLayer>>(
      m, "BatchNormalization",
      "Keras 3's BatchNormalization over the features of (batch, features).")
      .def(py::init<Index, Scalar, Scalar, bool, bool>(), py::arg("features"), py::arg("momentum"),
           py::arg("epsilon"), py::arg("center"), py::arg("scale"),
           "gamma (scale), beta (center), moving_mean, moving_variance as 1, 0, 0, 1.");
  py::class_<NormalizationLayer, Layer, std::shared_ptr<NormalizationLayer>>(
      m, "Normalization", "Keras 3's Normalization: (x - mean) / max(sqrt(variance), epsilon).")
      .def(py::init<std::vector<Index>, Index, bool, Scalar>(), py::arg("stat_of_feature"),
           py::arg("statistics"), py::arg("invert"), py::arg("epsilon"),
           "Feature j uses mean and variance number stat_of_feature[j]; mean, variance, count "
           "start as 0, 1, 0.");
}

}  // namespace densekit::bindings
