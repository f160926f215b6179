"""Gradient diagnostics: `diagnostics.gradient_flow` and `callbacks.GradientMonitor`.

The textbook behaviour at initialization (vanishing gradients of the logistic with N(0, 1) weights,
SELU's self-normalization), the monitor's figures against a float64 NumPy forward/backward of the
same weights (tests/reference.py), its records, History summary and warnings, and that it keeps
`fit` on the chunked path (one C++ call per epoch). No timing is asserted.
"""

import math

import numpy as np
import pytest
import reference as ref

import densekit
from densekit import callbacks, diagnostics, initializers, layers, optimizers
from densekit.callbacks import GradientMonitor
from densekit.diagnostics import GradientWarning

FIGURE_KEYS = {
    "layer",
    "kind",
    "weight_grad_norm",
    "input_grad_norm",
    "output_mean",
    "output_std",
    "saturated_fraction",
    "dead_fraction",
}


# The figures do not depend on the thread count; one thread keeps these small layers fast when
# the machine is busy (with more threads than free cores, OpenMP regions of a 20-layer pass
# can take 100x longer).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def digits():
    (x, y), _ = densekit.datasets.digits.load_data()
    return x, y


def deep_model(activation, initializer, depth=20, units=100, seed=0, input_shape=(8, 8)):
    """`depth` Dense layers with per-layer seeded kernels, a softmax on top, compiled."""
    cls, kwargs = initializer
    stack = [layers.Flatten(input_shape=list(input_shape))]
    stack += [
        layers.Dense(units, activation=activation, kernel_initializer=cls(seed=seed + i, **kwargs))
        for i in range(depth)
    ]
    stack.append(
        layers.Dense(
            10,
            activation="softmax",
            kernel_initializer=initializers.GlorotUniform(seed=seed + depth),
        )
    )
    model = densekit.Sequential(stack)
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    return model


NORMAL_0_1 = (initializers.RandomNormal, {"mean": 0.0, "stddev": 1.0})
HE_NORMAL = (initializers.HeNormal, {})
LECUN_NORMAL = (initializers.LecunNormal, {})


# -- vanishing gradients and self-normalization at initialization ----------------------------
def test_logistic_with_normal_init_vanishes_orders_of_magnitude_more_than_elu_with_he(digits):
    x, y = digits
    # 30 units: with N(0, 1) weights the backward gain of a sigmoid layer grows like
    # units^(1/4) (wider layers saturate more but multiply by larger weights); at 30 units it is
    # below 1 and 20 layers lose orders of magnitude (at 100 units only ~30x, at 300 none).
    logistic = diagnostics.gradient_flow(
        deep_model("sigmoid", NORMAL_0_1, units=30), x[:256], y[:256]
    )
    elu = diagnostics.gradient_flow(deep_model("elu", HE_NORMAL, units=30), x[:256], y[:256])
    assert logistic.grad_norm_ratio() < 1e-2 * elu.grad_norm_ratio()
    assert 0.1 < elu.grad_norm_ratio() < 10  # He init keeps it about level
    # Saturated units are why: many sigmoid outputs sit within 1% of 0 or 1.
    assert np.mean([r["saturated_fraction"] for r in logistic[:-1]]) > 0.1


def test_selu_with_lecun_normal_keeps_outputs_standardized_across_20_layers(digits):
    x, y = digits
    flat = x.reshape(len(x), -1)
    std = flat.std(axis=0)
    standardized = (flat - flat.mean(axis=0)) / np.where(std > 0, std, 1.0)
    flow = diagnostics.gradient_flow(
        deep_model("selu", LECUN_NORMAL, depth=20, units=100), standardized[:512], y[:512]
    )
    hidden = flow[:-1]
    assert len(hidden) == 20
    for row in hidden:
        assert abs(row["output_mean"]) < 0.1, row
        assert abs(row["output_std"] - 1.0) < 0.1, row


