"""Normalization: standardizes inputs inside the model, with statistics from `adapt(data)`."""

import math

import numpy as np

from densekit import _core, backend
from densekit.layers.base import Layer, Variable, assign_variables, float32_weight
from densekit.layers.core import _units

__all__ = ["Normalization"]


class Normalization(Layer):
    """Shifts and scales inputs to mean 0 and standard deviation 1, feature by feature.

    `y = (x - mean) / max(sqrt(variance), epsilon)` (or `mean + x * max(sqrt(variance), epsilon)`
    with `invert=True`), the same in training and inference. The statistics come from
    `adapt(data)`, or are given as `mean` and `variance`.

    Args:
        axis: the axis or axes that keep a mean and variance per index (-1: one per feature of
            the last axis); None for one mean and variance over everything. The batch axis
            cannot be kept.
        mean, variance: the statistics, given together, broadcast to the kept axes' shape.
        invert: apply the inverse map, turning standardized values back into the data's scale.

    Example:
        >>> norm = densekit.layers.Normalization()
        >>> norm.adapt(x_train)  # doctest: +SKIP
        >>> model = densekit.Sequential([norm, densekit.layers.Dense(10)])  # doctest: +SKIP
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        self.axis = _axes(axis, self.name)
        if (mean is None) != (variance is None):
            raise ValueError(
                f"Normalization '{self.name}': mean and variance must be given together. "
                f"Received: mean={mean!r}, variance={variance!r}"
            )
        if mean is not None:
            mean = _real_array(mean, self.name, "mean")
            variance = _real_array(variance, self.name, "variance")
            if mean.shape != variance.shape:
                raise ValueError(
                    f"Normalization '{self.name}': mean and variance must have the same shape. "
                    f"Received: mean of shape {mean.shape}, variance of shape {variance.shape}"
                )
            if mean.ndim > len(self.axis):
                raise ValueError(
                    f"Normalization '{self.name}': mean has {mean.ndim} axes, more than the "
                    f"{len(self.axis)} kept by axis={axis!r}"
                )
            if (variance < 0).any():
                raise ValueError(f"Normalization '{self.name}': variance must be >= 0")
        self.input_mean, self.input_variance = mean, variance
        if not isinstance(invert, (bool, np.bool_)):
            raise ValueError(
                f"Normalization '{self.name}': invert must be True or False. "
                f"Received: invert={invert!r}"
            )
        self.invert = bool(invert)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(
                f"Normalization '{self.name}': every axis must be in [-{ndim}, {ndim}) for "
                f"inputs of shape {input_shape}. Received: axis={self.axis}"
            )
        keep = sorted({a % ndim for a in self.axis})
        if 0 in keep:
            raise ValueError(
                f"Normalization '{self.name}': the batch axis (0) has no fixed size, so it "
                f"cannot keep a statistic per index. Received: axis={self.axis}"
            )
        _units(input_shape, self.name)  # refuses samples too large to index
        sample = input_shape[1:]
        self._stat_shape = tuple(sample[d - 1] for d in keep)
        self._reduce = tuple(d for d in range(ndim) if d not in keep)
        grids = np.indices(sample).reshape(len(sample), -1)
        stat_of_feature = (
            np.ravel_multi_index(tuple(grids[d - 1] for d in keep), self._stat_shape)
            if keep
            else np.zeros(grids.shape[1], dtype=np.int64)
        )
        self._core = _core.layers.Normalization(
            [int(s) for s in stat_of_feature],
            max(1, math.prod(self._stat_shape)),
            self.invert,
            backend.epsilon(),
        )
        self._core.trainable = self.trainable
        if self.input_mean is not None:
            shape = self._stat_shape
            given = [
                np.broadcast_to(
                    np.reshape(v, (1,) * (len(shape) - v.ndim) + v.shape), shape
                ).reshape(-1)
                if v.ndim
                else np.full(math.prod(shape), v)
                for v in (self.input_mean, self.input_variance)
            ]
            mean, variance, _ = self._core.parameters
            mean.assign(
                float32_weight(given[0], mean.value.shape, f"Normalization '{self.name}': mean")
            )
            variance.assign(
                float32_weight(
                    given[1], variance.value.shape, f"Normalization '{self.name}': variance"
                )
            )
        super().build(input_shape)

    @property
    def variables(self):
        # Given statistics are constants in Keras, not variables.
        if self._core is None or self.input_mean is not None:
            return []
        mean, variance, count = self._core.parameters
        return [
            Variable(self, mean, shape=self._stat_shape),
            Variable(self, variance, shape=self._stat_shape),
            Variable(self, count, shape=(), file_dtype="int64"),
        ]

    @property
    def mean(self):
        return self._core.parameters[0].value.reshape(self._stat_shape) if self.built else None

    @property
    def variance(self):
        return self._core.parameters[1].value.reshape(self._stat_shape) if self.built else None

    def adapt(self, data):
        """Sets the mean and variance to those of `data`: an array of samples, or an iterable
        of batches (arrays, or `(x, y)` tuples whose x is used), such as a generator.

        The statistics are computed in float64 over every axis that is not kept; batches are
        combined exactly (Chan et al.'s parallel formula), so adapting on batches gives the
        statistics of their concatenation.
        """
        if self.input_mean is not None:
            raise ValueError(
                f"Normalization '{self.name}': adapt() cannot change a mean and variance given "
                f"at construction"
            )
        if isinstance(data, np.ndarray) or _is_array_like(data):
            batches = iter([_batch_array(data, self.name)])
        elif hasattr(data, "__iter__"):
            batches = (_batch_array(_first(b), self.name) for b in data)
        else:
            raise TypeError(
                f"Normalization '{self.name}': adapt() takes an array or an iterable of batches. "
                f"Received: data of type {type(data).__name__}"
            )
        count, mean, m2 = 0, None, None
        for batch in batches:
            if batch.ndim == 1 and not self.axis:
                # axis=None keeps one statistic of every element: a 1-D array is samples of
                # one feature, as Keras reads it (a layer made with input_shape=[1]).
                self._ensure_built(self.input_shape if self.built else (None, 1))
                batch = batch.reshape(-1, 1)
                reduce = (0, 1)
            elif batch.ndim < 2:
                raise ValueError(
                    f"Normalization '{self.name}': adapt() needs samples along a first axis "
                    f"(or axis=None); received an array of shape {batch.shape}"
                )
            else:
                self._ensure_built((None,) + batch.shape[1:])
                reduce = self._reduce
            n = math.prod(batch.shape[d] for d in reduce)
            if n == 0:
                continue
            batch_mean = batch.mean(axis=reduce).reshape(-1)
            batch_m2 = batch.var(axis=reduce).reshape(-1) * n
            if mean is None:
                count, mean, m2 = n, batch_mean, batch_m2
                continue
            delta = batch_mean - mean
            total = count + n
            mean = mean + delta * (n / total)
            m2 = m2 + batch_m2 + delta**2 * (count * n / total)
            count = total
        if mean is None:
            raise ValueError(f"Normalization '{self.name}': adapt() received no samples")
        variance = m2 / count
        if not (np.isfinite(mean).all() and np.isfinite(variance).all()):
            raise ValueError(
                f"Normalization '{self.name}': adapt() data holds NaN or Inf, or values whose "
                f"variance overflows"
            )
        mean_var, variance_var, _ = self.variables
        assign_variables(
            [mean_var, variance_var],
            [
                float32_weight(mean.reshape(self._stat_shape), self._stat_shape, "mean"),
                float32_weight(variance.reshape(self._stat_shape), self._stat_shape, "variance"),
            ],
        )

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "invert": self.invert,
            "mean": None if self.input_mean is None else self.input_mean.tolist(),
            "variance": None if self.input_variance is None else self.input_variance.tolist(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("axis"), list):
            config["axis"] = tuple(config["axis"])
        return super().from_config(config)


def _axes(axis, name):
    if axis is None:
        return ()
    axes = (axis,) if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else axis
    try:
        axes = tuple(axes)
    except TypeError:
        axes = None
    if axes is None or not all(
        isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes
    ):
        raise ValueError(
            f"Normalization '{name}': axis must be an int, a tuple of ints or None. "
            f"Received: axis={axis!r}"
        )
    return tuple(int(a) for a in axes)


def _real_array(value, name, arg):
    array = np.asarray(value)
    if array.dtype.kind not in "fiu" or not np.isfinite(array).all():
        raise ValueError(
            f"Normalization '{name}': {arg} must be finite real numbers. Received: {arg}={value!r}"
        )
    return array.astype(np.float64)


def _is_array_like(data):
    return hasattr(data, "__array__") and not hasattr(data, "__next__")


def _first(batch):
    return batch[0] if isinstance(batch, tuple) else batch


def _batch_array(data, name):
    array = np.asarray(data)
    if array.dtype.kind not in "fiub":
        raise ValueError(
            f"Normalization '{name}': adapt() needs real numbers; received an array of dtype "
            f"{array.dtype}"
        )
    return array.astype(np.float64, copy=False)
