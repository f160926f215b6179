"""Losses with Keras 3 names: functions (per-sample values), classes (batch mean) and `get`.

Training computes the loss and its gradient in C++; these Python forms are for users who call a
loss directly, and to tell the C++ network which loss to run (`spec_of`).
"""

import numpy as _np

from densekit import _core

__all__ = [
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "Loss",
    "MeanSquaredError",
    "SparseCategoricalCrossentropy",
    "binary_crossentropy",
    "categorical_crossentropy",
    "deserialize",
    "get",
    "mean_squared_error",
    "mse",
    "serialize",
    "sparse_categorical_crossentropy",
]

_EPSILON = 1e-7


def _float(a):
    return _np.asarray(a, dtype=_np.float64)


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Per-sample cross-entropy of integer labels `y_true` (n,) against `y_pred` (n, classes)."""
    pred = _float(y_pred)
    labels = _np.asarray(y_true).reshape(-1).astype(_np.int64)
    onehot = _np.eye(pred.shape[-1])[labels]
    return categorical_crossentropy(onehot, pred, from_logits=from_logits)


def categorical_crossentropy(y_true, y_pred, from_logits=False):
    """Per-sample cross-entropy of one-hot (or soft) targets against `y_pred` (n, classes)."""
    true, pred = _float(y_true), _float(y_pred)
    if from_logits:
        shifted = pred - pred.max(axis=-1, keepdims=True)
        log_prob = shifted - _np.log(_np.exp(shifted).sum(axis=-1, keepdims=True))
    else:
        prob = pred / pred.sum(axis=-1, keepdims=True)
        log_prob = _np.log(_np.clip(prob, _EPSILON, 1 - _EPSILON))
    return (-(true * log_prob).sum(axis=-1)).astype(_np.float32)


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Per-sample binary cross-entropy, averaged over the last axis."""
    true, pred = _float(y_true), _float(y_pred)
    if from_logits:
        values = _np.maximum(pred, 0) - pred * true + _np.log1p(_np.exp(-_np.abs(pred)))
    else:
        p = _np.clip(pred, _EPSILON, 1 - _EPSILON)
        values = -(true * _np.log(p) + (1 - true) * _np.log(1 - p))
    return values.mean(axis=-1).astype(_np.float32)


def mean_squared_error(y_true, y_pred):
    """Per-sample mean of squared differences over the last axis."""
    return ((_float(y_pred) - _float(y_true)) ** 2).mean(axis=-1).astype(_np.float32)


mse = mean_squared_error


class Loss:
    """Base of the loss classes: `loss(y_true, y_pred)` returns the batch mean."""

    _fn = None
    _kernel_name = None

    def __init__(self, name=None, reduction="sum_over_batch_size", from_logits=False):
        if reduction != "sum_over_batch_size":
            raise ValueError(
                f"{type(self).__name__}: only reduction='sum_over_batch_size' is supported. "
                f"Received: reduction={reduction!r}"
            )
        self.name = name or _snake(type(self).__name__)
        self.reduction = reduction
        self.from_logits = bool(from_logits)

    def __call__(self, y_true, y_pred):
        values = self.call(y_true, y_pred)
        return _np.float32(values.mean())

    def call(self, y_true, y_pred):
        if self._kernel_name == "mean_squared_error":
            return type(self)._fn(y_true, y_pred)
        return type(self)._fn(y_true, y_pred, from_logits=self.from_logits)

    def get_config(self):
        config = {"name": self.name, "reduction": self.reduction}
        if self._kernel_name != "mean_squared_error":
            config["from_logits"] = self.from_logits
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SparseCategoricalCrossentropy(Loss):
    """Cross-entropy of integer labels; `from_logits=True` when the model outputs logits."""

    _fn = staticmethod(sparse_categorical_crossentropy)
    _kernel_name = "sparse_categorical_crossentropy"


class CategoricalCrossentropy(Loss):
    """Cross-entropy of one-hot targets."""

    _fn = staticmethod(categorical_crossentropy)
    _kernel_name = "categorical_crossentropy"


class BinaryCrossentropy(Loss):
    """Binary cross-entropy of 0/1 targets."""

    _fn = staticmethod(binary_crossentropy)
    _kernel_name = "binary_crossentropy"


class MeanSquaredError(Loss):
    """Mean squared error."""

    _fn = staticmethod(mean_squared_error)
    _kernel_name = "mean_squared_error"

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        super().__init__(name=name, reduction=reduction)


def _snake(name):
    from densekit._naming import to_snake_case

    return to_snake_case(name)


_CLASSES = {
    c.__name__: c
    for c in (
        SparseCategoricalCrossentropy,
        CategoricalCrossentropy,
        BinaryCrossentropy,
        MeanSquaredError,
    )
}
_FUNCTIONS = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
}
_FUNCTION_OBJECTS = {
    sparse_categorical_crossentropy: SparseCategoricalCrossentropy,
    categorical_crossentropy: CategoricalCrossentropy,
    binary_crossentropy: BinaryCrossentropy,
    mean_squared_error: MeanSquaredError,
}


def get(identifier):
    """Resolves a loss: a name, a class name, a config dict, a Loss instance or a loss function.

    Raises:
        ValueError: for anything that is not one of densekit's losses.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = _FUNCTIONS.get(identifier) or _CLASSES.get(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown loss: '{identifier}'. Valid names: "
                f"{', '.join(sorted(set(_FUNCTIONS) | set(_CLASSES)))}. Received: loss={identifier!r}"
            )
        return cls()
    if identifier in _FUNCTION_OBJECTS:
        return _FUNCTION_OBJECTS[identifier]()
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")


def serialize(loss):
    """Keras 3's dict form of a loss instance."""
    loss = get(loss)
    return {
        "module": "keras.losses",
        "class_name": type(loss).__name__,
        "config": loss.get_config(),
        "registered_name": None,
    }


def deserialize(config):
    """The inverse of `serialize`; also accepts a plain name."""
    if isinstance(config, str):
        return get(config)
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown loss class: {config.get('class_name')!r}")
    return cls.from_config(config.get("config", {}))


def spec_of(loss):
    """The C++ LossSpec of a resolved loss (private)."""
    return _core.kernels.LossSpec(loss._kernel_name, from_logits=loss.from_logits)


def __dir__():
    return __all__
