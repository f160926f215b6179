// Batch-normalization kernels on numpy arrays: forward and backward in training and inference
// mode, and the in-place update of the moving statistics. Vectors (gamma, beta, statistics) are
// 1-D; empty gamma/beta mean scale 1 / offset 0.
#include "arrays.hpp"
#include "densekit/kernels/batch_norm.hpp"

namespace densekit::bindings {

void register_batch_norm(py::module_& m) {
  m.def(
      "batch_norm_forward_training",
      [](const Floats& x, const Floats& gamma, const Floats& beta, Scalar epsilon) {
        const char* where = "batch_norm_forward_training";
        auto xm = matrix_in(x, where, "x");
        auto gm = vector_in(gamma, where, "gamma");
        auto bm = vector_in(beta, where, "beta");
        FloatArray y = new_matrix(xm.rows(), xm.cols()), x_hat = new_matrix(xm.rows(), xm.cols());
        FloatArray mean = new_vector(xm.cols()), var = new_vector(xm.cols()),
                   inv_std = new_vector(xm.cols());
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
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("epsilon"),
      "(y, mean, var, inv_std, x_hat); empty gamma/beta mean scale 1 / offset 0.");
  m.def(
      "batch_norm_update_moving",
      [](py::array& moving_mean, py::array& moving_var, const Floats& mean, const Floats& var,
         Scalar momentum) {
        const char* where = "batch_norm_update_moving";
        auto mm = matrix_inplace(moving_mean, where, "moving_mean");
        auto vm = matrix_inplace(moving_var, where, "moving_var");
        if (mm.rows() != 1 || vm.rows() != 1)
          throw py::value_error(std::string(where) + ": moving statistics must be 1-D");
        VectorMap mv(mm.data(), mm.cols()), vv(vm.data(), vm.cols());
        auto meanv = vector_in(mean, where, "mean");
        auto varv = vector_in(var, where, "var");
        py::gil_scoped_release release;
        batch_norm_update_moving(mv, vv, meanv, varv, momentum);
      },
      py::arg("moving_mean"), py::arg("moving_var"), py::arg("mean"), py::arg("var"),
      py::arg("momentum"), "In place: moving = moving·momentum + batch·(1 - momentum).");
  m.def(
      "batch_norm_forward_inference",
      [](const Floats& x, const Floats& gamma, const Floats& beta, const Floats& moving_mean,
         const Floats& moving_var, Scalar epsilon) {
        const char* where = "batch_norm_forward_inference";
        auto xm = matrix_in(x, where, "x");
        auto gm = vector_in(gamma, where, "gamma");
        auto bm = vector_in(beta, where, "beta");
        auto mm = vector_in(moving_mean, where, "moving_mean");
        auto vm = vector_in(moving_var, where, "moving_var");
        FloatArray y = new_matrix(xm.rows(), xm.cols());
        auto ym = matrix_out(y);
        py::gil_scoped_release release;
        batch_norm_forward_inference(xm, gm, bm, mm, vm, epsilon, ym);
        return y;
      },
      py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("moving_mean"),
      py::arg("moving_var"), py::arg("epsilon"),
      "y = (x - moving_mean) / √(moving_var + ε) ⊙ gamma + beta.");
  m.def(
      "batch_norm_backward_training",
      [](const Floats& x_hat, const Floats& dy, const Floats& gamma, const Floats& inv_std) {
        const char* where = "batch_norm_backward_training";
        auto xhm = matrix_in(x_hat, where, "x_hat");
        auto dym = matrix_in(dy, where, "dy");
        auto gm = vector_in(gamma, where, "gamma");
        auto im = vector_in(inv_std, where, "inv_std");
        FloatArray dx = new_matrix(xhm.rows(), xhm.cols());
        FloatArray dgamma = new_vector(xhm.cols()), dbeta = new_vector(xhm.cols());
        auto dxm = matrix_out(dx);
        auto dgm = vector_out(dgamma);
        auto dbm = vector_out(dbeta);
        {
          py::gil_scoped_release release;
          batch_norm_backward_training(xhm, dym, gm, im, dxm, dgm, dbm);
        }
        return py::make_tuple(dx, dgamma, dbeta);
      },
      py::arg("x_hat"), py::arg("dy"), py::arg("gamma"), py::arg("inv_std"),
      "(dx, dgamma, dbeta) through the batch statistics, from the training forward's x_hat and "
      "inv_std.");
  m.def(
      "batch_norm_backward_inference",
      [](const Floats& x, const Floats& dy, const Floats& gamma, const Floats& moving_mean,
         const Floats& moving_var, Scalar epsilon) {
        const char* where = "batch_norm_backward_inference";
        auto xm = matrix_in(x, where, "x");
        auto dym = matrix_in(dy, where, "dy");
        auto gm = vector_in(gamma, where, "gamma");
        auto mm = vector_in(moving_mean, where, "moving_mean");
        auto vm = vector_in(moving_var, where, "moving_var");
        FloatArray dx = new_matrix(xm.rows(), xm.cols());
        FloatArray dgamma = new_vector(xm.cols()), dbeta = new_vector(xm.cols());
        auto dxm = matrix_out(dx);
        auto dgm = vector_out(dgamma);
        auto dbm = vector_out(dbeta);
        {
          py::gil_scoped_release release;
          batch_norm_backward_inference(xm, dym, gm, mm, vm, epsilon, dxm, dgm, dbm);
        }
        return py::make_tuple(dx, dgamma, dbeta);
      },
      py::arg("x"), py::arg("dy"), py::arg("gamma"), py::arg("moving_mean"), py::arg("moving_var"),
      py::arg("epsilon"), "(dx, dgamma, dbeta) with the moving statistics as constants.");
}

}  // namespace densekit::bindings
