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
  py::class_<ClipSpec>(m, "ClipSpec", "Keras's gradient clipping arguments; 0 means not set.")
      .def(py::init([](Scalar clipvalue, Scalar clipnorm, Scalar global_clipnorm) {
             return ClipSpec{clipvalue, clipnorm, global_clipnorm};
           }),
           py::arg("clipvalue") = 0, py::arg("clipnorm") = 0, py::arg("global_clipnorm") = 0,
           "At most one may be set (SGD checks).")
      .def_readonly("clipvalue", &ClipSpec::clipvalue, "Clip each gradient value to ±clipvalue.")
      .def_readonly("clipnorm", &ClipSpec::clipnorm, "Clip each gradient to this L2 norm.")
      .def_readonly("global_clipnorm", &ClipSpec::global_clipnorm,
                    "Clip all gradients together to this joint L2 norm.");

  py::class_<SGD, std::shared_ptr<SGD>>(
      m, "SGD", "SGD with momentum, Nesterov and Keras's clipping; owns the momentum slots.")
      .def(py::init<Scalar, Scalar, bool, const ClipSpec&>(), py::arg("learning_rate"),
           py::arg("momentum"), py::arg("nesterov"), py::arg("clip"),
           "ValueError for momentum outside [0, 1] or more than one clipping argument.")
      .def_readwrite("learning_rate", &SGD::learning_rate, "The step size.")
      .def_readonly("momentum", &SGD::momentum, "Fixed: the slots exist only when it is not 0.")
      .def_readwrite("nesterov", &SGD::nesterov, "Nesterov momentum.")
      .def_readwrite("iterations", &SGD::iterations, "Updates applied so far.")
      .def(
          "momentum_slot",
          [](py::object self, std::shared_ptr<Parameter> p) -> py::object {
            RowMatrix* slot = self.cast<SGD&>().momentum_slot(p.get());
            if (!slot) return py::none();
            return view_of(*slot, p->is_vector, self);
          },
          py::arg("parameter"), "A numpy view of the momentum slot, or None.");

  py::class_<StepTotals>(m, "StepTotals",
                         "Sums over the samples of a step or an epoch; divide by samples.")
      .def_readonly("loss_sum", &StepTotals::loss_sum, "Σ of the per-sample loss.")
      .def_readonly("correct_sum", &StepTotals::correct_sum, "Σ of the per-sample accuracy.")
      .def_readonly("samples", &StepTotals::samples, "Samples counted.")
      .def_readonly("steps", &StepTotals::steps, "Steps (batches) counted.")
      .def_readonly("finite", &StepTotals::finite,
                    "False: a step had a non-finite loss or gradient and was not applied.");

  py::enum_<AccuracyKind>(m, "AccuracyKind", "The accuracy a network counts (none: only the loss).")
      .value("none", AccuracyKind::none)
      .value("binary", AccuracyKind::binary)
      .value("sparse_categorical", AccuracyKind::sparse_categorical)
      .value("categorical", AccuracyKind::categorical);

  py::class_<LayerStats>(m, "LayerStats",
                         "Per-layer figures of one step; NaN where a figure does not apply.")
      .def_readonly("weight_grad_norm", &LayerStats::weight_grad_norm,
                    "L2 norm of the layer's trainable gradients.")
      .def_readonly("input_grad_norm", &LayerStats::input_grad_norm,
                    "L2 norm of ∂loss/∂(the layer's input).")
      .def_readonly("output_mean", &LayerStats::output_mean, "Mean of the layer's output.")
      .def_readonly("output_std", &LayerStats::output_std, "Standard deviation of its output.")
      .def_readonly("saturated_fraction", &LayerStats::saturated_fraction,
                    "Fraction of sigmoid/tanh/softsign/hard_sigmoid outputs near a limit.")
      .def_readonly("dead_fraction", &LayerStats::dead_fraction,
                    "Fraction of ReLU-like units that are 0 for every sample of the batch.");
  py::class_<MonitorRecord>(m, "MonitorRecord", "The LayerStats recorded at one training step.")
      .def_readonly("step", &MonitorRecord::step,
                    "Training steps the network had run before this one.")
      .def_readonly("layers", &MonitorRecord::layers, "One LayerStats per layer.");

  py::class_<Network, std::shared_ptr<Network>>(
      m, "Network", "A sequential network that runs a whole training step in one call.")
      .def(py::init<std::vector<std::shared_ptr<Layer>>, Index>(), py::arg("layers"),
           py::arg("input_units"),
           "ShapeError (ValueError) when a layer's input units do not match the one below.")
      .def_property_readonly("input_units", &Network::input_units, "Features of the input.")
      .def_property_readonly("output_units", &Network::output_units, "Features of the output.")
      .def_property_readonly("optimizer", &Network::optimizer, "The SGD of compile, or None.")
      .def("compile", &Network::compile, py::arg("loss"), py::arg("optimizer"), py::arg("accuracy"),
           Release(), "Sets the loss, the optimizer (its slots are made now) and the accuracy.")
      .def(
          "train_step",
          [](Network& net, const Floats& x, const Floats& y) {
            auto xm = matrix_in(x, "train_step", "x");
            auto ym = matrix_in(y, "train_step", "y");
            py::gil_scoped_release release;
            return net.train_step(xm, ym);
          },
          py::arg("x"), py::arg("y"),
          "One step on the batch (x, y); not applied when its loss or a gradient is not finite.")
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
          py::arg("progress") = nullptr, py::arg("progress_seconds") = 0.2,
          "Batches of rows order[i·batch_size:...] of x and y; progress(totals so far) about every "
          "progress_seconds, returning False to stop. Stops at a non-finite step.")
      .def("set_monitor_every", &Network::set_monitor_every, py::arg("every"), Release(),
           "Records LayerStats every `every` training steps (0: off).")
      .def("take_monitor_records", &Network::take_monitor_records, Release(),
           "The MonitorRecords so far, cleared.")
      .def_property_readonly("steps_done", &Network::steps_done, "Training steps run so far.")
      .def(
          "gradient_flow",
          [](Network& net, const Floats& x, const Floats& y) {
            auto xm = matrix_in(x, "gradient_flow", "x");
            auto ym = matrix_in(y, "gradient_flow", "y");
            py::gil_scoped_release release;
            return net.gradient_flow(xm, ym);
          },
          py::arg("x"), py::arg("y"),
          "LayerStats of one training-mode step on (x, y), without any update.")
      .def(
          "evaluate",
          [](Network& net, const Floats& x, const Floats& y, Index batch_size) {
            auto xm = matrix_in(x, "evaluate", "x");
            auto ym = matrix_in(y, "evaluate", "y");
            py::gil_scoped_release release;
            return net.evaluate(xm, ym, batch_size);
          },
          py::arg("x"), py::arg("y"), py::arg("batch_size"),
          "Loss and accuracy totals in inference mode; steps counts batches of batch_size.")
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
          py::arg("x"), py::arg("batch_size"), py::arg("training") = false,
          "The network's outputs for x; training: batch statistics and random slopes, per batch "
          "of batch_size.");
}

}  // namespace densekit::bindings
