"""Activation functions, computed by the C++ kernels, with Keras 3 names and definitions.

Each function takes an array of any shape and returns a float32 array of the same shape.
`get` resolves a name, a config or a callable; layers use `spec_of` to hand the C++ twin the
activation with its parameters.
"""

import numpy as _np

from densekit import _core

__all__ = [
    "deserialize",
    "elu",
    "exponential",
    "gelu",
    "get",
    "hard_sigmoid",
    "leaky_relu",
    "linear",
    "relu",
    "selu",
    "serialize",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]

_kernels = _core.kernels


def _apply(x, spec, axis=-1):
    array = _np.asarray(x, dtype=_np.float32)
    if array.ndim == 0:
        return _apply(array.reshape(1), spec)[0]
    if spec.kind == _kernels.ActivationKind.softmax and axis not in (-1, array.ndim - 1):
        moved = _np.moveaxis(array, axis, -1)
        return _np.moveaxis(_apply(moved, spec), -1, axis)
    matrix = array.reshape(-1, array.shape[-1]) if array.ndim > 1 else array.reshape(1, -1)
    return _kernels.activation_forward(spec, matrix).reshape(array.shape)


def _spec(name, **params):
    return _kernels.ActivationSpec(name, **params)


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """Rectified linear unit: `x` above `threshold` (capped at `max_value`), else
    `negative_slope * (x - threshold)`."""
    return _apply(x, _relu_spec(negative_slope, max_value, threshold))


def _relu_spec(negative_slope=0.0, max_value=None, threshold=0.0):
    if max_value is not None and max_value < 0:
        raise ValueError(f"relu: max_value must be >= 0 or None. Received: max_value={max_value}")
    return _spec(
        "relu",
        negative_slope=negative_slope,
        max_value=-1.0 if max_value is None else max_value,
        threshold=threshold,
    )


def leaky_relu(x, negative_slope=0.2):
    """Leaky ReLU: `x` if `x >= 0` else `negative_slope * x` (Keras 3's function default 0.2)."""
    return _apply(x, _spec("leaky_relu", negative_slope=negative_slope))


def elu(x, alpha=1.0):
    """Exponential linear unit: `x` if `x > 0` else `alpha * (exp(x) - 1)`."""
    return _apply(x, _spec("elu", alpha=alpha))


def selu(x):
    """Scaled ELU with Klambauer et al.'s constants (self-normalizing with LeCun normal init)."""
    return _apply(x, _spec("selu"))


def gelu(x, approximate=False):
    """Gaussian error linear unit: `x * Φ(x)`; `approximate=True` uses the tanh form."""
    return _apply(x, _spec("gelu", approximate=approximate))


def sigmoid(x):
    """Logistic function `1 / (1 + exp(-x))`; saturates at 0 and 1."""
    return _apply(x, _spec("sigmoid"))


def tanh(x):
    """Hyperbolic tangent; saturates at -1 and 1."""
    return _apply(x, _spec("tanh"))


def swish(x):
    """Swish (SiLU): `x * sigmoid(x)`."""
    return _apply(x, _spec("swish"))


silu = swish


def softplus(x):
    """`log(1 + exp(x))`, computed stably."""
    return _apply(x, _spec("softplus"))


def softsign(x):
    """`x / (1 + |x|)`."""
    return _apply(x, _spec("softsign"))


def hard_sigmoid(x):
    """Keras 3's piecewise-linear sigmoid: `relu6(x + 3) / 6`."""
    return _apply(x, _spec("hard_sigmoid"))


def exponential(x):
    """`exp(x)`."""
    return _apply(x, _spec("exponential"))


def linear(x):
    """The identity."""
    return _np.asarray(x, dtype=_np.float32)


def softmax(x, axis=-1):
    """Softmax along `axis` (numerically stable): outputs are positive and sum to 1."""
    return _apply(x, _spec("softmax"), axis=axis)


_BY_NAME = {
    "elu": elu,
    "exponential": exponential,
    "gelu": gelu,
    "hard_sigmoid": hard_sigmoid,
    "leaky_relu": leaky_relu,
    "linear": linear,
    "relu": relu,
    "selu": selu,
    "sigmoid": sigmoid,
    "silu": silu,
    "softmax": softmax,
    "softplus": softplus,
    "softsign": softsign,
    "swish": swish,
    "tanh": tanh,
}


# Parameters whose function default differs from the C++ spec's neutral value.
_FUNCTION_DEFAULTS = {"leaky_relu": {"negative_slope": 0.2}}


def get(identifier):
    """Resolves an activation: None (linear), a name, a config dict or a callable.

    Raises:
        ValueError: for an unknown name or an object that is not an activation.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(
                f"Unknown activation function: '{identifier}'. Valid names: "
                f"{', '.join(sorted(_BY_NAME))}. Received: activation={identifier!r}"
            )
        return _BY_NAME[identifier]
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(activation):
    """The name of a built-in activation (Keras 3 serializes activations as their name)."""
    for name, fn in _BY_NAME.items():
        if fn is activation and name not in ("silu",):
            return name
    if activation is silu:
        return "silu"
    name = getattr(activation, "__name__", None)
    if name is None:
        raise ValueError(f"Cannot serialize activation {activation!r}: it is not a function")
    return name


def deserialize(config):
    """The inverse of `serialize`; also accepts Keras's {"class_name": ..., "config": ...} dicts."""
    if isinstance(config, dict):
        name = config.get("config", config.get("class_name"))
        if isinstance(name, dict):
            name = name.get("name", config.get("class_name"))
        return get(name)
    return get(config)


def spec_of(activation):
    """The C++ ActivationSpec of a built-in activation function or activation layer (private).

    Raises:
        ValueError: for a Python callable that the C++ network cannot run.
    """
    layer_spec = getattr(activation, "_activation_spec", None)
    if layer_spec is not None:
        return layer_spec()
    for name, fn in _BY_NAME.items():
        if fn is activation:
            return _spec("swish" if name == "silu" else name, **_FUNCTION_DEFAULTS.get(name, {}))
    raise ValueError(
        f"Activation {activation!r} is a Python callable that densekit's C++ network cannot "
        f"run. Use one of: {', '.join(sorted(_BY_NAME))}, or an activation layer."
    )


def __dir__():
    return __all__
