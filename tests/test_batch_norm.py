"""BatchNormalization: the kernels, the layer and models against the float64 oracles of
tests/reference.py, finite differences, Keras 3 itself, and the behaviour users rely on (BN as
the first layer instead of standardizing, Dense without bias before BN).

Keras 3 semantics checked here: training (fit, train_on_batch, `training=True`) normalizes with
the batch mean and the biased batch variance Σ(x - μ)²/n, then moves the moving statistics by
`moving = momentum·moving + (1 - momentum)·batch`; inference (evaluate, predict, `layer(x)`)
normalizes with the moving statistics; a layer with `trainable = False` always runs in inference
mode and keeps γ, β and the moving statistics as they are.
"""

import math

import numpy as np
import pytest
import reference as ref
from numpy.testing import assert_allclose, assert_array_equal
from reference import BN_EXAMPLE_IMAGE, BN_EXAMPLE_OUTPUT

import densekit as keras
from densekit import _core

L = keras.layers
K = _core.kernels
EMPTY = np.zeros(0, np.float32)  # the kernels' spelling of "no gamma" / "no beta"
EPS = 1e-3  # Keras's default epsilon
BATCH_SIZES = [1, 2, 3, 8, 64]
FLAGS = [(True, True), (False, True), (True, False), (False, False)]  # (center, scale)
FLAG_IDS = ["center-scale", "scale-only", "center-only", "neither"]


# The models here are tiny; on a loaded 2-core machine a second thread only adds barriers.
# test_batch_norm_kernels_threaded_match_one_thread sets its own count.
pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def digits():
    return keras.datasets.digits.load_data()


# -- helpers ------------------------------------------------------------------------------------


def _batch(rng, n, features):
    """Features with different means and scales, far from the initial moving statistics (0, 1)."""
    loc = rng.uniform(-3, 3, features)
    scale = rng.uniform(0.5, 3, features)
    return rng.normal(loc, scale, size=(n, features)).astype(np.float32)


def _affine(rng, features, center, scale):
    gamma = rng.uniform(0.5, 2, features).astype(np.float32) if scale else None
    beta = rng.uniform(-1, 1, features).astype(np.float32) if center else None
    return gamma, beta


def _arg(v):
    return EMPTY if v is None else v


def _values(layer):
    """{'gamma': ..., 'moving_mean': ...}: float32 copies of a layer's variables."""
    return {v.name.split("/")[-1].split(":")[0]: np.array(v.numpy()) for v in layer.variables}


def _randomize(bn, rng):
    """Sets γ, β and the moving statistics of a built BN layer to random values; returns them."""
    f = bn.variables[0].shape[0]
    new = {
        "gamma": rng.uniform(0.5, 2, f),
        "beta": rng.uniform(-1, 1, f),
        "moving_mean": rng.uniform(-1, 1, f),
        "moving_variance": rng.uniform(0.5, 3, f),
    }
    for v in bn.variables:
        v.assign(new[v.name.split("/")[-1].split(":")[0]])
    return _values(bn)


def _bn_model(features, center=True, scale=True, momentum=0.9, lr=0.1):
    bn = L.BatchNormalization(
        momentum=momentum, center=center, scale=scale, input_shape=(features,)
    )
    model = keras.Sequential([bn])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    return model, bn


def _close(actual, expected, rtol=1e-5, atol=1e-5, err_msg=""):
    # atol relative to the size of the values, since float32 rounds relative to them
    assert_allclose(
        actual, expected, rtol=rtol, atol=atol * max(1.0, np.abs(expected).max()), err_msg=err_msg
    )


# -- a fresh layer called on a 3x3 image -----------------------------------------------------------------


def test_batch_norm_fresh_layer_call_divides_by_sqrt_one_plus_epsilon():
    layer = L.BatchNormalization()
    out = layer(BN_EXAMPLE_IMAGE)
    # A fresh layer in inference mode: moving mean 0, moving variance 1, gamma 1, beta 0, so
    # y = x / sqrt(1 + 0.001) = x / 1.00049988; 0.13832426 / 1.00049988 = 0.13825515.
    assert out.shape == (3, 3) and out.dtype == np.float32
    assert_allclose(out, BN_EXAMPLE_OUTPUT, rtol=2e-7, atol=1e-7)
    assert_allclose(out, BN_EXAMPLE_IMAGE.astype(np.float64) / math.sqrt(1.001), rtol=1e-6)
    # The call built the layer for 3 features and did not move its statistics.
    values = _values(layer)
    assert_array_equal(values["moving_mean"], np.zeros(3, np.float32))
    assert_array_equal(values["moving_variance"], np.ones(3, np.float32))


# -- kernels --------------------------------------------------------------------------------------


@pytest.mark.parametrize("center,scale", FLAGS, ids=FLAG_IDS)
@pytest.mark.parametrize("n", BATCH_SIZES)
def test_batch_norm_forward_training_kernel_matches_reference(n, center, scale, rng):
    x = _batch(rng, n, 5)
    gamma, beta = _affine(rng, 5, center, scale)
    y, mean, var, inv_std, x_hat = K.batch_norm_forward_training(x, _arg(gamma), _arg(beta), EPS)
    ref_y, ref_mean, ref_var = ref.batch_norm_forward_training(x, gamma, beta, EPS)
    _close(mean, ref_mean, atol=1e-6)
    _close(var, ref_var, atol=1e-6)  # biased: n = 1 gives 0, n = 2 gives (a - b)² / 4
    _close(inv_std, 1 / np.sqrt(ref_var + EPS))
    _close(x_hat, (x - ref_mean) / np.sqrt(ref_var + EPS))
    _close(y, ref_y)
    if n == 1:  # one sample: x̂ = 0, so y = β
        assert_array_equal(x_hat, np.zeros_like(x))
        assert_array_equal(y[0], beta if center else np.zeros(5, np.float32))


