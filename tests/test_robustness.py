"""Training that goes wrong stops cleanly; non-finite data is refused; results are reproducible;
large data is not copied; sizes are 64-bit.

- Divergence: SGD with learning rate 1e6 on ten Dense(64, relu) layers over the digits stops at
  the first non-finite step, says so (verbose=1), and leaves the weights of the step before.
- NaN/Inf in x or y: ValueError from fit and evaluate, accepted with allow_nonfinite=True.
- A step that is not applied leaves every weight, the batch-norm moving statistics included.
- Determinism: the same seeds and thread count give bit-identical weights (1 and 2 threads).
- Large data: fit on a 200 MB float32 array allocates far less than the data (tracemalloc).
- 64-bit sizes: a >2^31-element array needs 8 GB, so instead sizes above 2^31 pass through the
  bindings unchanged and a >2^16-row, 512-feature predict is checked against NumPy.
"""

import gc
import tracemalloc

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densekit
from densekit import _core
from densekit import layers as L
from densekit.initializers import GlorotUniform

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = densekit.datasets.digits.load_data()
    return x, y


def assert_weights_equal(got, want, what):
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        assert_array_equal(a, b, err_msg=f"{what}: weight {i}")


def all_finite(weights):
    return all(np.isfinite(w).all() for w in weights)


# -- divergence ------------------------------------------------------------------------------------


def deep_relu_net(learning_rate):
    model = densekit.Sequential(
        [L.Flatten(input_shape=(8, 8))]
        + [
            L.Dense(64, activation="relu", kernel_initializer=GlorotUniform(seed=i))
            for i in range(10)
        ]
        + [L.Dense(10, activation="softmax", kernel_initializer=GlorotUniform(seed=10))]
    )
    model.compile(
        optimizer=densekit.optimizers.SGD(learning_rate=learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


class WeightRecorder(densekit.callbacks.Callback):
    """The weights at the start of every batch, by (epoch, step); forces fit's per-batch loop."""

    def __init__(self):
        super().__init__()
        self.before = {}
        self.epoch = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self.before[(self.epoch, batch)] = self.model.get_weights()


def test_learning_rate_1e6_stops_with_a_message_and_the_weights_before_the_bad_step(digits, capsys):
    x, y = digits
    model = deep_relu_net(1e6)
    recorder = WeightRecorder()
    history = model.fit(x, y, epochs=3, batch_size=32, verbose=1, seed=0, callbacks=[recorder])
    stop = history.stopped_on_nonfinite
    assert stop is not None, "a learning rate of 1e6 must diverge"
    epoch, step = stop["epoch"], stop["step"]
    out = capsys.readouterr().out
    assert f"Epoch {epoch + 1}, step {step + 1}: the loss or a gradient became NaN or Inf" in out
    assert "that update was not applied and training stopped" in out
    assert model.stop_training
    assert len(history.epoch) == epoch + 1  # no epoch after the one that stopped
    weights = model.get_weights()
    assert all_finite(weights)
    assert_weights_equal(weights, recorder.before[(epoch, step)], "weights vs. before the bad step")
    assert max(recorder.before) == (epoch, step)  # nothing ran after it

    # The in-core loop (no per-batch callback) stops at the same step with the same weights.
    rerun = deep_relu_net(1e6)
    rerun_history = rerun.fit(x, y, epochs=3, batch_size=32, verbose=0, seed=0)
    assert rerun_history.stopped_on_nonfinite == stop
    assert_weights_equal(rerun.get_weights(), weights, "in-core rerun vs. per-batch run")
    assert capsys.readouterr().out == ""  # verbose=0 prints nothing, the stop message included


def test_a_diverged_model_reports_nonfinite_steps_again_without_touching_weights(digits):
    x, y = digits
    model = deep_relu_net(1e6)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0, seed=0)
    weights = model.get_weights()
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0, seed=0)
    if history.stopped_on_nonfinite is not None:
        assert_weights_equal(model.get_weights(), weights, "second fit")
    assert all_finite(model.get_weights())


# -- non-finite data -------------------------------------------------------------------------------


def small_model(loss="mse"):
    # linear, so that Inf in x reaches the loss (tanh would saturate it to 1)
    model = densekit.Sequential(
        [
            L.Dense(4, input_shape=(3,), kernel_initializer=GlorotUniform(seed=1)),
            L.Dense(2, kernel_initializer=GlorotUniform(seed=2)),
        ]
    )
    model.compile(optimizer="sgd", loss=loss)
    return model


