"""The backend functions tf.keras code calls: `get_value`, `set_value`, `clear_session`, ...

densekit has one backend, its C++ core, computing in float32.

Example:
    >>> from densekit import backend as K
    >>> K.get_value(model.optimizer.learning_rate)  # doctest: +SKIP
    0.001
"""

import numpy as np

from densekit import _naming

__all__ = ["backend", "clear_session", "epsilon", "floatx", "get_value", "set_value"]


def backend():
    """The backend's name."""
    return "densekit"


def floatx():
    """The float type every computation uses."""
    return "float32"


def epsilon():
    """Keras's fuzz factor, 1e-7."""
    return 1e-7


def get_value(x):
    """The value of a variable (`optimizer.learning_rate`, `optimizer.iterations`, a layer's
    weight) as NumPy; a NumPy array or a number is returned as it is."""
    if hasattr(x, "numpy"):
        return x.numpy()
    return np.asarray(x) if not np.isscalar(x) else x


def set_value(x, value):
    """Assigns `value` to the variable x, as `x.assign(value)`."""
    if not hasattr(x, "assign"):
        raise TypeError(
            f"set_value: x must be a variable (such as optimizer.learning_rate); "
            f"received {type(x).__name__}"
        )
    x.assign(value)


def clear_session(free_memory=True):
    """Resets the automatic names (the next Dense is "dense" again), as Keras does."""
    _naming.reset()
