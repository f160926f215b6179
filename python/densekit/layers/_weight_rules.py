"""A layer's regularizers and constraints: resolved and checked at `__init__`, handed to the C++
parameters at `build` (private)."""

from densekit import constraints, regularizers

__all__ = []


def _owner(layer):
    return f"{type(layer).__name__} '{layer.name}'"


def regularizer(layer, arg, value, activity=False):
    """`value` resolved by `regularizers.get`; errors name the layer and the argument."""
    try:
        resolved = regularizers.get(value)
    except ValueError as error:
        raise ValueError(f"{_owner(layer)}: {arg}: {error}") from None
    if resolved is None:
        return None
    spec = regularizers.spec_of(resolved)
    if spec is None:
        raise NotImplementedError(
            f"{_owner(layer)}: {arg} must be one of densekit's regularizers (L1, L2, L1L2, "
            f"OrthogonalRegularizer), which run in C++; a Python function or a subclass with its "
            f"own __call__ cannot run there. Received: {arg}={value!r}"
        )
    if activity and isinstance(resolved, regularizers.OrthogonalRegularizer):
        raise NotImplementedError(
            f"{_owner(layer)}: {arg}: densekit runs L1, L2 and L1L2 as activity regularizers, "
            f"not OrthogonalRegularizer. Received: {arg}={value!r}"
        )
    return resolved


def constraint(layer, arg, value):
    """`value` resolved by `constraints.get`; errors name the layer and the argument."""
    try:
        resolved = constraints.get(value)
    except ValueError as error:
        raise ValueError(f"{_owner(layer)}: {arg}: {error}") from None
    if resolved is None:
        return None
    if not constraints.runs_in_core(resolved):
        raise NotImplementedError(
            f"{_owner(layer)}: {arg} must be one of densekit's constraints (MaxNorm, MinMaxNorm, "
            f"NonNeg, UnitNorm), which run in C++; a Python function or a subclass with its own "
            f"__call__ cannot run there. Received: {arg}={value!r}"
        )
    return resolved


def attach(layer, parameter, regularizer_value, constraint_value, reg_arg, con_arg):
    """Gives the C++ parameter its penalty and constraint specs; records them for `losses`."""
    if regularizer_value is not None:
        try:
            parameter.set_penalty(regularizers.spec_of(regularizer_value))
        except ValueError as error:
            raise ValueError(f"{_owner(layer)}: {reg_arg}: {error}") from None
        layer._regularizers[parameter.name] = regularizer_value
    if constraint_value is not None:
        ndim = 1 if parameter.is_vector else 2
        try:
            parameter.set_constraint(constraints.spec_of(constraint_value, ndim))
        except ValueError as error:
            raise ValueError(f"{_owner(layer)}: {con_arg}: {error}") from None
        layer._constraints[parameter.name] = constraint_value


def attach_activity(layer, value):
    if value is not None:
        layer._core.set_activity_penalty(regularizers.spec_of(value))
