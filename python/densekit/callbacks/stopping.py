"""Callbacks that stop training: EarlyStopping (no more improvement) and TerminateOnNaN."""

import warnings

import numpy as np

from densekit.callbacks.base import Callback, _chunkable, _print_msg

__all__ = ["EarlyStopping", "TerminateOnNaN"]

# Substrings of metric names that `mode="auto"` maximizes (after "val_").
_MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "iou")


class EarlyStopping(Callback):
    """Stops training when a monitored metric has stopped improving.

    Args:
        monitor: Quantity to monitor, a key of the epoch logs.
        min_delta: Smallest change that counts as an improvement.
        patience: Number of epochs without improvement after which training
            stops.
        verbose: 1 prints a message when the callback acts.
        mode: `"min"`, `"max"` or `"auto"`, which maximizes names with
            `acc`, `auc`, `precision`, `recall`, `f1` or `iou` in them and
            minimizes the others.
        baseline: Value the metric must beat; until it does, `wait` keeps
            counting even when the metric improves.
        restore_best_weights: Whether to load, at the end of training, the
            weights of the epoch with the best value.
        start_from_epoch: Number of warm-up epochs not monitored.

    Example:

    >>> callback = EarlyStopping(monitor="loss", patience=3)
    >>> # Stops after three epochs without a lower loss.
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"EarlyStopping mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2
            )
            mode = "auto"
        if mode == "auto":
            name = monitor[4:] if monitor.startswith("val_") else monitor
            mode = "max" if any(s in name for s in _MAXIMIZED) else "min"
        self.monitor = monitor
        self.mode = mode
        self.monitor_op = np.greater if mode == "max" else np.less
        # Signed as in Keras: `current - min_delta` must beat the best.
        self.min_delta = abs(min_delta) if mode == "max" else -abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def on_train_begin(self, logs=None):
        # Reset, so that an instance can be reused across `fit` calls.
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            # Until something improves, the current weights are the best.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            # Restart the wait only when the baseline is beaten too.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _print_msg(
                    "Restoring model weights from the end of the "
                    f"best epoch: {self.best_epoch + 1}."
                )
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` "
                "which is not available. "
                f"Available metrics are: {','.join(logs.keys())}",
                stacklevel=2,
            )
        return value

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        return bool(self.monitor_op(value - self.min_delta, reference))


class TerminateOnNaN(Callback):
    """Stops training when the loss becomes NaN or infinite.

    Args:
        raise_error: If True, raise `RuntimeError` at once instead of
            setting `model.stop_training` (then `on_train_end` is skipped).
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    # The batch `loss` is a running mean of the epoch: once a step gives
    # NaN it stays NaN, so checking once per chunk finds it.
    @_chunkable
    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. "
                    f"Loss value: {loss}. Terminating training immediately."
                )
            _print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True
