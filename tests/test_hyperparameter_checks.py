"""Hyper-parameters and initial values that the float32 core could not hold are refused where
they are given, with the layer or optimizer and the argument named."""

import math

import numpy as np
import pytest

import densekit as keras


def _dense_model(**dense_kwargs):
    return keras.Sequential([keras.layers.Dense(2, input_shape=(3,), **dense_kwargs)])


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"kernel_initializer": keras.initializers.RandomNormal(stddev=math.nan)}, "kernel"),
        ({"kernel_initializer": lambda shape, dtype=None: np.full(shape, np.nan)}, "kernel"),
        ({"kernel_initializer": lambda shape, dtype=None: np.full(shape, 1e39)}, "kernel"),
        ({"bias_initializer": keras.initializers.Constant(math.inf)}, "bias"),
    ],
)
def test_an_initializer_that_draws_nan_or_inf_is_refused_at_build(kwargs, argument):
    with pytest.raises(ValueError, match=rf"Dense '.*': the {argument}_initializer's values"):
        _dense_model(**kwargs)


def test_an_initializer_from_a_config_with_nan_is_refused_at_build():
    initializer = keras.initializers.get(
        {"class_name": "RandomNormal", "config": {"mean": 0.0, "stddev": math.nan}}
    )
    with pytest.raises(ValueError, match="kernel_initializer's values contains NaN"):
        _dense_model(kernel_initializer=initializer)


def test_prelu_alpha_initializer_with_nan_is_refused():
    layer = keras.layers.PReLU(alpha_initializer=keras.initializers.Constant(math.nan))
    with pytest.raises(ValueError, match="PReLU '.*': the alpha_initializer's values"):
        keras.Sequential([keras.layers.Dense(2, input_shape=(3,)), layer])


@pytest.mark.parametrize("scale", [math.nan, math.inf, 0.0, -1.0])
def test_variance_scaling_refuses_a_scale_that_is_not_positive_and_finite(scale):
    with pytest.raises(ValueError, match="scale"):
        keras.initializers.VarianceScaling(scale=scale)


def test_numpy_float32_hyperparameters_are_accepted_like_python_floats():
    optimizer = keras.optimizers.SGD(
        learning_rate=np.float32(0.25), momentum=np.float32(0.5), clipnorm=np.float32(2.0)
    )
    assert optimizer.learning_rate == 0.25 and optimizer.momentum == 0.5
    optimizer.learning_rate = np.float32(0.125)
    assert optimizer.learning_rate == 0.125
    layer = keras.layers.BatchNormalization(momentum=np.float32(0.5), epsilon=np.float64(0.25))
    assert (layer.momentum, layer.epsilon) == (0.5, 0.25)


@pytest.mark.parametrize("argument", ["clipnorm", "clipvalue", "global_clipnorm"])
@pytest.mark.parametrize("value", [1e-50, 1e39])
def test_a_clip_value_that_float32_rounds_to_zero_or_inf_is_refused(argument, value):
    # 1e-50 is 0 in float32, which the core reads as "no clipping".
    with pytest.raises(ValueError, match=rf"SGD: {argument} .*Received: {argument}="):
        keras.optimizers.SGD(**{argument: value})


def test_a_learning_rate_beyond_float32_is_refused():
    with pytest.raises(ValueError, match="learning_rate"):
        keras.optimizers.SGD(learning_rate=1e39)
    optimizer = keras.optimizers.SGD(learning_rate=0.5)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizer.learning_rate = 1e39
    assert optimizer.learning_rate == 0.5


@pytest.mark.parametrize("flag", [True, False])
def test_booleans_are_not_numbers(flag):
    with pytest.raises(ValueError, match="momentum"):
        keras.optimizers.SGD(momentum=flag)


def test_a_sample_too_large_to_index_is_refused_with_its_shape():
    with pytest.raises(ValueError, match=r"Layer 'flatten.*': a sample of shape \(4294967296, "):
        keras.Sequential([keras.layers.Flatten(input_shape=(2**32, 2**32)), keras.layers.Dense(1)])


@pytest.mark.parametrize("value", ["false", "False", None, 2])
def test_trainable_must_be_a_boolean_in_a_config_and_on_a_layer(value):
    config = keras.layers.Dense(2).get_config()
    config["trainable"] = value
    with pytest.raises(ValueError, match=r"trainable must be True or False"):
        keras.layers.Dense.from_config(config)
    layer = keras.layers.Dense(2)
    with pytest.raises(ValueError, match=r"trainable must be True or False"):
        layer.trainable = value
    assert layer.trainable is True


def test_trainable_accepts_numpy_booleans_and_zero_or_one():
    layer = keras.layers.Dense(2, trainable=np.bool_(False))
    assert layer.trainable is False
    layer.trainable = 1
    assert layer.trainable is True