def data_with(where, value):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(8, 3)).astype(np.float32)
    y = rng.normal(size=(8, 2)).astype(np.float32)
    (x if where == "x" else y)[1, 0] = value
    return x, y


BAD_VALUES = [
    ("x", np.nan),
    ("x", np.inf),
    ("x", -np.inf),
    ("y", np.nan),
    ("y", np.inf),
    ("y", -np.inf),
]


@pytest.mark.parametrize("where, value", BAD_VALUES, ids=[f"{w}-{v}" for w, v in BAD_VALUES])
def test_nonfinite_data_is_a_value_error_by_default(where, value):
    x, y = data_with(where, value)
    model = small_model()
    weights = model.get_weights()
    with pytest.raises(
        ValueError,
        match=rf"fit: {where} contains NaN or Inf \(first at sample 1\).*allow_nonfinite=True",
    ):
        model.fit(x, y, verbose=0)
    with pytest.raises(
        ValueError, match=rf"evaluate: {where} contains NaN or Inf \(first at sample 1\)"
    ):
        model.evaluate(x, y, verbose=0)
    assert_weights_equal(model.get_weights(), weights, "after refused calls")


@pytest.mark.parametrize("where, value", BAD_VALUES, ids=[f"{w}-{v}" for w, v in BAD_VALUES])
def test_nonfinite_data_is_accepted_with_allow_nonfinite(where, value):
    x, y = data_with(where, value)
    model = small_model()
    weights = model.get_weights()
    loss = model.evaluate(x, y, verbose=0, allow_nonfinite=True)
    assert not np.isfinite(loss)
    history = model.fit(
        x, y, batch_size=4, epochs=2, shuffle=False, verbose=0, allow_nonfinite=True
    )
    assert history.stopped_on_nonfinite == {"epoch": 0, "step": 0}  # sample 1 is in the first batch
    assert_weights_equal(model.get_weights(), weights, "after the refused step")
    # the clean half of the data still trains
    history = model.fit(x[4:], y[4:], batch_size=4, verbose=0, allow_nonfinite=True)
    assert history.stopped_on_nonfinite is None
    assert all_finite(model.get_weights())


class EveryBatch(densekit.callbacks.Callback):
    """Forces fit's per-batch loop."""

    def on_train_batch_end(self, batch, logs=None):
        pass