def test_batch_norm_forward_training_kernel_by_hand():
    # One feature, x = [1, 5]: mean 3, biased variance ((1-3)² + (5-3)²)/2 = 4 (the unbiased
    # would be 8), inv_std = 1/sqrt(4.001) = 0.49993752, x̂ = ∓2·0.49993752 = ∓0.99987505;
    # gamma 2, beta 0.5: y = 0.5 ∓ 1.9997501 = [-1.4997501, 2.4997501].
    x = np.array([[1.0], [5.0]], np.float32)
    y, mean, var, inv_std, x_hat = K.batch_norm_forward_training(
        x, np.array([2.0], np.float32), np.array([0.5], np.float32), EPS
    )
    assert_allclose(mean, [3.0])
    assert_allclose(var, [4.0])
    assert_allclose(inv_std, [0.49993752], rtol=1e-7)
    assert_allclose(x_hat[:, 0], [-0.99987505, 0.99987505], rtol=1e-7)
    assert_allclose(y[:, 0], [-1.4997501, 2.4997501], rtol=1e-7)


def test_batch_norm_forward_training_kernel_mean_far_from_zero(rng):
    # |mean| >> std: E[x²] - E[x]² in float32 would lose every digit (1000² = 1e6, variance
    # 1e-4); the variance of the float32 inputs, computed in float64, is the oracle.
    x = (1000 + rng.normal(0, 0.01, size=(256, 3))).astype(np.float32)
    _, mean, var, _, x_hat = K.batch_norm_forward_training(x, EMPTY, EMPTY, 1e-8)
    ref_mean, ref_var = ref.batch_norm_moments(x)
    assert_allclose(mean, ref_mean, rtol=1e-7)
    assert_allclose(var, ref_var, rtol=1e-5)
    _close(x_hat, (x - ref_mean) / np.sqrt(ref_var + 1e-8), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("center,scale", FLAGS, ids=FLAG_IDS)
def test_batch_norm_forward_inference_kernel_matches_reference(center, scale, rng):
    x = _batch(rng, 7, 5)
    gamma, beta = _affine(rng, 5, center, scale)
    mm = rng.uniform(-1, 1, 5).astype(np.float32)
    mv = rng.uniform(0.5, 3, 5).astype(np.float32)
    y = K.batch_norm_forward_inference(x, _arg(gamma), _arg(beta), mm, mv, EPS)
    _close(y, ref.batch_norm_forward_inference(x, gamma, beta, mm, mv, EPS))


@pytest.mark.parametrize("momentum", [0.99, 0.9, 0.0, 1.0])
def test_batch_norm_update_moving_kernel_matches_reference(momentum, rng):
    mm = rng.uniform(-1, 1, 6).astype(np.float32)
    mv = rng.uniform(0.5, 3, 6).astype(np.float32)
    mean = rng.normal(size=6).astype(np.float32)
    var = rng.uniform(0, 4, 6).astype(np.float32)
    expected_mm, expected_mv = ref.batch_norm_update_moving(mm, mv, mean, var, momentum)
    K.batch_norm_update_moving(mm, mv, mean, var, momentum)  # in place
    _close(mm, expected_mm, atol=1e-6)
    _close(mv, expected_mv, atol=1e-6)
    if momentum == 0:
        assert_array_equal(mm, mean)
    # By hand: moving 0 and 1, batch mean 2 and variance 4, momentum 0.9:
    # 0.9·0 + 0.1·2 = 0.2 and 0.9·1 + 0.1·4 = 1.3.
    mm, mv = np.zeros(1, np.float32), np.ones(1, np.float32)
    K.batch_norm_update_moving(
        mm, mv, np.array([2.0], np.float32), np.array([4.0], np.float32), 0.9
    )
    assert_allclose([mm[0], mv[0]], [0.2, 1.3], rtol=1e-6)


def _fd_training(x, gamma, beta, dy):
    """Central differences of L = Σ dy ⊙ y(x, γ, β) in float64 (training mode)."""
    f = x.shape[1]
    g = np.ones(f) if gamma is None else np.asarray(gamma, np.float64)
    b = np.zeros(f) if beta is None else np.asarray(beta, np.float64)

    def loss(x_, g_, b_):
        return float((dy * ref.batch_norm_forward_training(x_, g_, b_, EPS)[0]).sum())

    return (
        ref.numerical_gradient(lambda v: loss(v, g, b), x),
        ref.numerical_gradient(lambda v: loss(x, v, b), g),
        ref.numerical_gradient(lambda v: loss(x, g, v), b),
    )


@pytest.mark.parametrize("center,scale", FLAGS, ids=FLAG_IDS)
@pytest.mark.parametrize("n", BATCH_SIZES)
def test_batch_norm_backward_training_kernel_matches_finite_differences(n, center, scale, rng):
    x = _batch(rng, n, 4)
    dy = rng.normal(size=(n, 4)).astype(np.float32)
    gamma, beta = _affine(rng, 4, center, scale)
    _, _, _, inv_std, x_hat = K.batch_norm_forward_training(x, _arg(gamma), _arg(beta), EPS)
    dx, dgamma, dbeta = K.batch_norm_backward_training(x_hat, dy, _arg(gamma), inv_std)
    fd_dx, fd_dgamma, fd_dbeta = _fd_training(np.float64(x), gamma, beta, np.float64(dy))
    # the float64 oracle and the finite differences agree to ~1e-7 ...
    ref_dx, ref_dgamma, ref_dbeta = ref.batch_norm_backward_training(x, dy, gamma, EPS)
    _close(ref_dx, fd_dx, rtol=1e-6, atol=1e-7)
    _close(ref_dgamma, fd_dgamma, rtol=1e-6, atol=1e-7)
    _close(ref_dbeta, fd_dbeta, rtol=1e-6, atol=1e-7)
    # ... and the float32 kernel agrees with both to float32 accuracy.
    _close(dx, fd_dx, rtol=1e-4, atol=1e-5)
    _close(dgamma, fd_dgamma, rtol=1e-4, atol=1e-5)
    _close(dbeta, fd_dbeta, rtol=1e-5, atol=1e-6)
    if n == 1:  # y = β whatever x is
        assert_allclose(dx, np.zeros_like(dx), atol=1e-6)


@pytest.mark.parametrize("center,scale", FLAGS, ids=FLAG_IDS)
@pytest.mark.parametrize("n", [1, 2, 9])
def test_batch_norm_backward_inference_kernel_matches_finite_differences(n, center, scale, rng):
    x = _batch(rng, n, 4)
    dy = rng.normal(size=(n, 4)).astype(np.float32)
    gamma, beta = _affine(rng, 4, center, scale)
    mm = rng.uniform(-1, 1, 4).astype(np.float32)
    mv = rng.uniform(0.5, 3, 4).astype(np.float32)
    dx, dgamma, dbeta = K.batch_norm_backward_inference(x, dy, _arg(gamma), mm, mv, EPS)
    g = np.ones(4) if gamma is None else np.float64(gamma)
    b = np.zeros(4) if beta is None else np.float64(beta)

    def loss(x_, g_, b_):
        return float((dy * ref.batch_norm_forward_inference(x_, g_, b_, mm, mv, EPS)).sum())

    fd = (
        ref.numerical_gradient(lambda v: loss(v, g, b), np.float64(x)),
        ref.numerical_gradient(lambda v: loss(x, v, b), g),
        ref.numerical_gradient(lambda v: loss(x, g, v), b),
    )
    for oracle, numeric in zip(ref.batch_norm_backward_inference(x, dy, gamma, mm, mv, EPS), fd):
        _close(oracle, numeric, rtol=1e-6, atol=1e-7)
    for kernel, numeric in zip((dx, dgamma, dbeta), fd):
        _close(kernel, numeric, rtol=1e-4, atol=1e-5)


def test_batch_norm_kernels_threaded_match_one_thread(rng):
    # 300 x 130 = 39,000 elements, above the OpenMP threshold (32,768), in tiles of 64 columns
    # with a last tile of 2; the kernels promise results independent of the thread count.
    x = _batch(rng, 300, 130)
    dy = rng.normal(size=x.shape).astype(np.float32)
    gamma, beta = _affine(rng, 130, True, True)
    mm = rng.uniform(-1, 1, 130).astype(np.float32)
    mv = rng.uniform(0.5, 3, 130).astype(np.float32)

    def run():
        fwd = K.batch_norm_forward_training(x, gamma, beta, EPS)
        bwd = K.batch_norm_backward_training(fwd[4], dy, gamma, fwd[3])
        inf = K.batch_norm_forward_inference(x, gamma, beta, mm, mv, EPS)
        binf = K.batch_norm_backward_inference(x, dy, gamma, mm, mv, EPS)
        return [*fwd, *bwd, inf, *binf]

    threads = keras.get_num_threads()
    try:
        keras.set_num_threads(1)
        single = run()
        keras.set_num_threads(2)
        double = run()
    finally:
        keras.set_num_threads(threads)
    for a, b in zip(single, double):
        assert_array_equal(a, b)
    ref_y, _, ref_var = ref.batch_norm_forward_training(x, gamma, beta, EPS)
    _close(double[0], ref_y)
    _close(double[2], ref_var, atol=1e-6)
    ref_dx, ref_dgamma, ref_dbeta = ref.batch_norm_backward_training(x, dy, gamma, EPS)
    _close(double[5], ref_dx, rtol=1e-4)
    _close(double[6], ref_dgamma, rtol=1e-4)
    _close(double[7], ref_dbeta, rtol=1e-4)
    _close(double[8], ref.batch_norm_forward_inference(x, gamma, beta, mm, mv, EPS))


# -- the layer in a model: one training step against the reference --------------------------------


@pytest.mark.parametrize("center,scale", FLAGS, ids=FLAG_IDS)
@pytest.mark.parametrize("n", BATCH_SIZES)
def test_batch_norm_train_on_batch_matches_reference(n, center, scale, rng):
    # A model [BatchNormalization], MSE, plain SGD: one step normalizes with the batch
    # statistics, moves the moving statistics and steps gamma/beta by -lr·gradient.
    lr, momentum = 0.1, 0.9
    model, bn = _bn_model(5, center, scale, momentum, lr)
    before = _randomize(bn, rng)
    x = _batch(rng, n, 5)
    t = rng.normal(size=(n, 5)).astype(np.float32)
    loss = model.train_on_batch(x, t)

    gamma, beta = before.get("gamma"), before.get("beta")
    y, mean, var = ref.batch_norm_forward_training(x, gamma, beta, EPS)
    ref_loss, dy = ref.loss_and_gradient("mean_squared_error", y, t)
    _, dgamma, dbeta = ref.batch_norm_backward_training(x, dy, gamma, EPS)
    moving_mean, moving_var = ref.batch_norm_update_moving(
        before["moving_mean"], before["moving_variance"], mean, var, momentum
    )
    after = _values(bn)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    _close(after["moving_mean"], moving_mean, atol=1e-6)
    _close(after["moving_variance"], moving_var, atol=1e-6)
    if scale:
        _close(after["gamma"] - before["gamma"], -lr * dgamma, rtol=1e-4, atol=1e-6)
    if center:
        _close(after["beta"] - before["beta"], -lr * dbeta, rtol=1e-4, atol=1e-6)
    assert list(after) == ["gamma"] * scale + ["beta"] * center + ["moving_mean", "moving_variance"]


def test_batch_norm_fit_moves_statistics_once_per_batch_with_biased_variance(rng):
    # fit without shuffling over 10 samples in batches of 4: batches of 4, 4 and 2 per epoch,
    # two epochs, so six updates, each with that batch's mean and biased variance. The layer is
    # first, so its inputs (and so its statistics) do not depend on the training of gamma/beta.
    model, bn = _bn_model(3, momentum=0.8)
    x = _batch(rng, 10, 3)
    t = rng.normal(size=(10, 3)).astype(np.float32)
    model.fit(x, t, batch_size=4, epochs=2, shuffle=False, verbose=0)
    mm, mv = np.zeros(3), np.ones(3)
    for _ in range(2):
        for rows in (slice(0, 4), slice(4, 8), slice(8, 10)):
            mean, var = ref.batch_norm_moments(x[rows])
            mm, mv = ref.batch_norm_update_moving(mm, mv, mean, var, 0.8)
    values = _values(bn)
    _close(values["moving_mean"], mm, atol=1e-6)
    _close(values["moving_variance"], mv, atol=1e-6)


# -- training vs inference ----------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["train_on_batch", "fit"])
def test_batch_norm_training_uses_batch_statistics(how, rng):
    # The loss reported for a step is that of the batch-normalized output, computed before the
    # step; with the moving statistics it would be far larger (the features have means up to 3).
    model, bn = _bn_model(4)
    before = _randomize(bn, rng)
    x = _batch(rng, 16, 4)
    t = rng.normal(size=(16, 4)).astype(np.float32)
    y_batch = ref.batch_norm_forward_training(x, before["gamma"], before["beta"], EPS)[0]
    y_moving = ref.batch_norm_forward_inference(
        x, before["gamma"], before["beta"], before["moving_mean"], before["moving_variance"], EPS
    )
    if how == "fit":
        loss = model.fit(x, t, batch_size=16, epochs=1, verbose=0).history["loss"][0]
    else:
        loss = model.train_on_batch(x, t)
    assert loss == pytest.approx(ref.loss("mean_squared_error", y_batch, t), rel=1e-5)
    assert abs(loss - ref.loss("mean_squared_error", y_moving, t)) > 0.1


def test_batch_norm_inference_uses_moving_stats(rng):
    model, bn = _bn_model(4)
    before = _randomize(bn, rng)
    x = _batch(rng, 16, 4)
    t = rng.normal(size=(16, 4)).astype(np.float32)
    expected = ref.batch_norm_forward_inference(
        x, before["gamma"], before["beta"], before["moving_mean"], before["moving_variance"], EPS
    )
    outputs = {
        "predict": model.predict(x, verbose=0),
        "predict batch_size=5": model.predict(x, batch_size=5, verbose=0),
        "predict_on_batch": model.predict_on_batch(x),
        "model(x)": model(x),
        "model(x, training=False)": model(x, training=False),
        "layer(x)": bn(x),
        "layer(x, training=False)": bn(x, training=False),
        "one row": np.concatenate([bn(x[i : i + 1]) for i in range(16)]),
    }
    for how, out in outputs.items():
        _close(out, expected, atol=1e-6, err_msg=how)
    mse = ref.loss("mean_squared_error", expected, t)
    assert model.evaluate(x, t, verbose=0) == pytest.approx(mse, rel=1e-5)
    assert model.evaluate(x, t, batch_size=3, verbose=0) == pytest.approx(mse, rel=1e-5)
    assert model.test_on_batch(x, t) == pytest.approx(mse, rel=1e-5)
    for name, value in _values(bn).items():  # none of these moved anything
        assert_array_equal(value, before[name], err_msg=name)


@pytest.mark.parametrize("then", ["layer(x)", "frozen train_on_batch"])
@pytest.mark.parametrize("before_call", ["diverged fit step", "gradient_flow"])
def test_batch_norm_discarded_training_forward_never_moves_moving_stats(before_call, then, rng):
    # Two ways to run a training forward whose statistics must not be kept: a fit step whose
    # loss is NaN (fit promises a diverging step leaves every variable as it was) and
    # diagnostics.gradient_flow ("without training"). Neither may move the moving statistics,
    # then or later: neither at an inference call layer(x) nor in a training step of the model
    # once the layer is frozen (a frozen layer keeps its statistics bit for bit).
    model, bn = _dense_bn_dense(rng)
    model.compile(optimizer="sgd", loss="mse")
    before = _randomize(bn, rng)
    x = _batch(rng, 8, 3)
    t = rng.normal(size=(8, 2)).astype(np.float32)
    if before_call == "gradient_flow":
        from densekit import diagnostics

        diagnostics.gradient_flow(model, x, t)
    else:
        bad = x.copy()
        bad[1, 0] = np.nan
        history = model.fit(bad, t, batch_size=8, epochs=1, verbose=0, allow_nonfinite=True)
        assert history.stopped_on_nonfinite == {"epoch": 0, "step": 0}
    for name, value in _values(bn).items():
        assert_array_equal(value, before[name], err_msg=f"{name} after {before_call}")
    if then == "layer(x)":
        z = _batch(rng, 4, 4)
        _close(
            bn(z),
            ref.batch_norm_forward_inference(
                z,
                before["gamma"],
                before["beta"],
                before["moving_mean"],
                before["moving_variance"],
                EPS,
            ),
        )
    else:
        bn.trainable = False
        model.train_on_batch(x, t)
    for name, value in _values(bn).items():
        assert_array_equal(value, before[name], err_msg=f"{name} after {before_call}, then {then}")


@pytest.mark.parametrize("call", ["layer", "model"])
def test_batch_norm_training_call_uses_batch_stats_and_updates_moving_stats(call, rng):
    # layer(x, training=True) and model(x, training=True) run a training forward, which in Keras
    # also moves the moving statistics; a later inference call uses the moved ones.
    model, bn = _bn_model(4, momentum=0.9)
    before = _randomize(bn, rng)
    x = _batch(rng, 12, 4)
    out = bn(x, training=True) if call == "layer" else model(x, training=True)
    y, mean, var = ref.batch_norm_forward_training(x, before["gamma"], before["beta"], EPS)
    _close(out, y)
    mm, mv = ref.batch_norm_update_moving(
        before["moving_mean"], before["moving_variance"], mean, var, 0.9
    )
    after = _values(bn)
    _close(after["moving_mean"], mm, atol=1e-6)
    _close(after["moving_variance"], mv, atol=1e-6)
    assert_array_equal(after["gamma"], before["gamma"])  # no gradient step
    assert_array_equal(after["beta"], before["beta"])
    _close(bn(x), ref.batch_norm_forward_inference(x, before["gamma"], before["beta"], mm, mv, EPS))


def test_batch_norm_layer_call_training_by_hand():
    # Fresh layer, x = [[1], [5]]: mean 3, biased variance 4, so y = ∓2/sqrt(4.001) = ∓0.99987505;
    # moving_mean = 0.99·0 + 0.01·3 = 0.03, moving_variance = 0.99·1 + 0.01·4 = 1.03
    # (with the unbiased variance 8 it would be 1.07).
    layer = L.BatchNormalization()
    out = layer(np.array([[1.0], [5.0]], np.float32), training=True)
    assert_allclose(out[:, 0], [-0.99987505, 0.99987505], rtol=1e-6)
    values = _values(layer)
    assert_allclose(values["moving_mean"], [0.03], rtol=1e-6)
    assert_allclose(values["moving_variance"], [1.03], rtol=1e-6)


# -- trainable = False -------------------------------------------------------------------------------


def _dense_bn_dense(rng, trainable=True):
    glorot = keras.initializers.GlorotUniform
    model = keras.Sequential(
        [
            L.Dense(4, use_bias=False, input_shape=(3,), kernel_initializer=glorot(seed=1)),
            L.BatchNormalization(momentum=0.9, trainable=trainable),
            L.Dense(2, kernel_initializer=glorot(seed=2)),
        ]
    )
    return model, model.layers[1]


def test_batch_norm_frozen_layer_runs_in_inference_mode_during_training(rng):
    # Keras 3: a BN layer with trainable=False normalizes with its moving statistics even in fit,
    # and the gradient reaches the layers below through that affine map: for Dense(W, no bias) ->
    # BN -> Dense(V, c) and MSE, dW = xᵀ (dz ⊙ γ/sqrt(moving_var + ε)) with dz the gradient at W's
    # output. Checked on one SGD step against the float64 chain rule.
    lr = 0.1
    model, bn = _dense_bn_dense(rng)
    frozen = _randomize(bn, rng)
    bn.trainable = False
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    w, (v, c) = model.layers[0].get_weights()[0], model.layers[2].get_weights()
    x = _batch(rng, 8, 3)
    t = rng.normal(size=(8, 2)).astype(np.float32)
    loss = model.train_on_batch(x, t)

    z = ref.dense_forward(x, w)
    h = ref.batch_norm_forward_inference(
        z, frozen["gamma"], frozen["beta"], frozen["moving_mean"], frozen["moving_variance"], EPS
    )
    out = ref.dense_forward(h, v, c)
    ref_loss, dout = ref.loss_and_gradient("mean_squared_error", out, t)
    dh, dv, dc = ref.dense_backward(h, v, dout)
    dz, _, _ = ref.batch_norm_backward_inference(
        z, dh, frozen["gamma"], frozen["moving_mean"], frozen["moving_variance"], EPS
    )
    _, dw, _ = ref.dense_backward(x, w, dz)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    _close(model.layers[0].get_weights()[0] - w, -lr * dw, rtol=1e-4, atol=1e-6)
    _close(model.layers[2].get_weights()[0] - v, -lr * dv, rtol=1e-4, atol=1e-6)
    _close(model.layers[2].get_weights()[1] - c, -lr * dc, rtol=1e-4, atol=1e-6)
    for name, value in _values(bn).items():
        assert_array_equal(value, frozen[name], err_msg=name)


@pytest.mark.parametrize("how", ["attribute", "constructor"])
def test_batch_norm_frozen_layer_is_bit_identical_after_fit(how, rng):
    model, bn = _dense_bn_dense(rng, trainable=how == "constructor")
    frozen = _randomize(bn, rng)
    bn.trainable = False
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="mse")
    dense_before = model.layers[0].get_weights()[0]
    x = _batch(rng, 50, 3)
    t = rng.normal(size=(50, 2)).astype(np.float32)
    model.fit(x, t, batch_size=8, epochs=3, verbose=0, seed=0)
    for name, value in _values(bn).items():
        assert_array_equal(value, frozen[name], err_msg=name)
    assert not np.allclose(model.layers[0].get_weights()[0], dense_before)  # the rest trained
    # Asked to train directly, a frozen layer still runs in inference mode and moves nothing.
    z = _batch(rng, 6, 4)
    _close(
        bn(z, training=True),
        ref.batch_norm_forward_inference(
            z,
            frozen["gamma"],
            frozen["beta"],
            frozen["moving_mean"],
            frozen["moving_variance"],
            EPS,
        ),
    )
    for name, value in _values(bn).items():
        assert_array_equal(value, frozen[name], err_msg=name)
    # Unfrozen again, the next step trains it.
    bn.trainable = True
    model.train_on_batch(x[:8], t[:8])
    after = _values(bn)
    for name in after:
        assert not np.array_equal(after[name], frozen[name]), name


