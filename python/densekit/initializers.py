"""Weight initializers mirroring `keras.initializers` (Keras 3), in NumPy.

An initializer is called as `init(shape, dtype=None)` and returns a NumPy
array, float32 unless `dtype` says otherwise. As in Keras 3, a random
initializer returns the same values on every call: an int `seed` fixes them,
and `seed=None` draws a seed once, at construction.

Example:

>>> init = get("he_normal")         # same as HeNormal()
>>> init((784, 128)).shape          # Dense kernel (in, units)
(784, 128)
"""

import inspect as _inspect
import math as _math

import numpy as _np

from densekit import _initializer_utils as _utils

__all__ = [
    "Initializer",
    "Constant",
    "Zeros",
    "Ones",
    "Identity",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "LecunNormal",
    "LecunUniform",
    "Orthogonal",
    "constant",
    "zeros",
    "ones",
    "identity",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "variance_scaling",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "orthogonal",
    "get",
    "serialize",
    "deserialize",
]


class Initializer:
    """Base class: subclasses implement `__call__(shape, dtype=None)`."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError("Initializer subclasses must implement the `__call__()` method.")

    def get_config(self):
        """Returns the constructor arguments as a JSON-serializable dict."""
        return {}

    @classmethod
    def from_config(cls, config):
        """Builds an initializer from the output of `get_config()`."""
        return cls(**config)

    def clone(self):
        return self.__class__.from_config(self.get_config())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Constant(Initializer):
    """Fills with the scalar `value` (default 0.0)."""

    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return _np.full(tuple(shape), self.value, _utils.float_dtype(dtype))

    def get_config(self):
        # A NumPy scalar becomes a Python number, so the config is JSON-ready.
        value = self.value.item() if hasattr(self.value, "item") else self.value
        return {"value": value}


class Zeros(Initializer):
    """Fills with 0."""

    def __call__(self, shape, dtype=None):
        return _np.zeros(tuple(shape), _utils.float_dtype(dtype))


class Ones(Initializer):
    """Fills with 1."""

    def __call__(self, shape, dtype=None):
        return _np.ones(tuple(shape), _utils.float_dtype(dtype))


class Identity(Initializer):
    """`gain` times the identity matrix; 2-D shapes only (may be non-square)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        if len(shape) != 2:
            raise ValueError(
                "Identity matrix initializer can only be used for 2D matrices. "
                f"Received: shape={shape} of rank {len(shape)}."
            )
        return (self.gain * _np.eye(*shape)).astype(_utils.float_dtype(dtype))

    def get_config(self):
        # Keras 3 returns {} here, losing `gain` on a round trip; we keep it.
        return {"gain": self.gain}


class _RandomInitializer(Initializer):
    """Base of the random initializers: holds the seed."""

    def __init__(self, seed=None):
        self._init_seed, self.seed = _utils.check_seed(seed)

    def _rng(self):
        # A fresh generator from the fixed seed: same values on every call.
        return _np.random.default_rng(self.seed)

    def get_config(self):
        return {"seed": self._init_seed}


