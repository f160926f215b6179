"""compile / fit for Sequential, driving the C++ network (evaluate and predict: inference.py).

The hot loop is in C++: `fit` hands each epoch of arrays to `Network.train_epoch` (batches
gathered by index, one training step per batch, the GIL released) and only wakes Python every few
hundred milliseconds to draw the progress bar. When a user callback must see every batch, or the
data comes from Python a batch at a time (`data_adapters`), it falls back to one C++ call per
batch.
"""

import functools
import warnings

from densekit import _core, _seeds, losses
from densekit import callbacks as callbacks_module
from densekit.models import _arguments, _data, _weights, data_adapters
from densekit.models.compile_state import CompileState
from densekit.models.fit_state import FitState
from densekit.models.gradient_recording import GradientRecording, pair_with_layers

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
        """Sets the optimizer, the loss and the metrics (at most one accuracy).

        The arguments are Keras 3's. `run_eagerly`, `jit_compile` and `auto_scale_loss` have
        nothing to act on (the step is compiled C++, in float32) and are accepted as no-ops;
        `loss_weights`, `weighted_metrics` and a `steps_per_execution` other than 1 raise
        NotImplementedError.
        """
        if loss is None:
            raise ValueError(f"Sequential '{self.name}': compile needs a loss. Received: loss=None")
        _arguments.not_implemented(
            "compile", loss_weights=loss_weights, weighted_metrics=weighted_metrics
        )
        if steps_per_execution != 1:
            _arguments.not_implemented(
                "compile", default=1, steps_per_execution=steps_per_execution
            )
        self._compile_state = CompileState.from_arguments(optimizer, loss, metrics)
        if self.built:
            self._compile_network()

    @property
    def compiled(self):
        """Whether `compile` was called, as Keras's `Model.compiled`."""
        return self._compile_state is not None

    def _compile_network(self):
        state = self._compile_state
        self._network.compile(
            losses.spec_of(state.loss), state.optimizer._core, _ACCURACY_KINDS[state.accuracy]
        )
        state.optimizer._track(self.trainable_variables)

    @property
    def _metric_key(self):
        return self._compile_state.metric_key

    @property
    def optimizer(self):
        return self._compile_state.optimizer if self._compile_state else None

    @property
    def loss(self):
        return self._compile_state.loss_arg if self._compile_state else None

    def _require_compiled(self, what):
        if self._compile_state is None:
            raise ValueError(f"Sequential '{self.name}': you must call compile() before {what}")

    def _track_unfrozen_variables(self):
        """A layer unfrozen since compile trains on the optimizer state compile built for it
        (densekit builds it for every weight, frozen or not); the optimizer then lists that
        state too, so that saving and copying keep it. Keras asks for a new compile instead."""
        optimizer = self._compile_state.optimizer
        # Called by every train_on_batch: the layers' flags, unchanged, settle it at once.
        flags = (optimizer, tuple(layer.trainable for layer in self.layers))
        if not optimizer._tracked or flags == getattr(self, "_tracked_flags", None):
            return
        tracked = {v.path for v in optimizer._tracked}
        trainable = {v.path for v in self.trainable_variables}
        if not trainable <= tracked:
            optimizer._track([v for v in self.variables if v.path in tracked | trainable])
        self._tracked_flags = flags

    # -- data: pure conversions in _data; building and compiling decided here ------------------
    def _inputs(self, x, where, allow_nonfinite=False):
        """x as the network's input matrix; an unbuilt model is first built for x's samples."""
        array = _data.as_array(x, where)
        if not self.built:
            self.build((None,) + _data.sample_shape(array, where))
        return _data.prepare_x(array, self.input_shape, where, allow_nonfinite)

    def _targets(self, y, rows, where, allow_nonfinite=False):
        """(y as an array, y as the network's target matrix) for `rows` samples."""
        return _data.prepare_y(
            y,
            rows,
            self._network.output_units,
            self._compile_state.loss._kernel_name,
            where,
            allow_nonfinite,
        )

    def _matrices(self, x, y, where, allow_nonfinite=False):
        """(x, y) as the network's matrices; y also settles the accuracy (`_settle_accuracy`)."""
        xm = self._inputs(x, where, allow_nonfinite)
        y_array, ym = self._targets(y, xm.shape[0], where, allow_nonfinite)
        self._settle_accuracy(y_array, where)
        return xm, ym

    def _settle_accuracy(self, y, where):
        """Picks the accuracy for the targets `y` (as Keras, from the first targets seen) and
        checks that they fit it; the network is recompiled when the accuracy changes."""
        state = self._compile_state
        if state.accuracy_request is None:
            return
        name = _data.accuracy_name(state.accuracy_request, y, self._network.output_units, where)
        if name != state.accuracy:
            state.accuracy = name
            self._compile_network()

    # -- the narrow ways in for diagnostics ---------------------------------------------------
    def _gradient_flow(self, x, y):
        """[(layer, LayerStats), ...] of one training-mode forward and backward pass on (x, y),
        for each layer the network runs, bottom first; nothing is updated."""
        self._require_compiled("gradient_flow")
        xm = self._inputs(x, "gradient_flow")
        _, ym = self._targets(y, xm.shape[0], "gradient_flow")
        return pair_with_layers(
            self._computing_layers(), self._network.gradient_flow(xm, ym), self.name
        )

    def _gradient_recording(self):
        """The per-step gradient recording of the model's current network (GradientMonitor's)."""
        self._require_built("gradient recording")
        return GradientRecording(self._network, self._computing_layers(), self.name)

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

        The arguments are Keras 3's, plus `seed` (the shuffling's, for reproducible runs) and
        `allow_nonfinite` (accept NaN/Inf in the data). `validation_freq` is an int n (validate
        after every n-th epoch) or a list of the epochs to validate after, counted from 1.
        `steps_per_epoch` runs that many batches per epoch, continuing through the data from
        one epoch to the next as Keras does with arrays (see `_data.EpochRows`); with
        `batch_size` None the batches are then ceil(samples / steps_per_epoch) samples.
        `validation_steps` validates on the first that many batches. `shuffle="batch"` raises
        NotImplementedError.

        `x` may also be a `keras.utils.PyDataset` or a generator (any iterator) of `(x, y)` or
        `(x, y, sample_weight)` batches, and so may `validation_data`; each of their batches is
        one C++ step, and the steps rules are Keras's (see `data_adapters`). `sample_weight`
        (one non-negative weight per sample, also as `validation_data`'s third element) and
        `class_weight` ({class index: weight}) weight the loss as Keras 3 does: Σ w·loss over
        the batch size; the accuracy is not weighted (Keras weights only `weighted_metrics`).

        A step whose loss or gradient is not finite is not applied: training stops there, the
        weights stay at the last finite state, and `history.stopped_on_nonfinite` says where.
        An epoch in which no step was applied logs NaN, not a mean over no samples.
        """
        self._require_compiled("fit")
        self._track_unfrozen_variables()
        if isinstance(shuffle, str):  # Keras's "batch": shuffle within batches only
            _arguments.not_implemented("fit", default=True, shuffle=shuffle)
        batch_size_arg = _arguments.optional_batch_size(batch_size, "fit")
        epochs = _arguments.non_negative_int(epochs, "fit", "epochs")
        initial_epoch = _arguments.non_negative_int(initial_epoch, "fit", "initial_epoch")
        verbose = _arguments.verbose(verbose, "fit")
        validation_split = _arguments.validation_split(validation_split)
        validation_freq = _arguments.validation_freq(validation_freq)
        steps_per_epoch = _arguments.steps(steps_per_epoch, "fit", "steps_per_epoch")
        validation_steps = _arguments.steps(validation_steps, "fit", "validation_steps")
        if validation_batch_size is not None:
            validation_batch_size = _arguments.batch_size(validation_batch_size, "fit")
        if class_weight is not None and sample_weight is not None:
            raise ValueError(
                "fit: class_weight and sample_weight cannot both be given (as in Keras). "
                f"Received: class_weight={class_weight!r} and a sample_weight"
            )
        rng = _seeds.generator(seed)
        if data_adapters.is_stream(x):
            kind = data_adapters.kind_of(x)
            data_adapters.refuse_with_stream(
                "fit", kind, y=y, sample_weight=sample_weight, validation_split=validation_split
            )
            if class_weight is not None and kind != "PyDataset":
                raise ValueError(
                    "fit: class_weight is not supported for a generator (as in Keras); use a "
                    f"PyDataset or yield sample weights. Received: class_weight={class_weight!r}"
                )
            epoch_rows = data_adapters.BatchStream(
                x, "fit", steps_per_epoch, shuffle, rng, "steps_per_epoch"
            )
            self._matrices_of_batch(epoch_rows.peek(), "fit", allow_nonfinite)
            class_weight = self._class_weight(class_weight, "fit")
            steps_shown = epoch_rows.num_batches

            def run_epoch(batches, cbs, key):
                return self._epoch_from_stream(batches, cbs, key, class_weight, allow_nonfinite)

        else:
            x_train, y_train = self._matrices(x, y, "fit", allow_nonfinite)
            w_train = _weights.sample_weights(sample_weight, x_train.shape[0], "fit")
            if validation_data is None and validation_split:
                x_train, y_train, x_val, y_val = _data.split_validation(
                    x_train, y_train, validation_split
                )
                if w_train is not None:  # as Keras, the weights are split with the data
                    w_train, w_val = w_train[: x_train.shape[0]], w_train[x_train.shape[0] :]
                validation_data = (x_val, y_val) if w_train is None else (x_val, y_val, w_val)
            if class_weight is not None:  # as Keras, for the training samples only
                w_train = _weights.from_class_weight(
                    self._class_weight(class_weight, "fit"), y_train
                )
            samples = x_train.shape[0]
            batch_size = batch_size_arg or _arguments.default_batch_size(samples, steps_per_epoch)
            epoch_rows = _data.EpochRows(samples, batch_size, steps_per_epoch, shuffle, rng)
            steps_shown = steps_per_epoch or epoch_rows.batches

            def run_epoch(order, cbs, key):
                runner = (
                    self._epoch_per_batch if cbs.needs_batch_hooks("train") else self._epoch_in_core
                )
                return runner(x_train, y_train, w_train, order, batch_size, cbs, key)

        validate, validation_stream = self._validation(
            validation_data,
            validation_steps,
            validation_batch_size or batch_size_arg,
            allow_nonfinite,
        )
        key = self._metric_key
        cbs = callbacks_module.CallbackList(
            callbacks,
            add_history=True,
            add_progbar=verbose != 0,
            model=self,
            verbose=verbose,
            epochs=epochs,
            steps=steps_shown,
        )
        # The network a GradientMonitor switches on, even if a callback rebuilds the model.
        network = self._network
        self.stop_training = False
        self.history.stopped_on_nonfinite = None
        self._fit_state = progress = FitState(epoch_rows, initial_epoch, self.layers)
        try:
            cbs.on_train_begin()  # where a BackupAndRestore may resume an earlier run
            epoch_logs = {}
            for epoch in range(progress.initial_epoch, epochs):
                if isinstance(epoch_rows, data_adapters.BatchStream) and epoch_rows.exhausted():
                    break
                cbs.on_epoch_begin(epoch)
                order, ran_out = progress.rows_of_epoch(epoch)
                totals = run_epoch(order, cbs, key)
                if not totals.steps and totals.finite:
                    self.stop_training = True  # a stream with no batch left
                if ran_out and totals.finite and not self.stop_training:
                    warnings.warn(
                        f"fit: epoch {epoch + 1} ran out of data after "
                        f"{-(-len(order) // batch_size)} of its steps_per_epoch={steps_per_epoch} "
                        f"batches (all {epoch_rows.batches} batches of {batch_size} samples had "
                        f"run); the next epoch starts a new pass over the data, as in Keras.",
                        stacklevel=2,
                    )
                epoch_logs = _data.logs_of(totals, key)
                if not totals.finite:
                    self.history.stopped_on_nonfinite = {"epoch": epoch, "step": totals.steps}
                    self.stop_training = True
                elif validate is not None and _arguments.should_validate(epoch, validation_freq):
                    # As Keras, validation is an evaluate: the callbacks hear its on_test_* hooks.
                    val = validate(cbs)
                    epoch_logs.update({f"val_{k}": v for k, v in val.items()})
                progress.end_epoch()
                cbs.on_epoch_end(epoch, epoch_logs)
                if not totals.finite and verbose:  # after the bar's final line, not inside it
                    print(
                        f"Epoch {epoch + 1}, step {totals.steps + 1}: the loss or a gradient became "
                        f"NaN or Inf; that update was not applied and training stopped. Lower "
                        f"the learning rate or clip the gradients (clipnorm=1.0)."
                    )
                if self.stop_training:
                    break
            if epochs > initial_epoch:  # as Keras: EMA's averages replace the weights
                self.optimizer.finalize_variable_values(self.trainable_variables)
            cbs.on_train_end(epoch_logs)
        except BaseException:
            # on_train_end did not run: no GradientMonitor will take these records, and left in
            # the network they would pile up under every later fit.
            network.take_monitor_records()
            raise
        finally:
            network.set_monitor_every(0)
            self._fit_state = None
            for source in (epoch_rows, validation_stream):
                if isinstance(source, data_adapters.BatchStream):
                    source.close()
        return self.history

    def _training_state(self):
        """Where the running `fit` stands, as JSON types (see `fit_state.FitState`)."""
        if self._fit_state is None:
            raise RuntimeError(f"Sequential '{self.name}': no fit is running")
        return self._fit_state.to_json()

    def _resume_training(self, state):
        """Makes the running `fit`, from its `on_train_begin`, go on from `state`, which
        `_training_state` gave; ValueError when it does not fit this `fit`'s data."""
        if self._fit_state is None:
            raise RuntimeError(f"Sequential '{self.name}': no fit is running")
        self._fit_state.restore(state)

    def _validation(self, validation_data, steps, batch_size, allow_nonfinite):
        """(a function of the CallbackList that validates, the BatchStream it reads or None);
        (None, None) without validation data."""
        if validation_data is None:
            return None, None
        where = "fit (validation_data)"
        if data_adapters.is_stream(validation_data):
            stream = data_adapters.BatchStream(
                validation_data, where, steps, False, None, "validation_steps", restart=True
            )
            return functools.partial(self._test_stream, stream, allow_nonfinite), stream
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                "val_sample_weight), a PyDataset or a generator. "
                f"Received: validation_data of type {type(validation_data).__name__}"
                + (
                    f" with {len(validation_data)} elements"
                    if isinstance(validation_data, (tuple, list))
                    else ""
                )
            )
        x_val, y_val = self._matrices(*validation_data[:2], where, allow_nonfinite)
        w_val = None
        if len(validation_data) == 3:
            w_val = _weights.sample_weights(
                validation_data[2], x_val.shape[0], where, "val_sample_weight"
            )
        # As Keras: the validation batch size falls back on the batch_size given, not on one
        # computed from steps_per_epoch.
        batch_size = batch_size or _arguments.default_batch_size(x_val.shape[0], steps)
        batches = _arguments.batches(x_val.shape[0], batch_size, steps, "fit", "validation_steps")
        x_val, y_val = _data.first_rows(batches, batch_size, x_val, y_val)
        if w_val is not None:
            (w_val,) = _data.first_rows(batches, batch_size, w_val)
        return functools.partial(self._test, x_val, y_val, w_val, batch_size), None

    def _class_weight(self, class_weight, where):
        """`class_weight` checked against the model's classes (2 for one output unit)."""
        if class_weight is None:
            return None
        units = self._network.output_units
        return _weights.check_class_weight(class_weight, max(units, 2), where)

    def _matrices_of_batch(self, batch, where, allow_nonfinite, class_weight=None):
        """(x, y, sample weights or None) of one batch from a stream, as the network's."""
        x, y, weights = data_adapters.unpack(batch, where)
        if y is None:
            raise ValueError(
                f"{where}: a training or evaluation batch must be (x, y) or "
                f"(x, y, sample_weight); this one has no targets"
            )
        xm, ym = self._matrices(x, y, where, allow_nonfinite)
        if class_weight is not None:
            if weights is not None:
                raise ValueError(
                    f"{where}: class_weight and sample_weight cannot both be given; a batch "
                    f"has sample weights"
                )
            return xm, ym, _weights.from_class_weight(class_weight, y)
        return xm, ym, _weights.sample_weights(weights, xm.shape[0], where)

    def _epoch_from_stream(self, batches, cbs, key, class_weight, allow_nonfinite):
        """One C++ step per batch of the iterator `batches`, with every batch hook."""
        try:
            return self._run_steps(
                (
                    self._matrices_of_batch(batch, "fit", allow_nonfinite, class_weight)
                    for batch in batches
                ),
                cbs,
                key,
            )
        finally:
            batches.close()  # the epoch's end (on_epoch_end) even when it stopped early

    def _run_steps(self, batches, cbs, key):
        """One C++ step per `(x, y, sample_weight)` of `batches`, with every batch hook; stops
        at a non-finite step or when a callback stops training."""
        summed = _data.Totals()
        for step, (x, y, w) in enumerate(batches):
            cbs.on_train_batch_begin(step)
            result = self._network.train_step(x, y, sample_weight=w)
            if not result.finite:
                summed.finite = False
                break
            summed.add(result)
            cbs.on_train_batch_end(step, _data.logs_of(summed, key))
            if self.stop_training:
                break
        return summed

    def _epoch_in_core(self, x, y, w, order, batch_size, cbs, key):
        def progress(totals):
            cbs.on_train_batch_end(totals.steps - 1, _data.logs_of(totals, key))
            return not self.stop_training

        totals = self._network.train_epoch(
            x, y, order, batch_size, progress, _PROGRESS_SECONDS, sample_weight=w
        )
        if totals.steps:
            cbs.on_train_batch_end(totals.steps - 1, _data.logs_of(totals, key))
        return totals

    def _epoch_per_batch(self, x, y, w, order, batch_size, cbs, key):
        rows = (order[start : start + batch_size] for start in range(0, len(order), batch_size))
        return self._run_steps(((x[r], y[r], None if w is None else w[r]) for r in rows), cbs, key)

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One training step on one batch; returns the loss (and accuracy).

        `sample_weight` (one weight per sample) or `class_weight` ({class: weight}) weight the
        loss as in `fit`.
        """
        self._require_compiled("train_on_batch")
        self._track_unfrozen_variables()
        if class_weight is not None and sample_weight is not None:
            raise ValueError("train_on_batch: class_weight and sample_weight cannot both be given")
        xm, ym = self._matrices(x, y, "train_on_batch")
        w = _weights.sample_weights(sample_weight, xm.shape[0], "train_on_batch")
        if class_weight is not None:
            w = _weights.from_class_weight(self._class_weight(class_weight, "train_on_batch"), y)
        result = self._network.train_step(xm, ym, sample_weight=w)
        return _data.result_of(_data.logs_of(result, self._metric_key), return_dict)