def test_batch_norm_frozen_layer_counts_as_non_trainable_in_summary(rng, capsys):
    model, bn = _dense_bn_dense(rng)
    # Dense 3*4 = 12, BN 4*4 = 16 (gamma, beta trainable; moving stats not), Dense 4*2+2 = 10.
    model.summary()
    text = capsys.readouterr().out
    assert "Total params: 38" in text and "Trainable params: 30" in text
    assert "Non-trainable params: 8" in text
    bn.trainable = False
    model.summary()
    text = capsys.readouterr().out
    assert "Total params: 38" in text and "Trainable params: 22" in text
    assert "Non-trainable params: 16" in text
    assert [(v.name.split("/", 1)[1], v.trainable) for v in bn.variables] == [
        ("gamma:0", False),
        ("beta:0", False),
        ("moving_mean:0", False),
        ("moving_variance:0", False),
    ]
    assert bn.trainable_weights == [] and len(bn.non_trainable_weights) == 4
    assert bn.get_config()["trainable"] is False


@pytest.mark.parametrize(
    "center,scale,per_feature",
    [(True, True, 4), (False, True, 3), (True, False, 3), (False, False, 2)],
)
def test_batch_norm_center_scale_off_variables_and_counts(center, scale, per_feature):
    layer = L.BatchNormalization(center=center, scale=scale)
    layer(np.zeros((2, 5), np.float32))
    names = [v.name.split("/", 1)[1] for v in layer.variables]
    assert names == ["gamma:0"] * scale + ["beta:0"] * center + [
        "moving_mean:0",
        "moving_variance:0",
    ]
    assert layer.count_params() == per_feature * 5
    assert len(layer.trainable_weights) == center + scale