@pytest.mark.parametrize("loop", ["in-core", "per-batch"])
def test_an_epoch_without_an_applied_step_logs_nan_not_zero(loop):
    # NaN in sample 1, batch 4: the first step is not finite, so no step of the epoch is applied
    # and there are no samples to average over. A loss (or accuracy) of 0.0 would read as perfect.
    x, _ = data_with("x", np.nan)
    y = np.arange(8) % 2
    model = densekit.Sequential(
        [
            L.Dense(
                2, input_shape=(3,), activation="softmax", kernel_initializer=GlorotUniform(seed=1)
            )
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(
        x,
        y,
        batch_size=4,
        shuffle=False,
        verbose=0,
        allow_nonfinite=True,
        callbacks=[EveryBatch()] if loop == "per-batch" else None,
    )
    assert history.stopped_on_nonfinite == {"epoch": 0, "step": 0}
    assert set(history.history) == {"loss", "accuracy"}
    assert np.isnan(history.history["loss"]).all() and np.isnan(history.history["accuracy"]).all()
    # One applied step (the clean second batch first) gives a real mean again.
    history = model.fit(
        x[::-1].copy(), y[::-1].copy(), batch_size=4, shuffle=False, verbose=0, allow_nonfinite=True
    )
    assert history.stopped_on_nonfinite == {"epoch": 0, "step": 1}
    assert (
        np.isfinite(history.history["loss"]).all()
        and np.isfinite(history.history["accuracy"]).all()
    )


@pytest.mark.parametrize("loop", ["in-core", "per-batch"])
def test_the_progress_bar_of_a_stopped_epoch_ends_at_the_steps_done(loop, capsys):
    # 10 samples, batch 2: 5 steps; NaN in sample 4, so step 3 (index 2) is refused after 2 steps.
    x, y = data_with("x", 0.0)
    x, y = np.concatenate([x, x[:2]]), np.concatenate([y, y[:2]])
    x[4, 0] = np.nan
    model = small_model()
    history = model.fit(
        x,
        y,
        batch_size=2,
        shuffle=False,
        verbose=1,
        allow_nonfinite=True,
        callbacks=[EveryBatch()] if loop == "per-batch" else None,
    )
    assert history.stopped_on_nonfinite == {"epoch": 0, "step": 2}
    lines = capsys.readouterr().out.splitlines()
    # Not a terminal: only the final line of the bar, then the message about the stop. The bar
    # has int(30 * 2 / 5) = 12 cells: 11 '=' and the head '>', as for any step short of the end.
    assert lines[0].startswith("2/5 [===========>..................] - "), lines
    assert lines[1].startswith("Epoch 1, step 3: the loss or a gradient became NaN or Inf")
    # With no step done at all, the bar ends at 0.
    x[:2, 0] = np.nan
    model.fit(x, y, batch_size=2, shuffle=False, verbose=1, allow_nonfinite=True)
    assert capsys.readouterr().out.startswith("0/5 [..............................] - ")


# -- batch normalization and steps that are not applied ----------------------------------------------


def batch_norm_model():
    model = densekit.Sequential(
        [
            L.Dense(3, input_shape=(2,), kernel_initializer=GlorotUniform(seed=4)),
            L.BatchNormalization(momentum=0.5),
            L.Dense(2),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_a_step_that_is_not_applied_leaves_the_batch_norm_moving_statistics():
    # fit promises the weights of the last finite state; the moving mean and variance are
    # weights (get_weights, save) even though no gradient updates them.
    model = batch_norm_model()
    weights = model.get_weights()
    x = np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, -1.0], [0.5, 0.5]], np.float32)
    history = model.fit(
        x,
        np.zeros((4, 2), np.float32),
        batch_size=4,
        shuffle=False,
        verbose=0,
        allow_nonfinite=True,
    )
    assert history.stopped_on_nonfinite == {"epoch": 0, "step": 0}
    assert_weights_equal(model.get_weights(), weights, "after a step that was not applied")


def test_a_refused_step_is_not_committed_later_by_an_inference_call():
    # The refused step's batch statistics (NaN here) must be dropped, not kept pending until
    # the next call of the layer: an inference call never moves the moving statistics.
    model = batch_norm_model()
    x = np.array([[1.0, 2.0], [np.nan, 0.0], [3.0, -1.0], [0.5, 0.5]], np.float32)
    model.fit(
        x,
        np.zeros((4, 2), np.float32),
        batch_size=4,
        shuffle=False,
        verbose=0,
        allow_nonfinite=True,
    )
    batch_norm = model.layers[1]
    before = batch_norm.get_weights()
    out = batch_norm(np.ones((2, 3), np.float32))  # inference
    assert_weights_equal(batch_norm.get_weights(), before, "BatchNormalization after layer(x)")
    assert np.isfinite(out).all()


def test_gradient_flow_then_an_inference_call_leaves_the_moving_statistics():
    model = batch_norm_model()
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(16, 2)).astype(np.float32), rng.normal(size=(16, 2)).astype(np.float32)
    before = model.get_weights()
    densekit.diagnostics.gradient_flow(model, x, y)
    assert_weights_equal(model.get_weights(), before, "after gradient_flow")
    model.layers[1](np.ones((2, 3), np.float32))
    model.predict(x, verbose=0)
    assert_weights_equal(model.get_weights(), before, "after gradient_flow and inference calls")


def test_an_update_that_overflows_float32_is_not_applied():
    # loss (1e16)^2 = 1e32 and gradient dw = 2·1e16·1e16 = 2e32 are finite, but the update
    # lr·dw = 1e7·2e32 = 2e39 is not: the step must be refused like a non-finite gradient,
    # not applied with w = 1 - 2e39 = -Inf.
    model = densekit.Sequential([L.Dense(1, input_shape=(1,), kernel_initializer="ones")])
    model.compile(optimizer=densekit.optimizers.SGD(learning_rate=1e7), loss="mse")
    weights = model.get_weights()
    history = model.fit(np.array([[1e16]], np.float32), np.zeros((1, 1), np.float32), verbose=0)
    # No step was applied, so the epoch has no mean loss to report: NaN, not 0.
    assert np.isnan(history.history["loss"]).all()
    assert all_finite(model.get_weights()), model.get_weights()
    assert history.stopped_on_nonfinite == {"epoch": 0, "step": 0}
    assert_weights_equal(model.get_weights(), weights, "after the overflowing step")


def test_an_applied_step_on_large_finite_inputs_keeps_the_moving_variance_finite():
    # |x| = 2e19 fits float32 (max 3.4e38) but its variance 4e38 does not: the batch is
    # normalized correctly in double, yet storing the variance must not put Inf in a weight.
    model = batch_norm_model()
    x = np.array([[2e19, 1.0], [-2e19, 2.0]], np.float32)
    history = model.fit(x, np.zeros((2, 2), np.float32), batch_size=2, verbose=0)
    weights = model.get_weights()
    if history.stopped_on_nonfinite is None:
        names = [v.path for v in model.variables]
        assert all_finite(weights), [n for n, w in zip(names, weights) if not np.isfinite(w).all()]
    assert np.isfinite(model.predict(np.ones((1, 2), np.float32), verbose=0)).all()


