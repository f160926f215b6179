"""Callbacks mirroring `keras.callbacks` (Keras 3 behaviour, tf.keras 2 output).

A callback hooks into `fit`, `evaluate` and `predict`. The training loop talks
to a `CallbackList`, which forwards every hook to its callbacks.

Batch hooks and chunks. The C++ network can run many steps per call, so when
no callback needs to see every batch (`CallbackList.needs_batch_hooks()` is
False) the loop runs an epoch in chunks and reports once per chunk, like Keras
with `steps_per_execution`: `on_train_batch_begin(first)` before the chunk,
`on_train_batch_end(last, logs)` after it, `batch` being the index of the
first / last step of the chunk and `logs` the running means of the epoch so
far. `ProgbarLogger` and `TerminateOnNaN` are written for that.

Example:

>>> stopper = EarlyStopping(monitor="loss", patience=3)
>>> history = model.fit(x, y, epochs=100, callbacks=[stopper])  # doctest: +SKIP
"""

import sys
import warnings

import numpy as np

from ._progbar import Progbar

__all__ = [
    "Callback", "CallbackList", "History", "ProgbarLogger", "EarlyStopping",
    "TerminateOnNaN", "LambdaCallback", "GradientMonitor",
]

_BATCH_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end",
              "on_batch_begin", "on_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}
# Substrings of metric names that `mode="auto"` maximizes (after "val_").
_MAXIMIZED = ("acc", "auc", "precision", "recall", "f1", "iou")


def _default(method):
    """Marks a base-class hook, so that overrides can be detected."""
    method._is_default = True
    return method


def _chunkable(method):
    """Marks a batch hook that works as well when called once per chunk."""
    method._chunkable = True
    return method


def _needs_every_batch(method):
    return not (getattr(method, "_is_default", False)
                or getattr(method, "_chunkable", False))


def _print_msg(message):
    # `sys.stdout` is looked up at each call, so capture (pytest) works.
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _pythonify(logs):
    """A fresh dict of `logs` with NumPy scalars turned into floats."""
    result = {}
    for key, value in (logs or {}).items():
        if isinstance(value, (int, float, np.number)) or (
                isinstance(value, np.ndarray) and value.ndim == 0):
            value = float(value)
        result[key] = value
    return result


class Callback:
    """Base class of callbacks; override the hooks you need.

    Attributes:
        params: Dict of training parameters (`verbose`, `epochs`, `steps`).
        model: The model being trained, evaluated or used for prediction.

    The `logs` of a batch-end hook hold the running means of the epoch so
    far; those of `on_epoch_end` hold the epoch's metrics, validation ones
    prefixed with `val_`.
    """

    model = None
    params = None

    def __init__(self):
        self.params = None
        self.model = None

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    @_default
    def on_batch_begin(self, batch, logs=None):
        """A backwards compatibility alias for `on_train_batch_begin`."""

    @_default
    def on_batch_end(self, batch, logs=None):
        """A backwards compatibility alias for `on_train_batch_end`."""

    @_default
    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of an epoch (`epoch` counts from 0)."""

    @_default
    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of an epoch with the epoch's metrics."""

    @_default
    def on_train_batch_begin(self, batch, logs=None):
        """Called before a training batch (or chunk of batches)."""
        self.on_batch_begin(batch, logs=logs)

    @_default
    def on_train_batch_end(self, batch, logs=None):
        """Called after a training batch with the running epoch means."""
        self.on_batch_end(batch, logs=logs)

    @_default
    def on_test_batch_begin(self, batch, logs=None):
        """Called before a batch of `evaluate` or of validation."""

    @_default
    def on_test_batch_end(self, batch, logs=None):
        """Called after a batch of `evaluate` or of validation."""

    @_default
    def on_predict_batch_begin(self, batch, logs=None):
        """Called before a batch of `predict`."""

    @_default
    def on_predict_batch_end(self, batch, logs=None):
        """Called after a batch of `predict`."""

    @_default
    def on_train_begin(self, logs=None):
        """Called at the beginning of training."""

    @_default
    def on_train_end(self, logs=None):
        """Called at the end of training with the last epoch's logs."""

    @_default
    def on_test_begin(self, logs=None):
        """Called at the beginning of evaluation or validation."""

    @_default
    def on_test_end(self, logs=None):
        """Called at the end of evaluation or validation."""

    @_default
    def on_predict_begin(self, logs=None):
        """Called at the beginning of prediction."""

    @_default
    def on_predict_end(self, logs=None):
        """Called at the end of prediction."""


