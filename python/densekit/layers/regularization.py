"""Keras 3's noise layers: Dropout, AlphaDropout, GaussianNoise and GaussianDropout.

Each is the identity in inference and adds noise in training, drawn in C++ inside the training
step from a stream seeded by `seed` (a seed drawn from Python's `random` when None, so
`random.seed(...)` makes it reproducible). A subclass may override `call` only to fix `training`,
as Monte Carlo dropout does (with or without a `training` argument of its own, as tf.keras
allowed):

    class MCDropout(keras.layers.Dropout):
        def call(self, inputs, training=None):
            return super().call(inputs, training=True)

densekit runs no Python inside a step, so when the layer is built it calls the override once
with a probe to learn how it calls the base `call`, and hands that choice to the C++ layer.
"""

import functools
import inspect
import random

import numpy as np

from densekit import _core
from densekit._numbers import is_real
from densekit.layers.base import Layer
from densekit.layers.core import _units

__all__ = ["AlphaDropout", "Dropout", "GaussianDropout", "GaussianNoise"]

_NoiseKind = _core.layers.NoiseKind
_NoiseTraining = _core.layers.NoiseTraining


class _CallProbe:
    """Stands for the inputs while a subclass's `call` is probed; records the base call."""

    def __init__(self):
        self.calls = []  # the `training` of each base call
        self.result = object()


@functools.lru_cache(maxsize=None)
def _takes_training(call):
    """Whether a `call` accepts `training` (by name or through **kwargs): Keras passes it only
    then."""
    parameters = inspect.signature(call).parameters.values()
    return any(p.name == "training" or p.kind is p.VAR_KEYWORD for p in parameters)


class _NoiseLayer(Layer):
    """What the four layers share: their seed, the C++ twin, and the probe of a `call` override."""

    _kind = None  # the _core.layers.NoiseKind
    _amount_name = "rate"  # the attribute the C++ layer's amount follows

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (
            isinstance(seed, (bool, np.bool_))
            or not isinstance(seed, (int, np.integer))
            or not 0 <= seed < 2**64
        ):
            raise ValueError(
                f"{self._who()}: seed must be an int in [0, 2**64) or None. Received: seed={seed!r}"
            )
        self.seed = None if seed is None else int(seed)
        # The seed the C++ stream starts from: Keras's config keeps seed=None, so it is not saved.
        self.generator_seed = self.seed if seed is not None else random.randrange(2**63)
        self._probe = None

    def _who(self):
        return f"{type(self).__name__} '{self.name}'"

    def __setattr__(self, name, value):
        # Keras reads the rate (stddev) at every call: a changed one applies from the next batch.
        if name == self._amount_name and self.__dict__.get("_core") is not None:
            value = self._checked_amount(value)
            self._core.amount = value
        super().__setattr__(name, value)

    def _rate(self, rate):
        if (
            isinstance(rate, (bool, np.bool_))
            or not is_real(rate)
            or not np.isfinite(rate)
            or not 0 <= rate < 1
        ):
            raise ValueError(
                f"{self._who()}: rate must be a number in [0, 1). Received: rate={rate!r}"
            )
        return float(rate)

    # -- building ---------------------------------------------------------------------------
    def build(self, input_shape):
        self._core = _core.layers.Noise(
            self._kind, self._amount(), self.generator_seed, self._pattern(tuple(input_shape))
        )
        self._core.trainable = self.trainable
        self._core.training_mode = self._training_mode()
        super().build(input_shape)

    def _amount(self):
        return getattr(self, self._amount_name)

    def _checked_amount(self, value):
        return self._rate(value)

    def _pattern(self, input_shape):
        return _core.layers.NoisePattern(_units(input_shape, self.name))

    # -- running ----------------------------------------------------------------------------
    def __call__(self, inputs, training=None):
        """Runs the layer through `call`, so a subclass's override of `training` applies."""
        if _takes_training(type(self).call):
            return self.call(inputs, training=training)
        return self.call(inputs)

    def call(self, inputs, training=None):
        """The noisy inputs when training is true, else the inputs (as a new array)."""
        if self._probe is not None:
            if inputs is not self._probe:
                self._probe.calls.append("other inputs")
                return self._probe.result
            self._probe.calls.append(training)
            return self._probe.result
        return Layer.__call__(self, inputs, training=training)

    def _training_mode(self):
        """How the layer's `call` (a subclass's override, if any) sets the base call's training:
        probed with training=True and training=False."""
        if type(self).call is _NoiseLayer.call:
            return _NoiseTraining.follow
        seen = [self._probe_call(training) for training in (True, False)]
        if seen == [True, True]:
            return _NoiseTraining.always
        if seen == [False, False]:
            return _NoiseTraining.never
        if seen == [True, False]:
            return _NoiseTraining.follow
        self._refuse_override("inverts training")

    def _probe_call(self, training):
        probe = _CallProbe()
        self._probe = probe
        try:
            if _takes_training(type(self).call):
                result = self.call(probe, training=training)
            else:
                result = self.call(probe)
        except Exception as e:
            self._refuse_override(f"raised {type(e).__name__}: {e}", e)
        finally:
            self._probe = None
        if probe.calls == ["other inputs"]:
            self._refuse_override("passes other inputs than its own to the base call")
        if len(probe.calls) != 1:
            self._refuse_override(f"calls the base call {len(probe.calls)} times instead of once")
        if result is not probe.result:
            self._refuse_override("returns something other than what the base call returned")
        return bool(probe.calls[0])

    def _refuse_override(self, what, cause=None):
        base = next(c for c in type(self).__mro__ if c.__module__ == __name__).__name__
        raise TypeError(
            f"{type(self).__name__}: densekit runs {base} in C++ and supports overriding call() "
            f"only to fix `training`, as in `return super().call(inputs, training=True)`; this "
            f"override {what}"
        ) from cause


