"""Regularizers: the penalty kernels against float64 NumPy and finite differences, the Python
API (get, serialize, bad input), and training with penalties against Keras 3 step for step."""

import numpy as np
import pytest

import densekit
from densekit import _core, regularizers

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    # Keras reads its own variables through np.array(copy=False), which NumPy 2 warns about.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]


# -- float64 references ---------------------------------------------------------------------
def _l1_l2_ref(w, l1, l2):
    w = w.astype(np.float64)
    return l1 * np.abs(w).sum() + l2 * (w**2).sum(), l1 * np.sign(w) + 2 * l2 * w


def _orthogonal_ref(w, factor, columns):
    w = w.astype(np.float64)
    if columns:
        w = w.T
    inv = np.minimum(1 / np.sqrt((w**2).sum(axis=1)), 1e7)
    n = w * inv[:, None]
    p = n @ n.T
    size = w.shape[0]
    off = 1 - np.eye(size)
    return factor * 0.5 * np.abs(p * off).sum() / (size * (size - 1) / 2)


def _numeric_gradient(f, w, h=1e-3):
    grad = np.zeros_like(w, dtype=np.float64)
    for index in np.ndindex(w.shape):
        up, down = w.astype(np.float64).copy(), w.astype(np.float64).copy()
        up[index] += h
        down[index] -= h
        grad[index] = (f(up) - f(down)) / (2 * h)
    return grad


def _spec(regularizer):
    return regularizers.spec_of(regularizer)


@pytest.mark.parametrize("l1,l2", [(0.01, 0.0), (0.0, 0.3), (0.2, 0.05)])
def test_l1_l2_value_and_gradient_match_float64(rng, l1, l2):
    w = rng.normal(0, 1, (7, 5)).astype(np.float32)
    w[0, 0] = 0  # sign(0) = 0
    value, grad = _core.kernels.penalty_gradient(_spec(regularizers.L1L2(l1, l2)), w)
    ref_value, ref_grad = _l1_l2_ref(w, l1, l2)
    np.testing.assert_allclose(value, ref_value, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-7)
    assert grad[0, 0] == pytest.approx(0.0)


@pytest.mark.parametrize("mode", ["rows", "columns"])
def test_orthogonal_value_and_gradient_match_float64_and_finite_differences(rng, mode):
    w = rng.normal(0, 1, (5, 4)).astype(np.float32)
    reg = regularizers.OrthogonalRegularizer(0.3, mode=mode)
    value, grad = _core.kernels.penalty_gradient(_spec(reg), w)
    np.testing.assert_allclose(value, _orthogonal_ref(w, reg.factor, mode == "columns"), rtol=1e-5)
    numeric = _numeric_gradient(lambda v: _orthogonal_ref(v, reg.factor, mode == "columns"), w)
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-5)
    assert reg(w) == pytest.approx(value, rel=1e-6)


def test_orthogonal_of_orthogonal_rows_is_zero_and_of_parallel_rows_is_the_factor():
    eye = np.eye(3, dtype=np.float32)
    assert regularizers.OrthogonalRegularizer(1.0)(eye) == pytest.approx(0.0)
    # Every pair of identical unit rows has |n_i . n_k| = 1: factor / 2 * 6 / 3 = factor.
    same = np.ones((3, 4), dtype=np.float32)
    assert regularizers.OrthogonalRegularizer(0.5)(same) == pytest.approx(0.5, rel=1e-6)


def test_calling_a_regularizer_returns_its_penalty():
    # Keras's docstring: L2(2.0) on a 5x5 of ones is 2 * 25 = 50.
    assert regularizers.L2(2.0)(np.ones((5, 5))) == pytest.approx(50.0)
    # L1(0.5) on [-1, 2, -3]: 0.5 * 6 = 3; L1L2(1, 1): 6 + 14 = 20.
    assert regularizers.L1(0.5)(np.array([-1.0, 2.0, -3.0])) == pytest.approx(3.0)
    assert regularizers.L1L2(1, 1)(np.array([-1.0, 2.0, -3.0])) == pytest.approx(20.0)


def test_get_accepts_names_dicts_classes_instances_and_none():
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert regularizers.get("l2").l2 == 0.01
    assert isinstance(regularizers.get("L1"), regularizers.L1)
    assert regularizers.get("l1l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert isinstance(
        regularizers.get("orthogonal_regularizer"), regularizers.OrthogonalRegularizer
    )
    assert isinstance(regularizers.get(regularizers.L2), regularizers.L2)
    reg = regularizers.L1L2(0.1, 0.2)
    assert regularizers.get(reg) is reg
    assert regularizers.get(None) is None
    again = regularizers.get(regularizers.serialize(reg))
    assert isinstance(again, regularizers.L1L2) and again.get_config() == reg.get_config()
    assert regularizers.l1 is regularizers.L1 and regularizers.l1_l2 is regularizers.L1L2
    assert regularizers.orthogonal_regularizer is regularizers.OrthogonalRegularizer