class _Normal(_RandomInitializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = mean, stddev
        super().__init__(seed=seed)

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomNormal(_Normal):
    """Draws from N(mean, stddev²); defaults mean=0.0, stddev=0.05."""

    def __call__(self, shape, dtype=None):
        x = self._rng().normal(self.mean, self.stddev, tuple(shape))
        return x.astype(_utils.float_dtype(dtype, floating=True))


class TruncatedNormal(_Normal):
    """Like RandomNormal, but values beyond 2 stddev of the mean are redrawn."""

    def __call__(self, shape, dtype=None):
        x = _utils.truncated_normal(self._rng(), tuple(shape), self.mean, self.stddev)
        return x.astype(_utils.float_dtype(dtype, floating=True))


class RandomUniform(_RandomInitializer):
    """Draws from U[minval, maxval); defaults -0.05, 0.05."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval = minval, maxval
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        x = self._rng().uniform(self.minval, self.maxval, tuple(shape))
        return x.astype(_utils.float_dtype(dtype, floating=True))

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


class VarianceScaling(_RandomInitializer):
    """Draws with variance `scale / n`, `n` the fan chosen by `mode`.

    Args:
        scale: Positive scaling factor.
        mode: `"fan_in"`, `"fan_out"` or `"fan_avg"` (mean of the two).
        distribution: `"truncated_normal"` (cut at 2 std, std corrected so the
            variance is still `scale / n`; `"normal"` is an alias),
            `"untruncated_normal"`, or `"uniform"` on `[-limit, limit]` with
            `limit = sqrt(3 * scale / n)`.
        seed: Int, or None for a seed drawn at construction.
        input_axes, output_axes: Optional axes whose sizes multiply into the
            fans (both or neither); by default fans follow Keras's rules.
    """

    _MODES = ["fan_avg", "fan_in", "fan_out"]
    _DISTRIBUTIONS = ["normal", "truncated_normal", "uniform", "untruncated_normal"]

    def __init__(
        self,
        scale=1.0,
        mode="fan_in",
        distribution="truncated_normal",
        seed=None,
        input_axes=None,
        output_axes=None,
    ):
        if not scale > 0.0 or not _math.isfinite(scale):
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in self._MODES:
            raise ValueError(
                f"Invalid `mode` argument, expected one of {self._MODES}. Received: mode={mode}"
            )
        if isinstance(distribution, str):
            distribution = distribution.lower()
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(
                f"Invalid `distribution` argument, expected one of "
                f"{self._DISTRIBUTIONS}. Received: distribution={distribution}"
            )
        self.scale, self.mode = scale, mode
        # As in Keras, "normal" is stored (and serialized) as truncated_normal.
        self.distribution = "truncated_normal" if distribution == "normal" else distribution
        self.input_axes, self.output_axes = input_axes, output_axes
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        fan_in, fan_out = _utils.compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        rng, shape = self._rng(), tuple(shape)
        if self.distribution == "truncated_normal":
            stddev = _math.sqrt(variance) / _utils.TRUNCATED_STD
            x = _utils.truncated_normal(rng, shape, 0.0, stddev)
        elif self.distribution == "untruncated_normal":
            x = rng.normal(0.0, _math.sqrt(variance), shape)
        else:
            limit = _math.sqrt(3.0 * variance)
            x = rng.uniform(-limit, limit, shape)
        return x.astype(_utils.float_dtype(dtype, floating=True))

    def get_config(self):
        return {
            **super().get_config(),
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class _Preset(VarianceScaling):
    """VarianceScaling whose `(scale, mode, distribution)` is `_PRESET`."""

    _PRESET = ()

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        super().__init__(*self._PRESET, seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self):
        return {
            "seed": self._init_seed,
            "input_axes": self.input_axes,
            "output_axes": self.output_axes,
        }


class GlorotNormal(_Preset):
    """Truncated normal with std `sqrt(2 / (fan_in + fan_out))`."""

    _PRESET = (1.0, "fan_avg", "truncated_normal")


class GlorotUniform(_Preset):
    """Uniform on `±sqrt(6 / (fan_in + fan_out))`."""

    _PRESET = (1.0, "fan_avg", "uniform")


class HeNormal(_Preset):
    """Truncated normal with std `sqrt(2 / fan_in)`."""

    _PRESET = (2.0, "fan_in", "truncated_normal")


class HeUniform(_Preset):
    """Uniform on `±sqrt(6 / fan_in)`."""

    _PRESET = (2.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    """Truncated normal with std `sqrt(1 / fan_in)`."""

    _PRESET = (1.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    """Uniform on `±sqrt(3 / fan_in)`."""

    _PRESET = (1.0, "fan_in", "uniform")


class Orthogonal(_RandomInitializer):
    """`gain` times a random orthogonal matrix (QR of a normal draw).

    A shape `(*lead, n)` is drawn as a `(prod(lead), n)` matrix with
    orthonormal columns if it is tall, orthonormal rows if it is wide.
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = gain
        super().__init__(seed=seed)

    def __call__(self, shape, dtype=None):
        q = self.gain * _utils.orthogonal(self._rng(), tuple(shape))
        return q.astype(_utils.float_dtype(dtype, floating=True))

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


# The snake_case names are the classes themselves, as in keras.initializers.
constant, zeros, ones, identity = Constant, Zeros, Ones, Identity
random_normal, random_uniform = RandomNormal, RandomUniform
truncated_normal, variance_scaling = TruncatedNormal, VarianceScaling
glorot_normal, glorot_uniform = GlorotNormal, GlorotUniform
he_normal, he_uniform = HeNormal, HeUniform
lecun_normal, lecun_uniform, orthogonal = LecunNormal, LecunUniform, Orthogonal

_BY_NAME = {
    name: obj for name, obj in globals().items() if name in __all__ and _inspect.isclass(obj)
}
# Older names Keras's registry also accepts, so its configs load here.
_BY_NAME.update(
    normal=RandomNormal,
    uniform=RandomUniform,
    zero=Zeros,
    one=Ones,
    IdentityInitializer=Identity,
    OrthogonalInitializer=Orthogonal,
)


def _lookup(name, identifier, custom_objects=None):
    cls = (custom_objects or {}).get(name) or _BY_NAME.get(name)
    if cls is None:
        raise ValueError(
            f"Could not interpret initializer identifier: {identifier}. "
            f"Valid names: {', '.join(sorted(_BY_NAME))}."
        )
    return cls


def serialize(initializer):
    """Returns the Keras 3 config dict of `initializer` (None for None)."""
    if initializer is None:
        return None
    if not isinstance(initializer, Initializer):
        raise ValueError(
            f"Can only serialize Initializer instances. Received: initializer={initializer!r}"
        )
    cls = type(initializer)
    builtin = _BY_NAME.get(cls.__name__) is cls
    # Built-ins are written exactly as Keras writes its own, so either
    # library can read the other's configs.
    return {
        "module": "keras.initializers" if builtin else cls.__module__,
        "class_name": cls.__name__,
        "config": initializer.get_config(),
        "registered_name": None if builtin else cls.__name__,
    }


def deserialize(config, custom_objects=None):
    """Builds an initializer from a name or a `serialize()` dict."""
    if isinstance(config, str):
        return _lookup(config, config, custom_objects)()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Unknown `config` as a `dict`, config={config}")
    cls = _lookup(config["class_name"], config, custom_objects)
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """Resolves `identifier` into an initializer, as `keras.initializers.get`.

    Args:
        identifier: None, a name (`"HeNormal"` or `"he_normal"`), a config
            dict, an initializer class (instantiated) or instance, a callable
            `(shape, dtype=None)`, or an array whose values are used as is.

    Returns:
        An initializer or callable; None for None.
    """
    if identifier is None:
        return None
    if isinstance(identifier, (dict, str)):
        return deserialize(identifier)
    if isinstance(identifier, (_np.ndarray, _np.generic)):
        return _array_initializer(identifier)
    if _inspect.isclass(identifier):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier}")


def _array_initializer(value):
    def initialize_fn(shape, dtype=None):
        if tuple(shape) != value.shape:
            raise ValueError(
                f"Expected `shape` to be {value.shape} for direct tensor as "
                f"initializer. Received shape={shape}"
            )
        return _np.array(value, dtype=_utils.float_dtype(dtype))

    return initialize_fn
