// The noise layers (Dropout, AlphaDropout, GaussianNoise, GaussianDropout) as Python objects.
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "densekit/layers/noise.hpp"

namespace densekit::bindings {

void register_noise_layers(py::module_& m) {
  py::enum_<NoiseKind>(m, "NoiseKind", "Which Keras noise layer a Noise layer is.")
      .value("dropout", NoiseKind::dropout)
      .value("alpha_dropout", NoiseKind::alpha_dropout)
      .value("gaussian_noise", NoiseKind::gaussian_noise)
      .value("gaussian_dropout", NoiseKind::gaussian_dropout);
  py::enum_<NoiseTraining>(
      m, "NoiseTraining",
      "When a noise layer adds noise: follow (when the network trains), always or never.")
      .value("follow", NoiseTraining::follow)
      .value("always", NoiseTraining::always)
      .value("never", NoiseTraining::never);
  py::class_<NoisePattern>(m, "NoisePattern",
                           "Which elements of a flattened sample share a draw (noise_shape).")
      .def(py::init<Index>(), py::arg("units"), "Every element draws its own noise.")
      .def(py::init<const std::vector<Index>&, const std::vector<Index>&>(),
           py::arg("sample_shape"), py::arg("noise_shape"),
           "Keras's noise_shape with the batch axis: 0 for None, 1 to share along an axis; "
           "ValueError for a shape that does not fit sample_shape.")
      .def_readonly("share_rows", &NoisePattern::share_rows,
                    "Whether the whole batch shares one mask.")
      .def_property_readonly("units", &NoisePattern::units, "Features of a flattened sample.");
  py::class_<NoiseLayer, Layer, std::shared_ptr<NoiseLayer>>(
      m, "Noise", "Dropout, AlphaDropout, GaussianNoise or GaussianDropout: identity in inference.")
      .def(py::init<NoiseKind, double, std::uint64_t, NoisePattern>(), py::arg("kind"),
           py::arg("amount"), py::arg("seed"), py::arg("pattern"),
           "amount: the rate, or GaussianNoise's stddev; noise drawn from a stream seeded by seed.")
      .def_property("amount", &NoiseLayer::amount, &NoiseLayer::set_amount,
                    "The rate, or GaussianNoise's stddev, from the next forward on.")
      .def_readwrite("training_mode", &NoiseLayer::training_mode,
                     "When the layer adds noise: follow the network, always or never.");
}

}  // namespace densekit::bindings
