"""ModelCheckpoint: saves the model or its weights during `fit`, every epoch or every n batches."""

import os
import warnings

import numpy as np

from densekit.callbacks._batch_count import BatchesSinceSave
from densekit.callbacks.base import Callback, _print_msg

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(Callback):
    """Saves the model (`.keras`) or its weights (`.weights.h5`) during training, as Keras 3's.

    Every write is atomic (`Sequential.save` and `save_weights` write a temporary file in the
    same directory and rename it over the target), so a crash or a failing write leaves the
    previous checkpoint whole.

    Args:
        filepath: where to save; a template filled with `epoch` (counted from 1) and the epoch
            logs, e.g. `"ckpt/{epoch:02d}-{val_loss:.2f}.keras"` (and `batch`, from 1, when
            saving every n batches). It must end in `.keras`, or in `.weights.h5` with
            `save_weights_only=True`.
        monitor: the log key that `save_best_only` compares.
        verbose: 1 prints a line for each save (and each epoch without one).
        save_best_only: save only when `monitor` improves on the best value so far.
        save_weights_only: save the weights (and optimizer state) instead of the whole model.
        mode: `"min"`, `"max"` or `"auto"` (`loss` is minimized, accuracies maximized; other
            keys need an explicit mode).
        save_freq: `"epoch"`, or an int: save after every that many training batches (then
            `fit` runs one C++ call per batch). With `"epoch"` the epoch stays one C++ call.
        initial_value_threshold: the best value to beat at first, for `save_best_only`.
        period: tf.keras 2's spelling, save every `period` epochs (with `save_freq="epoch"`).

    Example:

    >>> checkpoint = ModelCheckpoint("best.keras", save_best_only=True)
    >>> model.fit(x, y, validation_split=0.1, epochs=20, callbacks=[checkpoint])  # doctest: +SKIP
    """

    def __init__(
        self,
        filepath,
        monitor="val_loss",
        verbose=0,
        save_best_only=False,
        save_weights_only=False,
        mode="auto",
        save_freq="epoch",
        initial_value_threshold=None,
        period=None,
    ):
        super().__init__()
        self.filepath = _path(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        if save_freq != "epoch" and (
            isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer))
        ):
            raise ValueError(
                f"ModelCheckpoint: save_freq must be 'epoch' or an integer number of batches. "
                f"Received: save_freq={save_freq!r}"
            )
        if save_freq != "epoch" and save_freq < 1:
            raise ValueError(
                f"ModelCheckpoint: save_freq must be 'epoch' or a positive integer. "
                f"Received: save_freq={save_freq}"
            )
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        if period is not None:
            if isinstance(period, bool) or not isinstance(period, (int, np.integer)) or period < 1:
                raise ValueError(
                    f"ModelCheckpoint: period must be a positive integer number of epochs. "
                    f"Received: period={period!r}"
                )
            if self.save_freq != "epoch":
                raise ValueError(
                    f"ModelCheckpoint: period counts epochs and goes with save_freq='epoch'. "
                    f"Received: period={period}, save_freq={save_freq}"
                )
        self.period = int(period or 1)
        _check_extension(self.filepath, save_weights_only)
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"ModelCheckpoint mode '{mode}' is unknown, fallback to auto mode.", stacklevel=2
            )
            mode = "auto"
        self.mode = mode
        self.best = initial_value_threshold
        self.monitor_op = None
        self._epochs_since_last_save = 0
        self._batches = BatchesSinceSave(self.save_freq)
        self._current_epoch = 0

    def _needs_batch_hooks(self, mode):
        return mode == "train" and self.save_freq != "epoch"

    def on_train_begin(self, logs=None):
        self._epochs_since_last_save = 0
        self._batches.reset()

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self.monitor_op = self._direction()
        self._epochs_since_last_save += 1
        if self.save_freq == "epoch" and self._epochs_since_last_save >= self.period:
            self._epochs_since_last_save = 0
            self._save_model(epoch, None, logs)

    def _direction(self):
        """np.less or np.greater, as Keras 3 settles `mode="auto"`: loss down, accuracy up."""
        if self.mode != "auto":
            return np.less if self.mode == "min" else np.greater
        name = self.monitor[4:] if self.monitor.startswith("val_") else self.monitor
        if name == "loss":
            return np.less
        if name == getattr(self.model, "_metric_key", None) or name.endswith("accuracy"):
            return np.greater
        raise ValueError(
            f"ModelCheckpoint callback received monitor={self.monitor}, but cannot tell whether "
            f"that metric should be maximized or minimized. Pass mode='max' to keep the highest "
            f"value, or mode='min' to keep the lowest."
        )

    def _should_save_on_batch(self, batch):
        return self.save_freq != "epoch" and self._batches.due(batch)

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                _print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
            return True
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=3)
            return True
        if self.monitor_op is None:  # a batch save before the first epoch's end
            self.monitor_op = self._direction()
        best = "None" if self.best is None else f"{self.best:.5f}"
        if self.best is None or bool(self.monitor_op(current, self.best)):
            if self.verbose > 0:
                _print_msg(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                    f"{current:.5f}, saving model to {filepath}"
                )
            self.best = current
            return True
        if self.verbose > 0:
            _print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best}")
        return False

    def _save_model(self, epoch, batch, logs):
        logs = logs or {}
        filepath = self._get_file_path(epoch, batch, logs)
        if not self._should_save(epoch, logs, filepath):
            return
        if os.path.isdir(filepath):
            raise IsADirectoryError(
                f"ModelCheckpoint: filepath must name a file, not an existing directory. "
                f"Received: filepath={filepath}"
            )
        directory = os.path.dirname(filepath)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)

    def _get_file_path(self, epoch, batch, logs):
        """`filepath` filled with the epoch (from 1), the batch (from 1) and the logs."""
        fields = dict(logs)
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in logs:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError, ValueError) as e:
            raise KeyError(
                f'ModelCheckpoint: failed to format the filepath "{self.filepath}" ({e!r}); '
                f"the fields available are {', '.join(sorted(fields))}"
            ) from e


def _path(filepath):
    try:
        return os.fspath(filepath)
    except TypeError:
        raise TypeError(
            f"ModelCheckpoint: filepath must be a str or a path. Received: filepath={filepath!r}"
        ) from None


def _check_extension(filepath, save_weights_only):
    if save_weights_only:
        if not filepath.endswith(".weights.h5"):
            raise ValueError(
                "ModelCheckpoint: when using `save_weights_only=True`, the filepath must end in "
                f"`.weights.h5` (Keras weights format). Received: filepath={filepath}"
            )
    elif filepath.endswith(".h5"):
        raise NotImplementedError(
            "ModelCheckpoint: the legacy HDF5 model format (a filepath ending in `.h5`) is not "
            f"implemented; use `.keras`. Received: filepath={filepath}"
        )
    elif not filepath.endswith(".keras"):
        raise ValueError(
            "ModelCheckpoint: the filepath must end in `.keras` (Keras model format). "
            f"Received: filepath={filepath}"
        )
