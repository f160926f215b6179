"""Callback, the base class of callbacks, and CallbackList, which forwards every hook to a list.

Batch hooks and chunks. The C++ network can run many steps per call, so when no callback needs to
see every batch (`CallbackList.needs_batch_hooks()` is False) the loop runs an epoch in chunks and
reports once per chunk, like Keras with `steps_per_execution`: `on_train_batch_begin(first)`
before the chunk, `on_train_batch_end(last, logs)` after it, `batch` being the index of the
first / last step of the chunk and `logs` the running means of the epoch so far. A built-in hook
that is fine with that is marked `@_chunkable`; the base class's empty hooks are `@_default`. A
callback whose batch hooks matter for some settings only (ModelCheckpoint's `save_freq=n`)
says so in `_needs_batch_hooks`.
"""

import sys

import numpy as np

__all__ = ["Callback", "CallbackList"]

_BATCH_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}


def _default(method):
    """Marks a base-class hook, so that overrides can be detected."""
    method._is_default = True
    return method


def _chunkable(method):
    """Marks a batch hook that works as well when called once per chunk."""
    method._chunkable = True
    return method


def _needs_every_batch(method):
    return not (getattr(method, "_is_default", False) or getattr(method, "_chunkable", False))


def _print_msg(message):
    # `sys.stdout` is looked up at each call, so capture (pytest) works.
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def _pythonify(logs):
    """A fresh dict of `logs` with NumPy scalars turned into floats."""
    result = {}
    for key, value in (logs or {}).items():
        if isinstance(value, (int, float, np.number)) or (
            isinstance(value, np.ndarray) and value.ndim == 0
        ):
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

    def _needs_batch_hooks(self, mode):
        """Whether this callback must see every batch of `mode` (see `CallbackList`).

        By default, when it overrides a batch hook of `mode` with one not marked as fine with
        chunked reports. A callback whose batch hooks act only for some settings (a checkpoint
        every n batches) overrides this instead, so that its other settings keep `fit` in one
        C++ call per epoch.
        """
        return any(_needs_every_batch(getattr(self, name)) for name in _BATCH_HOOKS[mode])

    def _see_callbacks(self, callbacks):
        """Told, by the `CallbackList` of a `fit`, the callbacks it runs with (none by default
        care: TensorBoard writes a GradientMonitor's figures)."""

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


# Every hook of Callback, in the order of the class.
_HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


def _forward_to_each(name):
    """CallbackList's `name`: the logs with NumPy scalars made floats, then each callback's `name`.

    As in Keras, batch hooks get `logs` by keyword and epoch and begin/end hooks by position.
    """
    if "batch" in name:

        def hook(self, batch, logs=None):
            logs = _pythonify(logs)
            for callback in self.callbacks:
                getattr(callback, name)(batch, logs=logs)
    elif "epoch" in name:

        def hook(self, epoch, logs=None):
            logs = _pythonify(logs)
            for callback in self.callbacks:
                getattr(callback, name)(epoch, logs)
    else:

        def hook(self, logs=None):
            logs = _pythonify(logs)
            for callback in self.callbacks:
                getattr(callback, name)(logs)

    hook.__name__ = name
    hook.__qualname__ = f"CallbackList.{name}"
    hook.__doc__ = f"Calls `{name}` of every callback."
    return hook


class CallbackList(Callback):
    """Calls every hook on a list of callbacks.

    Args:
        callbacks: List of `Callback` instances.
        add_history: Whether to add a `History` if the list has none.
        add_progbar: Whether to add a `ProgbarLogger` if the list has none.
        model: The model the callbacks are used with.
        **params: Passed to each callback with `set_params`
            (`verbose`, `epochs`, `steps`).

    Each hook of `Callback` is forwarded to every callback in the list, in order.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        # Imported here: history.py subclasses Callback from this module.
        from densekit.callbacks.history import History, ProgbarLogger

        super().__init__()
        self.callbacks = list(callbacks) if callbacks else []
        self._history = next((c for c in self.callbacks if isinstance(c, History)), None)
        self._progbar = next((c for c in self.callbacks if isinstance(c, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            # Last, as in Keras 3: an epoch's line then shows what the other callbacks put in
            # its logs (the learning rate of LearningRateScheduler and ReduceLROnPlateau).
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        for callback in self.callbacks:
            callback._see_callbacks(self.callbacks)
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
        return any(callback._needs_batch_hooks(mode) for callback in self.callbacks)


# The hooks, generated rather than written out one by one: they differ only in their name.
for _name in _HOOKS:
    setattr(CallbackList, _name, _forward_to_each(_name))
del _name
