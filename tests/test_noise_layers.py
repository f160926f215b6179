"""Dropout, AlphaDropout, GaussianNoise and GaussianDropout: their statistics (tolerances of 5
standard errors), their formulas against float64 re-computations given the drawn mask, the
gradient through the forward's mask, noise_shape, Monte Carlo dropout, seeds, arguments, and
interchange with Keras 3."""

import random

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densekit
from densekit import layers as L

pytestmark = pytest.mark.usefixtures("one_thread")

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _alpha_dropout_affine(rate):
    alpha_p = -SELU_ALPHA * SELU_SCALE
    a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
    return alpha_p, a, -a * alpha_p * rate


# -- the layers on their own ------------------------------------------------------------------------


def test_dropout_drops_rate_of_the_inputs_and_scales_kept_values_exactly(rng):
    x = rng.uniform(0.5, 2, (300, 200)).astype(np.float32)
    rate = 0.3
    y = L.Dropout(rate, seed=1)(x, training=True)
    dropped = y == 0
    # 60,000 draws: the dropped fraction's standard error is sqrt(0.3 * 0.7 / 60000) = 0.0019.
    assert abs(dropped.mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / x.size)
    assert_array_equal(y[~dropped], x[~dropped] / np.float32(1 - rate))


@pytest.mark.parametrize(
    "layer",
    [L.Dropout(0.5), L.AlphaDropout(0.5), L.GaussianNoise(0.5), L.GaussianDropout(0.5)],
    ids=lambda layer: type(layer).__name__,
)
def test_noise_layers_are_the_identity_in_inference(layer, rng):
    x = rng.normal(size=(16, 7)).astype(np.float32)
    assert_array_equal(layer(x), x)
    assert_array_equal(layer(x, training=False), x)
    assert not np.array_equal(layer(x, training=True), x)


@pytest.mark.parametrize("cls", [L.Dropout, L.AlphaDropout, L.GaussianDropout])
def test_rate_zero_is_the_identity_in_training(cls, rng):
    x = rng.normal(size=(16, 7)).astype(np.float32)
    assert_array_equal(cls(0.0)(x, training=True), x)
    assert_array_equal(L.GaussianNoise(0.0)(x, training=True), x)


def test_dropout_draws_a_new_mask_per_training_call(rng):
    layer = L.Dropout(0.5, seed=3)
    x = np.ones((8, 64), np.float32)
    first, second = layer(x, training=True), layer(x, training=True)
    # Independent masks agree on half of the 512 elements (sd 11): 2x that agreement is no chance.
    assert abs((first == second).mean() - 0.5) < 5 * 0.5 / np.sqrt(x.size)


def test_dropout_call_on_an_array_works_like_calling_the_layer(rng):
    x = rng.normal(size=(10, 30)).astype(np.float32)
    a, b = L.Dropout(0.4, seed=9), L.Dropout(0.4, seed=9)
    assert_array_equal(a.call(x, training=True), b(x, training=True))
    assert_array_equal(a.call(x, training=False), x)
    assert_array_equal(a.call(x), x)


def test_draws_do_not_depend_on_the_thread_count(rng):
    x = rng.normal(size=(256, 300)).astype(np.float32)
    outputs = []
    for threads in (1, 2):
        densekit.set_num_threads(threads)
        outputs.append(
            [cls(0.3, seed=5)(x, training=True) for cls in (L.Dropout, L.GaussianDropout)]
        )
    for a, b in zip(*outputs):
        assert_array_equal(a, b)


def test_alpha_dropout_keeps_mean_and_standard_deviation_of_standardized_inputs(rng):
    x = rng.normal(size=(400, 250)).astype(np.float32)
    y = L.AlphaDropout(0.2, seed=4)(x, training=True).astype(np.float64)
    # 100,000 values: standard errors 0.003 (mean) and ~0.004 (sd); 5 of them.
    assert abs(y.mean()) < 0.016
    assert abs(y.std() - 1) < 0.02


def test_alpha_dropout_is_keras_affine_formula_given_the_mask(rng):
    rate = 0.35
    x = rng.uniform(-3, 3, (50, 40)).astype(np.float32)
    y = L.AlphaDropout(rate, seed=6)(x, training=True).astype(np.float64)
    alpha_p, a, b = _alpha_dropout_affine(rate)
    dropped = np.isclose(y, a * alpha_p + b, rtol=0, atol=1e-6)
    assert abs(dropped.mean() - rate) < 5 * np.sqrt(rate * (1 - rate) / x.size)
    kept = (~dropped).astype(np.float64)
    expected = a * (x * kept + alpha_p * (1 - kept)) + b  # Keras's formula, in float64
    assert_allclose(y, expected, rtol=1e-6, atol=1e-6)


