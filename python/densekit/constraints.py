"""Keras 3's weight constraints: projections applied to a variable after each optimizer update.

`Dense(64, kernel_constraint=MaxNorm(3))` rescales every column of the kernel (the weights into
one unit, Keras's axis=0) whose norm exceeds 3 after every training step; the C++ step applies it.
Calling a constraint on an array returns the projected array.
"""

import math as _math

import numpy as _np

from densekit import _core
from densekit._numbers import is_real as _is_real
from densekit._registry import KerasRegistry as _KerasRegistry

__all__ = [
    "Constraint",
    "MaxNorm",
    "MinMaxNorm",
    "NonNeg",
    "UnitNorm",
    "deserialize",
    "get",
    "max_norm",
    "min_max_norm",
    "non_neg",
    "serialize",
    "unit_norm",
]

_kernels = _core.kernels


def _value(cls_name, name, value):
    if not _is_real(value) or not _math.isfinite(value) or value < 0:
        raise ValueError(
            f"{cls_name}: {name} must be a non-negative finite number. Received: {name}={value!r}"
        )
    return value


def _axis(cls_name, axis):
    ok = axis is None or (isinstance(axis, (int, _np.integer)) and not isinstance(axis, bool))
    if isinstance(axis, (list, tuple)):
        ok = len(axis) > 0 and all(
            isinstance(a, (int, _np.integer)) and not isinstance(a, bool) for a in axis
        )
    if not ok:
        raise ValueError(
            f"{cls_name}: axis must be an int or a list of ints. Received: axis={axis!r}"
        )
    return list(axis) if isinstance(axis, tuple) else axis


def norm_axis(cls_name, axis, ndim):
    """Keras's `axis` over a weight of `ndim` (1 or 2) axes as the C++ NormAxis: the axes summed
    over for each norm. A 1-D weight is stored as one row, so its only axis covers all of it."""
    axes = list(range(ndim)) if axis is None else axis if isinstance(axis, list) else [axis]
    resolved = set()
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(
                f"{cls_name}: axis {a} is out of range for a weight of rank {ndim}. "
                f"Received: axis={axis!r}"
            )
        if a % ndim in resolved:
            raise ValueError(f"{cls_name}: axis repeats an axis. Received: axis={axis!r}")
        resolved.add(a % ndim)
    if ndim == 1 or resolved == {0, 1}:
        return _kernels.NormAxis.over_all
    return _kernels.NormAxis.over_rows if resolved == {0} else _kernels.NormAxis.over_columns


class Constraint:
    """Base class of the constraints: `__call__(w)` returns the projected weight.

    densekit's layers run the built-in constraints in C++; a subclass with its own `__call__`
    works on arrays but a layer refuses it (NotImplementedError).
    """

    def __call__(self, w):
        return w

    def _spec(self, ndim):
        """The C++ spec for a weight of `ndim` axes (None: densekit cannot run it)."""
        return None

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def _project(self, w):
        array = _np.asarray(w, dtype=_np.float32)
        if array.ndim not in (1, 2):
            raise ValueError(
                f"{type(self).__name__}: densekit constrains 1-D and 2-D weights. "
                f"Received: w.shape={array.shape}"
            )
        out = _kernels.apply_constraint(self._spec(array.ndim), _np.ascontiguousarray(array))
        return out.reshape(array.shape)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Rescales each weight vector along `axis` whose norm exceeds `max_value` down to it.

    For a Dense kernel (input_dim, units), axis=0 constrains the weights into each unit.
    """

    def __init__(self, max_value=2, axis=0):
        self.max_value = _value("MaxNorm", "max_value", max_value)
        self.axis = _axis("MaxNorm", axis)

    __call__ = Constraint._project

    def _spec(self, ndim):
        spec = _kernels.ConstraintSpec()
        spec.kind, spec.max_value = _kernels.ConstraintKind.max_norm, float(self.max_value)
        spec.axis = norm_axis("MaxNorm", self.axis, ndim)
        return spec

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Rescales each weight vector along `axis` towards a norm in [min_value, max_value]:
    `norm <- rate * clip(norm, min_value, max_value) + (1 - rate) * norm`."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = _value("MinMaxNorm", "min_value", min_value)
        self.max_value = _value("MinMaxNorm", "max_value", max_value)
        if min_value > max_value:
            raise ValueError(
                "MinMaxNorm: min_value must be <= max_value. "
                f"Received: min_value={min_value!r}, max_value={max_value!r}"
            )
        if not _is_real(rate) or not 0 <= rate <= 1:
            raise ValueError(f"MinMaxNorm: rate must be in [0, 1]. Received: rate={rate!r}")
        self.rate = rate
        self.axis = _axis("MinMaxNorm", axis)

    __call__ = Constraint._project

    def _spec(self, ndim):
        spec = _kernels.ConstraintSpec()
        spec.kind = _kernels.ConstraintKind.min_max_norm
        spec.min_value, spec.max_value = float(self.min_value), float(self.max_value)
        spec.rate = float(self.rate)
        spec.axis = norm_axis("MinMaxNorm", self.axis, ndim)
        return spec

    def get_config(self):
        return {
            "min_value": self.min_value,
            "max_value": self.max_value,
            "rate": self.rate,
            "axis": self.axis,
        }


class NonNeg(Constraint):
    """Sets negative weights to zero."""

    __call__ = Constraint._project

    def _spec(self, ndim):
        spec = _kernels.ConstraintSpec()
        spec.kind = _kernels.ConstraintKind.non_neg
        return spec


class UnitNorm(Constraint):
    """Scales each weight vector along `axis` to norm 1 (`w / (epsilon + norm)`)."""

    def __init__(self, axis=0):
        self.axis = _axis("UnitNorm", axis)

    __call__ = Constraint._project

    def _spec(self, ndim):
        spec = _kernels.ConstraintSpec()
        spec.kind, spec.axis = (
            _kernels.ConstraintKind.unit_norm,
            norm_axis("UnitNorm", self.axis, ndim),
        )
        return spec

    def get_config(self):
        return {"axis": self.axis}


# Keras's lowercase aliases are the classes themselves.
max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm

_CLASSES = (Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
_REGISTRY = _KerasRegistry("constraint", "keras.constraints", Constraint, _CLASSES)


def runs_in_core(constraint):
    """Whether C++ can run the constraint: a built-in one whose `__call__` is not overridden."""
    return any(
        isinstance(constraint, cls) and type(constraint).__call__ is cls.__call__
        for cls in (MaxNorm, MinMaxNorm, NonNeg, UnitNorm)
    )


def spec_of(constraint, ndim):
    """The C++ spec of a constraint that `runs_in_core`, for a weight of `ndim` axes; ValueError
    when its axis does not fit such a weight."""
    return constraint._spec(ndim)


def serialize(constraint):
    """Keras 3's dict form of a constraint (None for None)."""
    return _REGISTRY.serialize(constraint)


def deserialize(config, custom_objects=None):
    """A constraint from a name or a `serialize()` dict; ValueError for an unknown class."""
    return _REGISTRY.deserialize(config, custom_objects)


def get(identifier):
    """None, a name ("max_norm", "MaxNorm"), a config dict, a class or an instance -> a
    constraint. A callable is returned as is (a layer then refuses it)."""
    return _REGISTRY.get(identifier)


def __dir__():
    return __all__
