"""Every C++ kernel of `densekit._core.kernels` against the float64 oracles of reference.py.

Forward values are compared with float32 tolerances; every backward is also checked against
central finite differences of the float64 reference forward, so a wrong oracle derivative and a
wrong kernel cannot agree by accident.
"""

import math

import numpy as np
import pytest
import reference as ref

import densekit
from densekit import _core

K = _core.kernels

F32 = dict(rtol=1e-5, atol=1e-6)  # one float32 op chain against float64
FD = dict(rtol=1e-4, atol=1e-5)  # float32 backward against float64 finite differences
# Backward kernels may take f' from y (tanh: 1 - y², sigmoid: y(1 - y)), as Keras does: where
# |y| ~ 1 that has an absolute error of a few float32 ulps of 1 (~2.4e-7 each) times |dy| <= ~5.
BACKWARD = dict(rtol=1e-5, atol=3e-6)
LARGE = (256, 160)  # 40960 elements, above the OpenMP threshold of the element-wise loops


def f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


# -- activations ------------------------------------------------------------------------------
# (id, name, ActivationSpec keywords). max_value -1 is the C++ spelling of Keras's None.
ACTIVATION_CASES = [
    ("linear", "linear", {}),
    ("sigmoid", "sigmoid", {}),
    ("tanh", "tanh", {}),
    ("relu", "relu", {}),
    ("relu-negative_slope", "relu", {"negative_slope": 0.1}),
    ("relu-max_value6", "relu", {"max_value": 6.0}),
    ("relu-max_value-slope", "relu", {"max_value": 2.5, "negative_slope": 0.2}),
    ("relu-threshold", "relu", {"threshold": 0.5}),
    (
        "relu-threshold-slope-max",
        "relu",
        {"threshold": 0.5, "negative_slope": 0.3, "max_value": 4.0},
    ),
    ("relu-negative-threshold", "relu", {"threshold": -1.0}),
    ("relu-negative-threshold-max", "relu", {"threshold": -1.0, "max_value": 3.0}),
    ("leaky_relu", "leaky_relu", {"negative_slope": 0.2}),
    ("elu", "elu", {}),
    ("elu-alpha", "elu", {"alpha": 0.5}),
    ("selu", "selu", {}),
    ("gelu", "gelu", {}),
    ("gelu-approximate", "gelu", {"approximate": True}),
    ("swish", "swish", {}),
    ("softplus", "softplus", {}),
    ("softsign", "softsign", {}),
    ("hard_sigmoid", "hard_sigmoid", {}),
    ("exponential", "exponential", {}),
    ("thresholded_relu", "thresholded_relu", {"threshold": 1.0}),
    ("softmax", "softmax", {}),
]
ACTIVATION_IDS = [case[0] for case in ACTIVATION_CASES]


def spec_of(name, params):
    return K.ActivationSpec(name, **params)


def kinks(name, params):
    """Inputs where the activation is not differentiable."""
    if name == "relu":
        points = [0.0, params.get("threshold", 0.0)]
        if params.get("max_value", -1) >= 0:
            points.append(params["max_value"])
        return points
    if name in ("leaky_relu", "elu"):
        return [0.0]
    if name == "selu":
        return [0.0]
    if name == "hard_sigmoid":
        return [-3.0, 3.0]
    if name == "thresholded_relu":
        return [params["threshold"]]
    return []


def away_from_kinks(x, name, params, margin=0.05):
    for k in kinks(name, params):
        x = np.where(np.abs(x - k) < margin, x + 2 * margin, x)
    return f32(x)


def edge_values(name, params):
    """Extremes, tiny values and the kinks themselves, as one row."""
    values = [
        0.0,
        -0.0,
        1e-30,
        -1e-30,
        1e-7,
        -1e-7,
        1.0,
        -1.0,
        3.0,
        -3.0,
        6.0,
        -6.0,
        20.0,
        -20.0,
        50.0,
        -50.0,
        88.0,
        -88.0,
        1000.0,
        -1000.0,
    ]
    values += kinks(name, params)
    if name == "exponential":  # exp(88) is finite in float32, exp(1000) is inf in both
        values = [v for v in values if v <= 80.0]
    return f32(np.array(values).reshape(1, -1))


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=ACTIVATION_IDS)
def test_activation_forward_matches_reference(case, rng):
    _, name, params = case
    spec = spec_of(name, params)
    x = f32(rng.normal(0.0, 3.0, size=(7, 9)))
    np.testing.assert_allclose(
        K.activation_forward(spec, x), ref.activation(name, x, **params), **F32
    )


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=ACTIVATION_IDS)
def test_activation_forward_edge_values(case):
    _, name, params = case
    x = edge_values(name, params)
    y = K.activation_forward(spec_of(name, params), x)
    assert np.all(np.isfinite(y)), f"{name}: non-finite outputs {y[~np.isfinite(y)]}"
    np.testing.assert_allclose(y, ref.activation(name, x, **params), **F32)