# -- placement in a network --------------------------------------------------------------------------


def _chain(params, x, t, placement):
    """Float64 loss and gradients of Dense -> BN -> sigmoid -> Dense ("before" the activation,
    the first Dense without bias) or Dense+sigmoid -> BN -> Dense ("after"), MSE, BN training."""
    w1, b1, g, b, w2, b2 = params
    z = ref.dense_forward(x, w1, b1)
    if placement == "before":
        y, mean, var = ref.batch_norm_forward_training(z, g, b, EPS)
        h = ref.sigmoid(y)
    else:
        a = ref.sigmoid(z)
        h, mean, var = ref.batch_norm_forward_training(a, g, b, EPS)
    out = ref.dense_forward(h, w2, b2)
    loss, dout = ref.loss_and_gradient("mean_squared_error", out, t)
    dh, dw2, db2 = ref.dense_backward(h, w2, dout)
    if placement == "before":
        dy = ref.activation_backward("sigmoid", y, dh)
        dz, dg, db = ref.batch_norm_backward_training(z, dy, g, EPS)
    else:
        da, dg, db = ref.batch_norm_backward_training(a, dh, g, EPS)
        dz = ref.activation_backward("sigmoid", z, da)
    _, dw1, db1 = ref.dense_backward(x, w1, dz)
    return loss, [dw1, db1, dg, db, dw2, db2], (mean, var)


