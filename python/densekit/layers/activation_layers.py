"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, ThresholdedReLU, Softmax and RReLU."""

import random

import numpy as np

from densekit import _core, constraints, initializers, regularizers
from densekit.layers import _weight_rules
from densekit.layers.base import Layer, float32_weight
from densekit.layers.core import Activation, _units

__all__ = ["ELU", "LeakyReLU", "PReLU", "RReLU", "ReLU", "Softmax", "ThresholdedReLU"]


def _number(layer, arg, value, minimum=None):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.floating, np.integer))
        or not np.isfinite(value)
        or (minimum is not None and value < minimum)
    ):
        bound = f" >= {minimum}" if minimum is not None else ""
        raise ValueError(
            f"{layer}: {arg} must be a finite number{bound}. Received: {arg}={value!r}"
        )
    return float(value)


class _ParameterFreeActivation(Activation):
    """An Activation whose spec comes from the layer's own arguments."""

    def __init__(self, spec, **kwargs):
        Layer.__init__(self, **kwargs)
        self._spec = spec


class ReLU(_ParameterFreeActivation):
    """`max_value`-capped ReLU with an optional `negative_slope` below `threshold`."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        name = type(self).__name__
        self.max_value = None if max_value is None else _number(name, "max_value", max_value, 0)
        self.negative_slope = _number(name, "negative_slope", negative_slope, 0)
        self.threshold = _number(name, "threshold", threshold, 0)
        spec = _core.kernels.ActivationSpec(
            "relu",
            negative_slope=self.negative_slope,
            max_value=-1.0 if self.max_value is None else self.max_value,
            threshold=self.threshold,
        )
        super().__init__(spec, **kwargs)

    def get_config(self):
        return {
            **Layer.get_config(self),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(_ParameterFreeActivation):
    """`x` if `x >= 0` else `negative_slope * x`; Keras's layer default slope is 0.3.

    Accepts the older argument name `alpha` too.
    """

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        if alpha is not None:
            negative_slope = alpha
        self.negative_slope = _number("LeakyReLU", "negative_slope", negative_slope, 0)
        super().__init__(
            _core.kernels.ActivationSpec("leaky_relu", negative_slope=self.negative_slope), **kwargs
        )

    def get_config(self):
        return {**Layer.get_config(self), "negative_slope": self.negative_slope}


class ELU(_ParameterFreeActivation):
    """`x` if `x > 0` else `alpha * (exp(x) - 1)`."""

    def __init__(self, alpha=1.0, **kwargs):
        self.alpha = _number("ELU", "alpha", alpha)
        super().__init__(_core.kernels.ActivationSpec("elu", alpha=self.alpha), **kwargs)

    def get_config(self):
        return {**Layer.get_config(self), "alpha": self.alpha}


class ThresholdedReLU(_ParameterFreeActivation):
    """`x` if `x > theta` else 0."""

    def __init__(self, theta=1.0, **kwargs):
        self.theta = _number("ThresholdedReLU", "theta", theta, 0)
        super().__init__(
            _core.kernels.ActivationSpec("thresholded_relu", threshold=self.theta), **kwargs
        )

    def get_config(self):
        return {**Layer.get_config(self), "theta": self.theta}


class Softmax(_ParameterFreeActivation):
    """Softmax over the last axis."""

    def __init__(self, axis=-1, **kwargs):
        if axis not in (-1,):
            raise ValueError(f"Softmax: only axis=-1 is supported. Received: axis={axis!r}")
        self.axis = axis
        super().__init__(_core.kernels.ActivationSpec("softmax"), **kwargs)

    def get_config(self):
        return {**Layer.get_config(self), "axis": self.axis}


class PReLU(Layer):
    """Parametric ReLU: `max(0, x) + alpha * min(0, x)` with one learned `alpha` per unit.

    Args:
        alpha_initializer: initializer of the slopes (Keras's default: zeros).
    """

    def __init__(
        self,
        alpha_initializer="Zeros",
        alpha_regularizer=None,
        alpha_constraint=None,
        shared_axes=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if shared_axes is not None:
            raise ValueError(
                f"PReLU '{self.name}': shared_axes is not supported. "
                f"Received: shared_axes={shared_axes!r}"
            )
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = _weight_rules.regularizer(
            self, "alpha_regularizer", alpha_regularizer
        )
        self.alpha_constraint = _weight_rules.constraint(self, "alpha_constraint", alpha_constraint)

    def build(self, input_shape):
        units = _units(input_shape, self.name)
        self._core = _core.layers.PReLU(units)
        self._core.trainable = self.trainable
        self._core.parameters[0].value[...] = float32_weight(
            self.alpha_initializer((units,), dtype="float32"),
            (units,),
            f"PReLU '{self.name}': the alpha_initializer's values",
        )
        _weight_rules.attach(
            self,
            self._core.parameters[0],
            self.alpha_regularizer,
            self.alpha_constraint,
            "alpha_regularizer",
            "alpha_constraint",
        )
        super().build(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "alpha_initializer": initializers.serialize(self.alpha_initializer),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "alpha_constraint": constraints.serialize(self.alpha_constraint),
            "shared_axes": None,
        }


class RReLU(Layer):
    """Randomized leaky ReLU (Xu et al., 2015), densekit's addition to the Keras layers.

    In training each element's negative slope is drawn uniformly from [lower, upper] (a
    regularizer); in inference the slope is fixed at (lower + upper) / 2.

    Args:
        lower: the smallest slope, >= 0.
        upper: the largest slope, >= lower.
        seed: int seed of the slopes' generator; random when None.
    """

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.lower = _number("RReLU", "lower", lower, 0)
        self.upper = _number("RReLU", "upper", upper, self.lower)
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise ValueError(
                f"RReLU: seed must be a non-negative int or None. Received: seed={seed!r}"
            )
        self.seed = int(seed) if seed is not None else random.randrange(2**63)

    def build(self, input_shape):
        self._core = _core.layers.RReLU(
            _units(input_shape, self.name), self.lower, self.upper, self.seed
        )
        self._core.trainable = self.trainable
        super().build(input_shape)

    def get_config(self):
        return {**super().get_config(), "lower": self.lower, "upper": self.upper, "seed": self.seed}
