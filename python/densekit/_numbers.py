"""Checks of hyper-parameters that the C++ core stores as float32."""

import numbers

import numpy as np

__all__ = ["as_float32", "is_real"]


def is_real(value):
    """A Python or NumPy real number; bool is refused, as Keras refuses it."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def as_float32(value):
    """`value` rounded to float32, as the C++ core will hold it (may be 0 or inf)."""
    with np.errstate(over="ignore", under="ignore"):
        return float(np.float32(value))