@pytest.mark.parametrize("placement", ["before", "after"])
def test_batch_norm_before_or_after_activation_one_step_matches_reference(placement, rng):
    lr = 0.2
    glorot = keras.initializers.GlorotUniform
    if placement == "before":  # the BN paper's placement: Dense(use_bias=False), BN, activation
        layers = [
            L.Dense(4, use_bias=False, input_shape=(3,), kernel_initializer=glorot(seed=3)),
            L.BatchNormalization(momentum=0.9),
            L.Activation("sigmoid"),
        ]
    else:
        layers = [
            L.Dense(
                4,
                activation="sigmoid",
                input_shape=(3,),
                kernel_initializer=glorot(seed=3),
                bias_initializer=keras.initializers.RandomUniform(-1, 1, seed=4),
            ),
            L.BatchNormalization(momentum=0.9),
        ]
    model = keras.Sequential(layers + [L.Dense(2, kernel_initializer=glorot(seed=5))])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    dense1, bn, dense2 = model.layers[0], model.layers[1], model.layers[-1]
    _randomize(bn, rng)
    b1 = dense1.get_weights()[1] if placement == "after" else None
    params = [dense1.get_weights()[0], b1, *bn.get_weights()[:2], *dense2.get_weights()]
    params = [None if p is None else np.float64(p) for p in params]
    moving = bn.get_weights()[2:]
    x = _batch(rng, 6, 3)
    t = rng.normal(size=(6, 2)).astype(np.float32)

    ref_loss, grads, (mean, var) = _chain(params, np.float64(x), t, placement)
    # The chained oracle against finite differences of its own loss, every parameter:
    for i, p in enumerate(params):
        if p is None:
            continue

        def loss_of(value, i=i):
            changed = list(params)
            changed[i] = value
            return _chain(changed, np.float64(x), t, placement)[0]

        _close(grads[i], ref.numerical_gradient(loss_of, p), rtol=1e-6, atol=1e-8)

    loss = model.train_on_batch(x, t)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    new = [
        dense1.get_weights()[0],
        dense1.get_weights()[1] if placement == "after" else None,
        *bn.get_weights()[:2],
        *dense2.get_weights(),
    ]
    for name, p_new, p_old, g in zip(["w1", "b1", "gamma", "beta", "w2", "b2"], new, params, grads):
        if p_old is not None:
            _close(p_new - p_old, -lr * g, rtol=1e-4, atol=1e-6, err_msg=name)
    mm, mv = ref.batch_norm_update_moving(moving[0], moving[1], mean, var, 0.9)
    _close(bn.get_weights()[2], mm, atol=1e-6)
    _close(bn.get_weights()[3], mv, atol=1e-6)
    assert [v.name.split("/", 1)[1] for v in dense1.variables] == (
        ["kernel:0"] if placement == "before" else ["kernel:0", "bias:0"]
    )


