"""Saving and loading: the Keras 3 `.keras` and `.weights.h5` formats, JSON configs, errors that
name the bad part with the model left unchanged, atomic saves, and interchange with Keras 3."""

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from user_objects import HalvingSchedule

import densekit as keras

L = keras.layers
I = keras.initializers
PYTHON_DIR = os.path.dirname(os.path.dirname(keras.__file__))


def _every_layer_model(seed=0, momentum=0.9):
    """Every densekit layer, several initializers, SGD with momentum; trained a few steps."""
    model = keras.Sequential(
        [
            L.InputLayer(shape=(4, 3)),
            L.Flatten(),
            L.Dense(
                10,
                activation="relu",
                kernel_initializer=I.HeNormal(seed=seed),
                bias_initializer=I.Constant(0.1),
            ),
            L.BatchNormalization(momentum=0.9),
            L.PReLU(alpha_initializer=I.Constant(0.2)),
            L.Dense(
                9, activation="tanh", kernel_initializer=I.RandomNormal(stddev=0.3, seed=seed + 1)
            ),
            L.Activation("selu"),
            L.ReLU(max_value=6.0, negative_slope=0.05),
            L.LeakyReLU(negative_slope=0.2),
            L.ELU(alpha=0.7),
            L.ThresholdedReLU(theta=0.1),
            L.RReLU(seed=3),
            L.BatchNormalization(center=False),
            L.Dense(8, use_bias=False, kernel_initializer=I.Orthogonal(seed=seed + 2)),
            L.Dense(3, kernel_initializer=I.GlorotUniform(seed=seed + 3)),
            L.Softmax(),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=momentum, clipnorm=5.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y = _data(seed)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=seed)
    return model


def _data(seed=0, samples=64):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 4, 3)).astype(np.float32)
    return x, (x[:, 0, 0] > 0).astype(np.int64) + (x[:, 1, 1] > 0.5)


