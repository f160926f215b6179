"""The schedule base class, the checks of schedule arguments, and `core_schedule`."""

import copy
import math
import operator

import numpy as np

from densekit import _core
from densekit._numbers import is_real

__all__ = ["LearningRateSchedule", "core_schedule"]

_INT64_MAX = 2**63 - 1


class LearningRateSchedule:
    """The base class of learning-rate schedules: the rate as a function of the step.

    A schedule can be given to an optimizer as its `learning_rate`. To write your own,
    subclass this class and define `__call__(self, step)`, which takes the number of updates
    done so far (an int from 0) and returns the learning rate; define `get_config` too
    if the schedule should be saved with a model. The optimizer calls a Python schedule
    once per step, so a built-in schedule, which runs in C++, trains faster.

    Example:

    >>> class HalvedEvery(LearningRateSchedule):
    ...     def __init__(self, initial_learning_rate, steps):
    ...         self.initial_learning_rate = initial_learning_rate
    ...         self.steps = steps
    ...
    ...     def __call__(self, step):
    ...         return self.initial_learning_rate * 0.5 ** (step // self.steps)
    ...
    ...     def get_config(self):
    ...         return {"initial_learning_rate": self.initial_learning_rate, "steps": self.steps}
    >>> HalvedEvery(0.1, steps=100)(250)
    0.025
    """

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` "
            "in order to be serializable."
        )

    @classmethod
    def from_config(cls, config):
        """Makes a schedule from the dict of `get_config()`.

        Args:
            config: the dict `get_config()` returned.

        Returns:
            A new schedule.
        """
        return cls(**config)


class BuiltinSchedule(LearningRateSchedule):
    """A schedule computed by its C++ twin; the arguments are its config, fixed once made.

    A subclass validates the argument types, calls `__init__` with its Keras config (the
    arguments as given) and the `_core` schedule, which checks the values.
    """

    def __init__(self, config, schedule):
        self.__dict__["_config"] = config
        self._schedule = schedule

    def __call__(self, step):
        """The learning rate at `step` (the updates done so far), as float32; for an array of
        steps (a list, a NumPy array or a tensor), an array of rates of its shape, as Keras's
        schedules give (`schedule(np.arange(n))` plots one)."""
        where = type(self).__name__
        if isinstance(step, (list, tuple, np.ndarray)) or hasattr(step, "__array__"):
            steps = np.asarray(step)
            if steps.ndim > 0:
                rates = [
                    self._schedule.learning_rate(check_step(where, s.item()))
                    for s in steps.reshape(-1)
                ]
                return np.asarray(rates, dtype=np.float32).reshape(steps.shape)
            step = steps.item()
        return np.float32(self._schedule.learning_rate(check_step(where, step)))

    def get_config(self):
        return copy.deepcopy(self._config)  # a caller may change the lists in it

    # The arguments read as attributes, as in Keras. Changing one would leave the C++ twin
    # computing with the old value, so that is refused.
    def __getattr__(self, name):
        config = self.__dict__.get("_config", {})
        if name in config:
            return config[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name, value):
        if name in self.__dict__.get("_config", {}):
            raise AttributeError(
                f"{type(self).__name__}: {name} is fixed when the schedule is made; make a new "
                f"schedule instead. Received: {name}={value!r}"
            )
        super().__setattr__(name, value)

    # The C++ twin cannot be pickled; copy, deepcopy and pickle make the schedule anew.
    def __reduce__(self):
        return (type(self).from_config, (self.get_config(),))

    def __repr__(self):
        arguments = ", ".join(f"{key}={value!r}" for key, value in self._config.items())
        return f"{type(self).__name__}({arguments})"


def core_schedule(schedule):
    """The `_core` schedule an optimizer calls for `schedule`.

    Args:
        schedule: a built-in schedule, a `LearningRateSchedule` subclass, or any callable
            that takes the step (an int) and returns the learning rate.

    Returns:
        The built-in's own C++ schedule, or a `_core.schedules.CallbackSchedule` that calls
        `schedule` (taking the GIL) and passes on its exceptions.

    Example:

    >>> core_schedule(lambda step: 0.1 / (1 + step)).learning_rate(4)
    0.02
    """
    # A subclass of a built-in that computes its own rate must be asked, not its twin.
    if (
        isinstance(schedule, BuiltinSchedule)
        and type(schedule).__call__ is BuiltinSchedule.__call__
    ):
        return schedule._schedule
    if callable(schedule):
        return _core.schedules.CallbackSchedule(lambda step: float(schedule(step)))
    raise ValueError(
        "A learning rate schedule must be a LearningRateSchedule or a callable that takes the "
        f"step. Received: schedule={schedule!r}"
    )


def check_step(where, step):
    """`step` as an int, or ValueError unless it is a whole number in [0, 2**63)."""
    value = whole_number(step)
    if value is None or not 0 <= value <= _INT64_MAX:
        raise ValueError(
            f"{where}: step must be a whole number >= 0 (the updates done so far). "
            f"Received: step={step!r}"
        )
    return value


def whole_number(value):
    """`value` as an int when it is an integer or an integral float (not a bool), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    try:
        return operator.index(value)
    except TypeError:
        pass
    if is_real(value) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None


def check_number(where, name, value):
    """`value` as a float, or ValueError unless it is a finite real number (not a bool)."""
    try:
        finite = is_real(value) and math.isfinite(value)
    except OverflowError:  # an int beyond the range of a float
        finite = False
    if not finite:
        raise ValueError(f"{where}: {name} must be a finite number. Received: {name}={value!r}")
    return float(value)


def check_optional_number(where, name, value):
    """`check_number`, with None as NaN (the core's "not set")."""
    return math.nan if value is None else check_number(where, name, value)


def check_flag(where, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where}: {name} must be True or False. Received: {name}={value!r}")
    return bool(value)


def check_name(where, name):
    if name is not None and not isinstance(name, str):
        raise ValueError(f"{where}: name must be a string or None. Received: name={name!r}")
    return name


def check_steps(where, name, value):
    """A whole number of steps that fits the core's int64, as an int."""
    steps = whole_number(value)
    if steps is None or not -_INT64_MAX - 1 <= steps <= _INT64_MAX:
        raise ValueError(f"{where}: {name} must be a whole number. Received: {name}={value!r}")
    return steps


def check_sequence(where, name, value):
    """A copy of a list or tuple (of the same type), so the caller's list can change safely."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"{where}: {name} must be a list. Received: {name}={value!r}")
    return type(value)(value)
