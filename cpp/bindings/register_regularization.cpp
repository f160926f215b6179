// densekit._core.kernels: the penalty and constraint kernels and their specs.
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "densekit/regularization.hpp"

namespace densekit::bindings {

void register_regularization(py::module_& m) {
  py::enum_<PenaltyKind>(m, "PenaltyKind", "The penalties (regularizers) the kernels know.")
      .value("none", PenaltyKind::none)
      .value("l1_l2", PenaltyKind::l1_l2)
      .value("orthogonal", PenaltyKind::orthogonal);
  py::class_<PenaltySpec>(m, "PenaltySpec", "A regularizer: L1L2 factors or an orthogonal one.")
      .def(py::init<>(), "No penalty.")
      .def_readwrite("kind", &PenaltySpec::kind, "The PenaltyKind.")
      .def_readwrite("l1", &PenaltySpec::l1, "L1 factor (l1_l2).")
      .def_readwrite("l2", &PenaltySpec::l2, "L2 factor (l1_l2).")
      .def_readwrite("factor", &PenaltySpec::factor, "Factor (orthogonal).")
      .def_readwrite("columns", &PenaltySpec::columns,
                     "Orthogonal: make the columns orthogonal instead of the rows.");
  m.def(
      "penalty_value",
      [](const PenaltySpec& spec, const Floats& w) {
        auto wm = matrix_or_row_in(w, "penalty_value", "w");
        check_penalty(spec, wm.rows(), wm.cols(), "penalty_value");
        PenaltyScratch scratch;
        scratch.reserve(spec, wm.rows(), wm.cols());
        py::gil_scoped_release release;
        return penalty_value(spec, wm, scratch);
      },
      py::arg("spec"), py::arg("w"), "The penalty of w (1-D: one row).");
  m.def(
      "penalty_gradient",
      [](const PenaltySpec& spec, const Floats& w) {
        auto wm = matrix_or_row_in(w, "penalty_gradient", "w");
        check_penalty(spec, wm.rows(), wm.cols(), "penalty_gradient");
        PenaltyScratch scratch;
        scratch.reserve(spec, wm.rows(), wm.cols());
        FloatArray grad = new_matrix(wm.rows(), wm.cols());
        auto gm = matrix_out(grad);
        double value;
        {
          py::gil_scoped_release release;
          gm.setZero();
          value = penalty_add_gradient(spec, wm, gm, 1.0, scratch);
        }
        return py::make_tuple(value, grad);
      },
      py::arg("spec"), py::arg("w"), "(penalty, ∂penalty/∂w) with w taken as a matrix.");

  py::enum_<ConstraintKind>(m, "ConstraintKind", "The constraints the kernels know.")
      .value("none", ConstraintKind::none)
      .value("max_norm", ConstraintKind::max_norm)
      .value("min_max_norm", ConstraintKind::min_max_norm)
      .value("non_neg", ConstraintKind::non_neg)
      .value("unit_norm", ConstraintKind::unit_norm);
  py::enum_<NormAxis>(m, "NormAxis", "Which elements of a (rows, cols) matrix share a norm.")
      .value("over_rows", NormAxis::over_rows)
      .value("over_columns", NormAxis::over_columns)
      .value("over_all", NormAxis::over_all);
  py::class_<ConstraintSpec>(m, "ConstraintSpec", "A constraint and its values.")
      .def(py::init<>(), "No constraint.")
      .def_readwrite("kind", &ConstraintSpec::kind, "The ConstraintKind.")
      .def_readwrite("min_value", &ConstraintSpec::min_value, "Smallest norm (MinMaxNorm).")
      .def_readwrite("max_value", &ConstraintSpec::max_value, "Largest norm (MaxNorm, MinMaxNorm).")
      .def_readwrite("rate", &ConstraintSpec::rate, "Rate of enforcement (MinMaxNorm).")
      .def_readwrite("axis", &ConstraintSpec::axis, "The NormAxis.");
  m.def(
      "apply_constraint",
      [](const ConstraintSpec& spec, const Floats& w) {
        auto wm = matrix_or_row_in(w, "apply_constraint", "w");
        check_constraint(spec, "apply_constraint");
        FloatArray out = new_matrix(wm.rows(), wm.cols());
        auto om = matrix_out(out);
        Eigen::VectorXd norms(constraint_norm_count(spec, wm.rows(), wm.cols()));
        py::gil_scoped_release release;
        om = wm;
        apply_constraint(spec, om, norms);
        return out;
      },
      py::arg("spec"), py::arg("w"),
      "The constrained w as a new (rows, cols) array (1-D: one row).");
}

}  // namespace densekit::bindings
