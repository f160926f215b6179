"""The configurations of `densekit experiment optimizers`, and why each learning rate.

Measured on the experiment's model (20 hidden ReLU layers of 100 units, He initialization, batch
32, 20 epochs, seeds 42-44) unless stated:

* SGD: Keras's default 0.01.
* SGD with momentum 0.9, plain and Nesterov: 0.003, as in `densekit experiment activations`.
  Momentum multiplies the step by up to 1 / (1 - 0.9) = 10, and Keras's default 0.01 ended at a
  test accuracy between 0.58 and 0.94 over seeds 42-44; 0.001 and 0.003 both ended near 0.95.
* Adagrad: 0.01. Keras's default 0.001 reached 90% only after 13-16 epochs (0.92 after 20).
* RMSprop, Adam, AdamW (weight decay 0.004), Adamax, Nadam: Keras's default 0.001.
* Lion: 1e-4. Keras's default 0.001 ended at 0.42-0.51; Lion's authors advise a rate 3-10 times
  below AdamW's, and 1e-4 and 3e-4 both ended near 0.96.
* Schedules on SGD with momentum 0.9, over the run's `total_steps`: ExponentialDecay from 0.003
  down tenfold by the end; PiecewiseConstantDecay 0.003, then 0.001 from half the run and 3e-4
  from three quarters; OneCycle peaking at 0.01 from 0.001 (to 1e-6 at the end) while the
  momentum goes 0.95 -> 0.85 -> 0.95. The peak: `lr_finder.find_learning_rate` suggested 0.0076
  for seeds 42 and 43; peaks of 0.005 and 0.01 ended at 0.97, 0.02 at 0.79-0.95.
* Adam with CosineDecay from 0.001 to 0 over the run.
"""

from dataclasses import dataclass

from densekit import optimizers
from densekit.optimizers import schedules

__all__ = ["CONFIGS", "Config", "config_named", "keys"]

_MOMENTUM_RATE = 0.003


@dataclass(frozen=True)
class Config:
    """One configuration: `make(total_steps)` returns a fresh optimizer.

    `key` names it on the command line, `rate` describes its learning rate for the table, and
    `baseline` (schedules only) is the key of the constant-rate configuration drawn with it.
    """

    key: str
    label: str
    rate: str
    make: object
    baseline: str = None


def _momentum(rate, nesterov=False):
    return optimizers.SGD(learning_rate=rate, momentum=0.9, nesterov=nesterov)


def _piecewise(total_steps):
    boundaries = [total_steps // 2, total_steps * 3 // 4]
    return schedules.PiecewiseConstantDecay(
        boundaries, [_MOMENTUM_RATE, _MOMENTUM_RATE / 3, _MOMENTUM_RATE / 10]
    )


CONFIGS = [
    Config("sgd", "SGD", "0.01", lambda n: optimizers.SGD(learning_rate=0.01)),
    Config("momentum", "SGD momentum 0.9", "0.003", lambda n: _momentum(_MOMENTUM_RATE)),
    Config("nesterov", "SGD Nesterov 0.9", "0.003", lambda n: _momentum(_MOMENTUM_RATE, True)),
    Config("adagrad", "Adagrad", "0.01", lambda n: optimizers.Adagrad(learning_rate=0.01)),
    Config("rmsprop", "RMSprop", "0.001", lambda n: optimizers.RMSprop()),
    Config("adam", "Adam", "0.001", lambda n: optimizers.Adam()),
    Config("adamw", "AdamW", "0.001", lambda n: optimizers.AdamW()),
    Config("adamax", "Adamax", "0.001", lambda n: optimizers.Adamax()),
    Config("nadam", "Nadam", "0.001", lambda n: optimizers.Nadam()),
    Config("lion", "Lion", "1e-4", lambda n: optimizers.Lion(learning_rate=1e-4)),
    Config(
        "momentum-exponential",
        "SGD momentum, exponential",
        "0.003 -> 3e-4",
        lambda n: _momentum(schedules.ExponentialDecay(_MOMENTUM_RATE, n, 0.1)),
        "momentum",
    ),
    Config(
        "momentum-piecewise",
        "SGD momentum, piecewise",
        "0.003, 1e-3, 3e-4",
        lambda n: _momentum(_piecewise(n)),
        "momentum",
    ),
    Config(
        "momentum-1cycle",
        "SGD momentum, 1cycle",
        "0.001 -> 0.01 -> 1e-6",
        lambda n: _momentum(schedules.OneCycle(0.01, n, max_momentum=0.95, min_momentum=0.85)),
        "momentum",
    ),
    Config(
        "adam-cosine",
        "Adam, cosine",
        "0.001 -> 0",
        lambda n: optimizers.Adam(learning_rate=schedules.CosineDecay(0.001, n)),
        "adam",
    ),
]
_BY_KEY = {c.key: c for c in CONFIGS}


def config_named(entry):
    """`entry` if it is a `Config`, else the configuration of that key."""
    if isinstance(entry, Config):
        return entry
    if entry not in _BY_KEY:
        raise ValueError(
            f"Unknown optimizer configuration: {entry!r}. The keys are: " + ", ".join(_BY_KEY)
        )
    return _BY_KEY[entry]


def keys():
    """The keys of `CONFIGS`, in order."""
    return list(_BY_KEY)