@pytest.mark.parametrize(
    "reg",
    [
        regularizers.L1(0.3),
        regularizers.L2(0.2),
        regularizers.L1L2(0.1, 0.4),
        regularizers.OrthogonalRegularizer(0.2, "columns"),
    ],
)
def test_config_round_trip(reg):
    again = type(reg).from_config(reg.get_config())
    assert again.get_config() == reg.get_config()
    assert regularizers.deserialize(regularizers.serialize(reg)).get_config() == reg.get_config()


@pytest.mark.parametrize(
    "make,arg",
    [
        (lambda: regularizers.L1(-0.1), "l1"),
        (lambda: regularizers.L2(float("nan")), "l2"),
        (lambda: regularizers.L1L2(0.1, float("inf")), "l2"),
        (lambda: regularizers.L2("0.1"), "l2"),
        (lambda: regularizers.OrthogonalRegularizer(-1.0), "factor"),
        (lambda: regularizers.OrthogonalRegularizer(0.1, mode="diagonal"), "mode"),
    ],
)
def test_bad_values_raise_naming_the_class_and_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_unknown_names_and_python_regularizers_are_refused_by_layers():
    with pytest.raises(ValueError, match="kernel_regularizer.*l3"):
        densekit.layers.Dense(2, kernel_regularizer="l3")
    with pytest.raises(NotImplementedError, match="kernel_regularizer"):
        densekit.layers.Dense(2, kernel_regularizer=lambda w: 0.01 * np.sum(w))

    class Mine(regularizers.L2):
        def __call__(self, x):
            return 0.0

    with pytest.raises(NotImplementedError, match="bias_regularizer"):
        densekit.layers.Dense(2, bias_regularizer=Mine())
    with pytest.raises(NotImplementedError, match="activity_regularizer"):
        densekit.layers.Dense(2, activity_regularizer=regularizers.OrthogonalRegularizer())


def test_orthogonal_on_a_one_column_kernel_is_refused_at_build():
    layer = densekit.layers.Dense(
        1, kernel_regularizer=regularizers.OrthogonalRegularizer(mode="columns")
    )
    with pytest.raises(ValueError, match="kernel_regularizer"):
        layer(np.ones((2, 3), dtype=np.float32))


def test_layer_losses_are_the_penalties_of_trainable_weights_only():
    layer = densekit.layers.Dense(
        2, kernel_initializer="ones", kernel_regularizer=regularizers.L1(0.5), bias_regularizer="l2"
    )
    layer(np.ones((1, 3), dtype=np.float32))
    # L1(0.5) of a 3x2 of ones: 0.5 * 6 = 3; the zero bias: 0.
    np.testing.assert_allclose(layer.losses, [3.0, 0.0], rtol=1e-6)
    layer.trainable = False
    assert layer.losses == []


# -- against Keras 3 --------------------------------------------------------------------------
def _keras():
    return pytest.importorskip("keras")


def _keras_value(variable):
    value = variable.value
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _keras_losses(model):
    # Keras's weight-regularization losses. After a step its model.losses also lists, first, the
    # activity penalties of the last call; densekit lists the weight penalties only.
    weights = [loss for layer in model.layers for loss in layer._get_regularization_losses()]
    return [float(v.detach().cpu().numpy()) for v in weights]


def _build(lib, first, last, activity_on_last):
    L = lib.layers
    r = lib.regularizers
    return lib.Sequential(
        [
            lib.Input((6,)),
            L.Dense(
                8,
                activation="tanh",
                kernel_regularizer=first,
                bias_regularizer=r.L1(0.02),
                activity_regularizer=r.L2(0.01),
            ),
            L.BatchNormalization(gamma_regularizer=r.L2(0.03), beta_regularizer=r.L1(0.02)),
            L.Dense(
                3,
                activation="softmax",
                kernel_regularizer=last,
                activity_regularizer=r.L1(0.01) if activity_on_last else None,
            ),
        ]
    )


def _regularizer(lib, name):
    r = lib.regularizers
    return {
        "l1": lambda: r.L1(0.01),
        "l2": lambda: r.L2(0.02),
        "l1_l2": lambda: r.L1L2(0.01, 0.02),
        "orthogonal_rows": lambda: r.OrthogonalRegularizer(0.05),
        "orthogonal_columns": lambda: r.OrthogonalRegularizer(0.05, mode="columns"),
    }[name]()


def _pair(rng, first, activity_on_last=False):
    keras = _keras()
    ours = _build(
        densekit, _regularizer(densekit, first), densekit.regularizers.L2(0.01), activity_on_last
    )
    theirs = _build(
        keras, _regularizer(keras, first), keras.regularizers.L2(0.01), activity_on_last
    )
    init = [w.copy() for w in theirs.get_weights()]
    init[0] = rng.normal(0, 0.5, init[0].shape).astype(np.float32)
    init[1] = rng.normal(0, 0.1, init[1].shape).astype(np.float32)
    ours.set_weights(init)
    theirs.set_weights(init)
    return ours, theirs


