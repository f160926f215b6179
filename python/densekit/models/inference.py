"""evaluate / predict for Sequential, driving the C++ network in inference mode.

Without callbacks that need every batch, all the batches go to the network in one call and the
callbacks hear of them once, as fit's chunks; with such a callback, one call per batch.
"""

import numpy as np

from densekit import callbacks as callbacks_module
from densekit.models import _arguments, _data, _weights, data_adapters

__all__ = ["Inference"]


class Inference:
    """The inference half of a model (mixed into Sequential with Trainer, whose data and
    compile helpers it uses)."""

    # -- evaluate / predict -----------------------------------------------------------------
    def evaluate(
        self,
        x=None,
        y=None,
        batch_size=None,
        verbose="auto",
        sample_weight=None,
        steps=None,
        callbacks=None,
        return_dict=False,
        allow_nonfinite=False,
        **kwargs,
    ):
        """Loss (and accuracy) in inference mode: a float, or [loss, accuracy].

        The arguments are Keras 3's, plus `allow_nonfinite`. `steps` evaluates the first `steps`
        batches only (all the samples in `steps` batches when `batch_size` is None, as Keras);
        `callbacks` get the `on_test_*` hooks (the batch hooks once for all the batches unless a
        callback needs each one); `verbose` prints the progress bar. `sample_weight` weights the
        loss as in `fit`. `x` may be a PyDataset or a generator of `(x, y[, sample_weight])`
        batches (with `steps`, its first `steps` batches). An unknown keyword argument raises
        ValueError, as in Keras.
        """
        _arguments.unrecognized("evaluate", kwargs)
        self._require_compiled("evaluate")
        batch_size = _arguments.optional_batch_size(batch_size, "evaluate")
        verbose = _arguments.verbose(verbose, "evaluate")
        steps = _arguments.steps(steps, "evaluate")
        if data_adapters.is_stream(x):
            data_adapters.refuse_with_stream(
                "evaluate", data_adapters.kind_of(x), y=y, sample_weight=sample_weight
            )
            stream = data_adapters.BatchStream(x, "evaluate", steps)
            self._matrices_of_batch(stream.peek(), "evaluate", allow_nonfinite)
            cbs = self._inference_callbacks(callbacks, verbose, stream.num_batches)
            try:
                logs = self._test_stream(stream, allow_nonfinite, cbs)
            finally:
                stream.close()
            return _data.result_of(logs, return_dict)
        xm, ym = self._matrices(x, y, "evaluate", allow_nonfinite)
        w = _weights.sample_weights(sample_weight, xm.shape[0], "evaluate")
        batch_size = batch_size or _arguments.default_batch_size(xm.shape[0], steps)
        batches = _arguments.batches(xm.shape[0], batch_size, steps, "evaluate")
        xm, ym = _data.first_rows(batches, batch_size, xm, ym)
        if w is not None:
            (w,) = _data.first_rows(batches, batch_size, w)
        cbs = self._inference_callbacks(callbacks, verbose, batches)
        return _data.result_of(self._test(xm, ym, w, batch_size, cbs), return_dict)

    def _inference_callbacks(self, callbacks, verbose, steps):
        return callbacks_module.CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=1,
            steps=steps,
        )

    def _test(self, x, y, w, batch_size, cbs):
        """The logs of the network on (x, y), the loss weighted by `w` (or None), in inference
        mode, with the on_test_* hooks of the CallbackList `cbs`: evaluate's loop, and fit's
        validation."""
        key = self._metric_key
        self.stop_evaluating = False
        cbs.on_test_begin()
        if cbs.needs_batch_hooks("test"):
            totals = _data.Totals()
            for step, start in enumerate(range(0, x.shape[0], batch_size)):
                cbs.on_test_batch_begin(step)
                rows = slice(start, start + batch_size)
                weights = None if w is None else w[rows]
                totals.add(
                    self._network.evaluate(x[rows], y[rows], batch_size, sample_weight=weights)
                )
                cbs.on_test_batch_end(step, _data.logs_of(totals, key))
                if self.stop_evaluating:
                    break
        else:
            totals = self._network.evaluate(x, y, batch_size, sample_weight=w)
            cbs.on_test_batch_end(-(-x.shape[0] // batch_size) - 1, _data.logs_of(totals, key))
        logs = _data.logs_of(totals, key)
        cbs.on_test_end(logs)
        return logs

    def _test_stream(self, stream, allow_nonfinite, cbs):
        """`_test` on the next epoch of the BatchStream `stream`, one C++ call per batch."""
        key = self._metric_key
        self.stop_evaluating = False
        cbs.on_test_begin()
        totals = _data.Totals()
        batches, _ = stream.next_epoch()
        try:
            for step, batch in enumerate(batches):
                cbs.on_test_batch_begin(step)
                xm, ym, w = self._matrices_of_batch(batch, stream.where, allow_nonfinite)
                totals.add(self._network.evaluate(xm, ym, xm.shape[0], sample_weight=w))
                cbs.on_test_batch_end(step, _data.logs_of(totals, key))
                if self.stop_evaluating:
                    break
        finally:
            batches.close()
        logs = _data.logs_of(totals, key)
        cbs.on_test_end(logs)
        return logs

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for `x` in inference mode.

        The arguments are Keras 3's. `steps` predicts the first `steps` batches only (all the
        samples in `steps` batches when `batch_size` is None, as Keras); `callbacks` get the
        `on_predict_*` hooks (the batch hooks once for all the batches, with all the outputs,
        unless a callback needs each batch); `verbose` prints the progress bar. Since an
        inference output does not depend on the rest of its batch, the rows are computed in
        blocks of at least 256 whatever `batch_size` (default 32) is, unless a callback needs
        each batch. `x` may be a PyDataset or a generator of batches (`x` alone or a tuple whose
        first element is `x`).
        """
        batch_size = _arguments.optional_batch_size(batch_size, "predict")
        verbose = _arguments.verbose(verbose, "predict")
        steps = _arguments.steps(steps, "predict")
        if data_adapters.is_stream(x):
            return self._predict_stream(x, steps, callbacks, verbose)
        if not verbose and not callbacks and steps is None:
            return self._run(x, batch_size=batch_size or 32, training=False)
        matrix = self._predict_inputs(x)
        batch_size = batch_size or _arguments.default_batch_size(matrix.shape[0], steps)
        batches = _arguments.batches(matrix.shape[0], batch_size, steps, "predict")
        (matrix,) = _data.first_rows(batches, batch_size, matrix)
        cbs = callbacks_module.CallbackList(
            callbacks,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=1,
            steps=batches,
        )
        self.stop_predicting = False
        cbs.on_predict_begin()
        if cbs.needs_batch_hooks("predict"):
            outputs = []
            for step, start in enumerate(range(0, matrix.shape[0], batch_size)):
                cbs.on_predict_batch_begin(step)
                outputs.append(self._outputs(matrix[start : start + batch_size], batch_size))
                cbs.on_predict_batch_end(step, {"outputs": outputs[-1]})
                if self.stop_predicting:
                    break
            out = np.concatenate(outputs)
        else:
            out = self._outputs(matrix, batch_size)
            cbs.on_predict_batch_end(batches - 1, {"outputs": out})
        cbs.on_predict_end()
        return out

    def _predict_stream(self, data, steps, callbacks, verbose):
        """predict on a PyDataset or an iterator: the x of each batch, one C++ call each."""
        stream = data_adapters.BatchStream(data, "predict", steps)
        cbs = self._inference_callbacks(callbacks, verbose, stream.num_batches)
        self.stop_predicting = False
        cbs.on_predict_begin()
        outputs = []
        batches, _ = stream.next_epoch()
        try:
            for step, batch in enumerate(batches):
                cbs.on_predict_batch_begin(step)
                x, _, _ = data_adapters.unpack(batch, "predict")
                matrix = self._predict_inputs(x)
                outputs.append(self._outputs(matrix, matrix.shape[0]))
                cbs.on_predict_batch_end(step, {"outputs": outputs[-1]})
                if self.stop_predicting:
                    break
        finally:
            batches.close()
            stream.close()
        if not outputs:
            raise ValueError("predict: the input yielded no batch")
        out = np.concatenate(outputs)
        cbs.on_predict_end()
        return out

    def _predict_inputs(self, x):
        if not self.built and np.ndim(x) < 2:
            raise ValueError(
                f"Sequential '{self.name}': predict needs a built model or x of shape "
                f"(samples, features...); got {np.shape(x)}"
            )
        return self._inputs(x, "predict", allow_nonfinite=True)

    def _outputs(self, matrix, batch_size, training=False):
        """The network's outputs for the rows of `matrix`, shaped as the model's output."""
        out = self._network.predict(matrix, batch_size or max(1, matrix.shape[0]), training)
        return out.reshape((matrix.shape[0],) + tuple(self.output_shape[1:]))

    def _run(self, x, batch_size, training):
        return self._outputs(self._predict_inputs(x), batch_size, training)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Loss (and accuracy) on one batch in inference mode; `sample_weight` (one weight per
        sample) weights the loss as in `evaluate`."""
        self._require_compiled("test_on_batch")
        xm, ym = self._matrices(x, y, "test_on_batch")
        w = _weights.sample_weights(sample_weight, xm.shape[0], "test_on_batch")
        result = self._network.evaluate(xm, ym, xm.shape[0], sample_weight=w)
        return _data.result_of(_data.logs_of(result, self._metric_key), return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch in inference mode."""
        return self._run(x, batch_size=None, training=False)