def _small_model(units=5, use_bias=True):
    model = keras.Sequential(
        [
            L.Dense(units, activation="relu", input_shape=(4,), use_bias=use_bias),
            L.Dense(2, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.5), loss="sparse_categorical_crossentropy"
    )
    return model


def _slots(model):
    return [v.numpy() for v in model.optimizer.variables[2:]]


# -- round trips in densekit ----------------------------------------------------------------------


def test_save_load_keeps_config_weights_predictions_and_optimizer(tmp_path):
    model = _every_layer_model()
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    x, _ = _data(5)
    assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config() == model.get_config()
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        assert_array_equal(a, b)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 8  # 2 epochs of 64 / 16
    for a, b in zip(_slots(loaded), _slots(model), strict=True):
        assert_array_equal(a, b)
    assert loaded.loss == "sparse_categorical_crossentropy"


def test_continued_training_after_load_is_identical(tmp_path):
    # RReLU draws slopes from a generator whose state is not part of the format; leave it out.
    model = keras.Sequential(
        [
            L.Flatten(input_shape=(4, 3)),
            L.Dense(8, activation="relu", kernel_initializer=I.HeNormal(seed=1)),
            L.BatchNormalization(),
            L.PReLU(),
            L.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y = _data(1)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, seed=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    history_a = model.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=7).history
    history_b = loaded.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=7).history
    assert history_a == history_b
    for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
        assert_array_equal(a, b)


def test_weights_file_round_trip_and_keras_file_as_weights_source(tmp_path):
    model = _small_model()
    x, y = _data(2)
    model.fit(x[:, :, 0], y % 2, epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.weights.h5")
    model.save(tmp_path / "m.keras")
    for source in ("w.weights.h5", "m.keras"):
        other = _small_model()
        other.load_weights(tmp_path / source)
        for a, b in zip(other.get_weights(), model.get_weights(), strict=True):
            assert_array_equal(a, b)
        assert other.optimizer.iterations == model.optimizer.iterations
    uncompiled = keras.Sequential([L.Dense(5, activation="relu", input_shape=(4,)), L.Dense(2)])
    uncompiled.load_weights(tmp_path / "w.weights.h5")  # the optimizer state is ignored
    assert_array_equal(uncompiled.get_weights()[0], model.get_weights()[0])


def test_file_layout_is_keras_3s(tmp_path):
    model = _small_model()
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive:
        assert sorted(archive.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(archive.read("config.json"))
        metadata = json.loads(archive.read("metadata.json"))
        h5 = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    assert "keras_version" in metadata
    assert (config["module"], config["class_name"]) == ("keras", "Sequential")
    assert config["build_config"] == {"input_shape": [None, 4]}
    assert config["compile_config"]["optimizer"]["class_name"] == "SGD"
    assert [l["class_name"] for l in config["config"]["layers"]] == ["InputLayer", "Dense", "Dense"]
    assert "batch_input_shape" not in config["config"]["layers"][1]["config"]
    names = []
    h5.visit(names.append)
    # Keras addresses layers by class and position: dense, dense_1, ... whatever their names.
    assert sorted(names) == sorted(
        [
            "layers",
            "layers/dense",
            "layers/dense/vars",
            "layers/dense/vars/0",
            "layers/dense/vars/1",
            "layers/dense_1",
            "layers/dense_1/vars",
            "layers/dense_1/vars/0",
            "layers/dense_1/vars/1",
            "optimizer",
            "optimizer/vars",
            "optimizer/vars/0",
            "optimizer/vars/1",
            "optimizer/vars/2",
            "optimizer/vars/3",
            "optimizer/vars/4",
            "optimizer/vars/5",
            "vars",
        ]
    )
    assert h5["layers/dense/vars"].attrs["name"] == model.layers[0].name
    assert h5["layers/dense/vars/0"].shape == (4, 5)
    assert h5["optimizer/vars/1"][()] == np.float32(0.1)  # iterations, learning_rate, momentums


def test_to_json_and_model_from_json(tmp_path):
    model = _every_layer_model()
    text = model.to_json()
    clone = keras.models.model_from_json(text)
    assert clone.get_config() == model.get_config()
    assert clone.optimizer is not None and clone.optimizer.momentum == pytest.approx(0.9)
    assert json.loads(clone.to_json())["config"] == json.loads(text)["config"]


def test_sequential_config_of_every_layer_rebuilds_the_same_function():
    model = _every_layer_model()
    clone = keras.Sequential.from_config(json.loads(json.dumps(model.get_config())))
    clone.set_weights(model.get_weights())
    x, _ = _data(3)
    assert_array_equal(clone.predict(x, verbose=0), model.predict(x, verbose=0))


def test_save_checks_the_extension_and_overwrite(tmp_path):
    model = _small_model()
    with pytest.raises(ValueError, match="extension"):
        model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"\.weights\.h5"):
        model.save_weights(tmp_path / "m.h5")
    model.save(tmp_path / "m.keras")
    with pytest.raises(FileExistsError):
        model.save(tmp_path / "m.keras", overwrite=False)
    assert os.listdir(tmp_path) == ["m.keras"]
    assert os.stat(tmp_path / "m.keras").st_mode & 0o777 == _default_mode(tmp_path)


def _default_mode(directory):
    probe = directory / "probe"
    probe.write_bytes(b"")
    mode = os.stat(probe).st_mode & 0o777
    probe.unlink()
    return mode


def test_unbuilt_model_round_trips_its_config(tmp_path):
    model = keras.Sequential([L.Dense(3), L.Dense(2)])
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.5), loss="mse")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert not loaded.built and loaded.get_config() == model.get_config()
    assert loaded.optimizer.momentum == 0.5


def test_weights_into_a_differently_compiled_model_skip_the_optimizer_state(tmp_path):
    source = _small_model()
    source.fit(np.ones((4, 4), np.float32), np.zeros(4), verbose=0)
    source.save_weights(tmp_path / "w.weights.h5")
    model = keras.Sequential(
        [L.Dense(5, activation="relu", input_shape=(4,)), L.Dense(2, activation="softmax")]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy"
    )  # no momentum
    with pytest.warns(UserWarning, match="skipping the optimizer state: it has 6 variables"):
        model.load_weights(tmp_path / "w.weights.h5")
    _assert_equal_weights(model, source)
    assert model.optimizer.iterations == 0 and model.optimizer.learning_rate == pytest.approx(0.01)


def _assert_equal_weights(a, b):
    for x, y in zip(a.get_weights(), b.get_weights(), strict=True):
        assert_array_equal(x, y)