# -- determinism -----------------------------------------------------------------------------------


def train_seeded(x, y):
    model = densekit.Sequential(
        [
            L.Dense(
                128,
                activation="relu",
                input_shape=(x.shape[1],),
                kernel_initializer=GlorotUniform(seed=1),
            ),
            L.BatchNormalization(),
            L.PReLU(),
            L.Dense(64, activation="gelu", kernel_initializer=GlorotUniform(seed=2)),
            L.RReLU(seed=3),
            L.Dense(10, activation="softmax", kernel_initializer=GlorotUniform(seed=4)),
        ]
    )
    model.compile(
        optimizer=densekit.optimizers.SGD(learning_rate=0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    # batch 256 x 128 units reaches the OpenMP threshold (2^15 elements) of the element-wise loops
    history = model.fit(x, y, batch_size=256, epochs=2, seed=5, verbose=0)
    return model.get_weights(), history.history


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seeds_and_thread_count_give_bit_identical_weights(threads):
    rng = np.random.default_rng(6)
    x = rng.normal(size=(768, 96)).astype(np.float32)
    y = rng.integers(0, 10, 768)
    densekit.set_num_threads(threads)
    first, first_logs = train_seeded(x, y)
    second, second_logs = train_seeded(x, y)
    assert first_logs == second_logs
    assert_weights_equal(second, first, f"{threads} thread(s)")
    assert all_finite(first)


# -- large data ------------------------------------------------------------------------------------


def test_fit_on_200_mb_of_float32_does_not_copy_the_data():
    rows, features = 524_288, 100  # 209.7 MB
    x = np.zeros((rows, features), np.float32)
    x[:, 0] = np.arange(rows) % 7
    y = (np.arange(rows) % 3).astype(np.int64)
    model = densekit.Sequential(
        [L.Dense(4, activation="relu", input_shape=(features,)), L.Dense(3, activation="softmax")]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert np.shares_memory(model._inputs(x, "fit"), x)  # float32 C-contiguous: passed through
    gc.collect()
    tracemalloc.start()
    try:
        model.fit(x, y, batch_size=4096, epochs=1, verbose=0)
        model.fit(x, y, batch_size=4096, epochs=1, verbose=0, validation_split=0.25)
        model.evaluate(x, y, batch_size=4096, verbose=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, (
        f"fit/evaluate allocated {peak / 2**20:.1f} MB over a {x.nbytes / 2**20:.0f} MB x"
    )


# -- 64-bit sizes ----------------------------------------------------------------------------------


def test_sizes_above_2_to_the_31_reach_the_core_unchanged():
    # Index is Eigen::Index (signed 64-bit): a 32-bit int would reject or wrap these values.
    big = 2**33 + 3
    layer = _core.layers.Activation(
        big, _core.kernels.ActivationSpec("relu"), "Activation"
    )  # no buffers yet
    assert layer.input_units == big and layer.output_units == big
    labels = np.array([[2.0**35]], np.float32)  # exact in float32
    _core.kernels.check_sparse_labels(labels, 2**40)  # label 2^35 < 2^40 classes: fine
    with pytest.raises(ValueError, match=r"integers in \[0, 34359738368\)"):
        _core.kernels.check_sparse_labels(labels, 2**35)


def test_predict_on_more_than_2_to_the_16_rows_and_512_features():
    rows, features = 2**16 + 4465, 512  # 70,001 x 512 = 35.8M elements, 143 MB
    x = np.random.default_rng(7).standard_normal((rows, features), dtype=np.float32)
    model = densekit.Sequential(
        [
            L.Dense(
                3,
                input_shape=(features,),
                kernel_initializer=GlorotUniform(seed=8),
                bias_initializer="ones",
            )
        ]
    )
    out = model.predict(x, batch_size=rows, verbose=0)
    kernel, bias = model.get_weights()
    assert out.shape == (rows, 3)
    want = x.astype(np.float64) @ kernel.astype(np.float64) + bias
    assert_allclose(out, want, rtol=1e-4, atol=1e-4)
    assert_allclose(out[-5:], want[-5:], rtol=1e-4, atol=1e-4)  # the tail rows, past 2^16
