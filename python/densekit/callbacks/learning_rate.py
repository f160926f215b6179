"""Callbacks that set the learning rate between epochs: LearningRateScheduler (a rate per epoch
from a function) and ReduceLROnPlateau (a smaller rate when a metric stops improving).

Both read the rate with `float(optimizer.learning_rate)`, write it by assigning a Python float,
and put the rate in the epoch logs under `learning_rate`, as Keras 3's do, so `History` records it.
"""

import math
import warnings

import numpy as np

from densekit._numbers import is_real
from densekit.callbacks.base import Callback, _print_msg

__all__ = ["LearningRateScheduler", "ReduceLROnPlateau"]

# The types Keras 3 accepts from a schedule; an int such as 1 is refused, as there.
_SCHEDULE_RESULT_TYPES = (float, np.float32, np.float64)


def _optimizer_of(model, who):
    optimizer = getattr(model, "optimizer", None)
    if not hasattr(optimizer, "learning_rate"):
        raise ValueError(
            f'{who}: the model\'s optimizer must have a "learning_rate" attribute (is the model '
            f"compiled?). Received: optimizer={optimizer!r}"
        )
    return optimizer


def _set_learning_rate(optimizer, value, who):
    try:
        optimizer.learning_rate = float(value)
    except TypeError as e:
        # The optimizer's rate is a schedule: it computes the rate from the step count, so a
        # rate set from outside would be ignored or fight it. Keras refuses it the same way.
        raise TypeError(
            f"{who} cannot set the learning rate: the optimizer was created with a "
            "learning-rate schedule, which sets the rate at every step itself. Create the "
            f"optimizer with a float learning_rate to use {who}. ({e})"
        ) from e
    except ValueError as e:  # a rate the optimizer refuses: negative, NaN or beyond float32
        raise ValueError(f"{who} cannot set the learning rate to {value!r}: {e}") from e


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of each epoch from a function of the epoch.

    At the beginning of every epoch the callback calls `schedule(epoch, lr)`, `lr` being the
    optimizer's current rate, and gives the optimizer the rate it returns. A schedule of the
    older form `schedule(epoch)` works too: when the two-argument call raises TypeError, the
    callback calls `schedule(epoch)`, as Keras does. At the end of each epoch the rate is put in
    the logs under `learning_rate`.

    Args:
        schedule: A function of the epoch index (an int, counted from 0) and the current
            learning rate (a float) returning the new learning rate as a float (a Python float,
            `np.float32` or `np.float64`; anything else raises ValueError).
        verbose: 0: quiet; 1: print the rate set at each epoch.

    Raises:
        ValueError: From `on_epoch_begin`, if `schedule` returns something other than a float,
            or a rate the optimizer refuses (negative, NaN, or infinite in float32).
        TypeError: From `on_epoch_begin`, if the optimizer's learning rate is a schedule, which
            cannot be set.

    Example:

    >>> def schedule(epoch, lr):
    ...     # Ten epochs at the initial rate, then 10% less every epoch.
    ...     return lr if epoch < 10 else lr * 0.9
    >>> callback = LearningRateScheduler(schedule)
    >>> history = model.fit(x, y, epochs=15, callbacks=[callback])  # doctest: +SKIP
    >>> history.history["learning_rate"]  # doctest: +SKIP
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = _optimizer_of(self.model, "LearningRateScheduler")
        try:
            learning_rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:
            learning_rate = self.schedule(epoch)
        if not isinstance(learning_rate, _SCHEDULE_RESULT_TYPES):
            raise ValueError(
                "The output of the `schedule` function should be a float. "
                f"Received: {learning_rate!r} (of type {type(learning_rate).__name__})"
            )
        _set_learning_rate(optimizer, learning_rate, "LearningRateScheduler")
        if self.verbose > 0:
            _print_msg(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                f"{learning_rate}."
            )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(Callback):
    """Multiplies the learning rate by `factor` when a metric has stopped improving.

    At the end of each epoch the callback compares the monitored value with the best so far. A
    value counts as an improvement when it beats the best by more than `min_delta`. After
    `patience` epochs without one, the rate becomes `max(lr * factor, min_lr)`; then `cooldown`
    epochs pass before epochs without improvement are counted again. A rate already at `min_lr`
    is left alone. The rate of the epoch (before any reduction) is put in the logs under
    `learning_rate`.

    Args:
        monitor: The key of the epoch logs to monitor, e.g. `"val_loss"`.
        factor: What the rate is multiplied by, < 1.0.
        patience: Number of epochs without improvement after which the rate is reduced.
        verbose: 0: quiet; 1: print a message at each reduction.
        mode: `"min"` (lower is better), `"max"` (higher is better) or `"auto"`, which, as in
            Keras 3, minimizes the loss and maximizes the model's compiled accuracy, and raises
            ValueError for any other key. Any other mode warns and falls back to `"auto"`.
        min_delta: Smallest change of the monitored value that counts as an improvement.
        cooldown: Number of epochs after a reduction before epochs without improvement are
            counted again. As in Keras, the epoch that ends the cooldown counts already, so
            `cooldown=n` leaves n - 1 epochs that do not count (none for 1).
        min_lr: Lower bound of the learning rate.
        **kwargs: Only `epsilon`, tf.keras 2's name of `min_delta`, accepted with a warning.

    Raises:
        ValueError: If `factor >= 1.0` or a keyword argument is unknown; from `on_epoch_end`,
            if `mode="auto"` cannot tell the direction of `monitor`.

    Example:

    >>> reduce_lr = ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=1e-4)
    >>> model.fit(x, y, validation_split=0.2, callbacks=[reduce_lr])  # doctest: +SKIP
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
        **kwargs,
    ):
        super().__init__()
        if "epsilon" in kwargs:
            warnings.warn(
                "ReduceLROnPlateau: `epsilon` is the old name of `min_delta`; use `min_delta`.",
                DeprecationWarning,
                stacklevel=2,
            )
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise ValueError(
                f"ReduceLROnPlateau: arguments not recognized: {', '.join(kwargs)}. "
                f"Received: {', '.join(f'{k}={v!r}' for k, v in kwargs.items())}"
            )
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"ReduceLROnPlateau mode '{mode}' is unknown, fallback to auto mode.",
                stacklevel=2,
            )
            mode = "auto"
        if not (is_real(factor) and factor < 1.0):
            raise ValueError(
                "ReduceLROnPlateau does not support a factor >= 1.0 (it must be a number below "
                f"1.0). Received: factor={factor!r}"
            )
        if not (is_real(min_lr) and not math.isnan(min_lr)):
            raise ValueError(
                f"ReduceLROnPlateau: `min_lr` must be a number. Received: min_lr={min_lr!r}"
            )
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.cooldown = cooldown
        self.min_lr = min_lr
        # Settled at the first epoch end: "auto" asks the model which metrics it has.
        self.monitor_op = None
        self._reset()

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        # Reset, so that an instance can be reused across `fit` calls.
        self._reset()

    def in_cooldown(self):
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self.monitor_op = np.greater if self._direction() == "max" else np.less
        optimizer = _optimizer_of(self.model, "ReduceLROnPlateau")
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                f"available. Available metrics are: {','.join(logs)}.",
                stacklevel=2,
            )
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce(optimizer, epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0

    def _direction(self):
        if self.mode != "auto":
            return self.mode
        name = self.monitor[4:] if self.monitor.startswith("val_") else self.monitor
        if name == "loss":
            return "min"
        # A densekit model's only compiled metric is an accuracy, which Keras maximizes.
        if name == getattr(self.model, "_metric_key", None):
            return "max"
        raise ValueError(
            "ReduceLROnPlateau: with mode='auto', densekit cannot tell whether the monitored "
            "metric should be maximized or minimized (it knows the loss and the compiled "
            "accuracy). Pass `mode='max'` to keep the highest value, or `mode='min'` to keep "
            f"the lowest. Received: monitor={self.monitor!r}"
        )

    def _is_improvement(self, current):
        if self.best is None:
            return True
        delta = self.min_delta if self.monitor_op is np.greater else -self.min_delta
        return bool(self.monitor_op(current - delta, self.best))

    def _reduce(self, optimizer, epoch):
        """Multiplies the rate by `factor`, not below `min_lr`; False if it is at `min_lr`."""
        old_lr = float(optimizer.learning_rate)
        # The optimizer holds its rate in float32: compared with `min_lr` in float64, a rate
        # clamped to `min_lr` would look larger and be "reduced" again at every patience.
        if old_lr <= np.float32(self.min_lr):
            return False
        new_lr = max(old_lr * self.factor, self.min_lr)
        _set_learning_rate(optimizer, new_lr, "ReduceLROnPlateau")
        if self.verbose > 0:
            _print_msg(
                f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}."
            )
        return True
