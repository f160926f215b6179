"""Keras-shaped layers backed by C++ twins."""

from densekit.layers.activation_layers import (
    ELU,
    LeakyReLU,
    PReLU,
    ReLU,
    RReLU,
    Softmax,
    ThresholdedReLU,
)
from densekit.layers.base import Layer, Variable
from densekit.layers.core import Activation, Dense, Flatten, Input, InputLayer
from densekit.layers.normalization import BatchNormalization
from densekit.layers.preprocessing import Normalization
from densekit.layers.regularization import (
    AlphaDropout,
    Dropout,
    GaussianDropout,
    GaussianNoise,
)

__all__ = [
    "Activation",
    "AlphaDropout",
    "BatchNormalization",
    "Dense",
    "Dropout",
    "ELU",
    "Flatten",
    "GaussianDropout",
    "GaussianNoise",
    "Input",
    "InputLayer",
    "Layer",
    "LeakyReLU",
    "Normalization",
    "PReLU",
    "RReLU",
    "ReLU",
    "Softmax",
    "ThresholdedReLU",
    "Variable",
    "deserialize",
    "get",
    "serialize",
]

_CLASSES = {
    name: globals()[name]
    for name in __all__
    if name[0].isupper() and name not in ("Layer", "Variable", "Input")
}


def serialize(layer):
    """Keras 3's dict form of a layer."""
    return {
        "module": "keras.layers",
        "class_name": type(layer).__name__,
        "config": layer.get_config(),
        "registered_name": None,
    }


def deserialize(config):
    """A new layer from `serialize`'s dict; unknown classes raise ValueError. Runs no code."""
    class_name = config.get("class_name") if isinstance(config, dict) else None
    cls = _CLASSES.get(class_name)
    if cls is None:
        raise ValueError(
            f"Unknown layer type: {class_name!r}. densekit has: {', '.join(sorted(_CLASSES))}"
        )
    return cls.from_config(config.get("config", {}))


get = deserialize


def __dir__():
    return __all__