def test_softmax_is_stable_for_large_logits():
    # exp(1000) overflows float32: a stable softmax subtracts the row max first.
    # Row 1: (1000, 0, -1000) -> (1, e^-1000, 0) = (1, 0, 0).
    # Row 2: (1000, 1000, 999) -> (1, 1, e^-1) / (2 + e^-1) = (0.422319, 0.422319, 0.155362).
    x = f32([[1000.0, 0.0, -1000.0], [1000.0, 1000.0, 999.0]])
    y = K.activation_forward(K.ActivationSpec("softmax"), x)
    e = math.exp(-1.0)
    np.testing.assert_allclose(y, [[1, 0, 0], [1 / (2 + e), 1 / (2 + e), e / (2 + e)]], **F32)


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=ACTIVATION_IDS)
def test_activation_backward_matches_reference(case, rng):
    _, name, params = case
    spec = spec_of(name, params)
    x = away_from_kinks(
        np.concatenate([rng.normal(0.0, 3.0, size=(6, 9)), rng.normal(0.0, 30.0, size=(2, 9))]),
        name,
        params,
    )
    if name == "exponential":
        x = f32(np.clip(x, -80, 20))
    dy = f32(rng.normal(size=x.shape))
    y = K.activation_forward(spec, x)
    dx = K.activation_backward(spec, x, y, dy)
    np.testing.assert_allclose(dx, ref.activation_backward(name, x, dy, **params), **BACKWARD)


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=ACTIVATION_IDS)
def test_activation_backward_finite_differences(case, rng):
    _, name, params = case
    spec = spec_of(name, params)
    x = away_from_kinks(rng.normal(0.0, 2.0, size=(4, 5)), name, params)
    dy = f32(rng.normal(size=x.shape))
    y = K.activation_forward(spec, x)
    dx = K.activation_backward(spec, x, y, dy)
    numeric = ref.numerical_gradient(
        lambda v: float((dy * ref.activation(name, v, **params)).sum()), x
    )
    np.testing.assert_allclose(dx, numeric, **FD)


@pytest.mark.parametrize("case", ACTIVATION_CASES, ids=ACTIVATION_IDS)
def test_activation_large_batch_matches_reference(case, rng):
    _, name, params = case
    spec = spec_of(name, params)
    x = away_from_kinks(rng.normal(0.0, 3.0, size=LARGE), name, params)
    dy = f32(rng.normal(size=LARGE))
    y = K.activation_forward(spec, x)
    np.testing.assert_allclose(y, ref.activation(name, x, **params), **F32)
    np.testing.assert_allclose(
        K.activation_backward(spec, x, y, dy),
        ref.activation_backward(name, x, dy, **params),
        **BACKWARD,
    )