def _noise_shape(layer, noise_shape):
    """Keras's validation of noise_shape: a tuple of positive ints and None, or None."""
    if noise_shape is None:
        return None
    try:
        shape = None if isinstance(noise_shape, str) else tuple(noise_shape)
    except TypeError:
        shape = None
    if shape is None or not all(
        d is None
        or (isinstance(d, (int, np.integer)) and not isinstance(d, (bool, np.bool_)) and d > 0)
        for d in shape
    ):
        raise ValueError(
            f"{layer._who()}: noise_shape must be a tuple of positive ints and None. "
            f"Received: noise_shape={noise_shape!r}"
        )
    return tuple(None if d is None else int(d) for d in shape)


class _MaskedNoiseLayer(_NoiseLayer):
    """Dropout and AlphaDropout: a rate and an optional noise_shape."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = self._rate(rate)
        self.noise_shape = _noise_shape(self, noise_shape)

    def _pattern(self, input_shape):
        if self.noise_shape is None:
            return super()._pattern(input_shape)
        shape = self.noise_shape
        received = f"Received: noise_shape={shape!r} for inputs of shape {input_shape}"
        if len(shape) != len(input_shape):
            raise ValueError(
                f"{self._who()}: noise_shape needs one entry per input axis. {received}"
            )
        if shape[0] not in (None, 1):
            raise NotImplementedError(
                f"{self._who()}: noise_shape supports None or 1 on the batch axis. {received}"
            )
        for n, d in zip(shape[1:], input_shape[1:]):
            if n not in (None, 1, d):
                raise ValueError(
                    f"{self._who()}: each entry of noise_shape must be None, 1 or the input's "
                    f"size on that axis. {received}"
                )
        sample = [int(d) for d in input_shape[1:]]
        try:
            return _core.layers.NoisePattern(sample, [0 if n is None else n for n in shape])
        except ValueError as e:
            raise ValueError(f"{self._who()}: {e}. {received}") from None

    def get_config(self):
        return {
            **super().get_config(),
            "rate": self.rate,
            "seed": self.seed,
            "noise_shape": self.noise_shape,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("noise_shape"), list):  # JSON has no tuples
            config["noise_shape"] = tuple(config["noise_shape"])
        return super().from_config(config)


class Dropout(_MaskedNoiseLayer):
    """Sets inputs to 0 with probability `rate` while training and scales the rest by
    `1 / (1 - rate)`, so the expected sum is unchanged; the identity in inference.

    Args:
        rate: the fraction of the inputs to drop, in [0, 1).
        noise_shape: the shape of the mask, with the batch axis, as Keras's: None entries take
            the input's size, 1 entries share the mask along that axis, e.g. (None, 1) drops
            whole samples, (1, None) the same features in every sample of a batch.
        seed: int seed of the masks' generator; drawn from Python's `random` when None.

    Input shape: any. Output shape: the input's.

    Example:
        >>> layer = densekit.layers.Dropout(0.2, seed=42)
    """

    _kind = _NoiseKind.dropout


class AlphaDropout(_MaskedNoiseLayer):
    """Dropout that keeps the mean and variance of its inputs, for self-normalizing (SELU)
    networks: dropped inputs are set to SELU's negative saturation value and the result is
    mapped by an affine transform `a * x + b`; the identity in inference.

    Args:
        rate: the fraction of the inputs to drop, in [0, 1).
        noise_shape: the shape of the mask, as Dropout's.
        seed: int seed of the masks' generator; drawn from Python's `random` when None.
    """

    _kind = _NoiseKind.alpha_dropout


class GaussianNoise(_NoiseLayer):
    """Adds zero-centred Gaussian noise of standard deviation `stddev` while training; the
    identity in inference.

    Args:
        stddev: the noise's standard deviation, >= 0.
        seed: int seed of the noise's generator; drawn from Python's `random` when None.
    """

    _kind = _NoiseKind.gaussian_noise
    _amount_name = "stddev"

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = self._checked_amount(stddev)

    def _checked_amount(self, stddev):
        if (
            isinstance(stddev, (bool, np.bool_))
            or not is_real(stddev)
            or not np.isfinite(stddev)
            or stddev < 0
        ):
            raise ValueError(
                f"{self._who()}: stddev must be a finite number >= 0. Received: stddev={stddev!r}"
            )
        return float(stddev)

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_NoiseLayer):
    """Multiplies its inputs by Gaussian noise of mean 1 and standard deviation
    `sqrt(rate / (1 - rate))` while training; the identity in inference.

    Args:
        rate: the drop probability of the equivalent Dropout, in [0, 1).
        seed: int seed of the noise's generator; drawn from Python's `random` when None.
    """

    _kind = _NoiseKind.gaussian_dropout

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = self._rate(rate)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
