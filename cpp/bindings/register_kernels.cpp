// Every kernel, callable on numpy arrays: inputs are converted to float32 2-D views, outputs are
// allocated here and returned. Shapes are checked by the kernels (ShapeError -> ValueError).
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "densekit/kernels/activations.hpp"
#include "densekit/kernels/batch_norm.hpp"
#include "densekit/kernels/clipping.hpp"
#include "densekit/kernels/dense.hpp"
#include "densekit/kernels/losses.hpp"
#include "densekit/kernels/sgd.hpp"

namespace densekit::bindings {
namespace {

using Release = py::call_guard<py::gil_scoped_release>;

void register_dense(py::module_& m) {
  m.def("dense_forward", [](const Floats& x, const Floats& w, const Floats& b) {
    auto xm = matrix_in(x, "dense_forward", "x");
    auto wm = matrix_in(w, "dense_forward", "w");
    auto bm = vector_in(b, "dense_forward", "b");
    FloatArray y = new_matrix(xm.rows(), wm.cols());
    auto ym = matrix_out(y);
    py::gil_scoped_release release;
    dense_forward(xm, wm, bm, ym);
    return y;
  }, py::arg("x"), py::arg("w"), py::arg("b"), "y = x w + b (pass an empty b for no bias).");
  m.def("dense_backward_data", [](const Floats& dy, const Floats& w) {
    auto dym = matrix_in(dy, "dense_backward_data", "dy");
    auto wm = matrix_in(w, "dense_backward_data", "w");
    FloatArray dx = new_matrix(dym.rows(), wm.rows());
    auto dxm = matrix_out(dx);
    py::gil_scoped_release release;
    dense_backward_data(dym, wm, dxm);
    return dx;
  }, py::arg("dy"), py::arg("w"), "dx = dy wᵀ.");
  m.def("dense_backward_weights", [](const Floats& x, const Floats& dy, bool use_bias) {
    auto xm = matrix_in(x, "dense_backward_weights", "x");
    auto dym = matrix_in(dy, "dense_backward_weights", "dy");
    FloatArray dw = new_matrix(xm.cols(), dym.cols());
    FloatArray db = FloatArray({use_bias ? dym.cols() : Index(0)});
    auto dwm = matrix_out(dw);
    Eigen::Map<RowVector> dbm(db.mutable_data(), db.shape(0));
    {
      py::gil_scoped_release release;
      dense_backward_weights(xm, dym, dwm, dbm);
    }
    return py::make_tuple(dw, db);
  }, py::arg("x"), py::arg("dy"), py::arg("use_bias") = true, "(dw, db) = (xᵀ dy, Σ_rows dy).");
}

void register_activations(py::module_& m) {
  py::enum_<ActivationKind> kind(m, "ActivationKind");
  for (const char* name : {"linear", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu",
                           "swish", "softplus", "softsign", "hard_sigmoid", "exponential",
                           "thresholded_relu", "softmax"})
    kind.value(name, activation_kind_from_name(name));
  m.def("activation_kind_from_name", &activation_kind_from_name, py::arg("name"));

  py::class_<ActivationSpec>(m, "ActivationSpec")
      .def(py::init([](const std::string& name, Scalar negative_slope, Scalar max_value,
                       Scalar threshold, Scalar alpha, bool approximate) {
             return ActivationSpec{activation_kind_from_name(name), negative_slope, max_value,
                                   threshold, alpha, approximate};
           }),
           py::arg("name") = "linear", py::arg("negative_slope") = 0, py::arg("max_value") = -1,
           py::arg("threshold") = 0, py::arg("alpha") = 1, py::arg("approximate") = false)
      .def_readwrite("kind", &ActivationSpec::kind)
      .def_readwrite("negative_slope", &ActivationSpec::negative_slope)
      .def_readwrite("max_value", &ActivationSpec::max_value)
      .def_readwrite("threshold", &ActivationSpec::threshold)
      .def_readwrite("alpha", &ActivationSpec::alpha)
      .def_readwrite("approximate", &ActivationSpec::approximate);

  m.def("activation_forward", [](const ActivationSpec& spec, const Floats& x) {
    auto xm = matrix_in(x, "activation_forward", "x");
    FloatArray y = new_matrix(xm.rows(), xm.cols());
    auto ym = matrix_out(y);
    py::gil_scoped_release release;
    activation_forward(spec, xm, ym);
    return y;
  }, py::arg("spec"), py::arg("x"));
  m.def("activation_backward", [](const ActivationSpec& spec, const Floats& x,
                                  const Floats& y, const Floats& dy) {
    auto xm = matrix_in(x, "activation_backward", "x");
    auto ym = matrix_in(y, "activation_backward", "y");
    auto dym = matrix_in(dy, "activation_backward", "dy");
    FloatArray dx = new_matrix(xm.rows(), xm.cols());
    auto dxm = matrix_out(dx);
    py::gil_scoped_release release;
    activation_backward(spec, xm, ym, dym, dxm);
    return dx;
  }, py::arg("spec"), py::arg("x"), py::arg("y"), py::arg("dy"));
  m.def("prelu_forward", [](const Floats& x, const Floats& alpha) {
    auto xm = matrix_in(x, "prelu_forward", "x");
    auto am = vector_in(alpha, "prelu_forward", "alpha");
    FloatArray y = new_matrix(xm.rows(), xm.cols());
    auto ym = matrix_out(y);
    py::gil_scoped_release release;
    prelu_forward(xm, am, ym);
    return y;
  }, py::arg("x"), py::arg("alpha"));
  m.def("prelu_backward", [](const Floats& x, const Floats& alpha, const Floats& dy) {
    auto xm = matrix_in(x, "prelu_backward", "x");
    auto am = vector_in(alpha, "prelu_backward", "alpha");
    auto dym = matrix_in(dy, "prelu_backward", "dy");
    FloatArray dx = new_matrix(xm.rows(), xm.cols());
    FloatArray dalpha = FloatArray({xm.cols()});
    auto dxm = matrix_out(dx);
    Eigen::Map<RowVector> dam(dalpha.mutable_data(), dalpha.shape(0));
    {
      py::gil_scoped_release release;
      prelu_backward(xm, am, dym, dxm, dam);
    }
    return py::make_tuple(dx, dalpha);
  }, py::arg("x"), py::arg("alpha"), py::arg("dy"), "(dx, dalpha).");
  m.def("rrelu_forward", [](const Floats& x, Scalar lower, Scalar upper, bool training,
                            std::uint64_t seed, std::uint64_t step) {
    auto xm = matrix_in(x, "rrelu_forward", "x");
    FloatArray y = new_matrix(xm.rows(), xm.cols());
    FloatArray slopes = new_matrix(xm.rows(), xm.cols());
    auto ym = matrix_out(y);
    auto sm = matrix_out(slopes);
    {
      py::gil_scoped_release release;
      if (training) {
        rrelu_forward_training(xm, lower, upper, seed, step, sm, ym);
      } else {
        rrelu_forward_inference(xm, lower, upper, ym);
        sm.setConstant((lower + upper) / 2);
      }
    }
    return py::make_tuple(y, slopes);
  }, py::arg("x"), py::arg("lower"), py::arg("upper"), py::arg("training"), py::arg("seed") = 0,
     py::arg("step") = 0, "(y, slopes).");
  m.def("rrelu_backward", [](const Floats& x, const Floats& slopes, const Floats& dy) {
    auto xm = matrix_in(x, "rrelu_backward", "x");
    auto sm = matrix_in(slopes, "rrelu_backward", "slopes");
    auto dym = matrix_in(dy, "rrelu_backward", "dy");
    FloatArray dx = new_matrix(xm.rows(), xm.cols());
    auto dxm = matrix_out(dx);
    py::gil_scoped_release release;
    rrelu_backward(xm, sm, dym, dxm);
    return dx;
  }, py::arg("x"), py::arg("slopes"), py::arg("dy"));
}

using VectorMap = Eigen::Map<RowVector>;

FloatArray new_vector(Index n) { return FloatArray({n}); }
VectorMap vector_out(FloatArray& a) { return VectorMap(a.mutable_data(), a.shape(0)); }

void register_batch_norm(py::module_& m) {
  m.def("batch_norm_forward_training", [](const Floats& x, const Floats& gamma,
                                          const Floats& beta, Scalar epsilon) {
    const char* where = "batch_norm_forward_training";
    auto xm = matrix_in(x, where, "x");
    auto gm = vector_in(gamma, where, "gamma");
    auto bm = vector_in(beta, where, "beta");
    FloatArray y = new_matrix(xm.rows(), xm.cols()), x_hat = new_matrix(xm.rows(), xm.cols());
    FloatArray mean = new_vector(xm.cols()), var = new_vector(xm.cols()), inv_std = new_vector(xm.cols());
    auto ym = matrix_out(y);
    auto xhm = matrix_out(x_hat);
    auto mm = vector_out(mean);
    auto vm = vector_out(var);
    auto im = vector_out(inv_std);
    {
      py::gil_scoped_release release;
      batch_norm_forward_training(xm, gm, bm, epsilon, mm, vm, im, xhm, ym);
    }
    return py::make_tuple(y, mean, var, inv_std, x_hat);
  }, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("epsilon"),
     "(y, mean, var, inv_std, x_hat); empty gamma/beta mean scale 1 / offset 0.");
  m.def("batch_norm_update_moving", [](py::array& moving_mean, py::array& moving_var,
                                       const Floats& mean, const Floats& var, Scalar momentum) {
    const char* where = "batch_norm_update_moving";
    auto mm = matrix_inplace(moving_mean, where, "moving_mean");
    auto vm = matrix_inplace(moving_var, where, "moving_var");
    if (mm.rows() != 1 || vm.rows() != 1) throw py::value_error(std::string(where) + ": moving statistics must be 1-D");
    VectorMap mv(mm.data(), mm.cols()), vv(vm.data(), vm.cols());
    batch_norm_update_moving(mv, vv, vector_in(mean, where, "mean"), vector_in(var, where, "var"), momentum);
  }, py::arg("moving_mean"), py::arg("moving_var"), py::arg("mean"), py::arg("var"), py::arg("momentum"),
     "In place: moving = moving·momentum + batch·(1 - momentum).");
  m.def("batch_norm_forward_inference", [](const Floats& x, const Floats& gamma,
                                           const Floats& beta, const Floats& moving_mean,
                                           const Floats& moving_var, Scalar epsilon) {
    const char* where = "batch_norm_forward_inference";
    auto xm = matrix_in(x, where, "x");
    FloatArray y = new_matrix(xm.rows(), xm.cols());
    auto ym = matrix_out(y);
    batch_norm_forward_inference(xm, vector_in(gamma, where, "gamma"), vector_in(beta, where, "beta"),
                                 vector_in(moving_mean, where, "moving_mean"),
                                 vector_in(moving_var, where, "moving_var"), epsilon, ym);
    return y;
  }, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("moving_mean"), py::arg("moving_var"),
     py::arg("epsilon"));
  m.def("batch_norm_backward_training", [](const Floats& x_hat, const Floats& dy,
                                           const Floats& gamma, const Floats& inv_std) {
    const char* where = "batch_norm_backward_training";
    auto xhm = matrix_in(x_hat, where, "x_hat");
    auto dym = matrix_in(dy, where, "dy");
    FloatArray dx = new_matrix(xhm.rows(), xhm.cols());
    FloatArray dgamma = new_vector(xhm.cols()), dbeta = new_vector(xhm.cols());
    auto dxm = matrix_out(dx);
    auto dgm = vector_out(dgamma);
    auto dbm = vector_out(dbeta);
    batch_norm_backward_training(xhm, dym, vector_in(gamma, where, "gamma"),
                                 vector_in(inv_std, where, "inv_std"), dxm, dgm, dbm);
    return py::make_tuple(dx, dgamma, dbeta);
  }, py::arg("x_hat"), py::arg("dy"), py::arg("gamma"), py::arg("inv_std"), "(dx, dgamma, dbeta).");
  m.def("batch_norm_backward_inference", [](const Floats& x, const Floats& dy,
                                            const Floats& gamma, const Floats& moving_mean,
                                            const Floats& moving_var, Scalar epsilon) {
    const char* where = "batch_norm_backward_inference";
    auto xm = matrix_in(x, where, "x");
    auto dym = matrix_in(dy, where, "dy");
    FloatArray dx = new_matrix(xm.rows(), xm.cols());
    FloatArray dgamma = new_vector(xm.cols()), dbeta = new_vector(xm.cols());
    auto dxm = matrix_out(dx);
    auto dgm = vector_out(dgamma);
    auto dbm = vector_out(dbeta);
    batch_norm_backward_inference(xm, dym, vector_in(gamma, where, "gamma"),
                                  vector_in(moving_mean, where, "moving_mean"),
                                  vector_in(moving_var, where, "moving_var"), epsilon, dxm, dgm, dbm);
    return py::make_tuple(dx, dgamma, dbeta);
  }, py::arg("x"), py::arg("dy"), py::arg("gamma"), py::arg("moving_mean"), py::arg("moving_var"),
     py::arg("epsilon"), "(dx, dgamma, dbeta).");
}

void register_losses(py::module_& m) {
  py::enum_<LossKind>(m, "LossKind")
      .value("sparse_categorical_crossentropy", LossKind::sparse_categorical_crossentropy)
      .value("categorical_crossentropy", LossKind::categorical_crossentropy)
      .value("binary_crossentropy", LossKind::binary_crossentropy)
      .value("mean_squared_error", LossKind::mean_squared_error);
  py::class_<LossSpec>(m, "LossSpec")
      .def(py::init([](const std::string& name, bool from_logits) {
             return LossSpec{loss_kind_from_name(name), from_logits};
           }),
           py::arg("name"), py::arg("from_logits") = false)
      .def_readonly("kind", &LossSpec::kind)
      .def_readonly("from_logits", &LossSpec::from_logits);
  m.def("loss_value", [](const LossSpec& spec, const Floats& pred, const Floats& target) {
    auto pm = matrix_in(pred, "loss_value", "pred");
    auto tm = matrix_in(target, "loss_value", "target");
    py::gil_scoped_release release;
    return loss_value(spec, pm, tm);
  }, py::arg("spec"), py::arg("pred"), py::arg("target"));
  m.def("loss_value_and_gradient", [](const LossSpec& spec, const Floats& pred,
                                      const Floats& target, bool fused) {
    auto pm = matrix_in(pred, "loss_value_and_gradient", "pred");
    auto tm = matrix_in(target, "loss_value_and_gradient", "target");
    FloatArray grad = new_matrix(pm.rows(), pm.cols());
    auto gm = matrix_out(grad);
    Scalar loss;
    {
      py::gil_scoped_release release;
      loss = fused ? fused_probability_loss_gradient(spec, pm, tm, gm)
                   : loss_value_and_gradient(spec, pm, tm, gm);
    }
    return py::make_tuple(loss, grad);
  }, py::arg("spec"), py::arg("pred"), py::arg("target"), py::arg("fused") = false,
     "(loss, ∂loss/∂pred); fused: the gradient w.r.t. the softmax/sigmoid pre-activation.");
  m.def("accuracy_sum", [](const LossSpec& spec, const Floats& pred, const Floats& target) {
    auto pm = matrix_in(pred, "accuracy_sum", "pred");
    auto tm = matrix_in(target, "accuracy_sum", "target");
    return accuracy_sum(accuracy_for_loss(spec), pm, tm);
  }, py::arg("spec"), py::arg("pred"), py::arg("target"));
  m.def("check_sparse_labels", [](const Floats& target, Index classes) {
    check_sparse_labels(matrix_in(target, "check_sparse_labels", "target"), classes);
  }, py::arg("target"), py::arg("classes"));
}

void register_optimizer_kernels(py::module_& m) {
  m.def("clip_by_value", [](py::array& g, Scalar v) {
    auto gm = matrix_inplace(g, "clip_by_value", "g");
    clip_by_value(gm, v);
  }, py::arg("g"), py::arg("clip_value"), "In place.");
  m.def("clip_by_norm", [](py::array& g, Scalar c) {
    auto gm = matrix_inplace(g, "clip_by_norm", "g");
    clip_by_norm(gm, c);
  }, py::arg("g"), py::arg("clip_norm"), "In place.");
  m.def("clip_by_global_norm", [](std::vector<py::array> grads, Scalar c) {
    std::vector<MatrixOut> views;
    for (auto& g : grads) views.emplace_back(matrix_inplace(g, "clip_by_global_norm", "grads"));
    clip_by_global_norm(views, c);
  }, py::arg("grads"), py::arg("clip_norm"), "In place, all arrays by their joint norm.");
  m.def("sgd_update", [](py::array& w, const Floats& g, py::array& m_slot, Scalar lr,
                         Scalar momentum, bool nesterov) {
    auto wm = matrix_inplace(w, "sgd_update", "w");
    auto mm = matrix_inplace(m_slot, "sgd_update", "m");
    auto gm = g.ndim() == 1 ? ConstMatrixMap(g.data(), 1, g.shape(0)) : matrix_in(g, "sgd_update", "g");
    sgd_update(wm, gm, mm, lr, momentum, nesterov);
  }, py::arg("w"), py::arg("g"), py::arg("m"), py::arg("learning_rate"), py::arg("momentum") = 0,
     py::arg("nesterov") = false, "In place: w (and m when momentum > 0).");
}

}  // namespace

void register_kernels(py::module_& m) {
  register_dense(m);
  register_activations(m);
  register_batch_norm(m);
  register_losses(m);
  register_optimizer_kernels(m);
}

}  // namespace densekit::bindings