def test_gaussian_noise_adds_noise_of_mean_zero_and_the_given_stddev(rng):
    x = rng.normal(size=(300, 300)).astype(np.float32)
    noise = L.GaussianNoise(0.4, seed=2)(x, training=True).astype(np.float64) - x
    # 90,000 draws: standard errors 0.0013 (mean) and 0.0009 (sd).
    assert abs(noise.mean()) < 5 * 0.4 / 300
    assert abs(noise.std() - 0.4) < 5 * 0.4 / np.sqrt(2 * x.size)
    kurtosis = ((noise / noise.std()) ** 4).mean()  # 3 for a normal (standard error ~0.016)
    assert abs(kurtosis - 3) < 0.1


def test_gaussian_dropout_multiplies_by_noise_of_mean_one_and_stddev_from_the_rate():
    x = np.full((300, 300), 2.0, np.float32)
    factor = L.GaussianDropout(0.2, seed=2)(x, training=True).astype(np.float64) / 2
    sigma = np.sqrt(0.2 / 0.8)
    assert abs(factor.mean() - 1) < 5 * sigma / 300
    assert abs(factor.std() - sigma) < 5 * sigma / np.sqrt(2 * x.size)


# -- noise_shape ------------------------------------------------------------------------------------


def test_noise_shape_none_one_drops_whole_samples():
    y = L.Dropout(0.5, noise_shape=(None, 1), seed=1)(np.ones((400, 6), np.float32), training=True)
    per_sample = (y == 0).sum(axis=1)
    assert set(per_sample) == {0, 6}
    assert abs((per_sample == 6).mean() - 0.5) < 5 * 0.5 / 20


def test_noise_shape_one_none_drops_the_same_features_in_every_sample():
    y = L.Dropout(0.5, noise_shape=(1, None), seed=1)(np.ones((50, 400), np.float32), training=True)
    assert (y == y[0]).all()
    assert abs((y[0] == 0).mean() - 0.5) < 5 * 0.5 / 20


def test_noise_shape_none_n_is_an_independent_mask():
    x = np.ones((200, 100), np.float32)
    y = L.Dropout(0.5, noise_shape=(None, 100), seed=1)(x, training=True)
    assert abs((y == 0).mean() - 0.5) < 5 * 0.5 / np.sqrt(x.size)
    assert not (y == y[0]).all() and not (y == y[:, :1]).all()


def test_noise_shape_broadcasts_over_the_axes_of_an_unflattened_sample():
    # (batch, 4, 6) with noise_shape (None, 1, 6): one mask row per sample, shared by its 4 rows.
    model = densekit.Sequential(
        [L.Input((4, 6)), L.Dropout(0.5, noise_shape=(None, 1, 6), seed=2), L.Flatten()]
    )
    y = model(np.ones((100, 4, 6), np.float32), training=True).reshape(100, 4, 6)
    assert (y == y[:, :1, :]).all()
    assert abs((y == 0).mean() - 0.5) < 5 * 0.5 / np.sqrt(600)
    # Keras's noise_shape (None, 4, 1): shared along the last axis.
    layer = L.AlphaDropout(0.5, noise_shape=(None, 4, 1), seed=3)
    z = layer(np.ones((100, 4, 6), np.float32), training=True)
    assert (z == z[:, :, :1]).all()


def test_noise_shapes_that_do_not_fit_are_refused():
    x = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match="noise_shape"):
        L.Dropout(0.5, noise_shape=(None, 3))(x, training=True)
    with pytest.raises(ValueError, match="noise_shape"):
        L.Dropout(0.5, noise_shape=(None, 5, 1))(x, training=True)
    with pytest.raises(NotImplementedError, match="noise_shape"):
        L.Dropout(0.5, noise_shape=(4, None))(x, training=True)
    for bad in ("x", 3, (None, 0), (None, 2.5)):
        with pytest.raises(ValueError, match="Dropout.*noise_shape"):
            L.Dropout(0.5, noise_shape=bad)


# -- arguments --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [1, 1.0, -0.1, "x", None, float("nan"), True])
@pytest.mark.parametrize("cls", [L.Dropout, L.AlphaDropout, L.GaussianDropout])
def test_bad_rates_raise_value_error_naming_layer_and_argument(cls, rate):
    with pytest.raises(ValueError, match=rf"{cls.__name__} .*rate.*Received: rate="):
        cls(rate)