def test_reference_relu_matches_keras_docstring_examples():
    # keras.activations.relu's docstring, x = [-10, -5, 0, 5, 10].
    x = np.array([-10.0, -5.0, 0.0, 5.0, 10.0])
    np.testing.assert_array_equal(ref.relu(x), [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(ref.relu(x, negative_slope=0.5), [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(ref.relu(x, max_value=5.0), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(ref.relu(x, threshold=5.0), [0, 0, 0, 0, 10])
    for kwargs in ({}, {"negative_slope": 0.5}, {"max_value": 5.0}, {"threshold": 5.0}):
        np.testing.assert_array_equal(
            K.activation_forward(K.ActivationSpec("relu", **kwargs), f32(x.reshape(1, -1)))[0],
            ref.relu(x, **kwargs),
        )


def test_hard_sigmoid_is_keras3_relu6_form():
    # Keras 3: relu6(x + 3) / 6, so -3 -> 0, -1.5 -> 0.25, 0 -> 0.5, 1.5 -> 0.75, 3 -> 1
    # (Keras 2's 0.2 x + 0.5 would give 0.2 at -1.5).
    x = f32([[-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0]])
    y = K.activation_forward(K.ActivationSpec("hard_sigmoid"), x)
    np.testing.assert_allclose(y, [[0, 0, 0.25, 0.5, 0.75, 1, 1]], **F32)


def test_activation_forward_converts_float64_fortran_input(rng):
    # Fortran-ordered float64 input is converted by the binding, not misread.
    x = rng.normal(size=(5, 4))
    spec = K.ActivationSpec("tanh")
    np.testing.assert_allclose(K.activation_forward(spec, np.asfortranarray(x)), np.tanh(x), **F32)


# -- PReLU ------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(6, 5), LARGE], ids=["small", "large"])
def test_prelu_matches_reference(shape, rng):
    x = f32(rng.normal(size=shape))
    alpha = f32(rng.uniform(-0.5, 0.5, size=shape[1]))
    dy = f32(rng.normal(size=shape))
    np.testing.assert_allclose(K.prelu_forward(x, alpha), ref.prelu(x, alpha), **F32)
    dx, dalpha = K.prelu_backward(x, alpha, dy)
    ref_dx, ref_dalpha = ref.prelu_backward(x, alpha, dy)
    np.testing.assert_allclose(dx, ref_dx, **F32)
    # dalpha sums over the rows: float32 accumulation of up to 256 terms of size ~1
    np.testing.assert_allclose(dalpha, ref_dalpha, rtol=1e-5, atol=1e-4)


def test_prelu_backward_matches_reference_and_finite_differences(rng):
    x = f32(rng.normal(size=(6, 5)))
    x = f32(np.where(np.abs(x) < 0.05, x + 0.1, x))
    alpha = f32(rng.uniform(-0.5, 0.5, size=5))
    dy = f32(rng.normal(size=x.shape))
    dx, dalpha = K.prelu_backward(x, alpha, dy)
    ref_dx, ref_dalpha = ref.prelu_backward(x, alpha, dy)
    np.testing.assert_allclose(dx, ref_dx, **F32)
    np.testing.assert_allclose(dalpha, ref_dalpha, **F32)
    numeric_dx = ref.numerical_gradient(lambda v: float((dy * ref.prelu(v, alpha)).sum()), x)
    numeric_dalpha = ref.numerical_gradient(lambda a: float((dy * ref.prelu(x, a)).sum()), alpha)
    np.testing.assert_allclose(dx, numeric_dx, **FD)
    np.testing.assert_allclose(dalpha, numeric_dalpha, **FD)


def test_prelu_derivative_at_zero_is_zero_as_in_keras():
    # Keras: relu(x) - alpha·relu(-x); TF's relu'(0) = 0 in both terms, so dx = 0 at x = 0.
    # x = (-2, 0, 3), alpha = (0.5, 0.25, 0.5), dy = (1, 4, 2):
    #   dx = (0.5·1, 0, 2);  dalpha = dy·min(0, x) = (-2, 0, 0)
    x = f32([[-2.0, 0.0, 3.0], [-0.0, 0.0, 0.0]])
    alpha = f32([0.5, 0.25, 0.5])
    dy = f32([[1.0, 4.0, 2.0], [1.0, 1.0, 1.0]])
    dx, dalpha = K.prelu_backward(x, alpha, dy)
    np.testing.assert_array_equal(dx, [[0.5, 0.0, 2.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(dalpha, [-2.0, 0.0, 0.0])
    np.testing.assert_array_equal(dx, ref.prelu_backward(x, alpha, dy)[0])


# -- RReLU ------------------------------------------------------------------------------------
def test_rrelu_training_slopes_are_uniform_in_range_and_used(rng):
    lower, upper = 0.125, 0.375
    x = f32(rng.normal(size=(200, 50)))
    y, slopes = K.rrelu_forward(x, lower, upper, True, 7, 3)
    negative = x < 0
    assert np.all((slopes[negative] >= lower) & (slopes[negative] <= upper))
    # Uniform on [0.125, 0.375]: mean 0.25, std 0.25 / sqrt(12) = 0.0722; over ~5000 draws the
    # mean's standard error is 0.001, so 0.01 is a ten-sigma bound.
    assert abs(slopes[negative].mean() - 0.25) < 0.01
    assert abs(slopes[negative].std() - 0.25 / math.sqrt(12)) < 0.01
    np.testing.assert_allclose(y, ref.rrelu(x, slopes), **F32)


def test_rrelu_training_draw_depends_on_seed_and_step_only(rng):
    x = f32(-np.abs(rng.normal(size=LARGE)) - 0.1)
    _, a = K.rrelu_forward(x, 0.1, 0.3, True, 11, 5)
    _, b = K.rrelu_forward(x, 0.1, 0.3, True, 11, 5)
    _, other_step = K.rrelu_forward(x, 0.1, 0.3, True, 11, 6)
    _, other_seed = K.rrelu_forward(x, 0.1, 0.3, True, 12, 5)
    np.testing.assert_array_equal(a, b)
    assert np.mean(a == other_step) < 0.01
    assert np.mean(a == other_seed) < 0.01
    threads = densekit.get_num_threads()
    draws = []
    try:
        for n in (1, 3):  # x is above the OpenMP threshold, so 3 threads split the loop
            densekit.set_num_threads(n)
            draws.append(K.rrelu_forward(x, 0.1, 0.3, True, 11, 5)[1])
    finally:
        densekit.set_num_threads(threads)
    np.testing.assert_array_equal(draws[0], a)
    np.testing.assert_array_equal(draws[1], a)


def test_rrelu_inference_uses_mean_slope(rng):
    x = f32(rng.normal(size=(5, 6)))
    y, slopes = K.rrelu_forward(x, 0.1, 0.3, False)
    np.testing.assert_allclose(slopes, np.full(x.shape, 0.2), **F32)
    np.testing.assert_allclose(y, ref.rrelu(x, np.full(x.shape, 0.2)), **F32)


def test_rrelu_large_batch_matches_reference(rng):
    x = f32(rng.normal(size=LARGE))
    dy = f32(rng.normal(size=LARGE))
    y, slopes = K.rrelu_forward(x, 0.1, 0.3, True, 3, 9)
    negative = x < 0
    assert np.all((slopes[negative] >= 0.1) & (slopes[negative] <= 0.3))
    np.testing.assert_allclose(y, ref.rrelu(x, slopes), **F32)
    np.testing.assert_allclose(
        K.rrelu_backward(x, slopes, dy), ref.rrelu_backward(x, slopes, dy), **F32
    )


def test_rrelu_backward_matches_reference_and_finite_differences(rng):
    x = f32(rng.normal(size=(5, 6)))
    x = f32(np.where(np.abs(x) < 0.05, x + 0.1, x))
    _, slopes = K.rrelu_forward(x, 0.1, 0.3, True, 1, 0)
    dy = f32(rng.normal(size=x.shape))
    dx = K.rrelu_backward(x, slopes, dy)
    np.testing.assert_allclose(dx, ref.rrelu_backward(x, slopes, dy), **F32)
    numeric = ref.numerical_gradient(lambda v: float((dy * ref.rrelu(v, slopes)).sum()), x)
    np.testing.assert_allclose(dx, numeric, **FD)


# -- dense ------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no-bias"])
def test_dense_forward_matches_reference(use_bias, rng):
    x, w = f32(rng.normal(size=(6, 4))), f32(rng.normal(size=(4, 3)))
    b = f32(rng.normal(size=3)) if use_bias else np.zeros(0, np.float32)
    np.testing.assert_allclose(K.dense_forward(x, w, b), ref.dense_forward(x, w, b), **F32)


def test_dense_large_matches_reference(rng):
    # Large enough for Eigen's blocked, threaded product; the sums have 200 terms of size ~1.
    x, w, b = rng.normal(size=(300, 200)), rng.normal(size=(200, 150)), rng.normal(size=150)
    x, w, b = f32(x), f32(w), f32(b)
    dy = f32(rng.normal(size=(300, 150)))
    np.testing.assert_allclose(
        K.dense_forward(x, w, b), ref.dense_forward(x, w, b), rtol=1e-4, atol=1e-4
    )
    ref_dx, ref_dw, ref_db = ref.dense_backward(x, w, dy)
    np.testing.assert_allclose(K.dense_backward_data(dy, w), ref_dx, rtol=1e-4, atol=1e-4)
    dw, db = K.dense_backward_weights(x, dy, True)
    np.testing.assert_allclose(dw, ref_dw, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(db, ref_db, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no-bias"])
def test_dense_backward_matches_reference_and_finite_differences(use_bias, rng):
    x, w, b = f32(rng.normal(size=(5, 4))), f32(rng.normal(size=(4, 3))), f32(rng.normal(size=3))
    dy = f32(rng.normal(size=(5, 3)))
    dx = K.dense_backward_data(dy, w)
    dw, db = K.dense_backward_weights(x, dy, use_bias)
    ref_dx, ref_dw, ref_db = ref.dense_backward(x, w, dy)
    np.testing.assert_allclose(dx, ref_dx, **F32)
    np.testing.assert_allclose(dw, ref_dw, **F32)
    assert db.shape == ((3,) if use_bias else (0,))

    def scalar(xv=x, wv=w, bv=b):
        return float((dy * ref.dense_forward(xv, wv, bv)).sum())

    np.testing.assert_allclose(dx, ref.numerical_gradient(lambda v: scalar(xv=v), x), **FD)
    np.testing.assert_allclose(dw, ref.numerical_gradient(lambda v: scalar(wv=v), w), **FD)
    if use_bias:
        np.testing.assert_allclose(db, ref_db, **F32)
        np.testing.assert_allclose(db, ref.numerical_gradient(lambda v: scalar(bv=v), b), **FD)


def test_dense_forward_hand_computed():
    # x = [[1, 2]], w = [[1, 0, -1], [2, 1, 0.5]], b = [0.5, 0, -1]
    # y = [1·1 + 2·2 + 0.5, 1·0 + 2·1 + 0, 1·(-1) + 2·0.5 - 1] = [5.5, 2, -1]
    y = K.dense_forward(f32([[1, 2]]), f32([[1, 0, -1], [2, 1, 0.5]]), f32([0.5, 0, -1]))
    np.testing.assert_array_equal(y, [[5.5, 2.0, -1.0]])


# -- losses -----------------------------------------------------------------------------------
# (id, loss name, from_logits)
LOSS_CASES = [
    ("sparse-probs", "sparse_categorical_crossentropy", False),
    ("sparse-logits", "sparse_categorical_crossentropy", True),
    ("categorical-probs", "categorical_crossentropy", False),
    ("categorical-logits", "categorical_crossentropy", True),
    ("binary-probs", "binary_crossentropy", False),
    ("binary-logits", "binary_crossentropy", True),
    ("mse", "mean_squared_error", False),
]
LOSS_IDS = [case[0] for case in LOSS_CASES]


def loss_inputs(name, from_logits, rng, n=6, classes=4):
    """(pred, target) away from the clipping bounds; categorical probabilities unnormalized, so
    Keras's normalization is exercised."""
    if from_logits or name == "mean_squared_error":
        pred = rng.normal(0.0, 2.0, size=(n, classes))
    elif name == "binary_crossentropy":
        pred = rng.uniform(0.02, 0.98, size=(n, classes))
    else:
        pred = rng.uniform(0.05, 1.0, size=(n, classes))
    if name == "sparse_categorical_crossentropy":
        target = rng.integers(0, classes, size=(n, 1)).astype(np.float64)
    elif name == "categorical_crossentropy":
        target = ref.one_hot(rng.integers(0, classes, size=n), classes)
    elif name == "binary_crossentropy":
        target = rng.integers(0, 2, size=(n, classes)).astype(np.float64)
    else:
        target = rng.normal(size=(n, classes))
    return f32(pred), f32(target)


@pytest.mark.parametrize("case", LOSS_CASES, ids=LOSS_IDS)
def test_loss_value_matches_reference(case, rng):
    _, name, from_logits = case
    pred, target = loss_inputs(name, from_logits, rng)
    spec = K.LossSpec(name, from_logits)
    expected = ref.loss(name, pred, target, from_logits)
    assert K.loss_value(spec, pred, target) == pytest.approx(expected, rel=1e-5, abs=1e-6)


@pytest.mark.parametrize("case", LOSS_CASES, ids=LOSS_IDS)
def test_loss_large_batch_matches_reference(case, rng):
    # 10000 x 4 = 40000 entries: the loss loops run on several threads.
    _, name, from_logits = case
    pred, target = loss_inputs(name, from_logits, rng, n=10000, classes=4)
    spec = K.LossSpec(name, from_logits)
    value, grad = K.loss_value_and_gradient(spec, pred, target)
    expected, ref_grad = ref.loss_and_gradient(name, pred, target, from_logits)
    assert K.loss_value(spec, pred, target) == pytest.approx(expected, rel=1e-5)
    assert value == pytest.approx(expected, rel=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-10)
    if name != "mean_squared_error":
        assert K.accuracy_sum(spec, pred, target) == pytest.approx(
            ref.accuracy_sum(name, pred, target)
        )


@pytest.mark.parametrize("case", LOSS_CASES, ids=LOSS_IDS)
def test_loss_gradient_matches_reference_and_finite_differences(case, rng):
    _, name, from_logits = case
    pred, target = loss_inputs(name, from_logits, rng)
    spec = K.LossSpec(name, from_logits)
    value, grad = K.loss_value_and_gradient(spec, pred, target)
    expected, ref_grad = ref.loss_and_gradient(name, pred, target, from_logits)
    assert value == pytest.approx(expected, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-7)
    numeric = ref.numerical_gradient(lambda p: ref.loss(name, p, target, from_logits), pred)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6)


def test_loss_values_hand_computed():
    # Categorical CE of unnormalized probabilities (1, 1, 2) with target class 2: Keras
    # normalizes to (0.25, 0.25, 0.5), so the loss is -log 0.5 = 0.693147.
    spec = K.LossSpec("categorical_crossentropy")
    assert K.loss_value(spec, f32([[1, 1, 2]]), f32([[0, 0, 1]])) == pytest.approx(
        math.log(2), rel=1e-6
    )
    # Sparse, same numbers, label 2.
    spec = K.LossSpec("sparse_categorical_crossentropy")
    assert K.loss_value(spec, f32([[1, 1, 2]]), f32([[2]])) == pytest.approx(math.log(2), rel=1e-6)
    # BCE of p = (0.5, 0.8) against t = (1, 0): (-log 0.5 - log 0.2) / 2 = (0.693147 + 1.609438) / 2
    # = 1.151293.
    spec = K.LossSpec("binary_crossentropy")
    assert K.loss_value(spec, f32([[0.5, 0.8]]), f32([[1, 0]])) == pytest.approx(
        1.1512925, rel=1e-6
    )
    # MSE of rows (1, 2) vs (0, 0) and (3, 3) vs (3, 5): mean of (1 + 4) / 2 and (0 + 4) / 2 = 2.25.
    spec = K.LossSpec("mean_squared_error")
    assert K.loss_value(spec, f32([[1, 2], [3, 3]]), f32([[0, 0], [3, 5]])) == pytest.approx(2.25)


@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
def test_crossentropy_clips_probabilities_like_keras(name):
    # Row 0: the target class has probability 0, clipped to 1e-7: loss -log(1e-7) = 16.118096,
    #        and the clip blocks the gradient: the whole row's gradient is 0.
    # Row 1: the target class has probability 1 (clipped to 1 - 1e-7): loss ~1e-7, gradient 0.
    # Row 2: p = (0.5, 0.5, 0), class 1: loss log 2; unclipped entries get the usual gradient.
    probs = f32([[0, 1, 0], [1, 0, 0], [0.5, 0.5, 0]])
    labels = np.array([0, 0, 1])
    target = (
        f32(labels.reshape(-1, 1)) if name.startswith("sparse") else f32(ref.one_hot(labels, 3))
    )
    spec = K.LossSpec(name)
    value, grad = K.loss_value_and_gradient(spec, probs, target)
    expected, ref_grad = ref.loss_and_gradient(name, probs, target)
    assert expected == pytest.approx((-math.log(1e-7) + 0 + math.log(2)) / 3, rel=1e-6)
    assert value == pytest.approx(expected, rel=1e-5)
    assert K.loss_value(spec, probs, target) == pytest.approx(expected, rel=1e-5)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-6)


def test_binary_crossentropy_clips_probabilities_like_keras():
    # p = 0 with t = 1 -> -log(1e-7) = 16.118096; p = 0 with t = 0 and p = 1 with t = 1 -> ~1e-7.
    # (p = 1 with t = 0 is left out: float32 rounds 1 - 1e-7 to 1 - 1.19e-7, so the loss there is
    # 15.942 in float32 and 16.118 in float64, a difference of the format, not of the kernel.)
    # Mean over the 3 entries of the one row: 16.118096 / 3 = 5.372699.
    probs, target = f32([[0, 0, 1]]), f32([[1, 0, 1]])
    spec = K.LossSpec("binary_crossentropy")
    value, grad = K.loss_value_and_gradient(spec, probs, target)
    assert value == pytest.approx(-math.log(1e-7) / 3, rel=1e-5)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(
        grad, ref.loss_and_gradient("binary_crossentropy", probs, target)[1], rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("name", ["categorical_crossentropy", "binary_crossentropy"])
def test_from_logits_losses_are_stable_for_large_logits(name):
    # CE: logits (1000, -1000, 0), class 0: log-softmax(z)_0 = 0, loss 0; class 1: loss 2000.
    # BCE: z = 100, t = 0: max(z, 0) - z t + log1p(e^-100) = 100; z = -100, t = 0: 0.
    if name == "categorical_crossentropy":
        pred, target, expected = f32([[1000, -1000, 0]] * 2), f32([[1, 0, 0], [0, 1, 0]]), 1000.0
    else:
        pred, target, expected = f32([[100, -100]]), f32([[0, 0]]), 50.0
    spec = K.LossSpec(name, True)
    value, grad = K.loss_value_and_gradient(spec, pred, target)
    assert value == pytest.approx(expected, rel=1e-6)
    assert np.all(np.isfinite(grad))
    np.testing.assert_allclose(grad, ref.loss_and_gradient(name, pred, target, True)[1], **F32)


# (id, loss name, output activation)
FUSED_CASES = [
    ("softmax-sparse", "sparse_categorical_crossentropy", "softmax"),
    ("softmax-categorical", "categorical_crossentropy", "softmax"),
    ("sigmoid-binary", "binary_crossentropy", "sigmoid"),
]


@pytest.mark.parametrize("case", FUSED_CASES, ids=[c[0] for c in FUSED_CASES])
def test_fused_gradient_is_derivative_wrt_preactivation(case, rng):
    _, name, output = case
    n, classes = 5, 4
    z = f32(rng.normal(0.0, 1.5, size=(n, classes)))
    prob = f32(ref.activation(output, z))
    _, target = loss_inputs(name, False, rng, n, classes)
    spec = K.LossSpec(name)
    value, dz = K.loss_value_and_gradient(spec, prob, target, True)
    assert value == pytest.approx(ref.loss(name, prob, target), rel=1e-5)
    numeric = ref.numerical_gradient(lambda v: ref.loss(name, ref.activation(output, v), target), z)
    np.testing.assert_allclose(dz, numeric, rtol=1e-4, atol=1e-6)
    # and the closed form: (p - t) / n, binary / (n · classes)
    t = ref.one_hot(target, classes) if name.startswith("sparse") else target
    scale = n * classes if name == "binary_crossentropy" else n
    np.testing.assert_allclose(dz, (prob.astype(np.float64) - t) / scale, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "case",
    [c for c in LOSS_CASES if c[1] != "mean_squared_error"],
    ids=[c[0] for c in LOSS_CASES if c[1] != "mean_squared_error"],
)
def test_accuracy_sum_matches_reference(case, rng):
    _, name, from_logits = case
    pred, target = loss_inputs(name, from_logits, rng, n=20, classes=4)
    if name == "binary_crossentropy" and from_logits:
        pred = f32(rng.uniform(0.02, 0.98, size=pred.shape))  # Keras thresholds at 0.5 even so
    spec = K.LossSpec(name, from_logits)
    assert K.accuracy_sum(spec, pred, target) == pytest.approx(ref.accuracy_sum(name, pred, target))


# -- clipping ---------------------------------------------------------------------------------
def test_clip_by_value_hand_computed():
    # clip to [-1, 1]: -3 -> -1, 0.5 stays, 2 -> 1, -0.25 stays
    g = f32([[-3, 0.5], [2, -0.25]])
    K.clip_by_value(g, 1.0)
    np.testing.assert_array_equal(g, [[-1, 0.5], [1, -0.25]])


def test_clip_by_norm_hand_computed():
    # ‖(3, 4)‖ = 5 > 1: g · 1 / 5 = (0.6, 0.8)
    g = f32([[3, 4]])
    K.clip_by_norm(g, 1.0)
    np.testing.assert_allclose(g, [[0.6, 0.8]], **F32)
    # ‖(3, 4)‖ = 5 <= 10: g · 10 / max(5, 10) = g, unchanged; 1-D arrays are one row
    g = f32([3, 4])
    K.clip_by_norm(g, 10.0)
    np.testing.assert_array_equal(g, [3, 4])
    # zero gradient: 0 · c / max(0, c) = 0, no 0/0
    g = np.zeros((2, 2), np.float32)
    K.clip_by_norm(g, 1.0)
    np.testing.assert_array_equal(g, np.zeros((2, 2)))


def test_clip_by_global_norm_hand_computed():
    # joint norm of (3) and (4) is 5 > 2.5: scale 2.5 / 5 = 0.5 -> (1.5), (2)
    a, b = f32([[3]]), f32([[4]])
    K.clip_by_global_norm([a, b], 2.5)
    np.testing.assert_allclose(a, [[1.5]], **F32)
    np.testing.assert_allclose(b, [[2.0]], **F32)
    # (1, 2) and (2): sqrt(1 + 4 + 4) = 3 > 1: scale 1/3 -> (1/3, 2/3), (2/3); not per variable
    # (per variable, ‖(1, 2)‖ = 2.236 would give (0.447, 0.894))
    a, b = f32([[1, 2]]), f32([2])
    K.clip_by_global_norm([a, b], 1.0)
    np.testing.assert_allclose(a, [[1 / 3, 2 / 3]], **F32)
    np.testing.assert_allclose(b, [2 / 3], **F32)
    # joint norm 3 <= 4: unchanged
    a, b = f32([[1, 2]]), f32([2])
    K.clip_by_global_norm([a, b], 4.0)
    np.testing.assert_array_equal(a, [[1, 2]])
    np.testing.assert_array_equal(b, [2])


@pytest.mark.parametrize("large", [False, True], ids=["small", "large"])
def test_clipping_matches_reference(large, rng):
    grads = [f32(rng.normal(size=(4, 3))), f32(rng.normal(size=3)), f32(rng.normal(size=(3, 2)))]
    if large:  # above the OpenMP threshold of the norm's reduction
        grads.append(f32(rng.normal(size=LARGE)))
    for kwargs, clip in (
        ({"clipvalue": 0.5}, lambda g: K.clip_by_value(g, 0.5)),
        ({"clipnorm": 1.0}, lambda g: K.clip_by_norm(g, 1.0)),
    ):
        copies = [g.copy() for g in grads]
        for g in copies:
            clip(g)
        for got, want in zip(copies, ref.clip_gradients(grads, **kwargs)):
            np.testing.assert_allclose(got, want, **F32)
    assert ref.global_norm(grads) > 2.0  # so the clip below is active
    copies = [g.copy() for g in grads]
    K.clip_by_global_norm(copies, 2.0)
    for got, want in zip(copies, ref.clip_gradients(grads, global_clipnorm=2.0)):
        np.testing.assert_allclose(got, want, **F32)


@pytest.mark.parametrize(
    "clips",
    [
        {"clipnorm": 1.0, "clipvalue": 1.0},
        {"clipnorm": 1.0, "global_clipnorm": 1.0},
        {"clipvalue": 1.0, "global_clipnorm": 1.0},
        {"clipnorm": 1.0, "clipvalue": 1.0, "global_clipnorm": 1.0},
    ],
    ids=["norm+value", "norm+global", "value+global", "all"],
)
def test_sgd_with_more_than_one_clip_raises(clips):
    with pytest.raises(ValueError, match="Only one of"):
        densekit.optimizers.SGD(learning_rate=0.1, **clips)


# -- SGD --------------------------------------------------------------------------------------
def test_sgd_update_hand_computed():
    # w = 1, g = 0.5, lr = 0.1, momentum 0.9, m = 0.2:
    #   m ← 0.9 · 0.2 - 0.1 · 0.5 = 0.13
    #   plain:    w ← 1 + 0.13 = 1.13
    #   nesterov: w ← 1 + 0.9 · 0.13 - 0.1 · 0.5 = 1.067
    # momentum 0: w ← 1 - 0.1 · 0.5 = 0.95, m untouched
    for nesterov, want in ((False, 1.13), (True, 1.067)):
        w, m = f32([[1.0]]), f32([[0.2]])
        K.sgd_update(w, f32([[0.5]]), m, 0.1, 0.9, nesterov)
        assert w[0, 0] == pytest.approx(want, rel=1e-6)
        assert m[0, 0] == pytest.approx(0.13, rel=1e-6)
    w, m = f32([[1.0]]), f32([[0.2]])
    K.sgd_update(w, f32([[0.5]]), m, 0.1, 0.0, False)
    assert w[0, 0] == pytest.approx(0.95, rel=1e-6)
    assert m[0, 0] == pytest.approx(0.2)


@pytest.mark.parametrize(
    "momentum,nesterov",
    [(0.0, False), (0.9, False), (0.9, True)],
    ids=["plain", "momentum", "nesterov"],
)
@pytest.mark.parametrize("shape", [(4, 3), (5,), LARGE], ids=["kernel", "bias", "large"])
def test_sgd_update_matches_reference(momentum, nesterov, shape, rng):
    w = f32(rng.normal(size=shape))
    m = np.zeros(shape, np.float32) if momentum else np.zeros(0, np.float32)
    ref_w, ref_m = w.astype(np.float64), np.zeros(shape)
    for _ in range(3):  # several steps, so the momentum slot carries over
        g = f32(rng.normal(size=shape))
        K.sgd_update(w, g, m, 0.05, momentum, nesterov)
        ref_w, ref_m = ref.sgd_update(ref_w, g, ref_m, 0.05, momentum, nesterov)
        np.testing.assert_allclose(w, ref_w, **F32)
        if momentum:
            np.testing.assert_allclose(m, ref_m, **F32)


# -- bad arguments ----------------------------------------------------------------------------
def _a(*shape):
    return np.ones(shape, np.float32)


RELU = K.ActivationSpec("relu")
CCE = K.LossSpec("categorical_crossentropy")
SCCE = K.LossSpec("sparse_categorical_crossentropy")
BCE = K.LossSpec("binary_crossentropy")
MSE = K.LossSpec("mean_squared_error")

BAD_CALLS = {
    "dense_forward-x-1d": lambda: K.dense_forward(_a(4), _a(4, 3), _a(3)),
    "dense_forward-x-3d": lambda: K.dense_forward(_a(2, 2, 4), _a(4, 3), _a(3)),
    "dense_forward-w-rows": lambda: K.dense_forward(_a(2, 4), _a(5, 3), _a(3)),
    "dense_forward-b-length": lambda: K.dense_forward(_a(2, 4), _a(4, 3), _a(2)),
    "dense_forward-b-2d": lambda: K.dense_forward(_a(2, 4), _a(4, 3), _a(1, 3)),
    "dense_backward_data-cols": lambda: K.dense_backward_data(_a(2, 3), _a(4, 2)),
    "dense_backward_data-dy-1d": lambda: K.dense_backward_data(_a(3), _a(4, 3)),
    "dense_backward_weights-rows": lambda: K.dense_backward_weights(_a(3, 4), _a(2, 5), True),
    "dense_backward_weights-x-1d": lambda: K.dense_backward_weights(_a(4), _a(2, 5), True),
    "activation_forward-1d": lambda: K.activation_forward(RELU, _a(4)),
    "activation_forward-3d": lambda: K.activation_forward(RELU, _a(2, 3, 4)),
    "activation_backward-y": lambda: K.activation_backward(RELU, _a(2, 3), _a(3, 2), _a(2, 3)),
    "activation_backward-dy": lambda: K.activation_backward(RELU, _a(2, 3), _a(2, 3), _a(2, 4)),
    "activation_backward-softmax-dy": lambda: K.activation_backward(
        K.ActivationSpec("softmax"), _a(2, 3), _a(2, 3), _a(1, 3)
    ),
    "activation-unknown-name": lambda: K.ActivationSpec("no_such_activation"),
    "prelu_forward-alpha-length": lambda: K.prelu_forward(_a(2, 3), _a(4)),
    "prelu_forward-alpha-2d": lambda: K.prelu_forward(_a(2, 3), _a(1, 3)),
    "prelu_forward-x-1d": lambda: K.prelu_forward(_a(3), _a(3)),
    "prelu_backward-dy": lambda: K.prelu_backward(_a(2, 3), _a(3), _a(3, 3)),
    "prelu_backward-alpha-length": lambda: K.prelu_backward(_a(2, 3), _a(2), _a(2, 3)),
    "rrelu_forward-1d": lambda: K.rrelu_forward(_a(3), 0.1, 0.3, True),
    "rrelu_backward-slopes": lambda: K.rrelu_backward(_a(2, 3), _a(2, 2), _a(2, 3)),
    "rrelu_backward-dy": lambda: K.rrelu_backward(_a(2, 3), _a(2, 3), _a(3, 3)),
    "loss-unknown-name": lambda: K.LossSpec("no_such_loss"),
    "loss_value-cce-target": lambda: K.loss_value(CCE, _a(2, 3), _a(2, 4)),
    "loss_value-cce-rows": lambda: K.loss_value(CCE, _a(2, 3), _a(3, 3)),
    "loss_value-scce-target-cols": lambda: K.loss_value(
        SCCE, _a(2, 3), np.zeros((2, 3), np.float32)
    ),
    "loss_value-scce-target-rows": lambda: K.loss_value(
        SCCE, _a(2, 3), np.zeros((3, 1), np.float32)
    ),
    "loss_value-bce-target": lambda: K.loss_value(BCE, _a(2, 3), _a(2, 2)),
    "loss_value-mse-target": lambda: K.loss_value(MSE, _a(2, 3), _a(2, 1)),
    "loss_value-pred-1d": lambda: K.loss_value(MSE, _a(3), _a(3)),
    "loss_grad-cce-target": lambda: K.loss_value_and_gradient(CCE, _a(2, 3), _a(2, 4)),
    "loss_grad-scce-target-rows": lambda: K.loss_value_and_gradient(
        SCCE, _a(2, 3), np.zeros((1, 1), np.float32)
    ),
    "loss_grad-mse-target": lambda: K.loss_value_and_gradient(MSE, _a(2, 3), _a(3, 3)),
    "loss_grad-fused-cce-target": lambda: K.loss_value_and_gradient(CCE, _a(2, 3), _a(2, 4), True),
    "loss_grad-fused-scce-target": lambda: K.loss_value_and_gradient(
        SCCE, _a(2, 3), np.zeros((2, 2), np.float32), True
    ),
    "loss_grad-fused-bce-target": lambda: K.loss_value_and_gradient(BCE, _a(2, 3), _a(2, 2), True),
    "accuracy_sum-target": lambda: K.accuracy_sum(CCE, _a(2, 3), _a(2, 4)),
    "accuracy_sum-scce-rows": lambda: K.accuracy_sum(SCCE, _a(2, 3), np.zeros((3, 1), np.float32)),
    "check_sparse_labels-range": lambda: K.check_sparse_labels(f32([[0], [5]]), 3),
    "check_sparse_labels-fraction": lambda: K.check_sparse_labels(f32([[0.5]]), 3),
    "clip_by_value-3d": lambda: K.clip_by_value(_a(2, 2, 2), 1.0),
    "clip_by_value-float64": lambda: K.clip_by_value(np.ones((2, 2)), 1.0),
    "clip_by_norm-3d": lambda: K.clip_by_norm(_a(2, 2, 2), 1.0),
    "clip_by_norm-not-contiguous": lambda: K.clip_by_norm(_a(4, 4)[:, ::2], 1.0),
    "clip_by_global_norm-3d": lambda: K.clip_by_global_norm([_a(2, 2), _a(2, 2, 2)], 1.0),
    "clip_by_global_norm-float64": lambda: K.clip_by_global_norm([_a(2, 2), np.ones(3)], 1.0),
    "sgd_update-g-shape": lambda: K.sgd_update(_a(3, 2), _a(2, 3), _a(3, 2), 0.1, 0.9, False),
    "sgd_update-g-shape-plain": lambda: K.sgd_update(_a(3, 2), _a(3, 3), _a(0), 0.1, 0.0, False),
    "sgd_update-g-length-1d": lambda: K.sgd_update(_a(3), _a(4), _a(3), 0.1, 0.0, False),
    "sgd_update-m-shape": lambda: K.sgd_update(_a(3, 2), _a(3, 2), _a(2, 3), 0.1, 0.9, False),
    "sgd_update-w-3d": lambda: K.sgd_update(_a(2, 2, 2), _a(2, 2), _a(2, 2), 0.1, 0.0, False),
    "sgd_update-g-3d": lambda: K.sgd_update(_a(2, 2), _a(2, 2, 1), _a(2, 2), 0.1, 0.0, False),
    "sgd_update-w-float64": lambda: K.sgd_update(
        np.ones((2, 2)), _a(2, 2), _a(2, 2), 0.1, 0.0, False
    ),
}


@pytest.mark.parametrize("call", list(BAD_CALLS.values()), ids=list(BAD_CALLS))
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_in_place_kernels_leave_arrays_untouched_on_error():
    w, m = f32([[1.0, 2.0]]), f32([[0.5, 0.5]])
    with pytest.raises(ValueError):
        K.sgd_update(w, _a(2, 1), m, 0.1, 0.9, False)
    np.testing.assert_array_equal(w, [[1.0, 2.0]])
    np.testing.assert_array_equal(m, [[0.5, 0.5]])


# -- optimizer kernels ----------------------------------------------------------------------------
def test_sgd_update_takes_a_1d_gradient_as_one_row():
    # w ← w - lr·g with lr = 0.5: (1, 2, 3) - 0.5·(2, 4, 6) = (0, 0, 0)
    w = f32([1.0, 2.0, 3.0])
    K.sgd_update(w, [2.0, 4.0, 6.0], np.zeros(0, np.float32), 0.5)
    np.testing.assert_array_equal(w, [0.0, 0.0, 0.0])
    w2 = f32([[1.0, 2.0, 3.0]])
    K.sgd_update(w2, f32([2.0, 4.0, 6.0]), np.zeros((0, 0), np.float32), 0.5)
    np.testing.assert_array_equal(w2, [[0.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match=r"sgd_update: g must be 1-D or 2-D; got 3-D"):
        K.sgd_update(w, np.ones((1, 1, 3), np.float32), np.zeros(0, np.float32), 0.5)
