"""Weight reads and writes from Python while `fit` runs in another thread.

`Variable.assign`, `get_weights` and `set_weights` take densekit's compute lock (with the GIL
released) like every computation, so a write waits for a running training epoch instead of
tearing it, and a read returns weights from between two epochs.
"""

import threading
import time

import numpy as np
import pytest
from concurrency import JOIN_SECONDS, run_threads
from numpy.testing import assert_array_equal

import densekit
from densekit import layers as L
from densekit.initializers import GlorotUniform
from densekit.models import training


def _model():
    model = densekit.Sequential(
        [
            L.Dense(
                8, activation="relu", input_shape=(6,), kernel_initializer=GlorotUniform(seed=0)
            ),
            L.Dense(3, activation="softmax", kernel_initializer=GlorotUniform(seed=1)),
        ]
    )
    model.compile(
        optimizer=densekit.optimizers.SGD(learning_rate=0.05),
        loss="sparse_categorical_crossentropy",
    )
    return model


def _data(rows=256):
    rng = np.random.default_rng(0)
    return rng.normal(size=(rows, 6)).astype(np.float32), rng.integers(0, 3, rows)


class _PauseInsideEpoch(densekit.callbacks.Callback):
    """Stops the first epoch at its first progress report, which runs inside the C++ epoch with
    the compute lock held, until `resume` is set."""

    def __init__(self):
        super().__init__()
        self.inside = threading.Event()
        self.resume = threading.Event()

    def on_train_batch_end(self, batch, logs=None):
        if not self.inside.is_set():
            self.inside.set()
            self.resume.wait(JOIN_SECONDS)

    # Fine with one call per chunk of steps (densekit.callbacks.base's marker), so fit keeps the
    # epoch in C++ and calls this hook from inside it.
    on_train_batch_end._chunkable = True


@pytest.mark.parametrize("write", ["assign", "layer.set_weights", "model.set_weights"])
def test_a_weight_write_waits_for_the_running_epoch(monkeypatch, write):
    # Report progress after every step, so the first report comes from inside the C++ epoch.
    monkeypatch.setattr(training, "_PROGRESS_SECONDS", 0.0)
    model = _model()
    x, y = _data()
    pause = _PauseInsideEpoch()
    kernel = model.layers[0].kernel
    new = [np.full(w.shape, 0.125, np.float32) for w in model.get_weights()]
    writes = {
        "assign": lambda: kernel.assign(new[0]),
        "layer.set_weights": lambda: model.layers[0].set_weights(new[:2]),
        "model.set_weights": lambda: model.set_weights(new),
    }
    fit = threading.Thread(
        target=lambda: model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[pause]),
        daemon=True,
    )
    writer = threading.Thread(target=writes[write], daemon=True)
    fit.start()
    try:
        assert pause.inside.wait(JOIN_SECONDS), "fit never reported progress"
        before = kernel.numpy().copy()
        writer.start()
        time.sleep(0.2)
        assert writer.is_alive(), "the write did not wait for the epoch"
        assert_array_equal(kernel.numpy(), before)
    finally:
        pause.resume.set()
    fit.join(JOIN_SECONDS)
    writer.join(JOIN_SECONDS)
    assert not fit.is_alive() and not writer.is_alive(), "a thread is stuck (deadlock?)"
    # The write came after the whole epoch, so it is what the model holds now.
    assert_array_equal(model.layers[0].get_weights()[0], new[0])


def test_get_weights_waits_for_the_running_epoch_and_sees_its_end(monkeypatch):
    monkeypatch.setattr(training, "_PROGRESS_SECONDS", 0.0)
    model = _model()
    x, y = _data()
    pause = _PauseInsideEpoch()
    got = []
    fit = threading.Thread(
        target=lambda: model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[pause]),
        daemon=True,
    )
    reader = threading.Thread(target=lambda: got.append(model.get_weights()), daemon=True)
    fit.start()
    try:
        assert pause.inside.wait(JOIN_SECONDS), "fit never reported progress"
        reader.start()
        time.sleep(0.2)
        assert reader.is_alive(), "the read did not wait for the epoch"
    finally:
        pause.resume.set()
    fit.join(JOIN_SECONDS)
    reader.join(JOIN_SECONDS)
    assert not fit.is_alive() and not reader.is_alive(), "a thread is stuck (deadlock?)"
    for seen, now in zip(got[0], model.get_weights()):
        assert_array_equal(seen, now)


def test_writes_and_reads_during_fit_neither_fail_nor_deadlock():
    model = _model()
    x, y = _data(1024)
    start = [w.copy() for w in model.get_weights()]
    done = threading.Event()

    def fit():
        try:
            model.fit(x, y, epochs=20, batch_size=32, verbose=0)
        finally:
            done.set()

    def write_and_read():
        while not done.is_set():
            model.set_weights(start)
            snapshot = model.get_weights()
            assert [w.shape for w in snapshot] == [w.shape for w in start]
            model.layers[1].bias.assign(np.zeros(3, np.float32))

    run_threads([fit, write_and_read])  # re-raises the first error of either thread
    assert all(np.isfinite(w).all() for w in model.get_weights())