@pytest.mark.parametrize("stddev", [-0.1, "x", float("inf")])
def test_bad_stddev_raises_value_error_naming_layer_and_argument(stddev):
    with pytest.raises(ValueError, match=r"GaussianNoise .*stddev.*Received: stddev="):
        L.GaussianNoise(stddev)


@pytest.mark.parametrize("seed", ["x", 1.5, -1, True])
def test_bad_seeds_raise_value_error_naming_layer_and_argument(seed):
    for make in (
        lambda: L.Dropout(0.1, seed=seed),
        lambda: L.AlphaDropout(0.1, seed=seed),
        lambda: L.GaussianNoise(0.1, seed=seed),
        lambda: L.GaussianDropout(0.1, seed=seed),
    ):
        with pytest.raises(ValueError, match=r"seed.*Received: seed="):
            make()


def test_config_is_keras_and_round_trips():
    layer = L.Dropout(0.25, noise_shape=[None, 1], seed=7, name="drop")
    config = layer.get_config()
    assert config == {
        "name": "drop",
        "trainable": True,
        "dtype": "float32",
        "rate": 0.25,
        "seed": 7,
        "noise_shape": (None, 1),
    }
    assert L.Dropout.from_config({**config, "noise_shape": [None, 1]}).get_config() == config
    assert L.GaussianNoise(0.1).get_config()["seed"] is None  # Keras keeps seed=None
    assert {"stddev", "seed"} <= set(L.GaussianNoise(0.1).get_config())
    assert L.GaussianDropout(0.1, seed=1).get_config()["rate"] == 0.1


def test_unseeded_layers_follow_python_random():
    x = np.ones((16, 32), np.float32)
    random.seed(123)
    first = L.Dropout(0.5)
    random.seed(123)
    second = L.Dropout(0.5)
    assert first.generator_seed == second.generator_seed
    assert_array_equal(first(x, training=True), second(x, training=True))


# -- in a model ------------------------------------------------------------------------------------


def _model(seed, layer=None):
    init = densekit.initializers.GlorotUniform(seed=0)
    model = densekit.Sequential(
        [
            L.Input((12,)),
            L.Dense(32, activation="relu", kernel_initializer=init),
            layer if layer is not None else L.Dropout(0.3, seed=seed),
            L.Dense(16, activation="relu", kernel_initializer=init),
            L.AlphaDropout(0.1, seed=seed + 1),
            L.GaussianNoise(0.1, seed=seed + 2),
            L.GaussianDropout(0.1, seed=seed + 3),
            L.Dense(3, activation="softmax", kernel_initializer=init),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def _data(rng, n=96):
    x = rng.normal(size=(n, 12)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)


def test_same_seeds_give_bit_identical_fits_and_different_seeds_differ(rng):
    x, y = _data(rng)
    weights = []
    for seed in (1, 1, 2):
        model = _model(seed)
        model.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=0)
        weights.append(model.get_weights())
    for a, b in zip(weights[0], weights[1]):
        assert_array_equal(a, b)
    assert not all(np.array_equal(a, c) for a, c in zip(weights[0], weights[2]))


def test_training_steps_draw_new_masks_and_backpropagate_through_them(rng):
    # x -> Dense(w1) -> Dropout -> Dense(w2) -> pred, loss (pred - t)², SGD with rate 1, one
    # sample: Δw2 = -2 (pred - t) h̃ shows the forward's mask (h̃ = h m / (1 - rate)), and
    # Δw1 = -2 (pred - t) x ⊗ (m / (1 - rate) ⊙ w2) the backward's.
    rate, units = 0.5, 64
    w1 = rng.normal(size=(5, units)).astype(np.float32)
    w2 = rng.normal(size=(units, 1)).astype(np.float32)
    model = densekit.Sequential(
        [
            L.Input((5,)),
            L.Dense(units, use_bias=False),
            L.Dropout(rate, seed=11),
            L.Dense(1, use_bias=False),
        ]
    )
    model.compile(optimizer=densekit.optimizers.SGD(1.0), loss="mse")
    x = rng.normal(size=(1, 5)).astype(np.float32)
    t = np.array([[0.5]], np.float32)
    masks = []
    for _ in range(2):
        model.set_weights([w1, w2])
        model.train_on_batch(x, t)
        new_w1, new_w2 = model.get_weights()
        d2 = (w2 - new_w2).astype(np.float64)[:, 0]
        mask = d2 != 0
        masks.append(mask)
        h = x.astype(np.float64) @ w1
        h_dropped = h[0] * mask / (1 - rate)
        err2 = 2 * (h_dropped @ w2[:, 0] - t[0, 0])
        assert_allclose(d2, err2 * h_dropped, rtol=1e-4, atol=1e-6)
        expected_d1 = err2 * np.outer(x[0], mask / (1 - rate) * w2[:, 0])
        assert_allclose((w1 - new_w1).astype(np.float64), expected_d1, rtol=1e-4, atol=1e-5)
    assert 0 < masks[0].sum() < units
    assert not np.array_equal(masks[0], masks[1])


def test_model_call_in_training_mode_samples_a_new_mask_each_call(rng):
    model = _model(1)
    x, _ = _data(rng, 20)
    a, b = model(x, training=True), model(x, training=True)
    assert not np.array_equal(a, b)
    assert_array_equal(model(x), model.predict(x, verbose=0))
    assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))


