"""Python threads sharing models: no crash, no torn results.

Every computation takes densekit's process-wide compute lock with the GIL released, so threads
may predict, fit and call layers on the same model (or on models sharing layers) at once: the
calls are serialized, and each sees a consistent model. densekit's own thread count is 1 here
(set_num_threads), so the results can be compared bit for bit with single-threaded ones.
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

RUN_SECONDS = 1.5


pytestmark = pytest.mark.usefixtures("one_thread")


def make_model(features=64, classes=10, seed=0):
    model = densekit.Sequential(
        [
            L.Dense(
                64,
                activation="relu",
                input_shape=(features,),
                kernel_initializer=GlorotUniform(seed=seed),
            ),
            L.BatchNormalization(),
            L.RReLU(seed=seed + 1),
            L.Dense(32, activation="tanh", kernel_initializer=GlorotUniform(seed=seed + 2)),
            L.Dense(classes, activation="softmax", kernel_initializer=GlorotUniform(seed=seed + 3)),
        ]
    )
    model.compile(
        optimizer=densekit.optimizers.SGD(learning_rate=0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def data(rows=512, features=64, classes=10, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, features)).astype(np.float32), rng.integers(0, classes, rows)


def test_four_threads_predicting_at_once_agree_with_single_threaded_results():
    model = make_model()
    x, y = data()
    model.fit(x, y, epochs=1, verbose=0, seed=0)  # non-trivial moving statistics
    inputs = [np.ascontiguousarray(x[i::4]) for i in range(4)]
    # predict (batches of 32) and model(x) (one batch) alternate; each is compared with the same
    # call made single-threaded beforehand
    calls_by_kind = [lambda xi: model.predict(xi, verbose=0), lambda xi: model(xi)]
    expected = [[call(xi) for call in calls_by_kind] for xi in inputs]
    calls = [0] * 4

    def predict_repeatedly(i):
        deadline = time.monotonic() + RUN_SECONDS
        while time.monotonic() < deadline:
            kind = calls[i] % 2
            got = calls_by_kind[kind](inputs[i])
            assert_array_equal(got, expected[i][kind], err_msg=f"thread {i}, call {calls[i]}")
            calls[i] += 1

    run_threads([lambda i=i: predict_repeatedly(i) for i in range(4)])
    assert all(c >= 2 for c in calls), calls


class EveryBatch(densekit.callbacks.Callback):
    """Needs every batch, so fit runs one C++ step per batch and releases the lock in between."""

    def __init__(self):
        super().__init__()
        self.batches = 0

    def on_train_batch_end(self, batch, logs=None):
        self.batches += 1


@pytest.mark.parametrize("per_batch", [False, True], ids=["in-core epochs", "per-batch steps"])
def test_fit_in_one_thread_while_another_predicts_on_the_same_model(per_batch):
    model = make_model()
    x, y = data(rows=8192)  # fit takes a good fraction of a second: predictions land during it
    probe = x[:37]
    done = threading.Event()
    seen = []
    history = {}

    def fit():
        try:
            callbacks = [EveryBatch()] if per_batch else None
            history["h"] = model.fit(
                x, y, epochs=6, batch_size=32, verbose=0, seed=0, callbacks=callbacks
            )
        finally:
            done.set()

    def predict_until_fit_is_done():
        while True:
            finished = done.is_set()
            out = model.predict(probe, verbose=0)
            assert out.shape == (37, 10) and out.dtype == np.float32
            assert np.isfinite(out).all()
            assert np.allclose(out.sum(axis=1), 1, atol=1e-4)  # a whole softmax, never a torn one
            seen.append((finished, out))
            if finished:
                return

    run_threads([fit, predict_until_fit_is_done])
    h = history["h"]
    assert h.stopped_on_nonfinite is None
    assert len(h.history["loss"]) == 6 and np.isfinite(h.history["loss"]).all()
    during = sum(not finished for finished, _ in seen)
    assert during >= 1, "no prediction ran while fit was running"
    assert_array_equal(
        seen[-1][1], model.predict(probe, verbose=0)
    )  # the last one saw the final model


def test_two_models_sharing_layers_train_concurrently():
    x, y = data(rows=4096, classes=10)
    model_a = make_model()
    head = L.Dense(5, activation="softmax", kernel_initializer=GlorotUniform(seed=9))
    model_b = densekit.Sequential(model_a.layers[:-1] + [head])
    model_b.compile(
        optimizer=densekit.optimizers.SGD(learning_rate=0.05),
        loss="sparse_categorical_crossentropy",
    )
    y_b = y % 5
    shared = model_a.layers[0]
    assert model_b.layers[0] is shared
    initial_kernel = shared.kernel.numpy().copy()
    histories = {}
    stop = threading.Event()

    def train_a():
        histories["a"] = model_a.fit(x, y, epochs=4, batch_size=32, verbose=0, seed=1)

    def train_b():  # the per-batch loop, so steps of a and b interleave
        histories["b"] = model_b.fit(
            x, y_b, epochs=4, batch_size=32, verbose=0, seed=2, callbacks=[EveryBatch()]
        )

    def call_the_shared_layer():
        while not stop.is_set():
            out = shared(x[:8])
            assert out.shape == (8, 64) and np.isfinite(out).all()
            time.sleep(0.001)

    caller = threading.Thread(target=call_the_shared_layer, daemon=True)
    caller.start()
    try:
        run_threads([train_a, train_b])
    finally:
        stop.set()
        caller.join(JOIN_SECONDS)
    assert not caller.is_alive()
    for name, model in (("a", model_a), ("b", model_b)):
        h = histories[name]
        assert h.stopped_on_nonfinite is None, name
        assert np.isfinite(h.history["loss"]).all(), name
        assert all(np.isfinite(w).all() for w in model.get_weights()), name
        assert np.isfinite(model.predict(x, verbose=0)).all(), name
    # the layers really are shared: one set of variables, which the fits trained
    kernel = shared.kernel.numpy()
    assert np.shares_memory(kernel, model_b.layers[0].kernel.numpy())
    assert not np.allclose(kernel, initial_kernel)
