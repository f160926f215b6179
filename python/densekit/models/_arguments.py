"""The arguments of compile / fit / evaluate / predict other than the data, checked (private).

Each error names the method (`where`) and the argument, says what was expected and ends with
`Received: name=value`, as Keras's do. An argument of Keras's signature that densekit does not
implement raises NotImplementedError when given anything but its default, instead of being
accepted and ignored.
"""

import warnings
from collections.abc import Collection

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


def optional_batch_size(value, where):
    """`batch_size` checked, None kept (for `default_batch_size` once the data is known)."""
    return None if value is None else positive_int(value, where, "batch_size")


def default_batch_size(rows, steps):
    """Keras's batch size for arrays given none: the size that covers the `rows` samples in
    `steps` batches when `steps` is given, else 32."""
    return -(-rows // steps) if steps else 32


def verbose(value, where):
    """0, 1 or 2; "auto" is 1, as Keras outside a notebook."""
    if isinstance(value, str) and value == "auto":
        return 1
    if not isinstance(value, (bool, int, np.integer)) or value not in (0, 1, 2):
        raise ValueError(
            f"{where}: verbose must be 'auto', 0, 1 or 2. Received: verbose={_shown(value)}"
        )
    return int(value)


def steps(value, where, name="steps"):
    """None (all the batches) or a positive number of batches."""
    return None if value is None else positive_int(value, where, name)


def validation_split(value):
    if not 0 <= value < 1:
        raise ValueError(
            f"fit: validation_split must be in [0, 1). Received: validation_split={value!r}"
        )
    return value


def validation_freq(value):
    """An int n (validate every n epochs) or a collection of the 1-based epochs to validate
    after, as Keras 3 (a list) and tf.keras (any collection) accept."""
    if _is_int(value) and value >= 1:
        return int(value)
    if (
        isinstance(value, Collection)
        and not isinstance(value, (str, bytes, np.ndarray))
        and all(_is_int(epoch) and epoch >= 1 for epoch in value)
    ):
        return frozenset(int(epoch) for epoch in value)
    raise ValueError(
        "fit: validation_freq must be a positive integer or a list of epoch numbers "
        f"(1 for the first epoch). Received: validation_freq={_shown(value)}"
    )


def should_validate(epoch, freq):
    """Whether to validate after `epoch` (0-based) under a `validation_freq(...)` result."""
    if isinstance(freq, int):
        return (epoch + 1) % freq == 0
    return epoch + 1 in freq


def not_implemented(where, default=None, **arguments):
    """NotImplementedError naming the first of `arguments` that is not `default`."""
    for name, value in arguments.items():
        if value is not default:
            raise NotImplementedError(
                f"{where}: {name} is not implemented in densekit; leave it {default!r}. "
                f"Received: {name}={_shown(value)}"
            )


def unrecognized(where, kwargs):
    """ValueError for keyword arguments that are not in the signature, as Keras's evaluate."""
    if kwargs:
        received = ", ".join(f"{name}={_shown(value)}" for name, value in kwargs.items())
        raise ValueError(
            f"{where}: arguments not recognized: {', '.join(kwargs)}. Received: {received}"
        )


def batches(rows, batch_size, steps, where, name="steps"):
    """How many batches of `batch_size` rows to run: all of them, or the first `steps`.

    As Keras, a `steps` beyond the data runs every batch there is, with a warning.
    """
    available = -(-rows // batch_size)
    if steps is None:
        return available
    if steps > available:
        warnings.warn(
            f"{where}: {name}={steps} is more than the {available} batches of {batch_size} "
            f"samples in the data; the input ran out of data after {available}.",
            stacklevel=3,
        )
        return available
    return steps