class MCDropout(L.Dropout):
    def call(self, inputs, training=None):
        return super().call(inputs, training=True)


class NeverDropout(L.Dropout):
    def call(self, inputs, training=None):
        return super().call(inputs, training=False)


def test_mc_dropout_subclass_drops_in_predict_call_and_evaluate(rng):
    x, y = _data(rng, 40)
    model = _model(1, MCDropout(0.5, seed=4))
    plain = _model(1, L.Dropout(0.5, seed=4))
    plain.set_weights(model.get_weights())
    first, second = model.predict(x, verbose=0), model.predict(x, verbose=0)
    assert not np.array_equal(first, second)
    assert not np.array_equal(model(x), model(x))
    assert model.evaluate(x, y, verbose=0) != model.evaluate(x, y, verbose=0)
    # The average of many Monte Carlo samples is near the deterministic prediction.
    mean = np.mean([model.predict(x, verbose=0) for _ in range(200)], axis=0)
    assert np.abs(mean - plain.predict(x, verbose=0)).mean() < 0.05
    model.fit(x, y, epochs=1, verbose=0)
    layer = MCDropout(0.5, seed=1)
    assert not np.array_equal(layer(np.ones((4, 50), np.float32)), np.ones((4, 50)))


class MCAlphaDropout(L.AlphaDropout):
    def call(self, inputs):  # no `training` of its own, as tf.keras code wrote it
        return super().call(inputs, training=True)


def test_mc_dropout_subclass_without_a_training_argument_drops_in_predict(rng):
    x, _ = _data(rng, 40)
    model = _model(1, MCAlphaDropout(0.3, seed=4))
    assert not np.array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    ones = np.ones((4, 50), np.float32)
    assert not np.array_equal(MCAlphaDropout(0.3, seed=1)(ones), ones)


@pytest.mark.parametrize("seed", [-1, 2**64, 1.0, True])
def test_a_seed_outside_the_generators_range_is_refused_when_the_layer_is_made(seed):
    with pytest.raises(ValueError, match=r"Dropout 'd': seed must be an int in \[0, 2\*\*64\)"):
        L.Dropout(0.5, seed=seed, name="d")


def test_a_rate_changed_after_build_applies_from_the_next_batch():
    ones = np.ones((64, 100), np.float32)
    layer = L.Dropout(0.5, seed=3)
    layer(ones, training=True)
    layer.rate = 0.1
    dropped = layer(ones, training=True)
    assert set(np.unique(dropped)) <= {0.0, np.float32(1 / 0.9)}
    assert 0.05 < np.mean(dropped == 0) < 0.15
    layer.rate = 0.0
    assert_array_equal(layer(ones, training=True), ones)
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\)"):
        layer.rate = 1.5
    assert layer.rate == 0.0 and layer.get_config()["rate"] == 0.0
    noise = L.GaussianNoise(1.0, seed=3)
    noise(ones, training=True)
    noise.stddev = 0.0
    assert_array_equal(noise(ones, training=True), ones)