@pytest.mark.parametrize("center,scale", FLAGS, ids=FLAG_IDS)
@pytest.mark.parametrize("hidden", ["bias", "no-bias", "frozen"])
def test_batch_norm_first_then_dense_one_step_matches_reference(hidden, center, scale, rng):
    # BN as the first layer: the dense layer above computes γ's and β's gradients without
    # the input-gradient product (a frozen one cannot, and the plain backward runs). One step
    # against the float64 chain: BN forward, then Dense(relu) -> Dense(softmax) and the loss;
    # γ and β by finite differences of that loss, the dense gradients by the reference backward.
    lr = 0.5
    bn = L.BatchNormalization(momentum=0.9, center=center, scale=scale, input_shape=(5,))
    dense1 = L.Dense(4, activation="relu", use_bias=hidden != "no-bias")
    model = keras.Sequential([bn, dense1, L.Dense(3, activation="softmax")])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr), loss="sparse_categorical_crossentropy"
    )
    dense1.trainable = hidden != "frozen"
    before_bn = _randomize(bn, rng)
    gamma, beta = before_bn.get("gamma"), before_bn.get("beta")
    w1 = dense1.get_weights()[0]
    b1 = dense1.get_weights()[1] if hidden != "no-bias" else np.zeros(4, np.float32)
    w2, b2 = model.layers[-1].get_weights()
    x = _batch(rng, 8, 5)
    labels = rng.integers(0, 3, size=8)

    def chain(gamma, beta):
        y_bn = ref.batch_norm_forward_training(x, gamma, beta, EPS)[0]
        return ref.mlp_loss_and_gradients(
            [w1, b1, w2, b2], ["relu", "softmax"], y_bn, labels, "sparse_categorical_crossentropy"
        )

    ref_loss, _, (dw1, db1, dw2, db2) = chain(gamma, beta)
    loss = model.train_on_batch(x, labels)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    after = _values(bn)
    if scale:
        dgamma = ref.numerical_gradient(lambda g: chain(g, beta)[0], np.float64(gamma))
        assert np.abs(dgamma).max() > 1e-3  # a step that moves γ, or the check proves nothing
        _close(after["gamma"] - gamma, -lr * dgamma, rtol=1e-4, atol=1e-6)
    if center:
        dbeta = ref.numerical_gradient(lambda b: chain(gamma, b)[0], np.float64(beta))
        assert np.abs(dbeta).max() > 1e-3
        _close(after["beta"] - beta, -lr * dbeta, rtol=1e-4, atol=1e-6)
    new_dense1 = dense1.get_weights()
    if hidden == "frozen":
        assert_array_equal(new_dense1[0], w1)
    else:
        _close(new_dense1[0] - w1, -lr * dw1, rtol=1e-4, atol=1e-6)
        if hidden == "bias":
            _close(new_dense1[1] - b1, -lr * db1, rtol=1e-4, atol=1e-6)
    _close(model.layers[-1].get_weights()[0] - w2, -lr * dw2, rtol=1e-4, atol=1e-6)
    _close(model.layers[-1].get_weights()[1] - b2, -lr * db2, rtol=1e-4, atol=1e-6)


