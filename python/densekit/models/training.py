"""compile / fit / evaluate / predict for Sequential, driving the C++ network.

The hot loop is in C++: `fit` hands each epoch to `Network.train_epoch` (batches gathered by
index, one training step per batch, the GIL released) and only wakes Python every few hundred
milliseconds to draw the progress bar. When a user callback must see every batch, it falls back
to one C++ call per batch.
"""

import numpy as np

from densekit import _core, losses, optimizers
from densekit import callbacks as callbacks_module
from densekit import metrics as metrics_module
from densekit.models import _data

__all__ = ["Trainer"]

_PROGRESS_SECONDS = 0.2
_ACCURACY_KINDS = {
    None: _core.AccuracyKind.none,
    "binary_accuracy": _core.AccuracyKind.binary,
    "sparse_categorical_accuracy": _core.AccuracyKind.sparse_categorical,
    "categorical_accuracy": _core.AccuracyKind.categorical,
}


class Trainer:
    """The training half of a model (mixed into Sequential)."""

    # -- compile ----------------------------------------------------------------------------
    def compile(
        self,
        optimizer="sgd",
        loss=None,
        metrics=None,
        loss_weights=None,
        weighted_metrics=None,
        run_eagerly=False,
        steps_per_execution=1,
        jit_compile="auto",
        auto_scale_loss=True,
    ):
        """Sets the optimizer, the loss and the metrics (at most one accuracy)."""
        if loss is None:
            raise ValueError(f"Sequential '{self.name}': compile needs a loss. Received: loss=None")
        if loss_weights is not None or weighted_metrics is not None:
            raise ValueError("compile: loss_weights and weighted_metrics are not supported")
        self._compiled = {
            "optimizer": optimizers.get(optimizer),
            "loss": losses.get(loss),
            "metric": metrics_module.resolve(metrics),  # (history key, accuracy name) or None
            "accuracy": None,  # the accuracy name, once the data's shapes are known
            "loss_arg": loss,
            "metrics_arg": metrics,
        }
        if self.built:
            self._compile_network()

    def _compile_network(self):
        compiled = self._compiled
        self._network.compile(
            losses.spec_of(compiled["loss"]),
            compiled["optimizer"]._sgd,
            _ACCURACY_KINDS[compiled["accuracy"]],
        )

    @property
    def _metric_key(self):
        metric = self._compiled["metric"]
        return metric[0] if metric else None

    def _resolve_accuracy(self, y, where):
        """Picks the accuracy for these targets (once, as Keras) and checks that they fit it."""
        metric = self._compiled["metric"]
        if metric is None:
            return
        name = _data.accuracy_name(metric[1], y, self._network.output_units, where)
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

    # -- data: the checks and conversions are functions in _data ------------------------------
    def _prepare_x(self, x, where, allow_nonfinite=False):
        return _data.model_x(self, x, where, allow_nonfinite)

    def _prepare_y(self, y, rows, where, allow_nonfinite=False):
        return _data.model_y(self, y, rows, where, allow_nonfinite)

    # -- fit --------------------------------------------------------------------------------
    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        epochs=1,
        verbose="auto",
        callbacks=None,
        validation_split=0.0,
        validation_data=None,
        shuffle=True,
        class_weight=None,
        sample_weight=None,
        initial_epoch=0,
        steps_per_epoch=None,
        validation_steps=None,
        validation_batch_size=None,
        validation_freq=1,
        seed=None,
        allow_nonfinite=False,
    ):
        """Trains for `epochs` epochs; returns a History whose `.history` has per-epoch logs.

        A step whose loss or gradient is not finite is not applied: training stops there, the
        weights stay at the last finite state, and `history.stopped_on_nonfinite` says where.
        An epoch in which no step was applied logs NaN, not a mean over no samples.
        """
        self._require_compiled("fit")
        batch_size, epochs, initial_epoch, verbose = _data.fit_arguments(
            batch_size, epochs, initial_epoch, verbose, class_weight, sample_weight
        )
        x_train, y_train, x_val, y_val = _data.fit_arrays(
            self, x, y, validation_split, validation_data, allow_nonfinite
        )
        samples = x_train.shape[0]
        rng = np.random.default_rng(seed)
        key = self._metric_key
        cbs = callbacks_module.CallbackList(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=epochs,
            steps=-(-samples // batch_size),
        )
        run_epoch = self._epoch_per_batch if cbs.needs_batch_hooks("train") else self._epoch_in_core
        network = (
            self._network
        )  # the one a GradientMonitor switches on, even if a callback rebuilds
        self.stop_training = False
        self.history.stopped_on_nonfinite = None
        try:
            cbs.on_train_begin()
            epoch_logs = {}
            for epoch in range(initial_epoch, epochs):
                cbs.on_epoch_begin(epoch)
                order = rng.permutation(samples) if shuffle else np.arange(samples)
                totals = run_epoch(x_train, y_train, order, batch_size, cbs, key)
                epoch_logs = _data.logs_of(totals, key)
                if not totals.finite:
                    self.history.stopped_on_nonfinite = {"epoch": epoch, "step": totals.steps}
                    self.stop_training = True
                elif x_val is not None:
                    val = network.evaluate(x_val, y_val, validation_batch_size or batch_size)
                    epoch_logs.update({f"val_{k}": v for k, v in _data.logs_of(val, key).items()})
                cbs.on_epoch_end(epoch, epoch_logs)
                if not totals.finite and verbose:  # after the bar's final line, not inside it
                    print(
                        f"Epoch {epoch + 1}, step {totals.steps + 1}: the loss or a gradient became "
                        f"NaN or Inf; that update was not applied and training stopped. Lower "
                        f"the learning rate or clip the gradients (clipnorm=1.0)."
                    )
                if self.stop_training:
                    break
            cbs.on_train_end(epoch_logs)
        except BaseException:
            # on_train_end did not run: no GradientMonitor will take these records, and left in
            # the network they would pile up under every later fit.
            network.take_monitor_records()
            raise
        finally:
            network.set_monitor_every(0)
        return self.history

    def _epoch_in_core(self, x, y, order, batch_size, cbs, key):
        def progress(totals):
            cbs.on_train_batch_end(totals.steps - 1, _data.logs_of(totals, key))
            return not self.stop_training

        totals = self._network.train_epoch(x, y, order, batch_size, progress, _PROGRESS_SECONDS)
        if totals.steps:
            cbs.on_train_batch_end(totals.steps - 1, _data.logs_of(totals, key))
        return totals

    def _epoch_per_batch(self, x, y, order, batch_size, cbs, key):
        summed = _data.Totals()
        for step, start in enumerate(range(0, len(order), batch_size)):
            cbs.on_train_batch_begin(step)
            rows = order[start : start + batch_size]
            result = self._network.train_step(x[rows], y[rows])
            if not result.finite:
                summed.finite = False
                break
            summed.add(result)
            cbs.on_train_batch_end(step, _data.logs_of(summed, key))
            if self.stop_training:
                break
        return summed

    # -- evaluate / predict -----------------------------------------------------------------
    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        callbacks=None,
        return_dict=False,
        allow_nonfinite=False,
        **kwargs,
    ):
        """Loss (and accuracy) in inference mode: a float, or [loss, accuracy]."""
        self._require_compiled("evaluate")
        batch_size = _data.check_batch_size(batch_size, "evaluate")
        xm = self._prepare_x(x, "evaluate", allow_nonfinite)
        ym = self._prepare_y(y, xm.shape[0], "evaluate", allow_nonfinite)
        key = self._metric_key
        verbose = _data.check_verbose(verbose)
        cbs = callbacks_module.CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=1,
            steps=-(-xm.shape[0] // batch_size),
        )
        cbs.on_test_begin()
        logs = _data.logs_of(self._network.evaluate(xm, ym, batch_size), key)
        cbs.on_test_end(logs)
        return _data.result_of(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", callbacks=None, steps=None):
        """Outputs for `x` in inference mode.

        `batch_size` (default 32) is accepted as in Keras; since an inference output does not
        depend on the rest of its batch, the rows are computed in blocks of at least 256.
        """
        batch_size = _data.check_batch_size(batch_size, "predict")
        return self._run(x, batch_size=batch_size, training=False)

    def _run(self, x, batch_size, training):
        if not self.built and np.ndim(x) < 2:
            raise ValueError(
                f"Sequential '{self.name}': predict needs a built model or x of shape "
                f"(samples, features...); got {np.shape(x)}"
            )
        matrix = self._prepare_x(x, "predict", allow_nonfinite=True)
        out = self._network.predict(matrix, batch_size or max(1, matrix.shape[0]), training)
        return out.reshape((matrix.shape[0],) + tuple(self.output_shape[1:]))

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; returns the loss (and accuracy)."""
        self._require_compiled("train_on_batch")
        xm = self._prepare_x(x, "train_on_batch")
        result = self._network.train_step(xm, self._prepare_y(y, xm.shape[0], "train_on_batch"))
        return _data.result_of(_data.logs_of(result, self._metric_key), return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss (and accuracy) on one batch in inference mode."""
        self._require_compiled("test_on_batch")
        xm = self._prepare_x(x, "test_on_batch")
        result = self._network.evaluate(
            xm, self._prepare_y(y, xm.shape[0], "test_on_batch"), xm.shape[0]
        )
        return _data.result_of(_data.logs_of(result, self._metric_key), return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch in inference mode."""
        return self._run(x, batch_size=None, training=False)