def test_subclass_fixing_training_false_never_drops_and_plain_subclass_follows(rng):
    x, y = _data(rng, 32)
    model = _model(1, NeverDropout(0.9, seed=4))
    plain = _model(1, L.Dropout(0.0))
    plain.set_weights(model.get_weights())
    # The other noise layers draw the same noise in both models (same seeds, same steps).
    assert_array_equal(model(x, training=True), plain(x, training=True))
    assert_array_equal(model.predict(x, verbose=0), plain.predict(x, verbose=0))

    class Plain(L.Dropout):
        pass

    layer = Plain(0.5, seed=1)
    ones = np.ones((4, 50), np.float32)
    assert_array_equal(layer(ones), ones)
    assert not np.array_equal(layer(ones, training=True), ones)
    never = NeverDropout(0.5, seed=1)
    assert_array_equal(never(ones, training=True), ones)


class Doubling(L.Dropout):
    def call(self, inputs, training=None):
        return super().call(inputs * 2, training=True)


class Ignoring(L.Dropout):
    def call(self, inputs, training=None):
        return inputs


class Twice(L.GaussianDropout):
    def call(self, inputs, training=None):
        return super().call(super().call(inputs, training=training), training=training)


class Inverting(L.GaussianNoise):
    def call(self, inputs, training=None):
        return super().call(inputs, training=not training)


@pytest.mark.parametrize("cls", [Doubling, Ignoring, Twice, Inverting])
def test_call_overrides_densekit_cannot_run_in_cpp_are_refused_naming_the_class(cls):
    layer = cls(0.5)
    with pytest.raises(TypeError, match=rf"{cls.__name__}: .*overriding call\(\) only to fix"):
        densekit.Sequential([L.Input((4,)), layer])


# -- Keras 3 ---------------------------------------------------------------------------------------


@pytest.fixture
def real_keras():
    return pytest.importorskip("keras")


def _noise_model():
    init = densekit.initializers.GlorotUniform(seed=1)
    return densekit.Sequential(
        [
            L.Input((4, 3)),
            L.GaussianNoise(0.2, seed=3),
            L.Flatten(),
            L.Dense(8, activation="selu", kernel_initializer=init),
            L.AlphaDropout(0.1, noise_shape=(None, 8), seed=5),
            L.Dense(6, activation="relu", kernel_initializer=init),
            L.Dropout(0.3, noise_shape=(None, 1), seed=4),
            L.GaussianDropout(0.2),
            L.Dense(2, activation="softmax", kernel_initializer=init),
        ]
    )


def _noise_configs(model):
    return [
        {k: v for k, v in layer.get_config().items() if k != "dtype"}
        for layer in model.layers
        if type(layer).__name__ in ("Dropout", "AlphaDropout", "GaussianNoise", "GaussianDropout")
    ]


def _tuples(config):
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_keras_file_round_trip_both_ways_with_the_noise_layers(tmp_path, real_keras, rng):
    model = _noise_model()
    x = rng.normal(size=(10, 4, 3)).astype(np.float32)
    model.save(tmp_path / "d.keras")
    theirs = real_keras.saving.load_model(tmp_path / "d.keras")
    assert [type(l).__name__ for l in theirs.layers] == [type(l).__name__ for l in model.layers]
    assert [_tuples(c) for c in _noise_configs(theirs)] == _noise_configs(model)
    for a, b in zip(theirs.get_weights(), model.get_weights(), strict=True):
        assert_array_equal(np.asarray(a), b)
    # Inference: every noise layer is the identity, so the outputs agree.
    assert_allclose(
        np.asarray(theirs.predict(x, verbose=0)), model.predict(x, verbose=0), atol=1e-6
    )
    theirs.save(tmp_path / "k.keras")
    back = densekit.models.load_model(tmp_path / "k.keras")
    assert _noise_configs(back) == _noise_configs(model)
    for a, b in zip(back.get_weights(), model.get_weights(), strict=True):
        assert_array_equal(a, b)
    assert_array_equal(back.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_inference_output_equals_keras_for_the_same_weights(real_keras, rng):
    ours = densekit.Sequential(
        [L.Input((10,)), L.Dense(20, activation="relu"), L.Dropout(0.5), L.Dense(3)]
    )
    theirs = real_keras.Sequential(
        [
            real_keras.Input((10,)),
            real_keras.layers.Dense(20, activation="relu"),
            real_keras.layers.Dropout(0.5),
            real_keras.layers.Dense(3),
        ]
    )
    theirs.set_weights(ours.get_weights())
    x = rng.normal(size=(33, 10)).astype(np.float32)
    expected = np.asarray(theirs.predict(x, verbose=0))
    assert_allclose(ours.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-6)
    assert_allclose(ours(x), expected, rtol=1e-6, atol=1e-6)
