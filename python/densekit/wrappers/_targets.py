"""The wrappers' target encodings: the classifier's one-hot columns and the reshaping of 1-D
targets into the (samples, outputs) matrix a model trains on, both undone on the way out."""

import numpy as np

__all__ = ["ColumnTarget", "OneHotTarget", "check_target_type"]


def check_target_type(estimator, y, allowed=None):
    """scikit-learn's type of `y`; raises ValueError for an unknown type or one not `allowed`."""
    from sklearn.utils.multiclass import type_of_target

    kind = type_of_target(y, input_name="y")
    received = f"Received: y with dtype {np.asarray(y).dtype} and shape {np.shape(y)}"
    if kind == "unknown":
        raise ValueError(f"{type(estimator).__name__}: Unknown label type for y. {received}")
    if allowed is not None and kind not in allowed:
        raise ValueError(
            f"{type(estimator).__name__}: the target type {kind!r} is not supported (expected "
            f"{' or '.join(allowed)}). {received}"
        )
    return kind


class ColumnTarget:
    """A 1-D target trains as one column; predictions of one column come back 1-D."""

    def __init__(self, y):
        self.ndim = np.ndim(y)

    def encode(self, y):
        y = np.asarray(y)
        return y.reshape(-1, 1) if y.ndim == 1 else y

    def decode(self, outputs):
        outputs = np.asarray(outputs)
        if self.ndim == 1 and outputs.ndim == 2 and outputs.shape[1] == 1:
            return outputs[:, 0]
        return outputs


class OneHotTarget:
    """Class labels as one-hot columns, one per class of `classes` (sorted, as `np.unique`); a
    model's outputs decode to the class of the largest column, in the shape the labels had."""

    def __init__(self, y, owner):
        self.owner = owner
        self.column = ColumnTarget(y)
        self.classes = np.unique(np.asarray(y).ravel())

    def encode(self, y):
        labels = self.column.encode(y)
        return (labels[:, :1] == self.classes[np.newaxis, :]).astype(np.float64)

    def decode(self, outputs):
        outputs = np.asarray(outputs)
        if outputs.ndim != 2 or outputs.shape[1] != len(self.classes):
            raise ValueError(
                f"{self.owner}: the model must output one column per class "
                f"({len(self.classes)} classes). Received: outputs of shape {outputs.shape}"
            )
        return self.column.decode(self.classes[np.argmax(outputs, axis=1)][:, np.newaxis])
