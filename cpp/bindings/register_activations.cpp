// Activation kernels on numpy arrays (activations.hpp, learned_activations.hpp): the spec types,
// then forward and backward of each family. Outputs are allocated here and returned.
#include "arrays.hpp"
#include "densekit/kernels/activations.hpp"
#include "densekit/kernels/learned_activations.hpp"

namespace densekit::bindings {
namespace {

void register_activation_spec(py::module_& m) {
  py::enum_<ActivationKind> kind(m, "ActivationKind", "The activation functions the kernels know.");
  for (const char* name :
       {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "swish",
        "softplus", "softsign", "hard_sigmoid", "exponential", "thresholded_relu", "softmax"})
    kind.value(name, activation_kind_from_name(name));
  m.def("activation_kind_from_name", &activation_kind_from_name, py::arg("name"),
        "The ActivationKind of a Keras activation name; ValueError for an unknown one.");

  py::class_<ActivationSpec>(m, "ActivationSpec",
                             "An activation and its Keras arguments, as the kernels take it.")
      .def(py::init([](const std::string& name, Scalar negative_slope, Scalar max_value,
                       Scalar threshold, Scalar alpha, bool approximate) {
             return ActivationSpec{activation_kind_from_name(name),
                                   negative_slope,
                                   max_value,
                                   threshold,
                                   alpha,
                                   approximate};
           }),
           py::arg("name") = "linear", py::arg("negative_slope") = 0, py::arg("max_value") = -1,
           py::arg("threshold") = 0, py::arg("alpha") = 1, py::arg("approximate") = false,
           "The activation called `name` (a Keras name) with these arguments.")
      .def_readwrite("kind", &ActivationSpec::kind, "The ActivationKind.")
      .def_readwrite("negative_slope", &ActivationSpec::negative_slope,
                     "relu and leaky_relu: the slope below the threshold.")
      .def_readwrite("max_value", &ActivationSpec::max_value,
                     "relu: the upper bound; negative for none.")
      .def_readwrite("threshold", &ActivationSpec::threshold,
                     "relu's threshold, thresholded_relu's theta.")
      .def_readwrite("alpha", &ActivationSpec::alpha, "elu: the scale of the negative part.")
      .def_readwrite("approximate", &ActivationSpec::approximate,
                     "gelu: the tanh approximation instead of the exact erf form.");
}

void register_elementwise(py::module_& m) {
  m.def(
      "activation_forward",
      [](const ActivationSpec& spec, const Floats& x) {
        auto xm = matrix_in(x, "activation_forward", "x");
        FloatArray y = new_matrix(xm.rows(), xm.cols());
        auto ym = matrix_out(y);
        py::gil_scoped_release release;
        activation_forward(spec, xm, ym);
        return y;
      },
      py::arg("spec"), py::arg("x"), "y = f(x), f given by spec; softmax over each row.");
  m.def(
      "activation_backward",
      [](const ActivationSpec& spec, const Floats& x, const Floats& y, const Floats& dy) {
        auto xm = matrix_in(x, "activation_backward", "x");
        auto ym = matrix_in(y, "activation_backward", "y");
        auto dym = matrix_in(dy, "activation_backward", "dy");
        FloatArray dx = new_matrix(xm.rows(), xm.cols());
        auto dxm = matrix_out(dx);
        py::gil_scoped_release release;
        activation_backward(spec, xm, ym, dym, dxm);
        return dx;
      },
      py::arg("spec"), py::arg("x"), py::arg("y"), py::arg("dy"),
      "dx = ∂loss/∂x from the forward's x and y = f(x) and dy = ∂loss/∂y.");
}

void register_learned(py::module_& m) {
  m.def(
      "prelu_forward",
      [](const Floats& x, const Floats& alpha) {
        auto xm = matrix_in(x, "prelu_forward", "x");
        auto am = vector_in(alpha, "prelu_forward", "alpha");
        FloatArray y = new_matrix(xm.rows(), xm.cols());
        auto ym = matrix_out(y);
        py::gil_scoped_release release;
        prelu_forward(xm, am, ym);
        return y;
      },
      py::arg("x"), py::arg("alpha"), "y = x where x > 0, else alpha ⊙ x (alpha per column).");
  m.def(
      "prelu_backward",
      [](const Floats& x, const Floats& alpha, const Floats& dy) {
        auto xm = matrix_in(x, "prelu_backward", "x");
        auto am = vector_in(alpha, "prelu_backward", "alpha");
        auto dym = matrix_in(dy, "prelu_backward", "dy");
        FloatArray dx = new_matrix(xm.rows(), xm.cols());
        FloatArray dalpha = new_vector(xm.cols());
        auto dxm = matrix_out(dx);
        auto dam = vector_out(dalpha);
        {
          py::gil_scoped_release release;
          prelu_backward(xm, am, dym, dxm, dam);
        }
        return py::make_tuple(dx, dalpha);
      },
      py::arg("x"), py::arg("alpha"), py::arg("dy"), "(dx, dalpha); dx is 0 where x == 0.");
  m.def(
      "rrelu_forward",
      [](const Floats& x, Scalar lower, Scalar upper, bool training, std::uint64_t seed,
         std::uint64_t step) {
        auto xm = matrix_in(x, "rrelu_forward", "x");
        FloatArray y = new_matrix(xm.rows(), xm.cols());
        FloatArray slopes = new_matrix(xm.rows(), xm.cols());
        auto ym = matrix_out(y);
        auto sm = matrix_out(slopes);
        {
          py::gil_scoped_release release;
          rrelu_forward(xm, lower, upper, training, seed, step, sm, ym);
        }
        return py::make_tuple(y, slopes);
      },
      py::arg("x"), py::arg("lower"), py::arg("upper"), py::arg("training"), py::arg("seed") = 0,
      py::arg("step") = 0, "(y, slopes); inference: slopes all (lower + upper) / 2.");
  m.def(
      "rrelu_backward",
      [](const Floats& x, const Floats& slopes, const Floats& dy) {
        auto xm = matrix_in(x, "rrelu_backward", "x");
        auto sm = matrix_in(slopes, "rrelu_backward", "slopes");
        auto dym = matrix_in(dy, "rrelu_backward", "dy");
        FloatArray dx = new_matrix(xm.rows(), xm.cols());
        auto dxm = matrix_out(dx);
        py::gil_scoped_release release;
        rrelu_backward(xm, sm, dym, dxm);
        return dx;
      },
      py::arg("x"), py::arg("slopes"), py::arg("dy"),
      "dx = dy where x > 0, else slopes ⊙ dy (the slopes of the forward).");
}

}  // namespace

void register_activations(py::module_& m) {
  register_activation_spec(m);
  register_elementwise(m);
  register_learned(m);
}

}  // namespace densekit::bindings
