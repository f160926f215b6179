"""densekit.backend: the functions tf.keras code calls on optimizer variables."""

import numpy as np
import pytest

import densekit as keras
from densekit import backend as K


def _compiled(optimizer):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_get_and_set_value_read_and_write_the_learning_rate():
    model = _compiled(keras.optimizers.Adam(learning_rate=0.01))
    assert K.get_value(model.optimizer.learning_rate) == pytest.approx(0.01)
    K.set_value(model.optimizer.learning_rate, 0.5)
    assert float(model.optimizer.learning_rate) == 0.5
    assert model.optimizer.get_config()["learning_rate"] == 0.5
    # one step at the new rate: Adam's first step moves every weight by about the rate
    before = model.get_weights()[0]
    x = np.ones((4, 3), np.float32)
    model.train_on_batch(x, np.zeros((4, 2), np.float32) + 100)
    np.testing.assert_allclose(np.abs(model.get_weights()[0] - before), 0.5, rtol=1e-3)


def test_learning_rate_behaves_like_a_number_and_takes_numpy_scalars():
    optimizer = keras.optimizers.SGD(learning_rate=0.1)
    rate = optimizer.learning_rate
    assert rate * 2 == pytest.approx(0.2) and 1 - rate == pytest.approx(0.9)
    assert f"{rate:.2f}" == "0.10" and rate.numpy().dtype == np.float32
    optimizer.learning_rate = np.float64(0.25)
    assert float(optimizer.learning_rate) == 0.25
    optimizer.learning_rate.assign(np.array(0.125, np.float32))
    assert optimizer.learning_rate.numpy() == np.float32(0.125)
    optimizer.learning_rate = optimizer.learning_rate * 2  # a rate read and written back
    assert float(optimizer.learning_rate) == 0.25
    with pytest.raises(ValueError, match="learning_rate"):
        optimizer.learning_rate = -1.0
    with pytest.raises(ValueError, match="learning_rate"):
        K.set_value(optimizer.learning_rate, float("nan"))
    assert float(optimizer.learning_rate) == 0.25


def test_iterations_counts_updates_and_get_value_reads_it():
    model = _compiled("sgd")
    x, y = np.ones((4, 3), np.float32), np.zeros((4, 2), np.float32)
    for _ in range(3):
        model.train_on_batch(x, y)
    assert K.get_value(model.optimizer.iterations) == 3 and int(model.optimizer.iterations) == 3


def test_set_value_refuses_a_plain_number():
    with pytest.raises(TypeError, match="set_value"):
        K.set_value(0.1, 0.2)


def test_clear_session_restarts_the_automatic_names():
    keras.layers.Dense(1)
    K.clear_session()
    assert keras.layers.Dense(1).name == "dense"
    assert K.floatx() == "float32" and K.epsilon() == 1e-7
