"""Constraints: the kernels against NumPy re-implementations for each axis, the Python API and
bad input, and training with constraints against Keras 3 step for step."""

import numpy as np
import pytest

import densekit
from densekit import constraints

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    # Keras reads its own variables through np.array(copy=False), which NumPy 2 warns about.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

EPS = 1e-7


def _norms(w, axis):
    w = w.astype(np.float64)
    return np.sqrt(
        (w**2).sum(axis=None if axis is None else tuple(np.atleast_1d(axis)), keepdims=True)
    )


def _reference(constraint, w):
    if isinstance(constraint, constraints.NonNeg):
        return np.maximum(w, 0)
    norms = _norms(w, constraint.axis)
    if isinstance(constraint, constraints.MaxNorm):
        desired = np.clip(norms, 0, constraint.max_value)
    elif isinstance(constraint, constraints.MinMaxNorm):
        c = constraint
        desired = c.rate * np.clip(norms, c.min_value, c.max_value) + (1 - c.rate) * norms
    else:
        desired = 1.0
    return w * desired / (EPS + norms)


AXES_2D = [0, 1, -1, -2, [0, 1], [1], None]


@pytest.mark.parametrize("axis", AXES_2D)
@pytest.mark.parametrize(
    "make",
    [
        lambda a: constraints.MaxNorm(1.5, axis=a),
        lambda a: constraints.MinMaxNorm(1.0, 2.0, rate=0.7, axis=a),
        lambda a: constraints.UnitNorm(axis=a),
        lambda a: constraints.NonNeg(),
    ],
)
def test_constraints_on_a_matrix_match_numpy_for_each_axis(rng, make, axis):
    w = rng.normal(0, 1, (5, 4)).astype(np.float32)
    w[:, 1] *= 0.1  # some columns below the bounds, some above
    c = make(axis)
    np.testing.assert_allclose(c(w), _reference(c, w), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("axis", [0, -1, [0], None])
def test_constraints_on_a_vector_take_one_norm_over_it(rng, axis):
    w = rng.normal(0, 2, 6).astype(np.float32)
    for c in (constraints.MaxNorm(1.0, axis), constraints.UnitNorm(axis)):
        out = c(w)
        assert out.shape == (6,)
        np.testing.assert_allclose(out, _reference(c, w), rtol=1e-5)
        assert np.linalg.norm(out) == pytest.approx(1.0, rel=1e-5)


def test_max_norm_leaves_small_columns_and_shrinks_large_ones():
    # Column norms 5 and 0.5 (axis=0): the first becomes 2, the second stays (up to ε).
    w = np.array([[3.0, 0.3], [4.0, 0.4]], dtype=np.float32)
    out = constraints.MaxNorm(2.0)(w)
    np.testing.assert_allclose(out[:, 0], [1.2, 1.6], rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], [0.3, 0.4], rtol=1e-6)


def test_get_serialize_and_config_round_trips():
    for name, cls in [
        ("max_norm", constraints.MaxNorm),
        ("MaxNorm", constraints.MaxNorm),
        ("min_max_norm", constraints.MinMaxNorm),
        ("non_neg", constraints.NonNeg),
        ("unit_norm", constraints.UnitNorm),
    ]:
        assert isinstance(constraints.get(name), cls)
    assert constraints.get(None) is None
    assert constraints.max_norm is constraints.MaxNorm and constraints.non_neg is constraints.NonNeg
    c = constraints.MinMaxNorm(0.1, 2, 0.5, axis=[0])
    assert constraints.serialize(c) == {
        "module": "keras.constraints",
        "class_name": "MinMaxNorm",
        "config": {"min_value": 0.1, "max_value": 2, "rate": 0.5, "axis": [0]},
        "registered_name": None,
    }
    again = constraints.get(constraints.serialize(c))
    assert again.get_config() == c.get_config()
    assert constraints.MaxNorm.from_config(constraints.MaxNorm(3, 1).get_config()).get_config() == {
        "max_value": 3,
        "axis": 1,
    }


@pytest.mark.parametrize(
    "make,arg",
    [
        (lambda: constraints.MaxNorm(-1), "max_value"),
        (lambda: constraints.MaxNorm(float("nan")), "max_value"),
        (lambda: constraints.MinMaxNorm(2.0, 1.0), "min_value"),
        (lambda: constraints.MinMaxNorm(rate=1.5), "rate"),
        (lambda: constraints.UnitNorm(axis="rows"), "axis"),
        (lambda: constraints.get("max_norms"), "max_norms"),
    ],
)
def test_bad_values_raise_naming_the_argument(make, arg):
    with pytest.raises(ValueError, match=arg):
        make()


def test_an_axis_out_of_range_is_refused_naming_the_layer_argument():
    with pytest.raises(ValueError, match="axis"):
        constraints.MaxNorm(axis=2)(np.ones((2, 2)))
    layer = densekit.layers.Dense(2, kernel_constraint=constraints.MaxNorm(axis=2))
    with pytest.raises(ValueError, match="Dense 'dense.*kernel_constraint.*axis"):
        layer(np.ones((1, 3), dtype=np.float32))
    with pytest.raises(NotImplementedError, match="bias_constraint"):
        densekit.layers.Dense(2, bias_constraint=lambda w: w)


