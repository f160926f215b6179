"""Keras 3's regularizers: penalties on a layer's weights or outputs, added to the loss.

A layer given `kernel_regularizer=L2(0.01)` adds `0.01 * sum(kernel ** 2)` to the loss that `fit`
minimizes and reports; the C++ training step computes the penalty and its gradient. Calling a
regularizer on an array returns its penalty: `L2(2.0)(np.ones((5, 5)))` is 50.0.
"""

import math as _math

import numpy as _np

from densekit import _core
from densekit._registry import KerasRegistry as _KerasRegistry

__all__ = [
    "L1",
    "L1L2",
    "L2",
    "OrthogonalRegularizer",
    "Regularizer",
    "deserialize",
    "get",
    "l1",
    "l1_l2",
    "l2",
    "orthogonal_regularizer",
    "serialize",
]

_kernels = _core.kernels


def _factor(cls_name, name, value):
    """`value` as a float: a real, finite, non-negative number, as Keras's validate_float_arg."""
    if (
        isinstance(value, (bool, _np.bool_))
        or not isinstance(value, (int, float, _np.integer, _np.floating))
        or not _math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"{cls_name}: invalid value for argument {name}: expected a non-negative float. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def _as_float32(value):
    # Keras keeps L1's and OrthogonalRegularizer's factor as a float32 tensor: its config then
    # reads 0.009999999776482582 for 0.01, and so does ours.
    return float(_np.float32(value))


def _matrix(x, what):
    array = _np.asarray(x, dtype=_np.float32)
    if array.ndim == 0:
        return array.reshape(1, 1)
    if array.ndim == 1:
        return array.reshape(1, -1)
    return _np.ascontiguousarray(array.reshape(-1, array.shape[-1]))


class Regularizer:
    """Base class of the regularizers: `__call__(x)` returns the penalty of the array `x`.

    densekit's layers run the built-in regularizers in C++; a subclass with its own `__call__`
    works on arrays but a layer refuses it (NotImplementedError), as C++ cannot run it.
    """

    def __call__(self, x):
        return 0.0

    def _spec(self):
        """The C++ spec of this regularizer (None: densekit cannot run it)."""
        return None

    def get_config(self):
        raise NotImplementedError(f"{self} does not implement get_config()")

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """`l1 * sum(abs(x)) + l2 * sum(square(x))`; by name ("L1L2" or "l1l2", as Keras 3) both are 0."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor("L1L2", "l1", 0.0 if l1 is None else l1)
        self.l2 = _factor("L1L2", "l2", 0.0 if l2 is None else l2)

    def __call__(self, x):
        return _kernels.penalty_value(self._spec(), _matrix(x, "x"))

    def _spec(self):
        spec = _kernels.PenaltySpec()
        spec.kind, spec.l1, spec.l2 = _kernels.PenaltyKind.l1_l2, self.l1, self.l2
        return spec

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class L1(Regularizer):
    """`l1 * sum(abs(x))`."""

    def __init__(self, l1=0.01):
        self.l1 = _as_float32(_factor("L1", "l1", 0.01 if l1 is None else l1))

    def __call__(self, x):
        return _kernels.penalty_value(self._spec(), _matrix(x, "x"))

    def _spec(self):
        spec = _kernels.PenaltySpec()
        spec.kind, spec.l1 = _kernels.PenaltyKind.l1_l2, self.l1
        return spec

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """`l2 * sum(square(x))`."""

    def __init__(self, l2=0.01):
        self.l2 = _factor("L2", "l2", 0.01 if l2 is None else l2)

    def __call__(self, x):
        return _kernels.penalty_value(self._spec(), _matrix(x, "x"))

    def _spec(self):
        spec = _kernels.PenaltySpec()
        spec.kind, spec.l2 = _kernels.PenaltyKind.l1_l2, self.l2
        return spec

    def get_config(self):
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (`mode="rows"`) or columns of a 2-D weight towards orthogonality.

    The penalty is `factor / 2` times the mean of `|n_i . n_k|` over the pairs i != k of the
    L2-normalized rows (columns) n. For a Dense kernel (input_dim, units), "rows" makes the input
    features' weight vectors orthogonal, "columns" the units'.
    """

    def __init__(self, factor=0.01, mode="rows"):
        self.factor = _as_float32(_factor("OrthogonalRegularizer", "factor", factor))
        if mode not in ("rows", "columns"):
            raise ValueError(
                'OrthogonalRegularizer: invalid value for argument mode. Expected one of {"rows", '
                f'"columns"}}. Received: mode={mode!r}'
            )
        self.mode = mode

    def __call__(self, inputs):
        array = _np.asarray(inputs, dtype=_np.float32)
        if array.ndim != 2:
            raise ValueError(
                "OrthogonalRegularizer: inputs must have rank 2. "
                f"Received: inputs.shape={array.shape}"
            )
        return _kernels.penalty_value(self._spec(), _np.ascontiguousarray(array))

    def _spec(self):
        spec = _kernels.PenaltySpec()
        spec.kind, spec.factor = _kernels.PenaltyKind.orthogonal, self.factor
        spec.columns = self.mode == "columns"
        return spec

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Keras's lowercase aliases are the classes themselves.
l1, l2, l1_l2, orthogonal_regularizer = L1, L2, L1L2, OrthogonalRegularizer

_CLASSES = (Regularizer, L1, L2, L1L2, OrthogonalRegularizer)
_REGISTRY = _KerasRegistry("regularizer", "keras.regularizers", Regularizer, _CLASSES)


def spec_of(regularizer):
    """The C++ spec of a built-in regularizer, or None for one densekit cannot run (a Python
    `__call__`: a function, or a subclass that overrides it)."""
    for cls in (L1, L2, L1L2, OrthogonalRegularizer):
        if isinstance(regularizer, cls) and type(regularizer).__call__ is cls.__call__:
            return regularizer._spec()
    return None


def serialize(regularizer):
    """Keras 3's dict form of a regularizer (None for None)."""
    return _REGISTRY.serialize(regularizer)


def deserialize(config, custom_objects=None):
    """A regularizer from a name or a `serialize()` dict; ValueError for an unknown class."""
    return _REGISTRY.deserialize(config, custom_objects)


def get(identifier):
    """None, a name ("l2", "L1L2"), a config dict, a class or an instance -> a regularizer.

    A callable is returned as is (a layer then refuses it: densekit runs regularizers in C++).
    """
    return _REGISTRY.get(identifier)


def __dir__():
    return __all__
