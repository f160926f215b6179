"""TensorBoard: scalars, weight histograms and gradient figures for TensorBoard, as Keras 3's."""

import os
import time

import numpy as np

from densekit import _optional
from densekit.callbacks.base import Callback
from densekit.callbacks.gradient_monitor import GradientMonitor
from densekit.diagnostics import FIGURES

__all__ = ["TensorBoard"]


class TensorBoard(Callback):
    """Writes TensorBoard event files during `fit`, with Keras 3's layout and tags.

    `log_dir/train` gets the training scalars `epoch_<key>` for each log key (`epoch_loss`,
    `epoch_accuracy`, ...) and `epoch_learning_rate`, at step = the epoch (from 0);
    `log_dir/validation` gets the `val_` keys without their prefix (`epoch_loss`, ...) and, after
    each validation or `evaluate`, `evaluation_<key>_vs_iterations` at step = the optimizer's
    iterations. With `update_freq` "batch" or n, the running means of the epoch go to `batch_<key>`
    at every n-th training batch (counted from 1 within the `fit`); then `fit` runs one C++ call per
    batch, which "epoch" (the default) avoids. Every `histogram_freq` epochs, each weight's
    histogram goes to `<model>/<layer>/<weight>/histogram` (e.g. `sequential/dense/kernel/...`).
    With `write_graph`, the model's config is written for TensorBoard's graph tab.

    Beyond Keras: when a `GradientMonitor` runs in the same `fit`, each of its records is written
    to `log_dir/train` as `gradients/<layer>/<figure>` (`weight_grad_norm`, `input_grad_norm`,
    `output_mean`, `output_std`, `saturated_fraction`, `dead_fraction`, those that apply to the
    layer) at step = the model's count of training steps before the recorded one.

    The files are written with the `tensorboard` package (`pip install "densekit[tensorboard]"`);
    view them with `tensorboard --logdir logs`.

    Args:
        log_dir: the directory of the logs.
        histogram_freq: write weight histograms every that many epochs (0: never).
        write_graph: write the model's config for the graph tab.
        write_images: not implemented (NotImplementedError when True).
        write_steps_per_second: write the training steps per second (`epoch_steps_per_second`,
            and `batch_steps_per_second` with batch updates).
        update_freq: "epoch", "batch" or an int n (batch scalars every n batches).
        profile_batch, embeddings_freq, embeddings_metadata: not implemented
            (NotImplementedError unless left 0, 0, None).

    Example:

    >>> board = TensorBoard(log_dir="logs/run1", histogram_freq=1)
    >>> model.fit(x, y, epochs=10, validation_split=0.1, callbacks=[board])  # doctest: +SKIP
    """

    def __init__(
        self,
        log_dir="logs",
        histogram_freq=0,
        write_graph=True,
        write_images=False,
        write_steps_per_second=False,
        update_freq="epoch",
        profile_batch=0,
        embeddings_freq=0,
        embeddings_metadata=None,
    ):
        super().__init__()
        _optional.require("tensorboard", extra="tensorboard", feature="The TensorBoard callback")
        for name, value, default in (
            ("write_images", write_images, False),
            ("profile_batch", profile_batch, 0),
            ("embeddings_freq", embeddings_freq, 0),
            ("embeddings_metadata", embeddings_metadata, None),
        ):
            if value is not default and value != default:
                raise NotImplementedError(
                    f"TensorBoard: {name} is not implemented in densekit; leave it {default!r}. "
                    f"Received: {name}={value!r}"
                )
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = _count(histogram_freq, "histogram_freq", allow_zero=True)
        self.write_graph = bool(write_graph)
        self.write_images = write_images
        self.write_steps_per_second = bool(write_steps_per_second)
        if update_freq == "batch":
            update_freq = 1
        elif update_freq != "epoch":
            update_freq = _count(update_freq, "update_freq", words="'epoch', 'batch' or ")
        self.update_freq = update_freq
        self._writers = {}
        self._monitors = []
        self._written = {}  # id(monitor) -> (its records list, how many were written)
        self._in_fit = False
        self._global_train_batch = 0
        self._batch_start = 0.0
        self._epoch_start = 0.0
        self._epoch_start_iterations = 0

    def _needs_batch_hooks(self, mode):
        return mode == "train" and self.update_freq != "epoch"

    def _see_callbacks(self, callbacks):
        self._monitors = [c for c in callbacks if isinstance(c, GradientMonitor)]

    def _writer(self, kind):
        from densekit.callbacks._summary_writer import SummaryWriter

        if kind not in self._writers:
            self._writers[kind] = SummaryWriter(os.path.join(self.log_dir, kind))
        return self._writers[kind]

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def on_train_begin(self, logs=None):
        self._in_fit = True
        self._global_train_batch = 0
        if self.write_graph:
            self._writer("train").keras_model("keras", self.model.to_json(), step=0)

    def on_train_end(self, logs=None):
        self._write_gradient_records()
        self._in_fit = False
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._epoch_start = time.perf_counter()
            self._epoch_start_iterations = self._iterations()

    def on_train_batch_begin(self, batch, logs=None):
        if self.update_freq == "epoch":
            return
        self._global_train_batch += 1
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch":
            return
        writer, step = self._writer("train"), self._global_train_batch
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - self._batch_start
            writer.scalar("batch_steps_per_second", 1.0 / max(elapsed, 1e-9), step)
        if step % self.update_freq == 0:
            for name, value in (logs or {}).items():
                writer.scalar(f"batch_{name}", value, step)

    def on_test_end(self, logs=None):
        if self.model.optimizer is None:
            return
        writer, step = self._writer("validation"), self._iterations()
        for name, value in (logs or {}).items():
            writer.scalar(f"evaluation_{name}_vs_iterations", value, step)
        if not self._in_fit:  # an evaluate of its own: nothing else will close the file
            self._close_writers()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        if self.model.optimizer is not None:
            train["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - self._epoch_start
            steps = self._iterations() - self._epoch_start_iterations
            train["steps_per_second"] = steps / max(elapsed, 1e-9)
        for name, value in train.items():
            self._writer("train").scalar(f"epoch_{name}", value, epoch)
        for name, value in logs.items():
            if name.startswith("val_"):
                self._writer("validation").scalar(f"epoch_{name[4:]}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_histograms(epoch)
        self._write_gradient_records()
        for writer in self._writers.values():
            writer.flush()

    def _iterations(self):
        return int(np.asarray(self.model.optimizer.iterations))

    def _write_histograms(self, epoch):
        writer = self._writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                tag = f"{self.model.name}/{weight.path.replace(':', '_')}/histogram"
                writer.histogram(tag, weight.numpy(), epoch)

    def _write_gradient_records(self):
        """The GradientMonitor records not yet written (whatever the callbacks' order)."""
        for monitor in self._monitors:
            records, done = self._written.get(id(monitor), (None, 0))
            if records is not monitor.records:  # the monitor started a new fit
                records, done = monitor.records, 0
            for record in records[done:]:
                for row in record["layers"]:
                    for figure in FIGURES:
                        if row[figure] is not None:  # None: the figure does not apply
                            self._writer("train").scalar(
                                f"gradients/{row['layer']}/{figure}", row[figure], record["step"]
                            )
            self._written[id(monitor)] = (records, len(records))


def _count(value, name, allow_zero=False, words=""):
    """`value` as an int >= 1 (>= 0 with `allow_zero`), or a ValueError naming `name`."""
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(
            f"TensorBoard: {name} must be {words}{kind} integer. Received: {name}={value!r}"
        )
    return int(value)
