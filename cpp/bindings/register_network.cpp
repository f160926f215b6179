// The optimizer and the network: one call per training step or per epoch, GIL released.
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "densekit/network.hpp"

namespace densekit::bindings {

// Every method that takes the compute lock releases the GIL first, so a thread waiting for the
// lock never blocks the thread that holds it from running Python (its progress callback).
using Release = py::call_guard<py::gil_scoped_release>;

void register_network(py::module_& m) {
  py::class_<ClipSpec>(m, "ClipSpec")
      .def(py::init([](Scalar clipvalue, Scalar clipnorm, Scalar global_clipnorm) {
             return ClipSpec{clipvalue, clipnorm, global_clipnorm};
           }),
           py::arg("clipvalue") = 0, py::arg("clipnorm") = 0, py::arg("global_clipnorm") = 0)
      .def_readonly("clipvalue", &ClipSpec::clipvalue)
      .def_readonly("clipnorm", &ClipSpec::clipnorm)
      .def_readonly("global_clipnorm", &ClipSpec::global_clipnorm);

  py::class_<SGD, std::shared_ptr<SGD>>(m, "SGD")
      .def(py::init<Scalar, Scalar, bool, const ClipSpec&>(), py::arg("learning_rate"),
           py::arg("momentum"), py::arg("nesterov"), py::arg("clip"))
      .def_readwrite("learning_rate", &SGD::learning_rate)
      .def_readonly("momentum", &SGD::momentum)
      .def_readwrite("nesterov", &SGD::nesterov)
      .def_readwrite("iterations", &SGD::iterations)
      .def(
          "momentum_slot",
          [](py::object self, std::shared_ptr<Parameter> p) -> py::object {
            RowMatrix* slot = self.cast<SGD&>().momentum_slot(p.get());
            if (!slot) return py::none();
            return view_of(*slot, p->is_vector, self);
          },
          py::arg("parameter"), "A numpy view of the momentum slot, or None.");

  py::class_<StepTotals>(m, "StepTotals")
      .def_readonly("loss_sum", &StepTotals::loss_sum)
      .def_readonly("correct_sum", &StepTotals::correct_sum)
      .def_readonly("samples", &StepTotals::samples)
      .def_readonly("steps", &StepTotals::steps)
      .def_readonly("finite", &StepTotals::finite);

  py::enum_<AccuracyKind>(m, "AccuracyKind")
      .value("none", AccuracyKind::none)
      .value("binary", AccuracyKind::binary)
      .value("sparse_categorical", AccuracyKind::sparse_categorical)
      .value("categorical", AccuracyKind::categorical);

  py::class_<LayerStats>(m, "LayerStats")
      .def_readonly("weight_grad_norm", &LayerStats::weight_grad_norm)
      .def_readonly("input_grad_norm", &LayerStats::input_grad_norm)
      .def_readonly("output_mean", &LayerStats::output_mean)
      .def_readonly("output_std", &LayerStats::output_std)
      .def_readonly("saturated_fraction", &LayerStats::saturated_fraction)
      .def_readonly("dead_fraction", &LayerStats::dead_fraction);
  py::class_<MonitorRecord>(m, "MonitorRecord")
      .def_readonly("step", &MonitorRecord::step)
      .def_readonly("layers", &MonitorRecord::layers);

  py::class_<Network, std::shared_ptr<Network>>(m, "Network")
      .def(py::init<std::vector<std::shared_ptr<Layer>>, Index>(), py::arg("layers"),
           py::arg("input_units"))
      .def_property_readonly("input_units", &Network::input_units)
      .def_property_readonly("output_units", &Network::output_units)
      .def_property_readonly("optimizer", &Network::optimizer)
      .def("compile", &Network::compile, py::arg("loss"), py::arg("optimizer"), py::arg("accuracy"),
           Release())
      .def(
          "train_step",
          [](Network& net, const Floats& x, const Floats& y) {
            auto xm = matrix_in(x, "train_step", "x");
            auto ym = matrix_in(y, "train_step", "y");
            py::gil_scoped_release release;
            return net.train_step(xm, ym);
          },
          py::arg("x"), py::arg("y"))
      .def(
          "train_epoch",
          [](Network& net, const Floats& x, const Floats& y,
             const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& order,
             Index batch_size, const ProgressFn& progress, double progress_seconds) {
            auto xm = matrix_in(x, "train_epoch", "x");
            auto ym = matrix_in(y, "train_epoch", "y");
            std::vector<std::int64_t> rows(order.data(), order.data() + order.size());
            py::gil_scoped_release release;
            return net.train_epoch(xm, ym, rows, batch_size, progress, progress_seconds);
          },
          py::arg("x"), py::arg("y"), py::arg("order"), py::arg("batch_size"),
          py::arg("progress") = nullptr, py::arg("progress_seconds") = 0.2)
      .def("set_monitor_every", &Network::set_monitor_every, py::arg("every"), Release())
      .def("take_monitor_records", &Network::take_monitor_records, Release())
      .def_property_readonly("steps_done", &Network::steps_done)
      .def(
          "gradient_flow",
          [](Network& net, const Floats& x, const Floats& y) {
            auto xm = matrix_in(x, "gradient_flow", "x");
            auto ym = matrix_in(y, "gradient_flow", "y");
            py::gil_scoped_release release;
            return net.gradient_flow(xm, ym);
          },
          py::arg("x"), py::arg("y"))
      .def(
          "evaluate",
          [](Network& net, const Floats& x, const Floats& y, Index batch_size) {
            auto xm = matrix_in(x, "evaluate", "x");
            auto ym = matrix_in(y, "evaluate", "y");
            py::gil_scoped_release release;
            return net.evaluate(xm, ym, batch_size);
          },
          py::arg("x"), py::arg("y"), py::arg("batch_size"))
      .def(
          "predict",
          [](Network& net, const Floats& x, Index batch_size, bool training) {
            auto xm = matrix_in(x, "predict", "x");
            FloatArray out = new_matrix(xm.rows(), net.output_units());
            auto om = matrix_out(out);
            py::gil_scoped_release release;
            net.predict(xm, om, batch_size, training);
            return out;
          },
          py::arg("x"), py::arg("batch_size"), py::arg("training") = false);
}

}  // namespace densekit::bindings
