// C++ layers as Python objects. Parameters reach numpy as views of the C++ memory; assign and
// copy (one parameter or a list) read and write under the compute lock instead.
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "densekit/layers/activation.hpp"
#include "densekit/layers/batch_norm.hpp"
#include "densekit/layers/dense.hpp"

namespace densekit::bindings {

void register_layers(py::module_& m) {
  py::class_<Parameter, std::shared_ptr<Parameter>>(m, "Parameter")
      .def_readonly("name", &Parameter::name)
      .def_readonly("trainable", &Parameter::trainable)
      .def_readonly("is_vector", &Parameter::is_vector)
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
          "A new numpy array with the value, read under the compute lock.");

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

  py::class_<Layer, std::shared_ptr<Layer>>(m, "Layer")
      .def_property_readonly("kind", &Layer::kind)
      .def_property_readonly("input_units", &Layer::input_units)
      .def_property_readonly("output_units", &Layer::output_units)
      .def_readwrite("trainable", &Layer::trainable)
      .def_property_readonly("parameters", [](Layer& l) { return l.parameters(); })
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
          py::arg("x"), py::arg("training") = false);

  py::class_<DenseLayer, Layer, std::shared_ptr<DenseLayer>>(m, "Dense")
      .def(py::init<Index, Index, const ActivationSpec&, bool>(), py::arg("input_units"),
           py::arg("units"), py::arg("activation"), py::arg("use_bias"));
  py::class_<ActivationLayer, Layer, std::shared_ptr<ActivationLayer>>(m, "Activation")
      .def(py::init<Index, const ActivationSpec&, std::string>(), py::arg("units"),
           py::arg("activation"), py::arg("kind_name"));
  py::class_<PReLULayer, Layer, std::shared_ptr<PReLULayer>>(m, "PReLU")
      .def(py::init<Index>(), py::arg("units"));
  py::class_<RReLULayer, Layer, std::shared_ptr<RReLULayer>>(m, "RReLU")
      .def(py::init<Index, Scalar, Scalar, std::uint64_t>(), py::arg("units"), py::arg("lower"),
           py::arg("upper"), py::arg("seed"));
  py::class_<BatchNormLayer, Layer, std::shared_ptr<BatchNormLayer>>(m, "BatchNormalization")
      .def(py::init<Index, Scalar, Scalar, bool, bool>(), py::arg("features"), py::arg("momentum"),
           py::arg("epsilon"), py::arg("center"), py::arg("scale"));
}

}  // namespace densekit::bindings
