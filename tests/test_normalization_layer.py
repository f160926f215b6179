"""Normalization: adapt() against NumPy's mean and variance, the map and its inverse against a
float64 re-implementation and Keras 3, given statistics, gradients through the layer, and
`.keras` files both ways with Keras 3."""

import os

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densekit

L = densekit.layers

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def real_keras():
    os.environ["KERAS_BACKEND"] = "torch"
    return pytest.importorskip("keras")


def reference(x, axis, invert=False, data=None):
    """float64: the statistics of `data` over the axes not kept, then the map of x."""
    data = x if data is None else data
    keep = [a % x.ndim for a in ((axis,) if isinstance(axis, int) else axis or ())]
    reduce = tuple(d for d in range(x.ndim) if d not in keep)
    mean = data.astype(np.float64).mean(axis=reduce, keepdims=True)
    spread = np.maximum(np.sqrt(data.astype(np.float64).var(axis=reduce, keepdims=True)), 1e-7)
    return mean + x * spread if invert else (x - mean) / spread


@pytest.mark.parametrize(
    "shape, axis",
    [
        ((60, 5), -1),
        ((60, 5), None),
        ((40, 3, 4), -1),
        ((40, 3, 4), (1, 2)),
        ((40, 3, 4), 1),
        ((40, 3, 4), None),
        ((40, 3, 4), -2),
    ],
)
@pytest.mark.parametrize("invert", [False, True])
def test_adapt_and_map_match_numpy(rng, shape, axis, invert):
    data = rng.normal(3.0, 2.0, shape).astype(np.float32) * rng.uniform(0.5, 4, shape[1:])
    layer = L.Normalization(axis=axis, invert=invert)
    layer.adapt(data)
    keep = [a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis or ())]
    reduce = tuple(d for d in range(len(shape)) if d not in keep)
    assert_allclose(layer.mean, data.astype(np.float64).mean(axis=reduce), rtol=1e-6, atol=1e-6)
    assert_allclose(layer.variance, data.astype(np.float64).var(axis=reduce), rtol=1e-6)
    x = rng.normal(0, 3, (7,) + shape[1:]).astype(np.float32)
    assert_allclose(layer(x), reference(x, axis, invert, data), rtol=1e-5, atol=1e-5)


def test_adapt_on_batches_gives_the_statistics_of_the_whole(rng):
    data = rng.normal(-2, 5, (103, 6)).astype(np.float32)
    whole, batched, pairs = L.Normalization(), L.Normalization(), L.Normalization()
    whole.adapt(data)
    batched.adapt(iter(np.array_split(data, 7)))  # uneven batches, from a generator
    pairs.adapt([(b, np.zeros(len(b))) for b in np.array_split(data, 3)])  # (x, y) batches
    for layer in (batched, pairs):
        assert_allclose(layer.mean, whole.mean, rtol=1e-6, atol=1e-6)
        assert_allclose(layer.variance, whole.variance, rtol=1e-6)


def test_standardized_inputs_have_mean_zero_and_unit_variance(rng):
    data = rng.uniform(-50, 200, (500, 8)) * rng.uniform(0.01, 100, 8)
    layer = L.Normalization()
    layer.adapt(data)
    y = layer(data).astype(np.float64)
    assert_allclose(y.mean(axis=0), 0, atol=1e-4)
    assert_allclose(y.std(axis=0), 1, atol=1e-4)


def test_constant_feature_divides_by_epsilon_not_zero():
    layer = L.Normalization()
    layer.adapt(np.array([[1.0, 2.0], [1.0, 4.0]]))
    assert_array_equal(layer(np.array([[1.0, 3.0]], np.float32)), [[0.0, 0.0]])
    assert layer(np.array([[1.5, 3.0]], np.float32))[0, 0] == np.float32(0.5) / np.float32(1e-7)


def test_given_mean_and_variance_broadcast_as_keras_and_are_not_variables(rng):
    x = rng.normal(size=(4, 3, 2)).astype(np.float32)
    layer = L.Normalization(axis=(1, 2), mean=[1.0, -1.0], variance=[4.0, 0.25])
    y = layer(x)
    assert_allclose(y, (x - np.array([1.0, -1.0])) / np.array([2.0, 0.5]), rtol=1e-6)
    assert layer.variables == [] and layer.count_params() == 0
    scalar = L.Normalization(mean=3.0, variance=9.0)
    assert_allclose(scalar(x[:, :, 0]), (x[:, :, 0] - 3) / 3, rtol=1e-6)


def test_variables_in_keras_order_shape_and_count(rng):
    layer = L.Normalization(axis=-1)
    layer.adapt(rng.normal(size=(10, 3, 4)))
    assert [v.path.split("/")[1] for v in layer.variables] == ["mean", "variance", "count"]
    assert [v.shape for v in layer.variables] == [(4,), (4,), ()]
    assert not any(v.trainable for v in layer.variables)
    assert layer.count_params() == 9
    layer.set_weights([np.arange(4.0), np.full(4, 4.0), np.array(0)])
    assert_allclose(
        layer(np.full((1, 3, 4), 2.0)), np.broadcast_to((2 - np.arange(4)) / 2, (1, 3, 4))
    )


