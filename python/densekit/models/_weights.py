"""Per-sample weights for the loss: `sample_weight` checked, `class_weight` turned into them
(private).

As Keras 3, a weighted batch's loss is Σ w·loss / batch size (the C++ loss kernels), and
`class_weight` gives each sample the weight of its class (the argmax of a one-hot or multi-unit
row, the rounded label otherwise), 1 for a class the dict does not name. Unlike Keras, weights
that are negative or not finite are refused: they make the loss unbounded or NaN.
"""

import numpy as np

from densekit.models._arguments import _shown

__all__ = []


def sample_weights(weights, rows, where, name="sample_weight"):
    """`weights` as a float32 vector of `rows` values (a trailing axis of 1 is dropped, as
    Keras squeezes it), or None when `weights` is None."""
    if weights is None:
        return None
    array = np.asarray(weights)
    if (
        array.dtype == object
        or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_)
        or np.iscomplexobj(array)
    ):
        raise ValueError(
            f"{where}: {name} must be an array of real numbers, one per sample. "
            f"Received: {name} with dtype {array.dtype}"
        )
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1 or array.shape[0] != rows:
        raise ValueError(
            f"{where}: {name} must have one weight per sample, shape ({rows},). "
            f"Received: {name} with shape {array.shape}"
        )
    vector = np.ascontiguousarray(array, dtype=np.float32)
    if not np.all(np.isfinite(vector)):
        raise ValueError(f"{where}: {name} must be finite; it has NaN or Inf values")
    if np.any(vector < 0):
        raise ValueError(
            f"{where}: {name} must be non-negative; found {vector.min()} "
            f"(a negative weight rewards the loss growing)"
        )
    return vector


def check_class_weight(class_weight, classes, where):
    """`class_weight` as {class index: float}, each key a class of a model with `classes`
    output classes (2 for one sigmoid unit), each weight finite and non-negative."""
    if not isinstance(class_weight, dict):
        raise ValueError(
            f"{where}: class_weight must be a dict mapping class indices to weights. "
            f"Received: class_weight={_shown(class_weight)}"
        )
    checked = {}
    for key, weight in class_weight.items():
        is_int = isinstance(key, (int, np.integer)) and not isinstance(key, bool)
        if not is_int or not 0 <= key < classes:
            raise ValueError(
                f"{where}: class_weight has the key {key!r}, which is not a class of this model "
                f"(integers in [0, {classes})). Received: class_weight={class_weight!r}"
            )
        if not isinstance(weight, (int, float, np.integer, np.floating)) or isinstance(
            weight, bool
        ):
            raise ValueError(f"{where}: class_weight[{key}] must be a number. Received: {weight!r}")
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(
                f"{where}: class_weight[{key}] must be finite and non-negative. "
                f"Received: {weight!r}"
            )
        checked[int(key)] = float(weight)
    return checked


def from_class_weight(class_weight, y):
    """The per-sample weights `class_weight` (checked) gives the targets `y`, as Keras's
    class_weight_to_sample_weights: the class of a row is its argmax when it has several
    values, its rounded value otherwise."""
    labels = np.asarray(y)
    if labels.ndim > 1:
        labels = labels.reshape(labels.shape[0], -1)
        labels = labels[:, 0] if labels.shape[1] == 1 else np.argmax(labels, axis=1)
    labels = np.round(labels).astype(np.int64)
    table = np.ones(max([*class_weight, int(labels.max(initial=0))]) + 1, dtype=np.float32)
    for key, weight in class_weight.items():
        table[key] = weight
    return np.where(labels >= 0, table[np.clip(labels, 0, None)], np.float32(1))
