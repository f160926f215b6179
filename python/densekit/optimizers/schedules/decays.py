"""Keras 3's step-wise decays: exponential, inverse-time, polynomial and piecewise constant.

Each validates the types of its arguments here; the C++ twin checks the values (a decay that
would give a negative, infinite or NaN rate is refused) and computes the rate in double.
"""

from densekit import _core
from densekit.optimizers.schedules.base import (
    BuiltinSchedule,
    check_flag,
    check_name,
    check_number,
    check_sequence,
    check_steps,
)

__all__ = ["ExponentialDecay", "InverseTimeDecay", "PiecewiseConstantDecay", "PolynomialDecay"]


class _StepDecay(BuiltinSchedule):
    """The four arguments ExponentialDecay and InverseTimeDecay share; `_kind` names the class
    of the C++ twin."""

    _kind = None

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        where = self._kind
        schedule = getattr(_core.schedules, where)(
            check_number(where, "initial_learning_rate", initial_learning_rate),
            check_number(where, "decay_steps", decay_steps),
            check_number(where, "decay_rate", decay_rate),
            check_flag(where, "staircase", staircase),
        )
        config = {
            "initial_learning_rate": initial_learning_rate,
            "decay_steps": decay_steps,
            "decay_rate": decay_rate,
            "staircase": staircase,
            "name": check_name(where, name),
        }
        super().__init__(config, schedule)


class ExponentialDecay(_StepDecay):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)`.

    Args:
        initial_learning_rate: the rate at step 0, >= 0.
        decay_steps: steps over which the rate is multiplied by `decay_rate`, > 0.
        decay_rate: the factor per `decay_steps` steps, >= 0.
        staircase: if True, `step / decay_steps` is rounded down, so the rate drops once
            every `decay_steps` steps instead of a little at every step.
        name: a name for the schedule.

    Example:

    >>> schedule = ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.5)
    >>> schedule(2000)
    np.float32(0.025)
    """

    _kind = "ExponentialDecay"

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="ExponentialDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)


class InverseTimeDecay(_StepDecay):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)`.

    Args:
        initial_learning_rate: the rate at step 0, >= 0.
        decay_steps: the unit of steps the decay counts in, > 0.
        decay_rate: how fast the rate falls, >= 0.
        staircase: if True, `step / decay_steps` is rounded down.
        name: a name for the schedule.

    Example:

    >>> schedule = InverseTimeDecay(0.1, decay_steps=100, decay_rate=1.0)
    >>> schedule(300)
    np.float32(0.025)
    """

    _kind = "InverseTimeDecay"

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        decay_rate,
        staircase=False,
        name="InverseTimeDecay",
    ):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)


class PolynomialDecay(BuiltinSchedule):
    """From `initial_learning_rate` to `end_learning_rate` along `(1 - step / decay_steps) ** power`.

    The rate is `(initial_learning_rate - end_learning_rate) * (1 - s / d) ** power +
    end_learning_rate`. Without `cycle`, `s = min(step, decay_steps)` and `d = decay_steps`:
    the rate stays at `end_learning_rate` after `decay_steps`. With `cycle`, `s = step` and `d`
    is the first multiple of `decay_steps` at or above the step (`decay_steps` at step 0), so
    the rate jumps back up after each multiple and decays again over a longer span.

    Args:
        initial_learning_rate: the rate at step 0, >= 0.
        decay_steps: steps of the decay, > 0.
        end_learning_rate: the rate at the end of the decay, >= 0.
        power: the power of the polynomial, >= 0; 1 is a straight line.
        cycle: decay again after `decay_steps` instead of staying at `end_learning_rate`.
        name: a name for the schedule.

    Example:

    >>> schedule = PolynomialDecay(0.1, decay_steps=100, end_learning_rate=0.01)
    >>> schedule(50)
    np.float32(0.055)
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        end_learning_rate=0.0001,
        power=1.0,
        cycle=False,
        name="PolynomialDecay",
    ):
        where = "PolynomialDecay"
        schedule = _core.schedules.PolynomialDecay(
            check_number(where, "initial_learning_rate", initial_learning_rate),
            check_number(where, "decay_steps", decay_steps),
            check_number(where, "end_learning_rate", end_learning_rate),
            check_number(where, "power", power),
            check_flag(where, "cycle", cycle),
        )
        config = {
            "initial_learning_rate": initial_learning_rate,
            "decay_steps": decay_steps,
            "end_learning_rate": end_learning_rate,
            "power": power,
            "cycle": cycle,
            "name": check_name(where, name),
        }
        super().__init__(config, schedule)


class PiecewiseConstantDecay(BuiltinSchedule):
    """A constant rate between boundaries: `values[i]` for `boundaries[i-1] < step <= boundaries[i]`.

    The rate is `values[0]` up to and including step `boundaries[0]`, and `values[-1]` after
    `boundaries[-1]`.

    Args:
        boundaries: increasing step numbers (whole numbers), at least one.
        values: the rates, >= 0, one more than `boundaries`.
        name: a name for the schedule.

    Example:

    >>> schedule = PiecewiseConstantDecay(boundaries=[1000, 2000], values=[0.1, 0.05, 0.01])
    >>> schedule(1000), schedule(1001)
    (np.float32(0.1), np.float32(0.05))
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        where = "PiecewiseConstantDecay"
        boundaries = check_sequence(where, "boundaries", boundaries)
        values = check_sequence(where, "values", values)
        schedule = _core.schedules.PiecewiseConstantDecay(
            [check_steps(where, f"boundaries[{i}]", b) for i, b in enumerate(boundaries)],
            [check_number(where, f"values[{i}]", v) for i, v in enumerate(values)],
        )
        config = {"boundaries": boundaries, "values": values, "name": check_name(where, name)}
        super().__init__(config, schedule)