def _optimizers(name):
    keras = _keras()
    if name == "sgd":
        return densekit.optimizers.SGD(0.1, momentum=0.9), keras.optimizers.SGD(0.1, momentum=0.9)
    return densekit.optimizers.Adam(0.01), keras.optimizers.Adam(0.01)


def _assert_same_weights(ours, theirs, rtol=2e-5, atol=2e-6):
    for a, b in zip(ours.get_weights(), [_keras_value(v) for v in theirs.weights]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("first", ["l1", "l2", "l1_l2", "orthogonal_rows", "orthogonal_columns"])
def test_training_with_penalties_matches_keras_step_for_step(rng, first, optimizer):
    ours, theirs = _pair(rng, first)
    mine, keras_opt = _optimizers(optimizer)
    ours.compile(optimizer=mine, loss="sparse_categorical_crossentropy")
    theirs.compile(optimizer=keras_opt, loss="sparse_categorical_crossentropy")
    np.testing.assert_allclose(ours.losses, _keras_losses(theirs), rtol=1e-5)
    x = rng.normal(0, 1, (5, 16, 6)).astype(np.float32)
    y = rng.integers(0, 3, (5, 16))
    for xb, yb in zip(x, y):
        ours_loss = ours.train_on_batch(xb, yb)
        theirs_loss = theirs.train_on_batch(xb, yb)
        np.testing.assert_allclose(ours_loss, theirs_loss, rtol=2e-5)
        _assert_same_weights(ours, theirs)
    np.testing.assert_allclose(ours.losses, _keras_losses(theirs), rtol=2e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fit_and_evaluate_report_the_penalized_loss_as_keras(rng, optimizer):
    # Batches of 16, 16 and 8: Keras's epoch loss is the batch-size-weighted mean of each batch's
    # data loss + penalties at the weights before that batch's update.
    ours, theirs = _pair(rng, "l1_l2", activity_on_last=True)
    mine, keras_opt = _optimizers(optimizer)
    ours.compile(optimizer=mine, loss="sparse_categorical_crossentropy")
    theirs.compile(optimizer=keras_opt, loss="sparse_categorical_crossentropy")
    x = rng.normal(0, 1, (40, 6)).astype(np.float32)
    y = rng.integers(0, 3, 40)
    h_ours = ours.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    h_theirs = theirs.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h_ours.history["loss"], h_theirs.history["loss"], rtol=2e-5)
    _assert_same_weights(ours, theirs)
    np.testing.assert_allclose(
        ours.evaluate(x, y, batch_size=16, verbose=0),
        theirs.evaluate(x, y, batch_size=16, verbose=0),
        rtol=2e-5,
    )


def test_frozen_layers_add_no_weight_penalty_but_their_activity_penalty(rng):
    ours, theirs = _pair(rng, "l2")
    for model in (ours, theirs):
        model.layers[0].trainable = False
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert len(ours.losses) == len(theirs.losses)
    np.testing.assert_allclose(ours.losses, _keras_losses(theirs), rtol=1e-5)
    x = rng.normal(0, 1, (16, 6)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    np.testing.assert_allclose(ours.train_on_batch(x, y), theirs.train_on_batch(x, y), rtol=2e-5)
    _assert_same_weights(ours, theirs)


def test_regularized_model_saves_and_loads_both_ways_with_keras(rng, tmp_path):
    keras = _keras()
    ours, theirs = _pair(rng, "orthogonal_columns")
    ours.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    ours.save(tmp_path / "ours.keras")
    loaded = keras.models.load_model(tmp_path / "ours.keras")
    assert (
        loaded.layers[0].get_config()["kernel_regularizer"]
        == theirs.layers[0].get_config()["kernel_regularizer"]
    )
    assert (
        loaded.layers[0].get_config()["activity_regularizer"]
        == theirs.layers[0].get_config()["activity_regularizer"]
    )
    theirs.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    theirs.save(tmp_path / "theirs.keras")
    back = densekit.models.load_model(tmp_path / "theirs.keras")
    for a, b in zip(back.layers, theirs.layers):
        ca, cb = a.get_config(), b.get_config()
        for key in ca:
            if "regularizer" in key or "constraint" in key:
                assert ca[key] == cb[key], key
    np.testing.assert_allclose(back.losses, _keras_losses(theirs), rtol=1e-6)


@pytest.mark.parametrize(
    "make",
    [
        lambda r: densekit.layers.BatchNormalization(activity_regularizer=r),
        lambda r: densekit.layers.ReLU(activity_regularizer=r),
        lambda r: densekit.layers.Dropout(0.1, activity_regularizer=r),
    ],
)
def test_activity_regularizer_elsewhere_than_dense_is_refused_by_name(make):
    with pytest.raises(NotImplementedError, match="activity_regularizer is supported on Dense"):
        make(regularizers.L2(0.01))
    make(None)  # Keras's default is accepted