def test_optimizer_densekit_lacks_asks_for_compile_false(saved):
    config = json.loads(zipfile.ZipFile(saved).read("config.json"))
    config["compile_config"]["optimizer"]["class_name"] = "Ftrl"
    _rewrite(saved, **{"config.json": json.dumps(config)})
    with pytest.raises(
        ValueError,
        match=r"compile_config: Unknown optimizer class: 'Ftrl'.*"
        r"compile=False",
    ):
        keras.models.load_model(saved)
    model = keras.models.load_model(saved, compile=False)
    assert model.optimizer is None and model.built


# -- bad files: ValueError naming the part, the model unchanged -----------------------------------


@pytest.fixture
def saved(tmp_path):
    """A small compiled model saved as m.keras."""
    model = _small_model()
    path = tmp_path / "m.keras"
    model.save(path)
    return path


def _rewrite(path, **members):
    with zipfile.ZipFile(path) as archive:
        contents = {name: archive.read(name) for name in archive.namelist()}
    contents.update(members)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in contents.items():
            if data is not None:
                archive.writestr(name, data)


def test_unknown_layer_type_names_the_layer(saved):
    config = json.loads(zipfile.ZipFile(saved).read("config.json"))
    config["config"]["layers"][2]["class_name"] = "Lambda"
    config["config"]["layers"][2]["config"]["function"] = "__import__('os').system('exit 1')"
    _rewrite(saved, **{"config.json": json.dumps(config)})
    with pytest.raises(
        ValueError, match=r"config\.json.*layer 2 \(Lambda 'dense_\d+'\).*Unknown layer type"
    ):
        keras.models.load_model(saved)


def test_truncated_file_raises(saved):
    data = saved.read_bytes()
    saved.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        keras.models.load_model(saved)


def test_corrupt_member_fails_its_crc(saved):
    data = bytearray(saved.read_bytes())
    start = data.index(b"\x89HDF")  # the stored model.weights.h5 member
    data[start + 3000] ^= 0xFF
    saved.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt"):
        keras.models.load_model(saved)


@pytest.mark.parametrize(
    "member, content, pattern",
    [
        ("config.json", b"{not json", r"config\.json is not valid JSON"),
        ("config.json", None, r"has no config\.json"),
        ("model.weights.h5", b"garbage", r"model\.weights\.h5: not a readable HDF5 file"),
        (
            "config.json",
            json.dumps({"class_name": "Functional", "config": {}}).encode(),
            "Sequential models only",
        ),
    ],
)
def test_bad_member_names_the_member(saved, member, content, pattern):
    _rewrite(saved, **{member: content})
    with pytest.raises(ValueError, match=pattern):
        keras.models.load_model(saved)


def test_not_a_zip_and_missing_file(tmp_path):
    (tmp_path / "x.keras").write_bytes(b"\x00" * 100)
    with pytest.raises(ValueError, match="not a valid .keras file"):
        keras.models.load_model(tmp_path / "x.keras")
    with pytest.raises(FileNotFoundError):
        keras.models.load_model(tmp_path / "absent.keras")


@pytest.mark.parametrize(
    "other, pattern",
    [
        (
            lambda: _small_model(units=6),
            r"layer 'dense_\d+': weight dense_\d+/kernel has shape \(4, 6\).*\(4, 5\)",
        ),
        (
            lambda: _small_model(use_bias=False),
            r"layer 'dense_\d+' \(Dense\) has 1 weights but layers/dense/vars holds 2",
        ),
        (
            lambda: keras.Sequential([L.Dense(5, input_shape=(4,))]),
            r"weights for layers the model does not have: layers/dense_1",
        ),
    ],
)
def test_mismatched_weights_raise_and_leave_the_model_unchanged(tmp_path, other, pattern):
    source = _small_model()
    source.save_weights(tmp_path / "w.weights.h5")
    model = other()
    before = model.get_weights()
    with pytest.raises(ValueError, match=pattern):
        model.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(model.get_weights(), before, strict=True):
        assert_array_equal(a, b)


def test_second_layer_mismatch_leaves_the_first_unchanged(tmp_path):
    source = _small_model()
    source.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "a") as h5:
        del h5["layers/dense_1/vars/0"]
        h5["layers/dense_1/vars/0"] = np.zeros((5, 3), np.float32)
    model = _small_model()
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"dense_1/vars/0"):
        model.load_weights(tmp_path / "w.weights.h5")
    for a, b in zip(model.get_weights(), before, strict=True):
        assert_array_equal(a, b)


