// Learning-rate schedules (densekit.optimizers.schedules builds them and checks argument types).
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <limits>

#include "arrays.hpp"
#include "densekit/schedules.hpp"

namespace densekit::bindings {

void register_schedules(py::module_& m) {
  const double none = std::numeric_limits<double>::quiet_NaN();

  // A shared_ptr holder, so an optimizer can keep the schedule it was given.
  py::class_<LearningRateSchedule, std::shared_ptr<LearningRateSchedule>>(
      m, "LearningRateSchedule", "The learning rate (and momentum) as a function of the step.")
      // Without the GIL, as the optimizer calls it: a CallbackSchedule takes the GIL back itself.
      .def("learning_rate", &LearningRateSchedule::learning_rate, py::arg("step"),
           py::call_guard<py::gil_scoped_release>(), "The learning rate at this step (from 0).")
      .def("momentum", &LearningRateSchedule::momentum, py::arg("step"),
           py::call_guard<py::gil_scoped_release>(),
           "The momentum at this step; NaN when the schedule leaves it alone.");

  py::class_<ExponentialDecay, LearningRateSchedule, std::shared_ptr<ExponentialDecay>>(
      m, "ExponentialDecay", "initial_learning_rate · decay_rate^(step / decay_steps).")
      .def(py::init<double, double, double, bool>(), py::arg("initial_learning_rate"),
           py::arg("decay_steps"), py::arg("decay_rate"), py::arg("staircase"),
           "staircase: ⌊step / decay_steps⌋. ValueError for a value that would give a bad rate.");

  py::class_<PiecewiseConstantDecay, LearningRateSchedule, std::shared_ptr<PiecewiseConstantDecay>>(
      m, "PiecewiseConstantDecay", "values[i] for boundaries[i-1] < step <= boundaries[i].")
      .def(py::init<std::vector<std::int64_t>, std::vector<double>>(), py::arg("boundaries"),
           py::arg("values"),
           "ValueError unless the boundaries increase and there is one more value than them.");

  py::class_<InverseTimeDecay, LearningRateSchedule, std::shared_ptr<InverseTimeDecay>>(
      m, "InverseTimeDecay", "initial_learning_rate / (1 + decay_rate · step / decay_steps).")
      .def(py::init<double, double, double, bool>(), py::arg("initial_learning_rate"),
           py::arg("decay_steps"), py::arg("decay_rate"), py::arg("staircase"),
           "staircase: ⌊step / decay_steps⌋. ValueError for a value that would give a bad rate.");

  py::class_<PolynomialDecay, LearningRateSchedule, std::shared_ptr<PolynomialDecay>>(
      m, "PolynomialDecay", "(initial − end) · (1 − step / decay_steps)^power + end.")
      .def(py::init<double, double, double, double, bool>(), py::arg("initial_learning_rate"),
           py::arg("decay_steps"), py::arg("end_learning_rate"), py::arg("power"), py::arg("cycle"),
           "cycle: decay again over the next multiple of decay_steps instead of staying at end.");

  py::class_<CosineDecay, LearningRateSchedule, std::shared_ptr<CosineDecay>>(
      m, "CosineDecay", "Optional linear warmup, then a cosine decay to alpha · its start.")
      .def(py::init<double, double, double, double, double>(), py::arg("initial_learning_rate"),
           py::arg("decay_steps"), py::arg("alpha"), py::arg("warmup_target") = none,
           py::arg("warmup_steps") = 0.0, "warmup_target NaN: no warmup.");

  py::class_<CosineDecayRestarts, LearningRateSchedule, std::shared_ptr<CosineDecayRestarts>>(
      m, "CosineDecayRestarts", "Cosine decays restarted in periods t_mul times longer (SGDR).")
      .def(py::init<double, double, double, double, double>(), py::arg("initial_learning_rate"),
           py::arg("first_decay_steps"), py::arg("t_mul"), py::arg("m_mul"), py::arg("alpha"),
           "Period i starts at m_mul^i · initial_learning_rate. ValueError for t_mul < 1.");

  py::class_<OneCycle, LearningRateSchedule, std::shared_ptr<OneCycle>>(
      m, "OneCycle", "1cycle: the rate up and down again, then a short tail; momentum opposite.")
      .def(py::init<double, std::int64_t, double, double, double, double>(),
           py::arg("max_learning_rate"), py::arg("total_steps"),
           py::arg("start_learning_rate") = none, py::arg("last_learning_rate") = none,
           py::arg("max_momentum") = none, py::arg("min_momentum") = none,
           "NaN: start max/10, last start/1000, momentum not cycled.");

  py::class_<CallbackSchedule, LearningRateSchedule, std::shared_ptr<CallbackSchedule>>(
      m, "CallbackSchedule", "A schedule computed by a Python function of the step.")
      .def(py::init<std::function<double(std::int64_t)>>(), py::arg("fn"),
           "Calls fn(step) -> float; its exceptions propagate, and a result that is negative, "
           "infinite or NaN raises ValueError.");
}

}  // namespace densekit::bindings