# -- gradient_flow's rows ---------------------------------------------------------------------
def small_mixed_model():
    model = densekit.Sequential(
        [
            layers.Flatten(input_shape=[2, 3]),
            layers.Dense(
                8, activation="sigmoid", kernel_initializer=initializers.GlorotUniform(seed=1)
            ),
            layers.BatchNormalization(),
            layers.Dense(6, activation="relu", kernel_initializer=initializers.HeNormal(seed=2)),
            layers.Activation("tanh"),
            layers.Dense(
                3, activation="softmax", kernel_initializer=initializers.GlorotUniform(seed=3)
            ),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
    return model


def test_gradient_flow_gives_one_row_per_computing_layer_with_none_where_not_applicable(rng):
    model = small_mixed_model()
    x = rng.normal(size=(16, 2, 3))
    y = rng.integers(0, 3, size=16)
    before = [w.copy() for w in model.get_weights()]
    flow = diagnostics.gradient_flow(model, x, y)
    assert isinstance(flow, list)
    # Flatten computes nothing and is left out.
    assert [r["layer"] for r in flow] == [l.name for l in model.layers[1:]]
    assert [r["kind"] for r in flow] == [
        "Dense",
        "BatchNormalization",
        "Dense",
        "Activation",
        "Dense",
    ]
    assert all(set(r) == FIGURE_KEYS for r in flow)
    sigmoid, bn, relu, tanh, softmax = flow
    assert sigmoid["saturated_fraction"] is not None and sigmoid["dead_fraction"] is None
    assert bn["saturated_fraction"] is None and bn["weight_grad_norm"] > 0  # gamma and beta
    assert relu["dead_fraction"] is not None and relu["saturated_fraction"] is None
    assert tanh["weight_grad_norm"] is None and tanh["saturated_fraction"] is not None
    assert softmax["output_mean"] == pytest.approx(1 / 3)  # each row of probabilities sums to 1
    assert all(r["input_grad_norm"] > 0 for r in flow)
    # No update: weights and the moving statistics are as before.
    for w0, w1 in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w1)


def test_gradient_flow_prints_a_table(rng):
    model = small_mixed_model()
    flow = diagnostics.gradient_flow(model, rng.normal(size=(8, 2, 3)), rng.integers(0, 3, size=8))
    table = str(flow)
    assert table == diagnostics.format_table(flow)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["layer", "weight", "grad"]
    assert len(lines) == 2 + len(flow)
    assert lines[5].startswith(flow[3]["layer"]) and " - " in lines[5]  # Activation: no weights


def test_gradient_flow_needs_a_compiled_model(rng):
    model = densekit.Sequential([layers.Dense(2, input_shape=[3])])
    with pytest.raises(ValueError, match="compile"):
        diagnostics.gradient_flow(model, rng.normal(size=(4, 3)), rng.normal(size=(4, 2)))


def test_grad_norm_ratio_compares_lowest_and_top_dense_layers():
    rows = [
        {"kind": "BatchNormalization", "weight_grad_norm": 5.0},
        {"kind": "Dense", "weight_grad_norm": 0.002},
        {"kind": "Activation", "weight_grad_norm": None},
        {"kind": "Dense", "weight_grad_norm": 0.5},
    ]
    assert diagnostics.grad_norm_ratio(rows) == pytest.approx(0.004)  # 0.002 / 0.5
    assert diagnostics.grad_norm_ratio(rows[2:]) is None
    assert math.isnan(
        diagnostics.grad_norm_ratio(rows[:3] + [{"kind": "Dense", "weight_grad_norm": math.inf}])
    )


# -- the monitor's figures against NumPy --------------------------------------------------------
def _reference_figures(weights, activations, x, y):
    """Per layer (weight grad norm, input grad norm, outputs) of a float64 Dense stack."""
    h, saved = ref._f64(x), []
    for i, name in enumerate(activations):
        z = ref.dense_forward(h, weights[2 * i], weights[2 * i + 1])
        saved.append((h, z))
        h = ref.activation(name, z)
    _, dh = ref.loss_and_gradient("sparse_categorical_crossentropy", h, y)
    figures = [None] * len(activations)
    for i in reversed(range(len(activations))):
        h_in, z = saved[i]
        out = ref.activation(activations[i], z)
        dz = ref.activation_backward(activations[i], z, dh)
        dh, dw, db = ref.dense_backward(h_in, weights[2 * i], dz)
        figures[i] = (math.sqrt((dw**2).sum() + (db**2).sum()), float(np.linalg.norm(dh)), out)
    return figures


def _monitored_model(weights):
    model = densekit.Sequential(
        [
            layers.Dense(7, activation="tanh", input_shape=[4]),
            layers.Dense(5, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        loss="sparse_categorical_crossentropy", optimizer=optimizers.SGD(learning_rate=0.1)
    )
    model.set_weights([w.astype(np.float32) for w in weights])
    return model


def test_monitor_figures_equal_a_numpy_forward_and_backward_of_the_same_weights():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(12, 4))
    y = rng.integers(0, 3, size=12)
    weights = [
        rng.normal(0, 2.0, size=(4, 7)),
        rng.normal(0, 0.5, size=7),  # large: tanh saturates
        rng.normal(0, 0.5, size=(7, 5)),
        rng.normal(0, 0.1, size=5),
        rng.normal(0, 0.5, size=(5, 3)),
        np.zeros(3),
    ]
    weights[3][0] = -50.0  # relu unit 0 is dead for every sample
    weights = [ref._f64(w.astype(np.float32)) for w in weights]  # exactly what the model holds
    model = _monitored_model(weights)
    monitor = GradientMonitor(every=1)
    # Batch = the whole data, no shuffle: step s sees all samples with the weights after s updates.
    model.fit(x, y, batch_size=12, epochs=2, shuffle=False, callbacks=[monitor], verbose=0)
    assert [(r["epoch"], r["step"], r["batch"]) for r in monitor.records] == [(0, 0, 0), (1, 1, 0)]

    activations = ("tanh", "relu", "softmax")
    _, after_one_step, _ = ref.training_step(
        weights, [None] * 6, activations, x, y, "sparse_categorical_crossentropy", learning_rate=0.1
    )
    labels = y.reshape(-1, 1)
    for record, step_weights in zip(monitor.records, (weights, after_one_step)):
        expected = _reference_figures(step_weights, activations, x, labels)
        rows = record["layers"]
        for row, (weight_norm, input_norm, out) in zip(rows, expected):
            assert row["weight_grad_norm"] == pytest.approx(weight_norm, rel=1e-4)
            assert row["input_grad_norm"] == pytest.approx(input_norm, rel=1e-4)
            assert row["output_mean"] == pytest.approx(out.mean(), rel=1e-4, abs=1e-6)
            assert row["output_std"] == pytest.approx(out.std(), rel=1e-4)
        tanh_out, relu_out = expected[0][2], expected[1][2]
        # Away from the 0.99 threshold, so float32 and float64 count the same units.
        assert np.abs(np.abs(tanh_out) - 0.99).min() > 1e-4
        saturated = (np.abs(tanh_out) >= 0.99).mean()
        assert 0.2 < saturated < 0.9
        assert rows[0]["saturated_fraction"] == pytest.approx(saturated)
        dead = (relu_out <= 0).all(axis=0).mean()
        assert dead >= 0.2  # unit 0 at least
        assert rows[1]["dead_fraction"] == pytest.approx(dead)
        assert rows[0]["dead_fraction"] is None and rows[1]["saturated_fraction"] is None
        assert rows[2]["saturated_fraction"] is None and rows[2]["dead_fraction"] is None


# -- records, History, chunked path -----------------------------------------------------------
def test_monitor_records_every_nth_step_and_adds_grad_norm_ratio_to_the_history(rng, monkeypatch):
    model = deep_model("relu", HE_NORMAL, depth=3, units=16, input_shape=(6,))
    x, y = rng.normal(size=(40, 6)), rng.integers(0, 10, size=40)
    monitor = GradientMonitor(every=2)
    assert not callbacks.CallbackList([monitor]).needs_batch_hooks("train")

    def per_batch(*args, **kwargs):
        raise AssertionError("GradientMonitor must not force one C++ call per batch")

    monkeypatch.setattr(model, "_epoch_per_batch", per_batch)
    history = model.fit(x, y, batch_size=8, epochs=3, callbacks=[monitor], verbose=0)
    # 5 steps per epoch, steps 0..14; every 2nd: 0, 2, 4 | 6, 8 | 10, 12, 14.
    assert [r["step"] for r in monitor.records] == [0, 2, 4, 6, 8, 10, 12, 14]
    assert [r["epoch"] for r in monitor.records] == [0, 0, 0, 1, 1, 2, 2, 2]
    assert [r["batch"] for r in monitor.records] == [0, 2, 4, 1, 3, 0, 2, 4]
    assert all(len(r["layers"]) == 4 for r in monitor.records)
    ratios = history.history["grad_norm_ratio"]
    assert len(ratios) == 3 and all(r > 0 for r in ratios)
    assert ratios[0] == pytest.approx(
        np.median([diagnostics.grad_norm_ratio(r["layers"]) for r in monitor.records[:3]])
    )

    # Off after fit: another fit without the monitor records nothing.
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert model._gradient_recording().take() == []
    # A second fit with the monitor starts new records, continuing the model's step count.
    model.fit(x, y, batch_size=8, epochs=1, callbacks=[monitor], verbose=0)
    assert [r["step"] for r in monitor.records] == [20, 22, 24]


class RaiseAtEpochEnd(callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("raised by a callback")


@pytest.mark.parametrize("order", ["monitor-first", "raiser-first"])
def test_monitor_is_switched_off_and_its_records_dropped_when_fit_raises(rng, order):
    # fit raises before on_train_end, which would have switched the monitor off: fit's finally
    # must do it, or every later fit keeps recording into a list nobody takes. With the raiser
    # first, the monitor's on_epoch_end never ran and the epoch's records are left in C++.
    model = deep_model("relu", HE_NORMAL, depth=2, units=8, input_shape=(6,))
    x, y = rng.normal(size=(32, 6)), rng.integers(0, 10, size=32)
    monitor = GradientMonitor(every=1, warn=False)
    cbs = [monitor, RaiseAtEpochEnd()]
    with pytest.raises(RuntimeError, match="raised by a callback"):
        model.fit(
            x,
            y,
            batch_size=8,
            epochs=2,
            verbose=0,
            callbacks=cbs if order == "monitor-first" else cbs[::-1],
        )
    # It was recording (4 steps of the first epoch) until the raise...
    assert len(monitor.records) == (4 if order == "monitor-first" else 0)
    assert model._gradient_recording().take() == []  # ...and left nothing behind.
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert model._gradient_recording().take() == []


def test_monitor_rejects_a_bad_every():
    with pytest.raises(ValueError, match="every"):
        GradientMonitor(every=0)


# -- warnings ---------------------------------------------------------------------------------
def test_monitor_warns_when_gradients_vanish_naming_the_layers(digits):
    x, y = digits
    model = deep_model("sigmoid", NORMAL_0_1, units=30)
    monitor = GradientMonitor(every=5)
    with pytest.warns(GradientWarning) as caught:
        model.fit(x[:256], y[:256], batch_size=64, epochs=1, callbacks=[monitor], verbose=0)
    messages = [str(w.message) for w in caught]
    vanishing = [m for m in messages if m.startswith("Vanishing gradients")]
    assert len(vanishing) == 1
    dense = [l.name for l in model.layers if isinstance(l, layers.Dense)]
    assert (
        f"lowest layer '{dense[0]}'" in vanishing[0] and f"top layer '{dense[-1]}'" in vanishing[0]
    )
    assert [kind for kind, _ in monitor.messages] == ["vanishing"]


def _diverging_regression(learning_rate):
    rng = np.random.default_rng(7)
    x = rng.normal(size=(24, 4))
    y = x @ np.array([1.0, -2.0, 0.5, 3.0])
    model = densekit.Sequential(
        [
            layers.Dense(
                1,
                input_shape=[4],
                name="regression",
                kernel_initializer=initializers.GlorotUniform(seed=1),
            )
        ]
    )
    model.compile(loss="mse", optimizer=optimizers.SGD(learning_rate=learning_rate))
    return model, x, y


def test_monitor_warns_when_gradients_explode_within_an_epoch():
    # Per-sample SGD on a linear regression with a learning rate far too large: each step
    # multiplies the error by about |1 - 2·lr·‖x‖²| ≈ 7, so the gradient grows geometrically.
    model, x, y = _diverging_regression(learning_rate=1.0)
    monitor = GradientMonitor(every=1)
    with pytest.warns(GradientWarning, match="Exploding gradients") as caught:
        model.fit(x, y, batch_size=1, epochs=1, shuffle=False, callbacks=[monitor], verbose=0)
    assert len(caught) == 1
    assert "layer 'regression'" in str(caught[0].message)
    assert [kind for kind, _ in monitor.messages] == ["exploding"]
    norms = [r["layers"][0]["weight_grad_norm"] for r in monitor.records]
    assert all(math.isfinite(n) for n in norms) and max(norms) > 100 * norms[0]


def test_monitor_warns_when_gradients_become_nonfinite():
    model, x, y = _diverging_regression(learning_rate=3.0)
    monitor = GradientMonitor(every=1)
    with pytest.warns(GradientWarning) as caught:
        history = model.fit(
            x, y, batch_size=1, epochs=3, shuffle=False, callbacks=[monitor], verbose=0
        )
    assert history.stopped_on_nonfinite is not None
    nonfinite = [str(w.message) for w in caught if "NaN or Inf" in str(w.message)]
    assert len(nonfinite) == 1 and "layer 'regression'" in nonfinite[0]
    assert [kind for kind, _ in monitor.messages] == ["exploding", "nonfinite"]


def test_monitor_warns_about_a_nonfinite_step_it_did_not_record():
    model, x, y = _diverging_regression(learning_rate=3.0)
    monitor = GradientMonitor(every=5)
    with pytest.warns(GradientWarning) as caught:
        history = model.fit(
            x, y, batch_size=1, epochs=3, shuffle=False, callbacks=[monitor], verbose=0
        )
    stopped = history.stopped_on_nonfinite
    step = 24 * stopped["epoch"] + stopped["step"]
    assert step % 5 != 0  # not a recorded step
    nonfinite = [str(w.message) for w in caught if "NaN or Inf" in str(w.message)]
    assert len(nonfinite) == 1
    assert f"step {step}, a step the monitor did not record" in nonfinite[0]
    assert "layer 'regression'" in nonfinite[0]


def test_gradient_problems_from_hand_made_records():
    def record(step, bottom, top):
        return {
            "epoch": 0,
            "step": step,
            "layers": [
                {
                    "layer": "low",
                    "kind": "Dense",
                    "weight_grad_norm": bottom,
                    "input_grad_norm": 1.0,
                    "output_mean": 0.0,
                    "output_std": 1.0,
                },
                {
                    "layer": "high",
                    "kind": "Dense",
                    "weight_grad_norm": top,
                    "input_grad_norm": 1.0,
                    "output_mean": 0.0,
                    "output_std": 1.0,
                },
            ],
        }

    # Global norms: 1.0 at step 0, then sqrt(0.03² + 150²) ≈ 150 at step 2: grew 150x (≥ 100).
    problems = diagnostics.gradient_problems(
        [record(0, 1e-4, 1.0), record(1, 0.5, 50.0), record(2, 0.03, 150.0)]
    )
    assert [kind for kind, _ in problems] == ["vanishing", "exploding"]
    assert "1.0e-04 times" in problems[0][1] and "step 0" in problems[0][1]  # 1e-4 / 1.0
    assert "grew 150x" in problems[1][1] and "layer 'high'" in problems[1][1]
    assert diagnostics.gradient_problems([record(0, 0.5, 1.0), record(1, 5.0, 60.0)]) == []
    bad = record(3, math.nan, 2.0)
    assert diagnostics.gradient_problems([bad])[0][0] == "nonfinite"
    assert "layer 'low'" in diagnostics.gradient_problems([bad])[0][1]


# -- the narrow interface between the model and its diagnostics ---------------------------------


class _Stats:
    """Stand-in for the C++ LayerStats of one layer."""

    def __init__(self, scale):
        self.weight_grad_norm = 2.0 * scale
        self.input_grad_norm = 3.0 * scale
        self.output_mean = 0.5
        self.output_std = 1.5
        self.saturated_fraction = math.nan  # "does not apply"
        self.dead_fraction = 0.25


def _layer(name, trainable):
    var = type("Var", (), {"trainable": trainable})()
    return type("FakeLayer", (), {"name": name, "variables": [var]})()


def test_gradient_flow_reads_the_model_only_through_its_gradient_flow_method():
    bottom, top = _layer("bottom", True), _layer("top", True)
    calls = []

    class OnlyTheNarrowMethod:
        def _gradient_flow(self, x, y):
            calls.append((x, y))
            return [(bottom, _Stats(1.0)), (top, _Stats(10.0))]

    flow = diagnostics.gradient_flow(OnlyTheNarrowMethod(), "x", "y")
    assert calls == [("x", "y")]
    assert [row["layer"] for row in flow] == ["bottom", "top"]
    assert [row["kind"] for row in flow] == ["FakeLayer", "FakeLayer"]
    assert flow[1]["weight_grad_norm"] == 20.0 and flow[0]["input_grad_norm"] == 3.0
    assert flow[0]["saturated_fraction"] is None and flow[0]["dead_fraction"] == 0.25
    assert flow.grad_norm_ratio() == pytest.approx(0.1)  # 2 / 20


def test_gradient_monitor_reads_the_model_only_through_its_gradient_recording():
    layers_ = [_layer("bottom", True), _layer("top", True)]

    class Recording:
        def __init__(self):
            self.steps_done, self.every, self.pending = 40, None, []

        def start(self, every):
            self.every = every

        def stop(self):
            self.every = 0

        def take(self):
            taken, self.pending = self.pending, []
            return taken

    recording = Recording()

    class OnlyTheNarrowMethod:
        history = None

        def _gradient_recording(self):
            return recording

    monitor = GradientMonitor(every=3, warn=False)
    monitor.set_model(OnlyTheNarrowMethod())
    monitor.on_train_begin()
    assert recording.every == 3
    monitor.on_epoch_begin(0)
    recording.pending = [
        (step, [(layers_[0], _Stats(1.0)), (layers_[1], _Stats(2.0))]) for step in (42, 45)
    ]
    logs = {}
    monitor.on_epoch_end(0, logs)
    monitor.on_train_end()
    assert recording.every == 0
    assert [(r["step"], r["batch"]) for r in monitor.records] == [(42, 2), (45, 5)]
    assert logs["grad_norm_ratio"] == pytest.approx(0.5)  # 2 / 4 at both steps


def test_the_models_gradient_flow_pairs_stats_with_the_layers_its_network_runs(rng):
    model = deep_model("relu", HE_NORMAL, depth=2, units=8, input_shape=(2, 3))
    x, y = rng.normal(size=(16, 2, 3)), rng.integers(0, 10, size=16)
    pairs = model._gradient_flow(x, y)
    assert [layer for layer, _ in pairs] == model.layers[1:]  # the Flatten runs nothing
    flow = diagnostics.gradient_flow(model, x, y)
    assert [row["weight_grad_norm"] for row in flow] == [
        pytest.approx(stats.weight_grad_norm) for _, stats in pairs
    ]


def test_gradient_flow_leaves_the_random_layers_draws_alone():
    """A look at the gradients changes nothing that later training draws: the fit after it
    equals the fit without it, dropout masks and RReLU slopes included."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=64)

    def trained(look_first):
        model = densekit.Sequential(
            [
                densekit.Input((6,)),
                densekit.layers.Dense(8),
                densekit.layers.RReLU(seed=1),
                densekit.layers.Dropout(0.5, seed=2),
                densekit.layers.Dense(3, activation="softmax", kernel_initializer="ones"),
            ]
        )
        model.layers[0].set_weights([np.full((6, 8), 0.1, np.float32), np.zeros(8, np.float32)])
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        if look_first:
            diagnostics.gradient_flow(model, x[:16], y[:16])
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        return model.get_weights()

    for a, b in zip(trained(True), trained(False)):
        np.testing.assert_array_equal(a, b)