def test_batch_norm_first_layer_trains_on_unstandardized_digits(digits):
    # With BN as the very first layer the inputs need no standardizing. Pixels are
    # scaled back to 0..16 (the raw digits values); BN learns their scale.
    (x_train, y_train), (x_test, y_test) = digits
    x_train, x_test = x_train * 16, x_test * 16
    assert x_train.max() == 16
    model = keras.Sequential(
        [
            L.Flatten(input_shape=[8, 8]),
            L.BatchNormalization(),
            L.Dense(64, activation="relu", kernel_initializer=keras.initializers.HeNormal(seed=1)),
            L.Dense(
                10,
                activation="softmax",
                kernel_initializer=keras.initializers.GlorotUniform(seed=2),
            ),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x_train, y_train, batch_size=32, epochs=10, verbose=0, seed=0)
    # Observed: 0.96 (seed 0).
    assert model.evaluate(x_test, y_test, verbose=0)[1] > 0.9
    # The moving mean estimates the pixel means (up to 12.1): 450 steps leave 0.99^450 = 1% of
    # the initial 0 (1% of 12.1 = 0.12 at most) plus the noise of the last ~100 batch means;
    # observed within 0.15 (0.141 with seed 0). Momentum 0.9 instead of 0.99 gives 0.54 and the
    # swapped update (momentum 0.01) 1.9, so atol=0.2 catches both (0.6 would miss the first).
    pixel_mean = x_train.reshape(len(x_train), -1).mean(axis=0)
    assert_allclose(model.layers[1].get_weights()[2], pixel_mean, atol=0.2)


def _deep_sigmoid(bn, depth=10, units=100):
    # Seeded Glorot uniform kernels: without BN the sigmoids' gradients shrink layer by layer.
    glorot = keras.initializers.GlorotUniform
    layers = [L.Flatten(input_shape=[8, 8])]
    for i in range(depth):
        if bn:  # BN before the activation, the Dense without bias
            # momentum 0.9: the moving statistics catch up within the 225 steps of 5 epochs
            # (with 0.99, 0.99^225 = 10% of the initial statistics would remain, and 10
            # stacked mismatches ruin the test accuracy though training went well).
            layers += [
                L.Dense(units, use_bias=False, kernel_initializer=glorot(seed=i)),
                L.BatchNormalization(momentum=0.9),
                L.Activation("sigmoid"),
            ]
        else:
            layers.append(L.Dense(units, activation="sigmoid", kernel_initializer=glorot(seed=i)))
    layers.append(L.Dense(10, activation="softmax", kernel_initializer=glorot(seed=99)))
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.1),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def test_batch_norm_lets_a_deep_sigmoid_network_learn(digits):
    (x_train, y_train), (x_test, y_test) = digits
    plain, normalized = _deep_sigmoid(bn=False), _deep_sigmoid(bn=True)
    plain_history = plain.fit(x_train, y_train, batch_size=32, epochs=5, verbose=0, seed=0)
    bn_history = normalized.fit(x_train, y_train, batch_size=32, epochs=5, verbose=0, seed=0)
    # Observed (seed 0): without BN training accuracy 0.087 after 5 epochs (chance is 0.1),
    # test 0.09; with BN training 0.959, test 0.958.
    assert plain_history.history["accuracy"][-1] < 0.2
    assert plain.evaluate(x_test, y_test, verbose=0)[1] < 0.2
    assert bn_history.history["accuracy"][-1] > 0.85
    assert normalized.evaluate(x_test, y_test, verbose=0)[1] > 0.85


# -- the batch-normalized MNIST-shaped model: BN first, Dense without bias, BN before relu --------------


def _mnist_bn_model():
    return keras.models.Sequential(
        [
            L.Flatten(input_shape=[28, 28]),
            L.BatchNormalization(),
            L.Dense(300, activation="relu", use_bias=False),
            L.BatchNormalization(),
            L.Dense(100, use_bias=False),
            L.BatchNormalization(),
            L.Activation("relu"),
            L.Dense(10, activation="softmax"),
        ]
    )


