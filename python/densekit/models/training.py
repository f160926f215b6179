"""compile / fit / evaluate / predict for Sequential, driving the C++ network.

The hot loop is in C++: `fit` hands each epoch to `Network.train_epoch` (batches gathered by
index, one training step per batch, the GIL released) and only wakes Python every few hundred
milliseconds to draw the progress bar. When a user callback must see every batch, it falls back
to one C++ call per batch.
"""

import numpy as np

from densekit import _arrays, _core, callbacks as callbacks_module, losses, optimizers
from densekit import metrics as metrics_module

__all__ = ["Trainer"]

_PROGRESS_SECONDS = 0.2
_ACCURACY_KINDS = {None: _core.AccuracyKind.none,
                   "binary_accuracy": _core.AccuracyKind.binary,
                   "sparse_categorical_accuracy": _core.AccuracyKind.sparse_categorical,
                   "categorical_accuracy": _core.AccuracyKind.categorical}


class Trainer:
    """The training half of a model (mixed into Sequential)."""

    # -- compile ----------------------------------------------------------------------------
    def compile(self, optimizer="sgd", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1, jit_compile="auto",
                auto_scale_loss=True):
        """Sets the optimizer, the loss and the metrics (at most one accuracy)."""
        if loss is None:
            raise ValueError(f"Sequential '{self.name}': compile needs a loss. Received: loss=None")
        if loss_weights is not None or weighted_metrics is not None:
            raise ValueError("compile: loss_weights and weighted_metrics are not supported")
        resolved_loss = losses.get(loss)
        self._compiled = {
            "optimizer": optimizers.get(optimizer),
            "loss": resolved_loss,
            "metric": metrics_module.resolve(metrics),  # (history key, accuracy name) or None
            "accuracy": None,  # the accuracy name, once the data's shapes are known
            "loss_arg": loss,
            "metrics_arg": metrics,
        }
        if self.built:
            self._compile_network()

    def _compile_network(self):
        compiled = self._compiled
        self._network.compile(losses.spec_of(compiled["loss"]), compiled["optimizer"]._sgd,
                              _ACCURACY_KINDS[compiled["accuracy"]])

    @property
    def _metric_key(self):
        metric = self._compiled["metric"]
        return metric[0] if metric else None

    def _resolve_accuracy(self, y, where):
        """Picks the accuracy for these targets (once, as Keras) and checks that they fit it."""
        metric = self._compiled["metric"]
        if metric is None:
            return
        units = self._network.output_units
        name = metric[1]
        if name == "auto":
            name = metrics_module.accuracy_for_shapes(np.shape(y), units)
        wants_labels = name == "sparse_categorical_accuracy"
        has_labels = np.ndim(y) < 2 or np.shape(y)[-1] == 1
        if wants_labels != has_labels and units > 1:
            raise ValueError(f"{where}: {name} needs {'integer labels' if wants_labels else 'one-hot targets'}; "
                             f"y has shape {np.shape(y)}")
        if name != self._compiled["accuracy"]:
            self._compiled["accuracy"] = name
            self._compile_network()

    @property
    def optimizer(self):
        return self._compiled["optimizer"] if self._compiled else None

    @property
    def loss(self):
        return self._compiled["loss_arg"] if self._compiled else None

    def _require_compiled(self, what):
        if self._compiled is None:
            raise ValueError(f"Sequential '{self.name}': you must call compile() before {what}")

    # -- data -------------------------------------------------------------------------------
    def _prepare_x(self, x, where, allow_nonfinite=False):
        if x is None:
            raise ValueError(f"{where}: x is required")
        array = np.asarray(x) if not isinstance(x, np.ndarray) else x
        if not self.built:
            if array.ndim < 2:
                raise ValueError(f"{where}: x must have shape (samples, features...); got {array.shape}")
            self.build((None,) + array.shape[1:])
        if array.ndim >= 1 and tuple(array.shape[1:]) != tuple(self._input_shape[1:]) \
                and int(np.prod(array.shape[1:])) != self._network.input_units:
            raise ValueError(f"{where}: x has sample shape {array.shape[1:]} but the model expects "
                             f"{self._input_shape[1:]}")
        matrix = _arrays.as_float_matrix(array, where, "x", features=self._network.input_units)
        if not allow_nonfinite:
            _arrays.check_finite(matrix, where, "x")
        return matrix

    def _prepare_y(self, y, rows, where, allow_nonfinite=False):
        if y is None:
            raise ValueError(f"{where}: y is required")
        loss = self._compiled["loss"]
        units = self._network.output_units
        array = np.asarray(y)
        if array.ndim == 0 or array.shape[0] != rows:
            raise ValueError(f"{where}: x and y must have the same number of samples; x has {rows}, "
                             f"y has {array.shape[0] if array.ndim else 'no batch axis'}")
        if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) \
                or np.iscomplexobj(array):
            raise ValueError(f"{where}: y must be a real numeric array; got dtype {array.dtype}")
        if loss._kernel_name == "sparse_categorical_crossentropy":
            labels = _sparse_labels(array, units, where)
            self._resolve_accuracy(array, where)
            return labels
        target = np.ascontiguousarray(array.reshape(rows, -1), dtype=np.float32)
        if target.shape[1] != units:
            raise ValueError(f"{where}: y has {target.shape[1]} values per sample (shape {array.shape}) "
                             f"but the model outputs {units} (loss {loss._kernel_name})")
        if not allow_nonfinite:
            _arrays.check_finite(target, where, "y")
        self._resolve_accuracy(array, where)
        return target

    # -- fit --------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, seed=None, allow_nonfinite=False):
        """Trains for `epochs` epochs; returns a History whose `.history` has per-epoch logs.

        A step whose loss or gradient is not finite is not applied: training stops there, the
        weights stay at the last finite state, and `history.stopped_on_nonfinite` says where.
        """
        self._require_compiled("fit")
        if class_weight is not None or sample_weight is not None:
            raise ValueError("fit: class_weight and sample_weight are not supported")
        batch_size = _positive_int(32 if batch_size is None else batch_size, "fit", "batch_size")
        epochs = _non_negative_int(epochs, "fit", "epochs")
        initial_epoch = _non_negative_int(initial_epoch, "fit", "initial_epoch")
        verbose = _verbose(verbose)
        if not 0 <= validation_split < 1:
            raise ValueError(f"fit: validation_split must be in [0, 1). Received: validation_split={validation_split!r}")
        x_all = self._prepare_x(x, "fit", allow_nonfinite)
        y_all = self._prepare_y(y, x_all.shape[0], "fit", allow_nonfinite)
        x_train, y_train, x_val, y_val = x_all, y_all, None, None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("fit: validation_data must be a tuple (x_val, y_val)")
            x_val = self._prepare_x(validation_data[0], "fit (validation_data)", allow_nonfinite)
            y_val = self._prepare_y(validation_data[1], x_val.shape[0], "fit (validation_data)", allow_nonfinite)
        elif validation_split:
            split = int(x_all.shape[0] * (1 - validation_split))  # the last samples, as Keras
            if split == 0 or split == x_all.shape[0]:
                raise ValueError(f"fit: validation_split={validation_split} leaves no training or "
                                 f"no validation samples out of {x_all.shape[0]}")
            x_train, y_train, x_val, y_val = x_all[:split], y_all[:split], x_all[split:], y_all[split:]
        samples = x_train.shape[0]
        steps = -(-samples // batch_size)
        rng = np.random.default_rng(seed)
        key = self._metric_key
        cbs = callbacks_module.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                            model=self, verbose=verbose, epochs=epochs, steps=steps)
        per_batch = cbs.needs_batch_hooks("train")
        self.stop_training = False
        cbs.on_train_begin()
        epoch_logs = {}
        history = self.history
        history.stopped_on_nonfinite = None
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            order = rng.permutation(samples) if shuffle else np.arange(samples)
            if per_batch:
                totals = self._epoch_per_batch(x_train, y_train, order, batch_size, cbs, key)
            else:
                totals = self._epoch_in_core(x_train, y_train, order, batch_size, cbs, key)
            epoch_logs = _logs(totals, key)
            if not totals.finite:
                history.stopped_on_nonfinite = {"epoch": epoch, "step": totals.steps}
                self.stop_training = True
                if verbose:
                    print(f"Epoch {epoch + 1}, step {totals.steps + 1}: the loss or a gradient became "
                          f"NaN or Inf; that update was not applied and training stopped. Lower "
                          f"the learning rate or clip the gradients (clipnorm=1.0).")
            if x_val is not None and totals.finite:
                val = self._network.evaluate(x_val, y_val, validation_batch_size or batch_size)
                epoch_logs.update({f"val_{k}": v for k, v in _logs(val, key).items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        cbs.on_train_end(epoch_logs)
        return self.history

    def _epoch_in_core(self, x, y, order, batch_size, cbs, key):
        def progress(totals):
            cbs.on_train_batch_end(totals.steps - 1, _logs(totals, key))
            return not self.stop_training

        totals = self._network.train_epoch(x, y, order, batch_size, progress, _PROGRESS_SECONDS)
        if totals.steps:
            cbs.on_train_batch_end(totals.steps - 1, _logs(totals, key))
        return totals

    def _epoch_per_batch(self, x, y, order, batch_size, cbs, key):
        summed = _Totals()
        for step, start in enumerate(range(0, len(order), batch_size)):
            cbs.on_train_batch_begin(step)
            rows = order[start:start + batch_size]
            result = self._network.train_step(x[rows], y[rows])
            if not result.finite:
                summed.finite = False
                break
            summed.add(result)
            cbs.on_train_batch_end(step, _logs(summed, key))
            if self.stop_training:
                break
        return summed

    # -- evaluate / predict -----------------------------------------------------------------
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", callbacks=None,
                 return_dict=False, allow_nonfinite=False, **kwargs):
        """Loss (and accuracy) in inference mode: a float, or [loss, accuracy]."""
        self._require_compiled("evaluate")
        batch_size = _positive_int(32 if batch_size is None else batch_size, "evaluate", "batch_size")
        xm = self._prepare_x(x, "evaluate", allow_nonfinite)
        ym = self._prepare_y(y, xm.shape[0], "evaluate", allow_nonfinite)
        key = self._metric_key
        verbose = _verbose(verbose)
        cbs = callbacks_module.CallbackList(callbacks, add_progbar=verbose != 0, model=self,
                                            verbose=verbose, epochs=1, steps=-(-xm.shape[0] // batch_size))
        cbs.on_test_begin()
        logs = _logs(self._network.evaluate(xm, ym, batch_size), key)
        cbs.on_test_end(logs)
        if return_dict:
            return logs
        return list(logs.values()) if len(logs) > 1 else logs["loss"]

    def predict(self, x, batch_size=None, verbose="auto", callbacks=None, steps=None):
        """Outputs for `x` in inference mode, computed in batches of `batch_size` (default 32)."""
        batch_size = _positive_int(32 if batch_size is None else batch_size, "predict", "batch_size")
        return self._run(x, batch_size=batch_size, training=False)

    def _run(self, x, batch_size, training):
        if not self.built and np.ndim(x) < 2:
            raise ValueError(f"Sequential '{self.name}': predict needs a built model or x of shape "
                             f"(samples, features...); got {np.shape(x)}")
        matrix = self._prepare_x(x, "predict", allow_nonfinite=True)
        out = self._network.predict(matrix, batch_size or max(1, matrix.shape[0]), training)
        return out.reshape((matrix.shape[0],) + tuple(self.output_shape[1:]))

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; returns the loss (and accuracy)."""
        self._require_compiled("train_on_batch")
        xm = self._prepare_x(x, "train_on_batch")
        result = self._network.train_step(xm, self._prepare_y(y, xm.shape[0], "train_on_batch"))
        logs = _logs(result, self._metric_key)
        if return_dict:
            return logs
        return list(logs.values()) if len(logs) > 1 else logs["loss"]

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss (and accuracy) on one batch in inference mode."""
        self._require_compiled("test_on_batch")
        xm = self._prepare_x(x, "test_on_batch")
        result = self._network.evaluate(xm, self._prepare_y(y, xm.shape[0], "test_on_batch"), xm.shape[0])
        logs = _logs(result, self._metric_key)
        if return_dict:
            return logs
        return list(logs.values()) if len(logs) > 1 else logs["loss"]

    def predict_on_batch(self, x):
        """Outputs for one batch in inference mode."""
        return self._run(x, batch_size=None, training=False)


class _Totals:
    """StepTotals summed in Python, for the per-batch loop."""

    def __init__(self):
        self.loss_sum = self.correct_sum = 0.0
        self.samples = self.steps = 0
        self.finite = True

    def add(self, step):
        self.loss_sum += step.loss_sum
        self.correct_sum += step.correct_sum
        self.samples += step.samples
        self.steps += step.steps


def _logs(totals, key):
    samples = max(totals.samples, 1)
    logs = {"loss": totals.loss_sum / samples}
    if key is not None:
        logs[key] = totals.correct_sum / samples
    return logs


def _sparse_labels(array, classes, where):
    labels = array.reshape(array.shape[0], -1)
    if labels.shape[1] != 1:
        raise ValueError(f"{where}: sparse_categorical_crossentropy needs one integer label per sample; "
                         f"y has shape {array.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.floor(labels)):
            raise ValueError(f"{where}: labels must be integers in [0, {classes}); y has non-integer "
                             f"values (dtype {array.dtype})")
    low, high = labels.min(), labels.max()
    if low < 0 or high >= classes:
        bad = low if low < 0 else high
        raise ValueError(f"{where}: labels must be integers in [0, {classes}) for a model with "
                         f"{classes} outputs; found label {bad}")
    return np.ascontiguousarray(labels, dtype=np.float32)


def _positive_int(value, where, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer. Received: {name}={value!r}")
    return int(value)


def _non_negative_int(value, where, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{where}: {name} must be a non-negative integer. Received: {name}={value!r}")
    return int(value)


def _verbose(verbose):
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2. Received: verbose={verbose!r}")
    return verbose
