"""1cycle (Smith, 2018): a schedule of densekit's own, beyond Keras."""

import numpy as np

from densekit import _core
from densekit.optimizers.schedules.base import (
    BuiltinSchedule,
    check_name,
    check_number,
    check_optional_number,
    check_step,
    check_steps,
)

__all__ = ["OneCycle"]


class OneCycle(BuiltinSchedule):
    """Leslie Smith's 1cycle, as in Géron's "Hands-On Machine Learning".

    Over `total_steps` steps the rate rises linearly from `start_learning_rate` to
    `max_learning_rate`, falls back to `start_learning_rate` over as many steps, and in a
    tail falls to `last_learning_rate`, where it stays. With `h = (total_steps - total_steps //
    10 - 1) // 2`, the rate peaks at step `h`, is back at the start at step `2h` and falls over
    the last `total_steps - 2h` steps (at least `total_steps // 10 + 1`). Below 3 steps `h` is
    0: there is only the tail. When `max_momentum` is given the momentum goes the opposite way:
    from `max_momentum` down to `min_momentum` at step `h`, back up at step `2h`, and it stays
    at `max_momentum` through the tail. The large rates in the middle let training move fast
    and act as a regularizer; the low momentum there keeps the large steps stable.

    Args:
        max_learning_rate: the peak rate, >= 0.
        total_steps: the steps of the whole cycle, >= 1 (for example epochs times batches
            per epoch).
        start_learning_rate: the rate at step 0 and step `2h`, <= `max_learning_rate`; None
            for `max_learning_rate / 10`.
        last_learning_rate: the rate at the end; None for `start_learning_rate / 1000`.
        max_momentum: the momentum at the ends, in [0, 1]; None leaves the optimizer's
            momentum alone.
        min_momentum: the momentum at the peak rate, in [0, max_momentum]; given exactly
            when `max_momentum` is.
        name: a name for the schedule.

    Example:

    >>> schedule = OneCycle(0.1, total_steps=100, max_momentum=0.95, min_momentum=0.85)
    >>> schedule(0), schedule(44), schedule.momentum(44)
    (np.float32(0.01), np.float32(0.1), np.float32(0.85))
    """

    def __init__(
        self,
        max_learning_rate,
        total_steps,
        start_learning_rate=None,
        last_learning_rate=None,
        max_momentum=None,
        min_momentum=None,
        name="OneCycle",
    ):
        where = "OneCycle"
        if (max_momentum is None) != (min_momentum is None):
            raise ValueError(
                "OneCycle: max_momentum and min_momentum are given together or not at all. "
                f"Received: max_momentum={max_momentum!r}, min_momentum={min_momentum!r}"
            )
        schedule = _core.schedules.OneCycle(
            check_number(where, "max_learning_rate", max_learning_rate),
            check_steps(where, "total_steps", total_steps),
            check_optional_number(where, "start_learning_rate", start_learning_rate),
            check_optional_number(where, "last_learning_rate", last_learning_rate),
            check_optional_number(where, "max_momentum", max_momentum),
            check_optional_number(where, "min_momentum", min_momentum),
        )
        config = {
            "max_learning_rate": max_learning_rate,
            "total_steps": total_steps,
            "start_learning_rate": start_learning_rate,
            "last_learning_rate": last_learning_rate,
            "max_momentum": max_momentum,
            "min_momentum": min_momentum,
            "name": check_name(where, name),
        }
        super().__init__(config, schedule)

    def momentum(self, step):
        """The momentum at `step` as float32, or None when the momentum is not cycled.

        Args:
            step: the updates done so far, a whole number >= 0.

        Returns:
            `numpy.float32`, or None without `max_momentum`.
        """
        if self.max_momentum is None:
            return None
        return np.float32(self._schedule.momentum(check_step("OneCycle", step)))
