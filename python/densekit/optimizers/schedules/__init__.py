"""Learning-rate schedules mirroring `keras.optimizers.schedules`, plus densekit's `OneCycle`.

A schedule gives the learning rate as a function of the optimizer's step (the updates done
so far). The built-in schedules compute it in C++, where the optimizer asks for it once per
step inside the training call; a schedule of your own (a `LearningRateSchedule` subclass or
any callable of the step) is called back in Python.

The modules:

* `base`: `LearningRateSchedule`, the base class of every schedule;
* `decays`: `ExponentialDecay`, `InverseTimeDecay`, `PolynomialDecay`,
  `PiecewiseConstantDecay`;
* `cosine`: `CosineDecay` (with an optional warmup) and `CosineDecayRestarts`;
* `one_cycle`: `OneCycle`, which also schedules the momentum;
* `serialization`: `serialize`, `deserialize`, `get`, in Keras 3's config format.

Example:

>>> schedule = ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.96, staircase=True)
>>> schedule(2500)
np.float32(0.09216)
"""

# core_schedule is for the optimizers, not part of the public API (not in __all__).
from densekit.optimizers.schedules.base import LearningRateSchedule, core_schedule  # noqa: F401
from densekit.optimizers.schedules.cosine import CosineDecay, CosineDecayRestarts
from densekit.optimizers.schedules.decays import (
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
)
from densekit.optimizers.schedules.one_cycle import OneCycle
from densekit.optimizers.schedules.serialization import deserialize, get, serialize

__all__ = [
    "CosineDecay",
    "CosineDecayRestarts",
    "ExponentialDecay",
    "InverseTimeDecay",
    "LearningRateSchedule",
    "OneCycle",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "deserialize",
    "get",
    "serialize",
]


def __dir__():
    return __all__
