"""Keras 3's cosine decays: with an optional linear warmup, and with warm restarts (SGDR)."""

from densekit import _core
from densekit.optimizers.schedules.base import (
    BuiltinSchedule,
    check_name,
    check_number,
    check_optional_number,
)

__all__ = ["CosineDecay", "CosineDecayRestarts"]


class CosineDecay(BuiltinSchedule):
    """A cosine decay (Loshchilov & Hutter, 2016), after an optional linear warmup.

    Without warmup (`warmup_target=None`), with `s = min(step, decay_steps)`:
    `initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha)`.
    With a `warmup_target`, the rate first goes linearly from `initial_learning_rate` to
    `warmup_target` over `warmup_steps` steps, then decays from `warmup_target` as above over
    the next `decay_steps` steps.

    Args:
        initial_learning_rate: the rate at step 0, >= 0.
        decay_steps: steps of the cosine decay, > 0.
        alpha: the fraction of its starting rate the decay ends at, in [0, 1].
        name: a name for the schedule.
        warmup_target: the rate the warmup reaches, >= 0; None for no warmup.
        warmup_steps: steps of the warmup, >= 0.

    Example:

    >>> schedule = CosineDecay(0.0, decay_steps=900, warmup_target=0.1, warmup_steps=100)
    >>> schedule(50), schedule(100), schedule(550)
    (np.float32(0.05), np.float32(0.1), np.float32(0.05))
    """

    def __init__(
        self,
        initial_learning_rate,
        decay_steps,
        alpha=0.0,
        name="CosineDecay",
        warmup_target=None,
        warmup_steps=0,
    ):
        where = "CosineDecay"
        schedule = _core.schedules.CosineDecay(
            check_number(where, "initial_learning_rate", initial_learning_rate),
            check_number(where, "decay_steps", decay_steps),
            check_number(where, "alpha", alpha),
            check_optional_number(where, "warmup_target", warmup_target),
            check_number(where, "warmup_steps", warmup_steps),
        )
        config = {
            "initial_learning_rate": initial_learning_rate,
            "decay_steps": decay_steps,
            "alpha": alpha,
            "name": check_name(where, name),
            "warmup_target": warmup_target,
            "warmup_steps": warmup_steps,
        }
        super().__init__(config, schedule)


class CosineDecayRestarts(BuiltinSchedule):
    """Cosine decays with warm restarts (SGDR, Loshchilov & Hutter, 2016).

    The first decay runs from `initial_learning_rate` down to `alpha * initial_learning_rate`
    over `first_decay_steps` steps; then the rate restarts, each period `t_mul` times longer
    than the one before and starting `m_mul` times lower. Within period `i`, at the fraction
    `g` of it, the rate is
    `initial_learning_rate * ((1 - alpha) * m_mul**i * 0.5 * (1 + cos(pi * g)) + alpha)`.

    Args:
        initial_learning_rate: the rate at step 0, >= 0.
        first_decay_steps: steps of the first period, > 0.
        t_mul: how much longer each period is than the one before, >= 1.
        m_mul: how much lower each period starts than the one before, >= 0.
        alpha: the fraction of `initial_learning_rate` each decay ends at, in [0, 1].
        name: a name for the schedule.

    Example:

    >>> schedule = CosineDecayRestarts(0.1, first_decay_steps=100, m_mul=0.5)
    >>> schedule(99) < 0.001, schedule(100)
    (np.True_, np.float32(0.05))
    """

    def __init__(
        self,
        initial_learning_rate,
        first_decay_steps,
        t_mul=2.0,
        m_mul=1.0,
        alpha=0.0,
        name="SGDRDecay",
    ):
        where = "CosineDecayRestarts"
        schedule = _core.schedules.CosineDecayRestarts(
            check_number(where, "initial_learning_rate", initial_learning_rate),
            check_number(where, "first_decay_steps", first_decay_steps),
            check_number(where, "t_mul", t_mul),
            check_number(where, "m_mul", m_mul),
            check_number(where, "alpha", alpha),
        )
        config = {
            "initial_learning_rate": initial_learning_rate,
            "first_decay_steps": first_decay_steps,
            "t_mul": t_mul,
            "m_mul": m_mul,
            "alpha": alpha,
            "name": check_name(where, name),
        }
        super().__init__(config, schedule)