class CallbackList(Callback):
    """Calls every hook on a list of callbacks.

    Args:
        callbacks: List of `Callback` instances.
        add_history: Whether to add a `History` if the list has none.
        add_progbar: Whether to add a `ProgbarLogger` if the list has none.
        model: The model the callbacks are used with.
        **params: Passed to each callback with `set_params`
            (`verbose`, `epochs`, `steps`).
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False,
                 model=None, **params):
        super().__init__()
        self.callbacks = list(callbacks) if callbacks else []
        self._history = next(
            (c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next(
            (c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._progbar is None and add_progbar:
            # First, as in tf.keras 2: the bar ends its line before other
            # callbacks print at the end of an epoch.
            self._progbar = ProgbarLogger()
            self.callbacks.insert(0, self._progbar)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        self.set_model(model)
        self.set_params(params)

    def append(self, callback):
        self.callbacks.append(callback)

    def __iter__(self):
        return iter(self.callbacks)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        self.model = model
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def needs_batch_hooks(self, mode="train"):
        """Whether a callback must see every batch of `mode`.

        True when some callback overrides a batch hook of `mode` (`"train"`,
        `"test"` or `"predict"`) with one that is not marked as fine with
        chunked reports (those of `ProgbarLogger` and `TerminateOnNaN`);
        otherwise the loop may run many steps per call and report per chunk.
        """
        return any(_needs_every_batch(getattr(callback, name))
                   for callback in self.callbacks
                   for name in _BATCH_HOOKS[mode])

    def on_batch_begin(self, batch, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_batch_begin(batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_batch_end(batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_train_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_train_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_test_batch_begin(batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_test_batch_end(batch, logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_predict_batch_begin(batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_predict_batch_end(batch, logs=logs)

    def on_train_begin(self, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_test_begin(self, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_test_begin(logs)

    def on_test_end(self, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_test_end(logs)

    def on_predict_begin(self, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_predict_begin(logs)

    def on_predict_end(self, logs=None):
        logs = _pythonify(logs)
        for callback in self.callbacks:
            callback.on_predict_end(logs)


class History(Callback):
    """Records the epoch logs; `fit` returns it and sets `model.history`.

    Attributes:
        history: Dict mapping each log key to its list of per-epoch values.
        epoch: List of the epoch indices seen.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        # Set after each epoch so the model holds the latest state.
        self.model.history = self