# -- against Keras 3 --------------------------------------------------------------------------
def _keras_value(variable):
    value = variable.value
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _build(lib, frozen_first=False):
    L, c = lib.layers, lib.constraints
    model = lib.Sequential(
        [
            lib.Input((6,)),
            L.Dense(
                8, activation="tanh", kernel_constraint=c.MaxNorm(0.8), bias_constraint=c.NonNeg()
            ),
            L.BatchNormalization(
                gamma_constraint=c.MinMaxNorm(0.5, 2.5, rate=0.5), beta_constraint=c.UnitNorm()
            ),
            L.Dense(5, activation="relu", kernel_constraint=c.UnitNorm(axis=1)),
            L.Dense(
                3,
                activation="softmax",
                kernel_constraint=c.MinMaxNorm(0.2, 0.6, rate=0.7, axis=[0, 1]),
                bias_constraint=c.MaxNorm(0.05),
            ),
        ]
    )
    model.layers[0].trainable = not frozen_first
    return model


def _pair(rng, frozen_first=False):
    keras = pytest.importorskip("keras")
    ours, theirs = _build(densekit, frozen_first), _build(keras, frozen_first)
    init = [w.copy() for w in theirs.get_weights()]
    init[0] = rng.normal(0, 0.8, init[0].shape).astype(np.float32)  # norms above the bounds
    init[1] = rng.normal(0, 0.1, init[1].shape).astype(np.float32)
    ours.set_weights(init)
    theirs.set_weights(init)
    return ours, theirs


def _assert_same_weights(ours, theirs, rtol=2e-5, atol=2e-6):
    for a, b in zip(ours.get_weights(), [_keras_value(v) for v in theirs.weights]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adam_accumulating"])
def test_training_with_constraints_matches_keras_step_for_step(rng, optimizer):
    keras = pytest.importorskip("keras")
    ours, theirs = _pair(rng)
    if optimizer == "sgd":
        mine, keras_opt = (
            densekit.optimizers.SGD(0.2, momentum=0.9),
            keras.optimizers.SGD(0.2, momentum=0.9),
        )
    elif optimizer == "adam":
        mine, keras_opt = densekit.optimizers.Adam(0.02), keras.optimizers.Adam(0.02)
    else:  # Keras applies the constraints on every step, the accumulating ones too
        mine = densekit.optimizers.Adam(0.02, gradient_accumulation_steps=2)
        keras_opt = keras.optimizers.Adam(0.02, gradient_accumulation_steps=2)
    ours.compile(optimizer=mine, loss="sparse_categorical_crossentropy")
    theirs.compile(optimizer=keras_opt, loss="sparse_categorical_crossentropy")
    x = rng.normal(0, 1, (6, 16, 6)).astype(np.float32)
    y = rng.integers(0, 3, (6, 16))
    for xb, yb in zip(x, y):
        np.testing.assert_allclose(
            ours.train_on_batch(xb, yb), theirs.train_on_batch(xb, yb), rtol=2e-5
        )
        _assert_same_weights(ours, theirs)
    # The constraints hold after the steps: the first kernel's column norms are at most 0.8.
    assert np.linalg.norm(ours.get_weights()[0], axis=0).max() <= 0.8 + 1e-5


def test_frozen_layers_are_not_constrained(rng):
    ours, theirs = _pair(rng, frozen_first=True)
    before = ours.get_weights()[0].copy()
    assert np.linalg.norm(before, axis=0).max() > 0.8
    for model in (ours, theirs):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = rng.normal(0, 1, (16, 6)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    ours.train_on_batch(x, y)
    theirs.train_on_batch(x, y)
    np.testing.assert_array_equal(ours.get_weights()[0], before)
    _assert_same_weights(ours, theirs)


def test_a_skipped_non_finite_step_applies_no_constraint():
    model = densekit.Sequential(
        [
            densekit.Input((3,)),
            densekit.layers.Dense(
                2, kernel_initializer="ones", kernel_constraint=constraints.MaxNorm(0.1)
            ),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    before = model.get_weights()
    # Predictions of 3e30 square to inf in float32: the step is refused, the kernel (column
    # norms √3 > 0.1) keeps its values.
    model.train_on_batch(np.full((4, 3), 1e30, dtype=np.float32), np.zeros((4, 2)))
    for a, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
    model.train_on_batch(np.ones((4, 3), dtype=np.float32), np.zeros((4, 2)))
    assert np.linalg.norm(model.get_weights()[0], axis=0).max() <= 0.1 + 1e-6


def test_constrained_model_saves_and_loads_both_ways_with_keras(rng, tmp_path):
    keras = pytest.importorskip("keras")
    ours, theirs = _pair(rng)
    ours.save(tmp_path / "ours.keras")
    loaded = keras.models.load_model(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    back = densekit.models.load_model(tmp_path / "theirs.keras")
    for a, b, c in zip(ours.layers, loaded.layers, back.layers):
        ca, cb, cc = a.get_config(), b.get_config(), c.get_config()
        for key in ca:
            if "constraint" in key:
                assert ca[key] == cb[key] == cc[key], key
    for a, b in zip(back.get_weights(), [_keras_value(v) for v in theirs.weights]):
        np.testing.assert_array_equal(a, b)
