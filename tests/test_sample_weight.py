"""sample_weight and class_weight: against Keras 3 (torch backend) step for step, against
float64 NumPy, all-ones weights against no weights bit for bit, and bad weights refused."""

import numpy as np
import pytest

import densekit
from densekit import _core

keras = pytest.importorskip("keras")

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


def _init(rng, features=5, hidden=7, classes=3):
    return [
        rng.normal(0, 0.5, (features, hidden)).astype(np.float32),
        rng.normal(0, 0.1, hidden).astype(np.float32),
        rng.normal(0, 0.5, (hidden, classes)).astype(np.float32),
        rng.normal(0, 0.1, classes).astype(np.float32),
    ]


def _pair(rng, loss="sparse_categorical_crossentropy", out_activation="softmax", classes=3):
    init = _init(rng, classes=classes)
    models = []
    for lib in (densekit, keras):
        model = lib.Sequential(
            [
                lib.Input((5,)),
                lib.layers.Dense(7, activation="tanh"),
                lib.layers.Dense(classes, activation=out_activation),
            ]
        )
        model.set_weights(init)
        model.compile(
            optimizer=lib.optimizers.SGD(0.1, momentum=0.5), loss=loss, metrics=["accuracy"]
        )
        models.append(model)
    return models


def _keras_weights(model):
    return [v.value.detach().cpu().numpy() for v in model.weights]


def _assert_same(ours, theirs):
    for a, b in zip(ours.get_weights(), _keras_weights(theirs)):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize(
    "loss, activation, classes",
    [
        ("sparse_categorical_crossentropy", "softmax", 3),
        ("binary_crossentropy", "sigmoid", 1),
        ("mean_squared_error", "linear", 2),
    ],
)
def test_train_on_batch_with_sample_weight_matches_keras_step_for_step(
    rng, loss, activation, classes
):
    ours, theirs = _pair(rng, loss, activation, classes)
    for _ in range(6):
        x = rng.normal(size=(16, 5)).astype(np.float32)
        if loss == "sparse_categorical_crossentropy":
            y = rng.integers(0, 3, 16)
        elif loss == "binary_crossentropy":
            y = rng.integers(0, 2, (16, 1)).astype(np.float32)
        else:
            y = rng.normal(size=(16, 2)).astype(np.float32)
        # Zeros included, and a sum far from the batch size: Keras divides by the batch size.
        w = rng.uniform(0, 3, 16).astype(np.float32)
        w[:3] = 0
        got = ours.train_on_batch(x, y, sample_weight=w, return_dict=True)
        want = theirs.train_on_batch(x, y, sample_weight=w, return_dict=True)
        np.testing.assert_allclose(got["loss"], want["loss"], rtol=2e-5)
        # The plain metrics are not weighted, in Keras as here.
        np.testing.assert_allclose(got["accuracy"], want["accuracy"], rtol=1e-6)
    _assert_same(ours, theirs)
    x = rng.normal(size=(20, 5)).astype(np.float32)
    y = rng.integers(0, 3, 20) if classes == 3 else rng.integers(0, 2, (20, classes))
    w = rng.uniform(0, 2, 20)
    got = ours.test_on_batch(x, y, sample_weight=w, return_dict=True)
    want = theirs.test_on_batch(x, y, sample_weight=w, return_dict=True)
    np.testing.assert_allclose(got["loss"], want["loss"], rtol=2e-5)


def test_fit_with_sample_weight_matches_keras_weights_and_history(rng):
    ours, theirs = _pair(rng)
    x = rng.normal(size=(70, 5)).astype(np.float32)
    y = rng.integers(0, 3, 70)
    w = rng.uniform(0, 2, 70).astype(np.float32)
    kwargs = dict(batch_size=16, epochs=3, shuffle=False, verbose=0, validation_split=0.2)
    got = ours.fit(x, y, sample_weight=w, **kwargs).history
    want = theirs.fit(x, y, sample_weight=w, **kwargs).history
    _assert_same(ours, theirs)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(got[key], want[key], rtol=2e-5, err_msg=key)
    got = ours.evaluate(x, y, sample_weight=w, batch_size=16, verbose=0)
    want = theirs.evaluate(x, y, sample_weight=w, batch_size=16, verbose=0)
    np.testing.assert_allclose(got, want, rtol=2e-5)


