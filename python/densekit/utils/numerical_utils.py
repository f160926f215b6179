"""Class vectors as one-hot matrices: `to_categorical`."""

import numpy as np

__all__ = ["to_categorical"]


def to_categorical(x, num_classes=None):
    """Converts a class vector (integers) to a one-hot matrix, as Keras 3's.

    Args:
        x: array-like of class labels, integers in `[0, num_classes)`. A trailing axis of
            size 1, as in `(samples, 1)`, is dropped.
        num_classes: the number of classes; `max(x) + 1` when None.

    Returns:
        A float64 NumPy array of shape `x.shape + (num_classes,)`, the class axis last.

    Raises:
        ValueError: labels that are not whole numbers, negative, or not below `num_classes`
            (Keras would index past the matrix or wrap around).

    Example:

    >>> to_categorical([0, 2, 1], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]])
    """
    array = np.asarray(x)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(
        array
    ):
        raise ValueError(
            f"to_categorical: x must hold integer class labels. Received: x of dtype {array.dtype}"
        )
    if not np.issubdtype(array.dtype, np.integer) and array.size:
        if not np.all(np.isfinite(array)) or np.any(array != np.floor(array)):
            raise ValueError(
                "to_categorical: x must hold integer class labels; it has values that are not "
                "whole numbers"
            )
    labels = array.astype(np.int64)
    shape = labels.shape
    if len(shape) > 1 and shape[-1] == 1:  # (samples, 1) -> (samples,)
        shape = shape[:-1]
    labels = labels.reshape(-1)
    if num_classes is None or num_classes == 0:  # Keras: any falsy value infers the count
        if labels.size == 0:
            raise ValueError("to_categorical: x is empty; pass num_classes")
        num_classes = int(labels.max()) + 1
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise ValueError(
            f"to_categorical: num_classes must be a positive int or None. "
            f"Received: num_classes={num_classes!r}"
        )
    elif num_classes < 0:
        raise ValueError(
            f"to_categorical: num_classes must be a positive int or None. "
            f"Received: num_classes={num_classes}"
        )
    num_classes = int(num_classes)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        bad = labels.min() if labels.min() < 0 else labels.max()
        raise ValueError(
            f"to_categorical: labels must be in [0, {num_classes}). Received: a label {bad} "
            f"with num_classes={num_classes}"
        )
    categorical = np.zeros((labels.size, num_classes))
    categorical[np.arange(labels.size), labels] = 1
    return categorical.reshape(shape + (num_classes,))
