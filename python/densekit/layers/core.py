"""Input, Dense, Flatten and Activation."""

import math

import numpy as np

from densekit import _core, activations, constraints, initializers, regularizers
from densekit.layers import _weight_rules
from densekit.layers.base import Layer, float32_weight

__all__ = ["Activation", "Dense", "Flatten", "Input", "InputLayer"]


# Features of one sample that a layer accepts: an index of the core's buffers must not overflow.
_MAX_UNITS = 2**31 - 1


def _units(shape, name):
    """Features per sample of a (None, ...) shape: trailing axes are flattened."""
    units = int(math.prod(shape[1:]))
    if units > _MAX_UNITS:
        raise ValueError(
            f"Layer '{name}': a sample of shape {tuple(shape[1:])} has {units} features; at most "
            f"{_MAX_UNITS} are supported. Received: input_shape={tuple(shape[1:])}"
        )
    return units


class InputLayer(Layer):
    """Declares the shape of one sample: `InputLayer(shape=(784,))`."""

    def __init__(self, shape=None, batch_size=None, name=None, input_shape=None, **kwargs):
        shape = shape if shape is not None else input_shape
        if shape is None and "batch_shape" in kwargs:
            shape = tuple(kwargs.pop("batch_shape"))[1:]
        kwargs.pop("sparse", None), kwargs.pop("ragged", None)
        super().__init__(name=name, input_shape=shape, **kwargs)
        if self._input_shape_arg is None:
            raise ValueError("InputLayer: shape is required. Received: shape=None")

    def get_config(self):
        return {
            "name": self.name,
            "batch_shape": (None,) + self._input_shape_arg,
            "dtype": "float32",
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        batch_shape = config.pop("batch_shape", None) or config.pop("batch_input_shape", None)
        if batch_shape is None:
            raise ValueError(
                f"InputLayer: the config has no batch_shape. Received: config={config!r}"
            )
        for key in ("dtype", "sparse", "ragged", "trainable", "optional"):  # Keras 3 writes these
            config.pop(key, None)
        return cls(shape=tuple(batch_shape)[1:], **config)


def Input(shape=None, batch_size=None, name=None, dtype=None, **kwargs):
    """The start of a Sequential model: `Sequential([Input(shape=(784,)), Dense(10)])`."""
    return InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype, **kwargs)


class Flatten(Layer):
    """Flattens each sample to one axis: (None, 28, 28) -> (None, 784). Costs nothing: the C++
    network already sees every batch as (batch, features)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], _units(input_shape, self.name))

    def get_config(self):
        return {**super().get_config(), "data_format": "channels_last"}


class Dense(Layer):
    """A fully connected layer: `output = activation(inputs @ kernel + bias)`.

    Args:
        units: positive int, the output size.
        activation: a name ("relu"), an activation function, an activation layer or None.
        use_bias: whether to add a bias vector.
        kernel_initializer: initializer name, instance or config for the (in, units) kernel.
        bias_initializer: the same for the bias.

    Input shape: (batch, features). Output shape: (batch, units).

    Example:
        >>> layer = densekit.layers.Dense(10, activation="relu", kernel_initializer="he_normal")
    """

    def __init__(
        self,
        units,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(
                f"Received an invalid value for `units`, expected a positive integer. Received: units={units!r}"
            )
        self.units = int(units)
        self.activation = activations.get(activation)
        self._activation_spec_value = activations.spec_of(
            self.activation
        )  # fails early for Python callables
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = _weight_rules.regularizer(
            self, "kernel_regularizer", kernel_regularizer
        )
        self.bias_regularizer = _weight_rules.regularizer(
            self, "bias_regularizer", bias_regularizer
        )
        self.activity_regularizer = _weight_rules.regularizer(
            self, "activity_regularizer", activity_regularizer, activity=True
        )
        self.kernel_constraint = _weight_rules.constraint(
            self, "kernel_constraint", kernel_constraint
        )
        self.bias_constraint = _weight_rules.constraint(self, "bias_constraint", bias_constraint)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"Dense '{self.name}' expects inputs of shape (batch, features); "
                f"received {tuple(input_shape)}. Add a Flatten layer before it."
            )
        in_units = int(input_shape[-1])
        self._core = _core.layers.Dense(
            in_units, self.units, self._activation_spec_value, self.use_bias
        )
        self._core.trainable = self.trainable
        params = self._core.parameters
        params[0].value[...] = float32_weight(
            self.kernel_initializer((in_units, self.units), dtype="float32"),
            (in_units, self.units),
            f"Dense '{self.name}': the kernel_initializer's values",
        )
        if self.use_bias:
            params[1].value[...] = float32_weight(
                self.bias_initializer((self.units,), dtype="float32"),
                (self.units,),
                f"Dense '{self.name}': the bias_initializer's values",
            )
        _weight_rules.attach(
            self,
            params[0],
            self.kernel_regularizer,
            self.kernel_constraint,
            "kernel_regularizer",
            "kernel_constraint",
        )
        if self.use_bias:
            _weight_rules.attach(
                self,
                params[1],
                self.bias_regularizer,
                self.bias_constraint,
                "bias_regularizer",
                "bias_constraint",
            )
        _weight_rules.attach_activity(self, self.activity_regularizer)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    @property
    def kernel(self):
        return self.variables[0]

    @property
    def bias(self):
        return self.variables[1] if self.use_bias else None

    def get_config(self):
        base = super().get_config()
        if self.activity_regularizer is not None:  # Keras's base layer writes it only when set
            base["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return {
            **base,
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        (
            config.pop("lora_rank", None),
            config.pop("lora_alpha", None),
            config.pop("quantization_config", None),
        )
        return super().from_config(config)


class Activation(Layer):
    """Applies an activation function: `Activation("relu")`."""

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)
        self._spec = activations.spec_of(self.activation)

    def _activation_spec(self):
        return self._spec

    def build(self, input_shape):
        # Element-wise activations see a sample flattened; softmax would normalize over all of
        # its axes instead of the last one, so it needs (batch, features) inputs.
        if self._spec.kind == _core.kernels.ActivationKind.softmax and len(input_shape) > 2:
            raise ValueError(
                f"{type(self).__name__} '{self.name}': softmax needs inputs of shape "
                f"(batch, features); received {tuple(input_shape)}. Add a Flatten layer before it."
            )
        self._core = _core.layers.Activation(
            _units(input_shape, self.name), self._spec, type(self).__name__
        )
        self._core.trainable = self.trainable
        super().build(input_shape)

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}