def test_fit_with_class_weight_matches_keras(rng):
    ours, theirs = _pair(rng)
    x = rng.normal(size=(48, 5)).astype(np.float32)
    y = rng.integers(0, 3, 48)
    class_weight = {0: 0.5, 2: 3.0}  # class 1 unnamed: weight 1
    # The validation samples are not weighted by class_weight, in Keras as here.
    kwargs = dict(batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
    got = ours.fit(x, y, class_weight=class_weight, **kwargs).history
    want = theirs.fit(x, y, class_weight=class_weight, **kwargs).history
    _assert_same(ours, theirs)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(got[key], want[key], rtol=2e-5, err_msg=key)


def test_validation_data_with_sample_weights_matches_keras(rng):
    ours, theirs = _pair(rng)
    x = rng.normal(size=(32, 5)).astype(np.float32)
    y = rng.integers(0, 3, 32)
    xv = rng.normal(size=(24, 5)).astype(np.float32)
    yv = rng.integers(0, 3, 24)
    wv = rng.uniform(0, 4, 24).astype(np.float32)
    kwargs = dict(batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(xv, yv, wv))
    got = ours.fit(x, y, **kwargs).history
    want = theirs.fit(x, y, **kwargs).history
    np.testing.assert_allclose(got["val_loss"], want["val_loss"], rtol=2e-5)


def test_weighted_losses_match_float64_numpy(rng):
    # Keras's "sum_over_batch_size": Σ w·l / n, n the batch size.
    p = rng.dirichlet(np.ones(4), 9).astype(np.float32)
    labels = rng.integers(0, 4, 9)
    w = rng.uniform(0, 3, 9)
    per_row = -np.log(np.clip(p[np.arange(9), labels].astype(np.float64), 1e-7, 1 - 1e-7))
    expected = np.sum(w * per_row) / 9
    spec = _core.kernels.LossSpec("sparse_categorical_crossentropy")
    target = labels.reshape(-1, 1).astype(np.float32)
    got = _core.kernels.loss_value(spec, p, target, sample_weight=w.astype(np.float32))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # MSE gradient: w · 2 (p - t) / (n · C).
    pred = rng.normal(size=(9, 2)).astype(np.float32)
    t = rng.normal(size=(9, 2)).astype(np.float32)
    loss, grad = _core.kernels.loss_value_and_gradient(
        _core.kernels.LossSpec("mean_squared_error"), pred, t, sample_weight=w.astype(np.float32)
    )
    d = pred.astype(np.float64) - t
    np.testing.assert_allclose(loss, np.sum(w * np.mean(d**2, axis=1)) / 9, rtol=1e-5)
    np.testing.assert_allclose(grad, w[:, None] * 2 * d / (9 * 2), rtol=1e-5, atol=1e-7)


def _digits_model(seed=3):
    densekit.utils.set_random_seed(seed)
    model = densekit.Sequential(
        [
            densekit.Input((6,)),
            densekit.layers.Dense(8, activation="relu"),
            densekit.layers.BatchNormalization(),
            densekit.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_all_ones_weights_equal_no_weights_bit_for_bit(rng):
    x = rng.normal(size=(90, 6)).astype(np.float32)
    y = rng.integers(0, 3, 90)
    plain, ones, classes = _digits_model(), _digits_model(), _digits_model()
    h_plain = plain.fit(x, y, batch_size=16, epochs=2, seed=5, verbose=0).history
    h_ones = ones.fit(x, y, sample_weight=np.ones(90), batch_size=16, epochs=2, seed=5, verbose=0)
    h_class = classes.fit(
        x, y, class_weight={0: 1.0, 1: 1.0}, batch_size=16, epochs=2, seed=5, verbose=0
    )
    assert h_ones.history == h_plain and h_class.history == h_plain
    for a, b, c in zip(plain.get_weights(), ones.get_weights(), classes.get_weights()):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    assert plain.evaluate(x, y, verbose=0) == ones.evaluate(
        x, y, sample_weight=np.ones(90), verbose=0
    )


def test_zero_weights_leave_the_model_as_if_those_samples_were_absent_from_the_loss(rng):
    # With plain SGD (no momentum, no batch statistics) a batch whose weights are all zero
    # changes no weight.
    model = densekit.Sequential([densekit.Input((4,)), densekit.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    before = [w.copy() for w in model.get_weights()]
    x, y = rng.normal(size=(8, 4)), rng.normal(size=(8, 2))
    assert model.train_on_batch(x, y, sample_weight=np.zeros(8)) == 0.0
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.ones(9), r"one weight per sample, shape \(10,\)"),
        (np.ones((10, 2)), r"one weight per sample"),
        (np.r_[np.ones(9), np.nan], "finite"),
        (np.r_[np.ones(9), -1.0], "non-negative"),
        (np.array(["a"] * 10), "real numbers"),
    ],
)
def test_bad_sample_weight_raises_naming_the_argument(rng, weights, message):
    model = _digits_model()
    x, y = rng.normal(size=(10, 6)), rng.integers(0, 3, 10)
    for call in (
        lambda: model.fit(x, y, sample_weight=weights, verbose=0),
        lambda: model.evaluate(x, y, sample_weight=weights, verbose=0),
        lambda: model.train_on_batch(x, y, sample_weight=weights),
        lambda: model.test_on_batch(x, y, sample_weight=weights),
    ):
        with pytest.raises(ValueError, match=f"sample_weight.*{message}|{message}.*sample_weight"):
            call()
    with pytest.raises(ValueError, match="val_sample_weight"):
        model.fit(x, y, validation_data=(x, y, weights), verbose=0)


@pytest.mark.parametrize(
    "class_weight, message",
    [
        ({3: 1.0}, "key 3, which is not a class"),
        ({"a": 1.0}, "key 'a'"),
        ({0: -1.0}, r"class_weight\[0\] must be finite and non-negative"),
        ({0: float("nan")}, "finite"),
        ([1.0, 2.0], "must be a dict"),
    ],
)
def test_bad_class_weight_raises_naming_the_argument(rng, class_weight, message):
    model = _digits_model()
    x, y = rng.normal(size=(10, 6)), rng.integers(0, 3, 10)
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, class_weight=class_weight, verbose=0)


def test_class_weight_and_sample_weight_together_are_refused(rng):
    model = _digits_model()
    x, y = rng.normal(size=(10, 6)), rng.integers(0, 3, 10)
    with pytest.raises(ValueError, match="class_weight and sample_weight"):
        model.fit(x, y, class_weight={0: 2.0}, sample_weight=np.ones(10), verbose=0)
