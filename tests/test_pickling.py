"""Models, layers and optimizers pickle, deep copy and go through joblib: the copy predicts as
the original, continues training exactly as the original does (optimizer state included), and
trains independently of it."""

import copy
import io
import pickle
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densekit as keras

L = keras.layers


def trained_model(optimizer):
    (x, y), _ = keras.datasets.digits.load_data()
    model = keras.Sequential(
        [
            L.Flatten(input_shape=[8, 8]),
            L.Dense(24, activation="relu", kernel_initializer="he_normal"),
            L.BatchNormalization(),
            L.RReLU(seed=3),
            L.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:300], y[:300], epochs=2, batch_size=32, verbose=0, seed=1)
    return model, x, y


def joblib_copy(model):
    joblib = pytest.importorskip("joblib")
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


@pytest.mark.parametrize("how", ["pickle", "deepcopy", "joblib"])
@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        lambda: keras.optimizers.Adam(2e-3, amsgrad=True, use_ema=True),
        lambda: keras.optimizers.Nadam(2e-3, gradient_accumulation_steps=2),
    ],
)
def test_copy_predicts_and_continues_training_exactly(how, optimizer):
    model, x, y = trained_model(optimizer())
    make = {
        "pickle": lambda m: pickle.loads(pickle.dumps(m)),
        "deepcopy": copy.deepcopy,
        "joblib": joblib_copy,
    }[how]
    clone = make(model)
    assert clone is not model and clone.name == model.name
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))
    for a, b in zip(clone.optimizer.variables, model.optimizer.variables):
        assert a.name == b.name
        assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))
    for m in (model, clone):
        m.fit(x[:300], y[:300], epochs=1, batch_size=32, verbose=0, seed=5)
    for a, b in zip(clone.get_weights(), model.get_weights()):
        assert_array_equal(a, b)


@pytest.mark.parametrize("how", [lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy])
def test_a_copy_draws_the_noise_of_an_unseeded_layer_as_the_original(how):
    (x, y), _ = keras.datasets.digits.load_data()
    model = keras.Sequential(
        [
            L.Flatten(input_shape=[8, 8]),
            L.Dense(24, activation="relu", kernel_initializer="he_normal"),
            L.Dropout(0.5),
            L.GaussianNoise(0.1),
            L.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x[:64], y[:64], epochs=1, batch_size=32, verbose=0, seed=1)
    clone = how(model)
    for m in (model, clone):
        m.fit(x[:300], y[:300], epochs=1, batch_size=32, verbose=0, seed=5)
    for a, b in zip(clone.get_weights(), model.get_weights(), strict=True):
        assert_array_equal(a, b)


@pytest.mark.parametrize("how", [lambda m: pickle.loads(pickle.dumps(m)), copy.deepcopy])
def test_a_copy_keeps_the_state_of_a_layer_frozen_after_compile(how):
    model, x, y = trained_model(keras.optimizers.Adam(2e-3))
    model.layers[1].trainable = False
    clone = how(model)
    for a, b in zip(clone.optimizer.variables, model.optimizer.variables, strict=True):
        assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))
    model.layers[1].trainable = clone.layers[1].trainable = True
    for m in (model, clone):
        m.fit(x[:300], y[:300], epochs=1, batch_size=32, verbose=0, seed=5)
    for a, b in zip(clone.get_weights(), model.get_weights(), strict=True):
        assert_array_equal(a, b)


def test_copy_trains_independently():
    model, x, y = trained_model("adam")
    before = model.get_weights()
    clone = copy.deepcopy(model)
    clone.fit(x[:300], y[:300], epochs=1, verbose=0)
    for a, b in zip(model.get_weights(), before):
        assert_array_equal(a, b)
    assert not np.array_equal(clone.get_weights()[0], before[0])
    assert clone.optimizer is not model.optimizer


def test_unbuilt_and_uncompiled_models_round_trip():
    unbuilt = keras.Sequential([L.Dense(4), L.Dense(2)], name="later")
    clone = pickle.loads(pickle.dumps(unbuilt))
    assert not clone.built and not clone.compiled and clone.name == "later"
    clone.build((None, 3))
    built = keras.Sequential([keras.Input((3,)), L.Dense(2)])
    again = pickle.loads(pickle.dumps(built))
    assert again.input_shape == (None, 3) and not again.compiled
    x = np.ones((2, 3), np.float32)
    assert_array_equal(again.predict(x, verbose=0), built.predict(x, verbose=0))


class Doubled(L.Dense):
    """A layer subclass: the copy keeps the class, not just the config's class name."""


def test_layers_and_optimizers_pickle_with_their_class_and_state():
    layer = Doubled(3, activation="tanh", name="doubled")
    layer.build((None, 2))
    clone = pickle.loads(pickle.dumps(layer))
    assert type(clone) is Doubled and clone.get_config() == layer.get_config()
    for a, b in zip(clone.get_weights(), layer.get_weights()):
        assert_array_equal(a, b)
    optimizer = keras.optimizers.RMSprop(0.01, rho=0.8, centered=True)
    optimizer.iterations.assign(7)
    optimizer.learning_rate = 0.003
    restored = copy.deepcopy(optimizer)
    assert type(restored) is keras.optimizers.RMSprop
    assert restored.get_config() == optimizer.get_config()
    assert int(restored.iterations.numpy()) == 7


def test_a_pickled_model_loads_in_a_fresh_process(tmp_path):
    model, x, _ = trained_model("adam")
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    np.save(tmp_path / "expected.npy", model.predict(x[:20], verbose=0))
    np.save(tmp_path / "x.npy", x[:20])
    script = (
        "import pickle, sys, numpy as np\n"
        "d = sys.argv[1]\n"
        "model = pickle.load(open(d + '/model.pkl', 'rb'))\n"
        "got = model.predict(np.load(d + '/x.npy'), verbose=0)\n"
        "assert np.array_equal(got, np.load(d + '/expected.npy'))\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True, timeout=120)
