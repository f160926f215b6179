"""Input checks and conversions at the Python boundary (private).

Arrays reach C++ as float32, C-contiguous, 2-D (batch, features): data already in that form is
passed through without a copy; anything else is converted once, here.
"""

import numpy as np

__all__ = []


def as_float_matrix(x, where, name="x", features=None):
    """Returns `x` as a float32 C-contiguous (batch, features) array, flattening trailing axes.

    Raises:
        ValueError: for non-numeric data, rank 0, an empty batch, or a wrong feature count.
    """
    array = np.asarray(x)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    ):
        raise ValueError(
            f"{where}: {name} must be a numeric array; got dtype {array.dtype}. "
            f"Received: {name} of type {type(x).__name__}"
        )
    if np.iscomplexobj(array):
        raise ValueError(f"{where}: {name} must be real-valued; got dtype {array.dtype}")
    if array.ndim == 0:
        raise ValueError(f"{where}: {name} must have a batch axis; got a scalar")
    if array.shape[0] == 0:
        raise ValueError(f"{where}: {name} is empty (0 samples)")
    matrix = np.ascontiguousarray(array.reshape(array.shape[0], -1), dtype=np.float32)
    if features is not None and matrix.shape[1] != features:
        raise ValueError(
            f"{where}: {name} has {matrix.shape[1]} features per sample (shape "
            f"{array.shape}) but the model expects {features}"
        )
    return matrix


def check_finite(matrix, where, name, chunk_elements=1 << 20):
    """Raises ValueError when `matrix` holds NaN or Inf, naming the first bad row.

    Checks in chunks of rows, so a large data set needs no data-sized temporary.
    """
    rows = max(1, chunk_elements // max(1, matrix.shape[1]))
    for start in range(0, matrix.shape[0], rows):
        finite = np.isfinite(matrix[start : start + rows])
        if not finite.all():
            row = start + int(np.argwhere(~finite)[0][0])
            raise ValueError(
                f"{where}: {name} contains NaN or Inf (first at sample {row}); clean the data "
                f"or pass allow_nonfinite=True"
            )