def test_truncated_and_non_numeric_weights_files(tmp_path):
    source = _small_model()
    source.save_weights(tmp_path / "w.weights.h5")
    data = (tmp_path / "w.weights.h5").read_bytes()
    (tmp_path / "t.weights.h5").write_bytes(data[: len(data) // 3])
    model = _small_model()
    with pytest.raises(ValueError, match="t.weights.h5"):
        model.load_weights(tmp_path / "t.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "a") as h5:
        del h5["layers/dense/vars/1"]
        h5["layers/dense/vars/1"] = np.array([b"os.system('x')"] * 5)
    with pytest.raises(ValueError, match=r"layers/dense/vars/1 is not numeric"):
        model.load_weights(tmp_path / "w.weights.h5")


# -- atomic saves ----------------------------------------------------------------------------------


def test_failed_save_keeps_the_previous_file(saved, monkeypatch):
    expected = keras.models.load_model(saved).get_weights()
    original = zipfile.ZipFile.writestr

    def failing(self, name, data, *args, **kwargs):
        if name == "model.weights.h5":
            raise OSError("disk full")
        return original(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing)
    with pytest.raises(OSError, match="disk full"):
        _small_model(units=5).save(saved)
    monkeypatch.undo()
    assert os.listdir(saved.parent) == [saved.name]  # no temporary left behind
    for a, b in zip(keras.models.load_model(saved).get_weights(), expected, strict=True):
        assert_array_equal(a, b)


SAVE_LOOP = """
import sys, densekit as keras
model = keras.Sequential([keras.layers.Dense(512, input_shape=(784,)), keras.layers.Dense(512),
                          keras.layers.Dense(10)])
model.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="mse")
print("ready", flush=True)
while True:
    model.save(sys.argv[1])
"""


def test_kill_during_save_leaves_a_loadable_file(tmp_path):
    path = tmp_path / "m.keras"
    _small_model().save(path)
    env = {**os.environ, "PYTHONPATH": PYTHON_DIR}
    process = subprocess.Popen(
        [sys.executable, "-c", SAVE_LOOP, str(path)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while len(keras.models.load_model(path).layers) != 3:  # the loop's first save is in
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
        for delay in (0.05, 0.11, 0.17):
            time.sleep(delay)
            os.kill(process.pid, signal.SIGSTOP)  # frozen wherever it is: the file is whole
            assert len(keras.models.load_model(path).layers) == 3
            os.kill(process.pid, signal.SIGCONT)
        time.sleep(0.13)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    model = keras.models.load_model(path)
    assert [l.units for l in model.layers] == [512, 512, 10]
    assert model.optimizer.momentum == pytest.approx(0.9)


# -- Keras 3 interchange ---------------------------------------------------------------------------

keras_filters = [
    # Keras's torch backend trips NumPy 2's __array__ copy-keyword deprecation in its own code.
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]


@pytest.fixture(scope="module")
def real_keras():
    os.environ["KERAS_BACKEND"] = "torch"
    return pytest.importorskip("keras")


def _keras_predict(model, x):
    return np.asarray(model.predict(x, verbose=0))


def _keras_layers_model(k, seed=0):
    """The densekit layers that Keras 3 has, with several initializers; SGD momentum, trained."""
    KL, KI = k.layers, k.initializers
    model = k.Sequential(
        [
            k.Input((4, 3)),
            KL.Flatten(),
            KL.Dense(
                10,
                activation="relu",
                kernel_initializer=KI.HeUniform(seed=seed),
                bias_initializer=KI.Constant(0.1),
            ),
            KL.BatchNormalization(momentum=0.9),
            KL.PReLU(alpha_initializer=KI.Constant(0.2)),
            KL.Dense(
                9, activation="tanh", kernel_initializer=KI.TruncatedNormal(stddev=0.3, seed=seed)
            ),
            KL.Activation("elu"),
            KL.ReLU(max_value=6.0, negative_slope=0.05),
            KL.LeakyReLU(negative_slope=0.2),
            KL.ELU(alpha=0.7),
            KL.BatchNormalization(scale=False),
            KL.Dense(8, use_bias=False, kernel_initializer=KI.LecunNormal(seed=seed)),
            KL.Dense(
                3, kernel_initializer=KI.VarianceScaling(2.0, "fan_avg", "uniform", seed=seed)
            ),
            KL.Softmax(),
        ]
    )
    model.compile(
        optimizer=k.optimizers.SGD(0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y = _data(seed)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    return model


@keras_filters[0]
def test_keras_file_loads_in_densekit_with_optimizer_state(tmp_path, real_keras):
    source = _keras_layers_model(real_keras)
    source.save(tmp_path / "k.keras")
    source.save_weights(tmp_path / "k.weights.h5")
    model = keras.models.load_model(tmp_path / "k.keras")
    x, y = _data(9)
    expected = _keras_predict(source, x)
    assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    assert model.optimizer.iterations == int(source.optimizer.iterations) == 4
    keras_slots = [np.asarray(v.numpy()) for v in source.optimizer.variables[2:]]
    for a, b in zip(_slots(model), keras_slots, strict=True):
        assert_allclose(a, b, atol=1e-6)
    # One more step on each side moves them the same way.
    source.train_on_batch(x, y)
    model.train_on_batch(x, y)
    assert_allclose(model.predict(x, verbose=0), _keras_predict(source, x), atol=1e-4)
    # Keras's .weights.h5 too, into an uncompiled model built from the same config.
    other = keras.models.load_model(tmp_path / "k.keras", compile=False)
    assert other.optimizer is None
    other.load_weights(tmp_path / "k.weights.h5")
    assert_allclose(other.predict(x, verbose=0), expected, atol=1e-5)


@keras_filters[0]
def test_densekit_file_loads_in_keras_and_comes_back(tmp_path, real_keras):
    model = _every_layer_model()
    # Keras 3 has no ThresholdedReLU or RReLU: a model for Keras leaves them out.
    model = keras.Sequential(
        [l for l in model.layers if not isinstance(l, (L.ThresholdedReLU, L.RReLU))]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y = _data(4)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.save(tmp_path / "d.keras")
    in_keras = real_keras.saving.load_model(tmp_path / "d.keras")
    assert_allclose(_keras_predict(in_keras, x), model.predict(x, verbose=0), atol=1e-5)
    assert int(in_keras.optimizer.iterations) == model.optimizer.iterations == 4
    for a, b in zip(_slots(model), in_keras.optimizer.variables[2:], strict=True):
        assert_allclose(np.asarray(b.numpy()), a, atol=1e-6)
    in_keras.save(tmp_path / "back.keras")
    back = keras.models.load_model(tmp_path / "back.keras")
    assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert back.get_config() == model.get_config()


INITIALIZERS = [
    "Zeros",
    "Ones",
    "Identity",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "LecunNormal",
    "LecunUniform",
    "Orthogonal",
]
ACTIVATIONS = [
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "elu",
    "selu",
    "gelu",
    "swish",
    "silu",
    "softplus",
    "softsign",
    "hard_sigmoid",
    "exponential",
    "leaky_relu",
    "linear",
]


@keras_filters[0]
def test_every_initializer_means_the_same_in_keras(real_keras):
    layers = []
    for i, name in enumerate(INITIALIZERS + ["Constant"]):
        cls = getattr(I, name)
        init = (
            cls(0.3)
            if name == "Constant"
            else cls(seed=3)
            if "seed" in cls().get_config()
            else cls()
        )
        layers.append(
            L.Dense(6, kernel_initializer=init, bias_initializer=I.RandomUniform(-1, 1, seed=i))
        )
    model = keras.Sequential([L.InputLayer(shape=(6,))] + layers)
    in_keras = real_keras.models.model_from_json(model.to_json())
    for ours, theirs in zip(model.layers, in_keras.layers, strict=True):
        assert type(theirs.kernel_initializer).__name__ == type(ours.kernel_initializer).__name__
        ours_config = ours.kernel_initializer.get_config()
        theirs_config = theirs.kernel_initializer.get_config()
        common = [k for k in ours_config if k in theirs_config]  # Keras's Identity drops `gain`
        assert {k: theirs_config[k] for k in common} == {k: ours_config[k] for k in common}
    back = keras.models.model_from_json(in_keras.to_json())
    assert back.get_config() == model.get_config()


@keras_filters[0]
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_every_activation_computes_the_same_after_the_trip_to_keras(real_keras, activation):
    model = keras.Sequential(
        [
            L.Dense(
                6,
                activation=activation,
                input_shape=(6,),
                bias_initializer=I.RandomUniform(-1, 1, seed=1),
            ),
            L.Activation(activation),
        ]
    )
    in_keras = real_keras.models.model_from_json(model.to_json())
    in_keras.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    assert_allclose(model.predict(x, verbose=0), _keras_predict(in_keras, x), rtol=1e-5, atol=1e-5)
    assert keras.models.model_from_json(in_keras.to_json()).get_config() == model.get_config()


@keras_filters[0]
def test_frozen_layers_and_keras_loss_objects_survive_the_trip(tmp_path, real_keras):
    k = real_keras
    source = k.Sequential(
        [
            k.Input((4,)),
            k.layers.Dense(3),
            k.layers.BatchNormalization(center=False),
            k.layers.Dense(2),
        ]
    )
    source.layers[0].trainable = False
    source.compile(
        optimizer=k.optimizers.SGD(0.01, momentum=0.9),
        loss=k.losses.CategoricalCrossentropy(from_logits=True),
        metrics=[k.metrics.CategoricalAccuracy()],
    )
    x = np.random.default_rng(1).normal(size=(16, 4)).astype(np.float32)
    y = np.eye(2, dtype=np.float32)[np.arange(16) % 2]
    source.fit(x, y, epochs=1, batch_size=16, verbose=0)
    source.save(tmp_path / "k.keras")
    model = keras.models.load_model(tmp_path / "k.keras")
    assert [l.trainable for l in model.layers] == [False, True, True]
    assert model.optimizer.iterations == 1 and len(_slots(model)) == 3
    assert model._compile_state.loss.from_logits
    model.save(tmp_path / "d.keras")
    again = k.saving.load_model(tmp_path / "d.keras")
    assert [l.trainable for l in again.layers] == [False, True, True]
    assert_allclose(_keras_predict(again, x), model.predict(x, verbose=0), atol=1e-5)


@keras_filters[0]
def test_prelu_on_unflattened_inputs_uses_keras_alpha_shape(tmp_path, real_keras):
    # densekit keeps one alpha per input element flat; Keras keeps them in the input's shape.
    model = keras.Sequential(
        [
            L.InputLayer(shape=(4, 3)),
            L.PReLU(alpha_initializer=I.RandomUniform(seed=1)),
            L.Flatten(),
            L.Dense(2, kernel_initializer=I.GlorotUniform(seed=2)),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    x, _ = _data(2)
    model.fit(x, np.ones((len(x), 2), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "d.keras")
    in_keras = real_keras.saving.load_model(tmp_path / "d.keras")
    assert tuple(in_keras.layers[0].alpha.shape) == (4, 3)
    assert tuple(in_keras.optimizer.variables[2].shape) == (4, 3)
    assert_allclose(_keras_predict(in_keras, x), model.predict(x, verbose=0), atol=1e-5)
    in_keras.save(tmp_path / "k.keras")
    back = keras.models.load_model(tmp_path / "k.keras")
    _assert_equal_weights(back, model)
    assert_array_equal(_slots(back)[0], _slots(model)[0])


@keras_filters[0]
def test_keras_model_built_without_input_and_never_trained_loads(tmp_path, real_keras):
    # No InputLayer in the config (only build_input_shape) and an optimizer never built: its
    # state is iterations and learning_rate, no momentum yet.
    source = real_keras.Sequential([real_keras.layers.Dense(3), real_keras.layers.Dense(2)])
    source.build((None, 4))
    source.compile(optimizer=real_keras.optimizers.SGD(0.02, momentum=0.9), loss="mse")
    source.save(tmp_path / "k.keras")
    model = keras.models.load_model(tmp_path / "k.keras")
    assert model.input_shape == (None, 4)
    assert model.optimizer.iterations == 0 and model.optimizer.learning_rate == pytest.approx(0.02)
    x = np.ones((3, 4), np.float32)
    assert_allclose(model.predict(x, verbose=0), _keras_predict(source, x), atol=1e-6)


def test_a_schedule_of_ones_own_loads_through_custom_objects(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = _small_model()
    model.compile(
        optimizer=keras.optimizers.SGD(HalvingSchedule(0.1)), loss="sparse_categorical_crossentropy"
    )
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "s.keras")
    with pytest.raises(ValueError, match=r"HalvingSchedule.*custom_objects"):
        keras.models.load_model(tmp_path / "s.keras")
    loaded = keras.models.load_model(
        tmp_path / "s.keras", custom_objects={"HalvingSchedule": HalvingSchedule}
    )
    assert isinstance(loaded.optimizer._learning_rate, HalvingSchedule)
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
    model.train_on_batch(x, y)
    loaded.train_on_batch(x, y)
    _assert_equal_weights(model, loaded)


@keras_filters[0]
@pytest.mark.parametrize(
    "metric, message",
    [
        ("BinaryAccuracy(threshold=0.9)", r"'BinaryAccuracy': threshold=0\.9 is not supported"),
        ("BinaryAccuracy(name='bacc')", r"'BinaryAccuracy': name='bacc' is not supported"),
        ("Accuracy()", r"Accuracy \(exact match\) is not supported"),
    ],
)
def test_a_keras_metric_densekit_would_count_otherwise_is_refused(
    tmp_path, real_keras, metric, message
):
    source = real_keras.Sequential(
        [real_keras.Input((4,)), real_keras.layers.Dense(1, activation="sigmoid")]
    )
    source.compile("adam", "binary_crossentropy", metrics=[eval(f"real_keras.metrics.{metric}")])
    source.save(tmp_path / "k.keras")
    with pytest.raises(ValueError, match=message):
        keras.models.load_model(tmp_path / "k.keras")
    assert keras.models.load_model(tmp_path / "k.keras", compile=False).built


@keras_filters[0]
def test_a_keras_metric_object_with_its_defaults_loads_as_its_name(tmp_path, real_keras):
    source = real_keras.Sequential(
        [real_keras.Input((4,)), real_keras.layers.Dense(1, activation="sigmoid")]
    )
    source.compile("adam", "binary_crossentropy", metrics=[real_keras.metrics.BinaryAccuracy()])
    source.save(tmp_path / "k.keras")
    model = keras.models.load_model(tmp_path / "k.keras")
    x = np.random.default_rng(0).normal(size=(32, 4)).astype(np.float32)
    y = (x[:, :1] > 0).astype(np.float32)
    assert set(model.evaluate(x, y, verbose=0, return_dict=True)) == {"loss", "binary_accuracy"}


def test_skip_mismatch_loads_the_layers_that_fit_and_warns_of_the_others(tmp_path):
    source, target = _small_model(units=5), _small_model(units=5)
    source.save_weights(tmp_path / "w.weights.h5")
    wider = keras.Sequential(
        [L.Dense(5, activation="relu", input_shape=(4,)), L.Dense(3, activation="softmax")]
    )
    kept = [np.array(w) for w in wider.layers[1].get_weights()]
    with pytest.raises(ValueError, match=r"has shape \(5, 3\) in the model but \(5, 2\)"):
        wider.load_weights(tmp_path / "w.weights.h5")
    with pytest.warns(UserWarning, match=r"skip_mismatch: layer 'dense_\d+' keeps its weights"):
        wider.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)
    _assert_equal_weights(wider.layers[0], source.layers[0])
    for a, b in zip(wider.layers[1].get_weights(), kept, strict=True):
        assert_array_equal(a, b)
    target.load_weights(tmp_path / "w.weights.h5", skip_mismatch=True)  # nothing to skip
    _assert_equal_weights(target, source)


def test_save_weights_of_an_unbuilt_model_raises_and_writes_nothing(tmp_path):
    model = keras.Sequential([L.Dense(3), L.Dense(2)])
    with pytest.raises(ValueError, match=r"save_weights needs a built model"):
        model.save_weights(tmp_path / "w.weights.h5")
    assert not (tmp_path / "w.weights.h5").exists()


def test_a_legacy_h5_model_file_is_named_as_such(tmp_path):
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.attrs["keras_version"] = "2.15.0"
        f.create_group("model_weights")
    with pytest.raises(ValueError, match=r"m\.h5: an HDF5 file, not a \.keras archive.*legacy"):
        keras.models.load_model(tmp_path / "m.h5")
