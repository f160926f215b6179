"""Accuracy metrics with Keras names. Training counts them in C++; the functions here compute
per-sample values for users who call them directly, and `resolve` maps a compile() metric to
the history key and checks it fits the loss."""

import numpy as _np

__all__ = [
    "accuracy", "binary_accuracy", "categorical_accuracy", "get", "sparse_categorical_accuracy",
]


def sparse_categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) equals the integer label, else 0.0."""
    labels = _np.asarray(y_true).reshape(-1)
    return (_np.argmax(_np.asarray(y_pred), axis=-1) == labels).astype(_np.float32)


def categorical_accuracy(y_true, y_pred):
    """1.0 where argmax(y_pred) equals argmax(y_true), else 0.0."""
    return (_np.argmax(y_pred, axis=-1) == _np.argmax(y_true, axis=-1)).astype(_np.float32)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Mean over the last axis of (y_pred > threshold) == y_true."""
    hits = (_np.asarray(y_pred) > threshold).astype(_np.float32) == _np.asarray(y_true)
    return hits.astype(_np.float32).mean(axis=-1)


def accuracy(y_true, y_pred):
    """Exact-match accuracy."""
    return (_np.asarray(y_true) == _np.asarray(y_pred)).astype(_np.float32)


_ACCURACY_FOR_LOSS = {
    "sparse_categorical_crossentropy": "sparse_categorical_accuracy",
    "categorical_crossentropy": "categorical_accuracy",
    "binary_crossentropy": "binary_accuracy",
    "mean_squared_error": "binary_accuracy",
}
_BY_NAME = {"accuracy": accuracy, "binary_accuracy": binary_accuracy,
            "categorical_accuracy": categorical_accuracy,
            "sparse_categorical_accuracy": sparse_categorical_accuracy}


def get(identifier):
    """Resolves a metric name or function."""
    if callable(identifier):
        return identifier
    if identifier in ("acc",):
        identifier = "accuracy"
    if identifier not in _BY_NAME:
        raise ValueError(
            f"Unknown metric: {identifier!r}. Valid names: {', '.join(sorted(_BY_NAME))}"
        )
    return _BY_NAME[identifier]


def resolve(metrics, loss_kernel_name):
    """The history key of the accuracy that compile(metrics=...) asks for, or None (private).

    "accuracy"/"acc" become the accuracy that fits the loss, as Keras chooses it; an explicit
    accuracy must be that one, since the C++ step counts exactly one.
    """
    if metrics is None:
        return None
    if isinstance(metrics, (str, dict)) or callable(metrics):
        metrics = [metrics]
    keys = []
    fitting = _ACCURACY_FOR_LOSS[loss_kernel_name]
    for metric in metrics:
        name = metric if isinstance(metric, str) else getattr(metric, "__name__", repr(metric))
        if name in ("accuracy", "acc"):
            keys.append(name)
        elif name == fitting:
            keys.append(name)
        else:
            raise ValueError(
                f"compile: metric {name!r} is not supported with loss {loss_kernel_name!r}; "
                f"densekit counts 'accuracy' (= {fitting}) in its training step"
            )
    if len(keys) > 1:
        raise ValueError(f"compile: give at most one accuracy metric. Received: metrics={metrics!r}")
    return keys[0] if keys else None


def __dir__():
    return __all__
