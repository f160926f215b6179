"""Accuracy metrics with Keras names. Training counts them in C++; the functions here compute
per-sample values for users who call them directly, and `resolve` maps a compile() metric to
the history key and checks it fits the loss."""

import numpy as _np

__all__ = [
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "get",
    "sparse_categorical_accuracy",
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


_BY_NAME = {
    "accuracy": accuracy,
    "binary_accuracy": binary_accuracy,
    "categorical_accuracy": categorical_accuracy,
    "sparse_categorical_accuracy": sparse_categorical_accuracy,
}
_ACCURACY_KINDS = ("binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy")


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


def resolve(metrics):
    """(history key, accuracy name or "auto") of the accuracy compile(metrics=...) asks for, or
    None (private). The C++ step counts one accuracy; "accuracy"/"acc" is resolved from the
    shapes of the first data, as Keras does (`accuracy_for_shapes`).
    """
    if metrics is None:
        return None
    if isinstance(metrics, (str, dict)) or callable(metrics):
        metrics = [metrics]
    found = []
    for metric in metrics:
        name = metric if isinstance(metric, str) else getattr(metric, "__name__", repr(metric))
        if name in ("accuracy", "acc"):
            found.append((name, "auto"))
        elif name in _ACCURACY_KINDS:
            found.append((name, name))
        else:
            raise ValueError(
                f"compile: unsupported metric {name!r}; densekit counts one of: "
                f"accuracy, {', '.join(_ACCURACY_KINDS)}"
            )
    if len(found) > 1:
        raise ValueError(
            f"compile: give at most one accuracy metric. Received: metrics={metrics!r}"
        )
    return found[0] if found else None


def accuracy_for_shapes(y_shape, output_units):
    """Keras's choice for "accuracy": binary for one output, sparse categorical when the targets
    are labels (one column, or no class axis), categorical otherwise (private)."""
    if output_units == 1:
        return "binary_accuracy"
    if len(y_shape) < 2 or y_shape[-1] == 1:
        return "sparse_categorical_accuracy"
    return "categorical_accuracy"


def __dir__():
    return __all__