def test_input_gradient_through_the_layer_matches_finite_differences(rng):
    """A Normalization between two Dense layers: the first Dense's kernel gradient passes
    through it (dx = dy / spread)."""
    x = rng.normal(size=(16, 3)).astype(np.float32)
    y = rng.normal(size=(16, 1)).astype(np.float32)
    norm = L.Normalization(mean=[0.5, -1.0, 2.0, 0.0], variance=[4.0, 0.25, 9.0, 1.0])
    model = densekit.Sequential([densekit.Input((3,)), L.Dense(4), norm, L.Dense(1)])
    model.compile(optimizer=densekit.optimizers.SGD(learning_rate=0.0), loss="mse")
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    grad = np.array(model.layers[0]._core.parameters[0].grad, dtype=np.float64)
    w = [np.array(v, np.float64) for v in model.get_weights()]

    def loss(kernel):
        h = x @ kernel + w[1]
        h = (h - [0.5, -1.0, 2.0, 0.0]) / np.array([2.0, 0.5, 3.0, 1.0])
        return np.mean((h @ w[2] + w[3] - y) ** 2)

    numeric = np.zeros_like(w[0])
    for i in np.ndindex(*w[0].shape):
        step = np.zeros_like(w[0])
        step[i] = 1e-6
        numeric[i] = (loss(w[0] + step) - loss(w[0] - step)) / 2e-6
    assert_allclose(grad, numeric, rtol=1e-3, atol=1e-5)


def test_matches_keras_and_files_go_both_ways(rng, tmp_path, real_keras):
    data = rng.normal(5, 3, (200, 6)).astype(np.float32)
    x = rng.normal(5, 3, (9, 6)).astype(np.float32)
    ours = densekit.Sequential([densekit.Input((6,)), L.Normalization(), L.Dense(2)])
    ours.layers[0].adapt(data)
    theirs = real_keras.Sequential(
        [real_keras.Input((6,)), real_keras.layers.Normalization(), real_keras.layers.Dense(2)]
    )
    theirs.layers[0].adapt(data)
    theirs.layers[1].set_weights(ours.layers[1].get_weights())
    assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)

    ours.save(tmp_path / "ours.keras")
    loaded = real_keras.models.load_model(tmp_path / "ours.keras")
    assert_allclose(loaded.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    assert loaded.layers[0].get_config()["axis"] == (-1,)

    theirs.save(tmp_path / "theirs.keras")
    back = densekit.models.load_model(tmp_path / "theirs.keras")
    assert_allclose(back.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    assert_array_equal(back.layers[0].mean, theirs.layers[0].adapt_mean.value.detach().numpy())


def test_densekit_round_trip_keeps_statistics_and_invert(rng, tmp_path):
    layer = L.Normalization(axis=None, invert=True)
    layer.adapt(rng.normal(size=(30, 4)))
    model = densekit.Sequential([densekit.Input((4,)), layer])
    model.save(tmp_path / "m.keras")
    loaded = densekit.models.load_model(tmp_path / "m.keras")
    x = rng.normal(size=(3, 4)).astype(np.float32)
    assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.layers[0].invert and loaded.layers[0].axis == ()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"axis": "x"}, "axis must be an int"),
        ({"mean": 1.0}, "given together"),
        ({"mean": [1.0, 2.0], "variance": [1.0]}, "same shape"),
        ({"mean": [1.0], "variance": [-1.0]}, "variance must be >= 0"),
        ({"mean": [np.nan], "variance": [1.0]}, "mean must be finite"),
        ({"invert": "yes"}, "invert must be True or False"),
    ],
)
def test_bad_arguments_name_the_layer_and_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        L.Normalization(name="norm", **kwargs)


def test_axis_none_adapts_a_one_dimensional_array_as_samples_of_one_feature():
    horsepower = np.array([130.0, 165, 150, 150, 140, 198, 220, 215, 225, 190])
    layer = L.Normalization(axis=None)
    layer.adapt(horsepower)
    assert_allclose(layer.mean, horsepower.mean(), rtol=1e-6)
    assert_allclose(layer.variance, horsepower.var(), rtol=1e-6)
    expected = (horsepower - horsepower.mean()) / horsepower.std()
    assert_allclose(layer(horsepower.reshape(-1, 1)).ravel(), expected, rtol=1e-5)
    with pytest.raises(ValueError, match=r"samples along a first axis \(or axis=None\)"):
        L.Normalization().adapt(horsepower)


def test_bad_adapt_data_is_refused_and_changes_nothing(rng):
    layer = L.Normalization(name="norm")
    layer.adapt(rng.normal(size=(10, 3)))
    before = layer.get_weights()
    for data, error, match in [
        (np.array([[1.0, np.nan, 2.0]]), ValueError, "NaN or Inf"),
        (np.ones((4, 5)), ValueError, "built for inputs"),
        (np.array([["a", "b", "c"]]), ValueError, "real numbers"),
        ([], ValueError, "no samples"),
        (np.float64(3.0), ValueError, "samples along a first axis"),
        (3.0, TypeError, "array or an iterable"),
        (object(), TypeError, "array or an iterable"),
    ]:
        with pytest.raises(error, match=match):
            layer.adapt(data)
    for a, b in zip(layer.get_weights(), before):
        assert_array_equal(a, b)
    with pytest.raises(ValueError, match="batch axis"):
        L.Normalization(axis=0).adapt(np.ones((3, 2)))
    with pytest.raises(ValueError, match="adapt.. cannot change"):
        L.Normalization(mean=0.0, variance=1.0).adapt(np.ones((3, 2)))
