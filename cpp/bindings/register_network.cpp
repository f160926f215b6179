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
           "At most one may be set (the Optimizer checks).")
      .def_readonly("clipvalue", &ClipSpec::clipvalue, "Clip each gradient value to ±clipvalue.")
      .def_readonly("clipnorm", &ClipSpec::clipnorm, "Clip each gradient to this L2 norm.")
      .def_readonly("global_clipnorm", &ClipSpec::global_clipnorm,
                    "Clip all gradients together to this joint L2 norm.");

  py::enum_<UpdateRule>(m, "UpdateRule", "The update rule of a Keras optimizer.")
      .value("sgd", UpdateRule::sgd)
      .value("adagrad", UpdateRule::adagrad)
      .value("rmsprop", UpdateRule::rmsprop)
      .value("adam", UpdateRule::adam)
      .value("adamax", UpdateRule::adamax)
      .value("nadam", UpdateRule::nadam)
      .value("lion", UpdateRule::lion);

  py::class_<RuleSettings>(m, "RuleSettings",
                           "A rule and its hyperparameters; each rule reads its own.")
      .def(py::init<>(), "SGD without momentum; set the fields of the rule wanted.")
      .def_readwrite("rule", &RuleSettings::rule, "The UpdateRule.")
      .def_readwrite("momentum", &RuleSettings::momentum, "SGD's and RMSprop's momentum.")
      .def_readwrite("nesterov", &RuleSettings::nesterov, "SGD: Nesterov momentum.")
      .def_readwrite("beta_1", &RuleSettings::beta_1, "Adam, Adamax, Nadam, Lion: β₁.")
      .def_readwrite("beta_2", &RuleSettings::beta_2, "Adam, Adamax, Nadam, Lion: β₂.")
      .def_readwrite("epsilon", &RuleSettings::epsilon, "The ε of the denominators.")
      .def_readwrite("amsgrad", &RuleSettings::amsgrad, "Adam: the AMSGrad variant.")
      .def_readwrite("rho", &RuleSettings::rho, "RMSprop: the discount of the squares.")
      .def_readwrite("centered", &RuleSettings::centered, "RMSprop: centered.")
      .def_readwrite("initial_accumulator_value", &RuleSettings::initial_accumulator_value,
                     "Adagrad: the accumulators' starting value.");

  py::class_<OptimizerSettings>(m, "OptimizerSettings",
                                "What the base optimizer adds to a rule; 0 means not set.")
      .def(py::init<>(), "Plain SGD with none of the options.")
      .def_readwrite("rule", &OptimizerSettings::rule, "The RuleSettings.")
      .def_readwrite("clip", &OptimizerSettings::clip, "The ClipSpec.")
      .def_readwrite("weight_decay", &OptimizerSettings::weight_decay,
                     "Decoupled weight decay: w ← w·(1 − weight_decay·lr) before each update.")
      .def_readwrite("use_ema", &OptimizerSettings::use_ema, "Keep moving averages of the weights.")
      .def_readwrite("ema_momentum", &OptimizerSettings::ema_momentum, "The averages' momentum.")
      .def_readwrite("ema_overwrite_frequency", &OptimizerSettings::ema_overwrite_frequency,
                     "The weights take their averages every that many updates (0: never).")
      .def_readwrite("gradient_accumulation_steps", &OptimizerSettings::gradient_accumulation_steps,
                     "Update every that many steps with the mean gradient (0: every step).");

  py::class_<Optimizer, std::shared_ptr<Optimizer>>(
      m, "Optimizer", "A Keras optimizer's update, run inside the training call; owns the slots.")
      .def(py::init<const OptimizerSettings&, Scalar>(), py::arg("settings"),
           py::arg("learning_rate"), "ValueError for a setting out of its range.")
      .def_readonly("settings", &Optimizer::settings, "Fixed at construction.")
      .def_readwrite("learning_rate", &Optimizer::learning_rate,
                     "The step size when there is no schedule.")
      .def_readwrite("schedule", &Optimizer::schedule, "The learning-rate schedule, or None.")
      .def_readwrite("steps", &Optimizer::steps,
                     "Steps run, accumulating ones included (Keras's _iterations).")
      .def_readwrite("u_product", &Optimizer::u_product, "Nadam's running product.")
      .def_property_readonly("iterations", &Optimizer::iterations,
                             "Updates applied (steps over the gradient accumulation).")
      .def("current_learning_rate", &Optimizer::current_learning_rate,
           "The learning rate of the next step.")
      .def(
          "slot",
          [](py::object self, std::shared_ptr<Parameter> p, int position) -> py::object {
            RowMatrix* slot = self.cast<Optimizer&>().slot(p.get(), position);
            if (!slot) return py::none();
            return view_of(*slot, p->is_vector, self);
          },
          py::arg("parameter"), py::arg("position"),
          "A numpy view of a slot (positions: kernels/update_rules.hpp), or None.")
      .def(
          "average",
          [](py::object self, std::shared_ptr<Parameter> p) -> py::object {
            VariableState* s = self.cast<Optimizer&>().state(p.get());
            if (!s || s->average.size() == 0) return py::none();
            return view_of(s->average, p->is_vector, self);
          },
          py::arg("parameter"), "A numpy view of the parameter's moving average, or None.")
      .def(
          "accumulator",
          [](py::object self, std::shared_ptr<Parameter> p) -> py::object {
            VariableState* s = self.cast<Optimizer&>().state(p.get());
            if (!s || s->accumulator.size() == 0) return py::none();
            return view_of(s->accumulator, p->is_vector, self);
          },
          py::arg("parameter"), "A numpy view of the parameter's gradient accumulator, or None.")
      .def(
          "set_decays",
          [](Optimizer& self, std::shared_ptr<Parameter> p, bool decays) {
            self.set_decays(p.get(), decays);
          },
          py::arg("parameter"), py::arg("decays"), "Whether weight decay applies to it.")
      .def("refresh_bounds", &Optimizer::refresh_bounds, Release(),
           "Measures the state again after it was written through a slot's view.")
      .def("finalize_variable_values", &Optimizer::finalize_variable_values, py::arg("parameters"),
           Release(), "With EMA, every parameter takes its moving average.");

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
      .def_property_readonly("optimizer", &Network::optimizer, "The Optimizer of compile, or None.")
      .def("compile", &Network::compile, py::arg("loss"), py::arg("optimizer"), py::arg("accuracy"),
           Release(), "Sets the loss, the optimizer (its slots are made now) and the accuracy.")
      .def(
          "train_step",
          [](Network& net, const Floats& x, const Floats& y,
             const std::optional<Floats>& sample_weight) {
            auto xm = matrix_in(x, "train_step", "x");
            auto ym = matrix_in(y, "train_step", "y");
            auto wm = optional_vector_in(sample_weight, "train_step", "sample_weight");
            py::gil_scoped_release release;
            return net.train_step(xm, ym, wm);
          },
          py::arg("x"), py::arg("y"), py::arg("sample_weight") = py::none(),
          "One step on the batch (x, y), its loss weighted by sample_weight (one per row) if "
          "given; not applied when its loss or a gradient is not finite.")
      .def(
          "train_epoch",
          [](Network& net, const Floats& x, const Floats& y,
             const py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>& order,
             Index batch_size, const ProgressFn& progress, double progress_seconds,
             const std::optional<Floats>& sample_weight) {
            auto xm = matrix_in(x, "train_epoch", "x");
            auto ym = matrix_in(y, "train_epoch", "y");
            auto wm = optional_vector_in(sample_weight, "train_epoch", "sample_weight");
            std::vector<std::int64_t> rows(order.data(), order.data() + order.size());
            py::gil_scoped_release release;
            return net.train_epoch(xm, ym, wm, rows, batch_size, progress, progress_seconds);
          },
          py::arg("x"), py::arg("y"), py::arg("order"), py::arg("batch_size"),
          py::arg("progress") = nullptr, py::arg("progress_seconds") = 0.2,
          py::arg("sample_weight") = py::none(),
          "Batches of rows order[i·batch_size:...] of x, y and sample_weight (one per row, if "
          "given); progress(totals so far) about every progress_seconds, returning False to "
          "stop. Stops at a non-finite step.")
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
          [](Network& net, const Floats& x, const Floats& y, Index batch_size,
             const std::optional<Floats>& sample_weight) {
            auto xm = matrix_in(x, "evaluate", "x");
            auto ym = matrix_in(y, "evaluate", "y");
            auto wm = optional_vector_in(sample_weight, "evaluate", "sample_weight");
            py::gil_scoped_release release;
            return net.evaluate(xm, ym, wm, batch_size);
          },
          py::arg("x"), py::arg("y"), py::arg("batch_size"), py::arg("sample_weight") = py::none(),
          "Loss and accuracy totals in inference mode, the loss weighted by sample_weight (one "
          "per row) if given; steps counts batches of batch_size.")
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
