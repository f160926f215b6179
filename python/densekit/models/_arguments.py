"""The arguments of fit / evaluate / predict other than the data, checked (private).

Each error names the method (`where`) and the argument, says what was expected and ends with
`Received: name=value`, as Keras's do.
"""

import numpy as np

__all__ = []


def _shown(value):
    """`value` for an error message: an array by its shape, not by its contents."""
    if isinstance(value, np.ndarray) and value.ndim > 0:
        return f"<array of shape {value.shape}>"
    return repr(value)


def _is_int(value):
    return not isinstance(value, bool) and isinstance(value, (int, np.integer))


def positive_int(value, where, name):
    if not _is_int(value) or value < 1:
        raise ValueError(
            f"{where}: {name} must be a positive integer. Received: {name}={_shown(value)}"
        )
    return int(value)


def non_negative_int(value, where, name):
    if not _is_int(value) or value < 0:
        raise ValueError(
            f"{where}: {name} must be a non-negative integer. Received: {name}={_shown(value)}"
        )
    return int(value)


def batch_size(value, where):
    """`batch_size` checked, 32 when None (Keras's default)."""
    return positive_int(32 if value is None else value, where, "batch_size")


def verbose(value, where):
    """0, 1 or 2; "auto" is 1, as Keras outside a notebook."""
    if isinstance(value, str) and value == "auto":
        return 1
    if not isinstance(value, (bool, int, np.integer)) or value not in (0, 1, 2):
        raise ValueError(
            f"{where}: verbose must be 'auto', 0, 1 or 2. Received: verbose={_shown(value)}"
        )
    return int(value)


def validation_split(value):
    if not 0 <= value < 1:
        raise ValueError(
            f"fit: validation_split must be in [0, 1). Received: validation_split={value!r}"
        )
    return value