class ProgbarLogger(Callback):
    """Prints `Epoch i/n` and a progress bar with the metrics to stdout.

    Uses `params["verbose"]` (1: bar, 2: one line per epoch), `epochs` and
    `steps` (None: learned at the end of the first epoch). Batch reports may
    come once per chunk, with the batch index jumping.
    """

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        # Validation inside `fit` is silent.
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        if self.verbose and self.epochs > 1:
            _print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    @_chunkable
    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    @_chunkable
    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    @_chunkable
    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)  # Not the predictions.

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = Progbar(self.target, verbose=self.verbose)

    def _update_progbar(self, batch, logs):
        if self.progbar is None:
            self._reset_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            logs = logs or {}
            # The model's logs are already means: show them as given.
            self.progbar.stateful_metrics.update(logs)
            self.progbar.update(self.seen, list(logs.items()), finalize=False)

    def _finalize_progbar(self, logs):
        logs = logs or {}
        if self.progbar is None:
            self._reset_progbar()
        if self.target is None:
            self.target = self.progbar.target = self.seen
        self.progbar.stateful_metrics.update(logs)
        self.progbar.update(self.target, list(logs.items()), finalize=True)


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

    def __init__(self, monitor="val_loss", min_delta=0, patience=0,
                 verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"EarlyStopping mode '{mode}' is unknown, "
                          "fallback to auto mode.", stacklevel=2)
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
            if self.baseline is None or self._is_improvement(
                    current, self.baseline):
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
                _print_msg("Restoring model weights from the end of the "
                           f"best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` "
                "which is not available. "
                f"Available metrics are: {','.join(logs.keys())}",
                stacklevel=2)
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
                    f"Loss value: {loss}. Terminating training immediately.")
            _print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback built from plain functions.

    `on_epoch_begin`/`on_epoch_end` are called as `f(epoch, logs)`,
    `on_train_begin`/`on_train_end` as `f(logs)` and the batch hooks as
    `f(batch, logs=logs)`. Any other hook is given by keyword, e.g.
    `LambdaCallback(on_test_end=f)`.

    Args:
        on_epoch_begin: Called at the beginning of every epoch.
        on_epoch_end: Called at the end of every epoch.
        on_train_begin: Called at the beginning of training.
        on_train_end: Called at the end of training.
        on_train_batch_begin: Called at the beginning of every train batch.
        on_train_batch_end: Called at the end of every train batch.
        **kwargs: Any other hook of `Callback`, by name.

    Example:

    >>> log = []
    >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: log.append(epoch))
    """

    def __init__(self, on_epoch_begin=None, on_epoch_end=None,
                 on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None,
                 **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = {"on_epoch_begin": on_epoch_begin,
                 "on_epoch_end": on_epoch_end,
                 "on_train_begin": on_train_begin,
                 "on_train_end": on_train_end,
                 "on_train_batch_begin": on_train_batch_begin,
                 "on_train_batch_end": on_train_batch_end}
        for name, function in hooks.items():
            if function is not None:
                setattr(self, name, function)


class GradientMonitor(Callback):
    """Records per-layer gradient figures during `fit` and warns when gradients vanish or explode.

    Every `every` training steps, the C++ training step records, before its update, the figures
    of `densekit.diagnostics` for each layer that computes something (bottom first): the L2 norms
    of the weight gradients and of the gradient flowing into the layer, the mean and standard
    deviation of its outputs, the fractions of saturated and of dead units. The epoch still runs in
    one C++ call: this callback only uses epoch hooks.

    At the end of each epoch the records go to `records`, the epoch's median bottom/top
    weight-gradient ratio (`diagnostics.grad_norm_ratio`) goes into the logs (and so the History)
    as `grad_norm_ratio`, and a `diagnostics.GradientWarning` in plain words names the layer when
    gradients vanish (the lowest layer's norm below `vanishing_ratio` times the top layer's),
    explode (growing `exploding_growth` times within an epoch) or become NaN/Inf; each kind is
    warned at most once per `fit`.

    Args:
        every: record one training step out of `every` (those whose count of steps done by the
            model is a multiple of it). Recording costs about a third of a step of a 20-layer
            network of 100 units at batch 32, so every=1 slows `fit` by ~30% and the default 20
            by ~2%.
        warn: False keeps the messages in `messages` without calling `warnings.warn`.
        vanishing_ratio: bottom/top ratio below which gradients count as vanishing.
        exploding_growth: growth within an epoch that counts as exploding.

    Attributes:
        records: one dict per recorded step: `{"epoch", "step", "batch", "layers"}`, `step` being
            the model's count of training steps before that one, `batch` its index in the epoch
            and `layers` the per-layer dicts of `diagnostics.gradient_flow`.
        messages: the (kind, message) pairs found, kind in "vanishing", "exploding", "nonfinite".

    Example:

    >>> monitor = GradientMonitor(every=10)
    >>> history = model.fit(x, y, epochs=5, callbacks=[monitor])  # doctest: +SKIP
    >>> history.history["grad_norm_ratio"]                        # doctest: +SKIP
    """

    def __init__(self, every=20, warn=True, vanishing_ratio=1e-3, exploding_growth=100.0):
        super().__init__()
        if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
            raise ValueError(f"GradientMonitor: every must be a positive integer. "
                             f"Received: every={every!r}")
        self.every = int(every)
        self.warn = warn
        self.vanishing_ratio = vanishing_ratio
        self.exploding_growth = exploding_growth
        self.records = []
        self.messages = []
        self._epoch = 0
        self._epoch_first_step = 0

    def on_train_begin(self, logs=None):
        network = self.model._network
        network.take_monitor_records()  # left over by a fit that raised
        network.set_monitor_every(self.every)
        self.records = []
        self.messages = []

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_first_step = self.model._network.steps_done

    def on_epoch_end(self, epoch, logs=None):
        from densekit import diagnostics

        new = self._take()
        ratios = [diagnostics.grad_norm_ratio(r["layers"]) for r in new]
        ratios = [r for r in ratios if r is not None]
        if ratios and logs is not None:
            logs["grad_norm_ratio"] = float(np.median(ratios))
        # fit found a non-finite step, which the monitor may not have recorded.
        stopped = getattr(self.model.history, "stopped_on_nonfinite", None)
        nonfinite_at = None
        if stopped and stopped.get("epoch") == epoch:
            nonfinite_at = (epoch, self._epoch_first_step + stopped["step"])
        seen = {kind for kind, _ in self.messages}
        for kind, message in diagnostics.gradient_problems(new, self.vanishing_ratio,
                                                           self.exploding_growth, nonfinite_at):
            if kind in seen:
                continue
            self.messages.append((kind, message))
            if self.warn:
                warnings.warn(message, diagnostics.GradientWarning, stacklevel=2)

    def on_train_end(self, logs=None):
        self._take()  # records of an epoch cut short without on_epoch_end, if any
        self.model._network.set_monitor_every(0)

    def _take(self):
        from densekit import diagnostics

        described = diagnostics._describe_layers(self.model)
        new = [{"epoch": self._epoch, "step": int(record.step),
                "batch": int(record.step) - self._epoch_first_step,
                "layers": diagnostics._layer_dicts(self.model, record.layers, described)}
               for record in self.model._network.take_monitor_records()]
        self.records.extend(new)
        return new


def __dir__():
    return __all__