def test_batch_norm_mnist_model_parameter_counts_and_variables(capsys):
    model = _mnist_bn_model()
    # 4 per feature: 4·784 = 3,136, 4·300 = 1,200, 4·100 = 400; Dense without bias 784·300 =
    # 235,200 and 300·100 = 30,000; the last Dense 100·10 + 10 = 1,010.
    assert [layer.count_params() for layer in model.layers] == [
        0,
        3136,
        235200,
        1200,
        30000,
        400,
        0,
        1010,
    ]
    trainable = [
        sum(int(np.prod(v.shape)) for v in layer.trainable_weights) for layer in model.layers
    ]
    assert trainable == [0, 1568, 235200, 600, 30000, 200, 0, 1010]
    model.summary()
    text = capsys.readouterr().out
    # 270,946 in all; non-trainable 2·(784 + 300 + 100) = 2,368; trainable 268,578.
    for line in (
        "Total params: 270,946",
        "Trainable params: 268,578",
        "Non-trainable params: 2,368",
    ):
        assert line in text
    bn1 = model.layers[1]
    assert [(v.name.split("/", 1)[1], v.trainable) for v in bn1.variables] == [
        ("gamma:0", True),
        ("beta:0", True),
        ("moving_mean:0", False),
        ("moving_variance:0", False),
    ]
    assert all(v.name.startswith(bn1.name + "/") for v in bn1.variables)
    # Freezing the three BN layers moves their gamma and beta to the non-trainable count:
    # 268,578 - 2,368 = 266,210 trainable, 2·2,368 = 4,736 not.
    for layer in model.layers[1], model.layers[3], model.layers[5]:
        layer.trainable = False
    model.summary()
    text = capsys.readouterr().out
    for line in (
        "Total params: 270,946",
        "Trainable params: 266,210",
        "Non-trainable params: 4,736",
    ):
        assert line in text


def test_batch_norm_mnist_model_first_layer_statistics_after_one_step(rng):
    # The first BN sees the flattened pixels, so after one step its moving statistics are
    # 0.99·(0, 1) + 0.01·(batch mean, biased batch variance) of those pixels.
    model = _mnist_bn_model()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    x = rng.random((32, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 32)
    model.train_on_batch(x, y)
    mean, var = ref.batch_norm_moments(x.reshape(32, 784))
    _, _, moving_mean, moving_var = model.layers[1].get_weights()
    _close(moving_mean, 0.01 * mean, atol=1e-7)
    _close(moving_var, 0.99 + 0.01 * var, atol=1e-7)
    # The later BN layers moved too (their inputs are the Dense outputs).
    for i in (3, 5):
        assert np.abs(model.layers[i].get_weights()[2]).max() > 0


# -- Keras 3 parity ---------------------------------------------------------------------------------


def _torch_numpy(tensor):
    # keras.ops.convert_to_numpy / Variable.numpy raise a NumPy 2 DeprecationWarning (an error
    # under filterwarnings=error) with the torch backend; go through torch directly.
    return tensor.detach().cpu().numpy()


@pytest.mark.parametrize("center,scale", FLAGS, ids=FLAG_IDS)
def test_batch_norm_matches_keras(center, scale, rng):
    keras3 = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    f = 6
    ours = L.BatchNormalization(momentum=0.9, epsilon=1e-2, center=center, scale=scale)
    theirs = keras3.layers.BatchNormalization(
        momentum=0.9, epsilon=1e-2, center=center, scale=scale
    )
    ours(np.zeros((1, f), np.float32))
    theirs.build((None, f))
    weights = list(_randomize(ours, rng).values())
    theirs.set_weights(weights)
    x = _batch(rng, 10, f)

    # inference
    _close(ours(x), _torch_numpy(theirs(torch.tensor(x))), atol=1e-6)
    # one training call: output, moving statistics, and the gradients (torch autograd)
    dy = rng.normal(size=x.shape).astype(np.float32)
    x_t = torch.tensor(x, requires_grad=True)
    out_t = theirs(x_t, training=True)
    (out_t * torch.tensor(dy)).sum().backward()
    _close(ours(x, training=True), _torch_numpy(out_t), atol=1e-6)
    ours_values = _values(ours)
    _close(ours_values["moving_mean"], _torch_numpy(theirs.moving_mean.value), atol=1e-6)
    _close(ours_values["moving_variance"], _torch_numpy(theirs.moving_variance.value), atol=1e-6)
    _, _, _, inv_std, x_hat = K.batch_norm_forward_training(
        x, ours_values.get("gamma", EMPTY), EMPTY, 1e-2
    )
    # (the forward above used the pre-call gamma: a training call does not change gamma)
    dx, dgamma, dbeta = K.batch_norm_backward_training(
        x_hat, dy, ours_values.get("gamma", EMPTY), inv_std
    )
    _close(dx, _torch_numpy(x_t.grad), rtol=1e-4, atol=1e-5)
    if scale:
        _close(dgamma, _torch_numpy(theirs.gamma.value.grad), rtol=1e-4, atol=1e-5)
    if center:
        _close(dbeta, _torch_numpy(theirs.beta.value.grad), rtol=1e-4, atol=1e-5)


def test_batch_norm_frozen_matches_keras(rng):
    keras3 = pytest.importorskip("keras")
    torch = pytest.importorskip("torch")
    ours, theirs = L.BatchNormalization(), keras3.layers.BatchNormalization()
    ours(np.zeros((1, 3), np.float32))
    theirs.build((None, 3))
    theirs.set_weights(list(_randomize(ours, rng).values()))
    ours.trainable = theirs.trainable = False
    x = _batch(rng, 5, 3)
    # Keras 3: a frozen BN runs in inference mode even when called with training=True.
    _close(ours(x, training=True), _torch_numpy(theirs(torch.tensor(x), training=True)), atol=1e-6)
    _close(_values(ours)["moving_mean"], _torch_numpy(theirs.moving_mean.value), atol=0)


def _batch_norm_model():
    model = keras.Sequential(
        [keras.layers.BatchNormalization(input_shape=(3,)), keras.layers.Dense(2)]
    )
    model.compile(loss="mse", optimizer="sgd")
    return model


def test_a_training_call_on_a_batch_with_nan_leaves_the_moving_statistics_finite():
    model = _batch_norm_model()
    bn = model.layers[0]
    clean = np.arange(12, dtype=np.float32).reshape(4, 3)
    model(clean, training=True)
    before = [v.copy() for v in bn.get_weights()]
    poisoned = clean.copy()
    poisoned[1, 2] = np.nan
    model(poisoned, training=True)
    bn(poisoned, training=True)
    for got, want in zip(bn.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    assert np.isfinite(model.predict(clean, verbose=0)).all()
    model(clean, training=True)  # a finite batch still moves them
    assert not np.array_equal(bn.get_weights()[2], before[2])
