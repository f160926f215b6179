"""Optimizers with Keras 3 names and arguments. The state (momentum slots, iterations) lives in
the C++ optimizer, which the network calls inside its training step."""

import math as _math

from densekit import _core
from densekit._numbers import as_float32, is_real

__all__ = ["Optimizer", "SGD", "deserialize", "get", "serialize"]


def _check_clip(name, value):
    if value is None:
        return 0.0
    # A value float32 rounds to 0 would mean "no clipping" to the core, and one it rounds to inf
    # would clip nothing either.
    if not is_real(value) or not 0 < as_float32(value) < _math.inf:
        raise ValueError(
            f"SGD: {name} must be a positive finite number or None (as float32, between "
            f"{_FLOAT32_TINY:.1e} and {_FLOAT32_MAX:.1e}). Received: {name}={value!r}"
        )
    return float(value)


_FLOAT32_TINY = 1.4e-45  # the smallest positive (subnormal) float32
_FLOAT32_MAX = 3.4028235e38


_KERAS_DEFAULTS = {
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "loss_scale_factor": None,
    "gradient_accumulation_steps": None,
}


class Optimizer:
    """Base class: holds the name and the clipping settings."""

    def __init__(self, name, clipnorm=None, clipvalue=None, global_clipnorm=None):
        set_clips = [
            k
            for k, v in (
                ("clipnorm", clipnorm),
                ("clipvalue", clipvalue),
                ("global_clipnorm", global_clipnorm),
            )
            if v is not None
        ]
        if len(set_clips) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        self.name = name
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self._clip = _core.ClipSpec(
            clipvalue=_check_clip("clipvalue", clipvalue),
            clipnorm=_check_clip("clipnorm", clipnorm),
            global_clipnorm=_check_clip("global_clipnorm", global_clipnorm),
        )

    def get_config(self):
        return {
            "name": self.name,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and Nesterov momentum.

    Args:
        learning_rate: step size, > 0.
        momentum: in [0, 1]; 0 is plain SGD.
        nesterov: use Nesterov momentum.
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue].
        global_clipnorm: clip all gradients together to this joint L2 norm.

    Example:
        >>> densekit.optimizers.SGD(learning_rate=0.01, clipvalue=1.0)
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name="SGD",
        **kwargs,
    ):
        for key, default in _KERAS_DEFAULTS.items():  # keys of Keras configs we accept as defaults
            value = kwargs.pop(key, default)
            if value != default:
                raise ValueError(f"SGD: {key} is not supported. Received: {key}={value!r}")
        if kwargs:
            raise ValueError(f"SGD: unsupported arguments {sorted(kwargs)}")
        if weight_decay not in (None, 0, 0.0):
            raise ValueError(
                f"SGD: weight_decay is not supported yet. Received: weight_decay={weight_decay}"
            )
        super().__init__(
            name, clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm
        )
        _check_learning_rate(learning_rate)
        if not is_real(momentum) or not 0 <= momentum <= 1:
            raise ValueError(
                f"`momentum` must be a float between [0, 1]. Received: momentum={momentum!r}"
            )
        self._sgd = _core.SGD(float(learning_rate), float(momentum), bool(nesterov), self._clip)

    @property
    def learning_rate(self):
        return self._sgd.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        _check_learning_rate(value)
        self._sgd.learning_rate = float(value)

    @property
    def momentum(self):
        return self._sgd.momentum

    @property
    def nesterov(self):
        return self._sgd.nesterov

    @property
    def iterations(self):
        return self._sgd.iterations

    def get_config(self):
        return {
            **super().get_config(),
            "learning_rate": self.learning_rate,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
        }

    def __repr__(self):
        return (
            f"<densekit.optimizers.SGD learning_rate={self.learning_rate} momentum={self.momentum}>"
        )


def _check_learning_rate(value):
    # 0 is allowed, as in Keras: it pauses training without recompiling.
    if not is_real(value) or not 0 <= as_float32(value) < _math.inf:
        raise ValueError(
            "learning_rate must be a number >= 0 that is finite in float32. "
            f"Received: learning_rate={value!r}"
        )


_CLASSES = {"SGD": SGD, "sgd": SGD}


def get(identifier):
    """Resolves "sgd", a config dict or an Optimizer instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier in _CLASSES:
        return _CLASSES[identifier]()
    raise ValueError(
        f"Could not interpret optimizer identifier: {identifier!r}. densekit has: SGD ('sgd')"
    )


def serialize(optimizer):
    return {
        "module": "keras.optimizers",
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config):
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"Unknown optimizer class: {config.get('class_name')!r}")
    return cls.from_config(config.get("config", {}))


def __dir__():
    return __all__
