"""The Keras-shaped model API: modules, names, Sequential, configs, variables, summary, fit's
output, History, callbacks, the optimizer's learning rate and the *_on_batch methods."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densekit
import densekit as keras

L = keras.layers
SEEDED = keras.initializers.GlorotUniform


def _data(samples=96, features=6, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype(np.float32)
    # Labels that depend on x, so that training makes progress.
    y = (np.argmax(x[:, :classes], axis=1)).astype(np.int64)
    return x, y


def _classifier(features=6, classes=3, hidden=16, seed=1, lr=0.05, momentum=0.0):
    model = keras.Sequential(
        [
            L.Dense(
                hidden,
                activation="relu",
                input_shape=(features,),
                kernel_initializer=SEEDED(seed=seed),
            ),
            L.Dense(classes, activation="softmax", kernel_initializer=SEEDED(seed=seed + 1)),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=momentum),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


# -- modules -----------------------------------------------------------------------------------------

MODULES = [
    "models",
    "layers",
    "initializers",
    "activations",
    "optimizers",
    "losses",
    "metrics",
    "callbacks",
]


@pytest.mark.parametrize("name", MODULES)
def test_submodule_is_an_attribute_of_the_package(name):
    module = getattr(densekit, name)
    assert module.__name__ == f"densekit.{name}"
    assert name in densekit.__all__


@pytest.mark.parametrize("name", MODULES)
def test_submodule_dir_lists_only_its_public_names(name):
    # As a tf.keras user lists it, `[n for n in dir(keras.initializers) if not n.startswith("_")]`:
    # the listing is the module's API, not its imports (np, sys, helper classes).
    module = getattr(densekit, name)
    public = [n for n in dir(module) if not n.startswith("_")]
    assert set(public) == set(module.__all__), sorted(set(public) ^ set(module.__all__))
    for n in module.__all__:
        assert hasattr(module, n), n


def test_package_dir_hides_private_modules():
    public = [n for n in dir(densekit) if not n.startswith("_")]
    assert set(public) == set(densekit.__all__)


# -- automatic names ---------------------------------------------------------------------------------


def test_automatic_names_in_a_fresh_process_are_dense_dense_1_dense_2():
    code = (
        "import densekit as keras\n"
        "L = keras.layers\n"
        "print([L.Dense(1).name for _ in range(3)])\n"
        "print([L.BatchNormalization().name, L.BatchNormalization().name])\n"
        "print([L.PReLU().name, L.LeakyReLU().name, L.ThresholdedReLU().name, L.ReLU().name])\n"
        "print([keras.Sequential().name, keras.Sequential().name])\n"
    )
    package_root = os.path.dirname(os.path.dirname(densekit.__file__))
    env = {**os.environ, "PYTHONPATH": package_root}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert result.stdout.splitlines() == [
        "['dense', 'dense_1', 'dense_2']",
        "['batch_normalization', 'batch_normalization_1']",
        "['p_re_lu', 'leaky_re_lu', 'thresholded_re_lu', 're_lu']",  # Keras's snake case
        "['sequential', 'sequential_1']",
    ]


def test_automatic_names_are_unique_and_consecutive():
    names = [L.Dense(2).name for _ in range(4)]
    numbers = [int(n.rsplit("_", 1)[1]) if "_" in n else 0 for n in names]
    assert all(re.fullmatch(r"dense(_\d+)?", n) for n in names)
    assert numbers == list(range(numbers[0], numbers[0] + 4))


def test_explicit_name_is_kept():
    assert L.Dense(2, name="hidden").name == "hidden"
    assert keras.Sequential(name="mine").name == "mine"


# -- Sequential structure ------------------------------------------------------------------------------


def test_sequential_add_build_and_shapes():
    model = keras.Sequential()
    first = L.Dense(4)
    model.add(first)
    assert not model.built
    model.build((None, 3))
    assert model.built
    assert model.input_shape == (None, 3)
    assert model.output_shape == (None, 4)
    model.add(L.Dense(2))  # a built model rebuilds for the new top layer
    assert model.built and model.output_shape == (None, 2)
    assert model.layers[0] is first
    assert model.count_params() == 3 * 4 + 4 + 4 * 2 + 2


def test_sequential_pop_returns_the_top_layer_and_restores_the_output_shape():
    top = L.Dense(2)
    model = keras.Sequential([L.Dense(4, input_shape=(3,)), top])
    assert model.pop() is top
    assert len(model.layers) == 1
    assert model.output_shape == (None, 4)
    assert model.predict(np.ones((2, 3), np.float32), verbose=0).shape == (2, 4)


def test_sequential_layers_is_a_copy():
    model = keras.Sequential([L.Dense(4, input_shape=(3,))])
    model.layers.append(L.Dense(1))
    assert len(model.layers) == 1


def test_sequential_with_input_layer_and_input_function():
    model = keras.Sequential([keras.Input(shape=(5,)), L.Dense(2)])
    assert model.built and model.input_shape == (None, 5) and len(model.layers) == 1
    model = keras.Sequential([L.InputLayer(shape=(2, 3)), L.Flatten(), L.Dense(2)])
    assert model.input_shape == (None, 2, 3)
    assert model.layers[0].output_shape == (None, 6)


def test_sequential_builds_on_first_data():
    model = keras.Sequential([L.Dense(4), L.Dense(2)])
    assert not model.built
    out = model.predict(np.ones((3, 7), np.float32), verbose=0)
    assert model.built and model.input_shape == (None, 7) and out.shape == (3, 2)


def test_model_alias_and_models_namespace():
    assert keras.Model is keras.Sequential
    assert keras.models.Sequential is keras.Sequential


# -- configs ------------------------------------------------------------------------------------------

LAYER_CASES = [
    (L.Dense, dict(units=3, activation="relu", kernel_initializer="he_normal", use_bias=False)),
    (L.Dense, dict(units=5, activation="softmax")),
    (L.Activation, dict(activation="tanh")),
    (L.ReLU, dict(max_value=6.0, negative_slope=0.1, threshold=0.5)),
    (L.LeakyReLU, dict(negative_slope=0.2)),
    (L.PReLU, dict(alpha_initializer=keras.initializers.Constant(0.25))),
    (L.ELU, dict(alpha=0.5)),
    (L.ThresholdedReLU, dict(theta=0.7)),
    (L.Softmax, dict()),
    (L.RReLU, dict(lower=0.1, upper=0.3, seed=7)),
    (L.BatchNormalization, dict(momentum=0.9, epsilon=1e-4)),
    (L.Flatten, dict()),
]


@pytest.mark.parametrize("cls, kwargs", LAYER_CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_layer_config_round_trip(cls, kwargs):
    layer = cls(**kwargs)
    config = layer.get_config()
    assert config["name"] == layer.name
    clone = cls.from_config(config)
    assert clone.name == layer.name
    assert clone.get_config() == config
    # Through the generic serialize / deserialize too, without the name: a fresh one.
    data = L.serialize(layer)
    assert data["class_name"] == cls.__name__
    data["config"] = {k: v for k, v in data["config"].items() if k != "name"}
    other = L.deserialize(data)
    assert type(other) is cls and other.name != layer.name
    assert {k: v for k, v in other.get_config().items() if k != "name"} == data["config"]


@pytest.mark.parametrize("cls, kwargs", LAYER_CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_layer_from_config_computes_the_same_function(cls, kwargs):
    x = np.linspace(-2, 2, 4 * 6, dtype=np.float32).reshape(4, 6)
    layer = cls(**kwargs)
    clone = cls.from_config(layer.get_config())
    out = layer(x)
    clone(x)  # builds
    clone.set_weights(layer.get_weights())
    assert_allclose(clone(x), out, rtol=1e-6)


def test_leaky_relu_alpha_alias_and_defaults():
    x = np.array([[-1.0, 2.0]], np.float32)
    # The layer's default slope is 0.3 (Keras), the function's 0.2 (Keras 3).
    assert L.LeakyReLU().negative_slope == pytest.approx(0.3)
    assert_allclose(L.LeakyReLU()(x), [[-0.3, 2.0]], rtol=1e-6)
    assert_allclose(keras.activations.leaky_relu(x), [[-0.2, 2.0]], rtol=1e-6)
    alias = L.LeakyReLU(alpha=0.01)
    assert alias.negative_slope == pytest.approx(0.01)
    assert alias.get_config()["negative_slope"] == pytest.approx(0.01)
    assert_allclose(alias(x), [[-0.01, 2.0]], rtol=1e-6)


def test_sequential_config_round_trip():
    model = keras.Sequential(
        [
            L.Flatten(input_shape=(2, 4)),
            L.Dense(5, activation="relu", kernel_initializer="he_normal"),
            L.BatchNormalization(),
            L.LeakyReLU(negative_slope=0.1),
            L.Dense(3, activation="softmax"),
        ],
        name="roundtrip",
    )
    config = model.get_config()
    assert config["name"] == "roundtrip"
    assert [layer["class_name"] for layer in config["layers"]] == [
        "InputLayer",
        "Flatten",
        "Dense",
        "BatchNormalization",
        "LeakyReLU",
        "Dense",
    ]
    clone = keras.Sequential.from_config(config)
    assert clone.built and clone.input_shape == (None, 2, 4)
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    assert clone.get_config() == config
    clone.set_weights(model.get_weights())
    x = np.random.default_rng(0).normal(size=(5, 2, 4)).astype(np.float32)
    assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


# The config Keras 3.15 writes for Sequential([Input((4,)), Dense(3, "relu", he_normal, name="d1"),
# BatchNormalization(name="bn"), LeakyReLU(name="lr"), Dense(2, "softmax", name="d2")], name="k3"),
# from `json.dumps(model.get_config())` with KERAS_BACKEND=torch.
KERAS3_CONFIG = (
    '{"name": "k3", "trainable": true, "dtype": {"module": "keras", "class_name": "DT'
    'ypePolicy", "config": {"name": "float32"}, "registered_name": null}, "layers": ['
    '{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape":'
    ' [null, 4], "dtype": "float32", "sparse": false, "ragged": false, "name": "input'
    '_layer", "optional": false}, "registered_name": null}, {"module": "keras.layers"'
    ', "class_name": "Dense", "config": {"name": "d1", "trainable": true, "dtype": {"'
    'module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "r'
    'egistered_name": null}, "units": 3, "activation": "relu", "use_bias": true, "ker'
    'nel_initializer": {"module": "keras.initializers", "class_name": "HeNormal", "co'
    'nfig": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name'
    '": null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Ze'
    'ros", "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_'
    'regularizer": null, "kernel_constraint": null, "bias_constraint": null, "quantiz'
    'ation_config": null}, "registered_name": null, "build_config": {"input_shape": ['
    'null, 4]}}, {"module": "keras.layers", "class_name": "BatchNormalization", "conf'
    'ig": {"name": "bn", "trainable": true, "dtype": {"module": "keras", "class_name"'
    ': "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "axis"'
    ': -1, "momentum": 0.99, "epsilon": 0.001, "center": true, "scale": true, "beta_i'
    'nitializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {'
    '}, "registered_name": null}, "gamma_initializer": {"module": "keras.initializers'
    '", "class_name": "Ones", "config": {}, "registered_name": null}, "moving_mean_in'
    'itializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {}'
    ', "registered_name": null}, "moving_variance_initializer": {"module": "keras.ini'
    'tializers", "class_name": "Ones", "config": {}, "registered_name": null}, "beta_'
    'regularizer": null, "gamma_regularizer": null, "beta_constraint": null, "gamma_c'
    'onstraint": null, "synchronized": false, "renorm": false, "renorm_clipping": nul'
    'l, "renorm_momentum": 0.99}, "registered_name": null, "build_config": {"input_sh'
    'ape": [null, 3]}}, {"module": "keras.layers", "class_name": "LeakyReLU", "config'
    '": {"name": "lr", "trainable": true, "dtype": {"module": "keras", "class_name": '
    '"DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "negativ'
    'e_slope": 0.3}, "registered_name": null}, {"module": "keras.layers", "class_name'
    '": "Dense", "config": {"name": "d2", "trainable": true, "dtype": {"module": "ker'
    'as", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_nam'
    'e": null}, "units": 2, "activation": "softmax", "use_bias": true, "kernel_initia'
    'lizer": {"module": "keras.initializers", "class_name": "GlorotUniform", "config"'
    ': {"seed": null, "input_axes": null, "output_axes": null}, "registered_name": nu'
    'll}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros",'
    ' "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regul'
    'arizer": null, "kernel_constraint": null, "bias_constraint": null, "quantization'
    '_config": null}, "registered_name": null, "build_config": {"input_shape": [null,'
    ' 3]}}], "build_input_shape": [null, 4]}'
)


def test_sequential_from_a_keras3_config():
    import json

    model = keras.Sequential.from_config(json.loads(KERAS3_CONFIG))
    assert model.name == "k3" and model.built and model.input_shape == (None, 4)
    assert [layer.name for layer in model.layers] == ["d1", "bn", "lr", "d2"]
    assert [type(layer).__name__ for layer in model.layers] == [
        "Dense",
        "BatchNormalization",
        "LeakyReLU",
        "Dense",
    ]
    assert isinstance(model.layers[0].kernel_initializer, keras.initializers.HeNormal)
    assert model.layers[0].activation is keras.activations.relu
    assert model.layers[2].negative_slope == pytest.approx(0.3)
    assert model.output_shape == (None, 2)
    assert model.count_params() == (4 * 3 + 3) + 4 * 3 + (3 * 2 + 2)


# -- variables ----------------------------------------------------------------------------------------


def test_variable_names_paths_flags_shapes_dtypes():
    model = keras.Sequential(
        [L.Dense(4, input_shape=(3,), name="dense"), L.BatchNormalization(name="bn")]
    )
    variables = model.variables
    assert [v.name for v in variables] == [
        "dense/kernel:0",
        "dense/bias:0",
        "bn/gamma:0",
        "bn/beta:0",
        "bn/moving_mean:0",
        "bn/moving_variance:0",
    ]
    assert [v.path for v in variables] == [
        "dense/kernel",
        "dense/bias",
        "bn/gamma",
        "bn/beta",
        "bn/moving_mean",
        "bn/moving_variance",
    ]
    assert [v.trainable for v in variables] == [True, True, True, True, False, False]
    assert [v.shape for v in variables] == [(3, 4), (4,), (4,), (4,), (4,), (4,)]
    assert all(v.dtype == "float32" and v.numpy().dtype == np.float32 for v in variables)
    assert [v.path for v in model.weights] == [v.path for v in variables]


def test_variable_numpy_is_a_view_of_the_model_weights():
    model = keras.Sequential([L.Dense(2, input_shape=(3,), kernel_initializer=SEEDED(seed=3))])
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    kernel = model.layers[0].kernel
    view = kernel.numpy()
    view[...] = 0.0
    # Kernel zero, bias zero: the output is zero.
    assert_array_equal(model.predict(x, verbose=0), [[0.0, 0.0]])
    view[:, 0] = 1.0  # output[0] = 1 + 2 + 3 = 6
    assert_allclose(model.predict(x, verbose=0), [[6.0, 0.0]])
    assert kernel.numpy() is view or np.shares_memory(kernel.numpy(), view)


def test_variable_assign_copies_into_the_model():
    model = keras.Sequential([L.Dense(2, input_shape=(3,))])
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    value = np.arange(6, dtype=np.float64).reshape(3, 2)  # columns (0, 2, 4) and (1, 3, 5)
    model.layers[0].kernel.assign(value)
    model.layers[0].bias.assign([0.5, -0.5])
    value[...] = 99  # assign copied
    # [1, 2, 3] @ [[0, 1], [2, 3], [4, 5]] = [16, 22]; plus the bias: [16.5, 21.5]
    assert_allclose(model.predict(x, verbose=0), [[16.5, 21.5]])


def test_count_params_get_weights_set_weights():
    model = keras.Sequential([L.Dense(4, input_shape=(3,)), L.BatchNormalization(), L.Dense(2)])
    assert model.count_params() == (3 * 4 + 4) + 4 * 4 + (4 * 2 + 2)
    weights = model.get_weights()
    assert [w.shape for w in weights] == [(3, 4), (4,), (4,), (4,), (4,), (4,), (4, 2), (2,)]
    weights[0][...] = 123.0  # get_weights returns copies
    assert not np.any(model.get_weights()[0] == 123.0)
    new = [np.full(w.shape, i, np.float32) for i, w in enumerate(weights)]
    model.set_weights(new)
    for got, want in zip(model.get_weights(), new):
        assert_array_equal(got, want)


def test_trainable_and_non_trainable_weights():
    model = keras.Sequential(
        [L.Dense(4, input_shape=(3,), name="d"), L.BatchNormalization(name="b")]
    )
    assert [v.path for v in model.trainable_weights] == ["d/kernel", "d/bias", "b/gamma", "b/beta"]
    assert [v.path for v in model.non_trainable_weights] == ["b/moving_mean", "b/moving_variance"]
    model.layers[0].trainable = False
    assert [v.path for v in model.trainable_weights] == ["b/gamma", "b/beta"]
    assert [v.path for v in model.non_trainable_weights] == [
        "d/kernel",
        "d/bias",
        "b/moving_mean",
        "b/moving_variance",
    ]


def test_frozen_layer_is_not_updated_by_fit():
    x, y = _data()
    model = _classifier()
    model.layers[0].trainable = False
    frozen = model.layers[0].get_weights()
    top = model.layers[1].get_weights()
    model.fit(x, y, epochs=2, verbose=0, seed=0)
    for got, want in zip(model.layers[0].get_weights(), frozen):
        assert_array_equal(got, want)
    assert not np.allclose(model.layers[1].get_weights()[0], top[0])


# -- summary ------------------------------------------------------------------------------------------


def test_summary_format_lines(capsys):
    model = keras.Sequential(
        [L.Dense(4, input_shape=(3,), name="hidden"), L.Dense(2, name="out")], name="small"
    )
    model.summary()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == 'Model: "small"'
    assert lines[1] == "_" * 65
    assert re.fullmatch(r" Layer \(type\) +Output Shape +Param #", lines[2])
    assert lines[3] == "=" * 65
    assert re.fullmatch(r" hidden \(Dense\) +\(None, 4\) +16", lines[4])
    assert lines[5].strip() == ""
    assert re.fullmatch(r" out \(Dense\) +\(None, 2\) +10", lines[6])
    assert lines[7] == "=" * 65
    assert lines[8:] == [
        "Total params: 26",
        "Trainable params: 26",
        "Non-trainable params: 0",
        "_" * 65,
    ]


def test_summary_print_fn_receives_every_line():
    model = keras.Sequential([L.Dense(4, input_shape=(3,))])
    lines = []
    model.summary(print_fn=lines.append)
    assert lines[0].startswith('Model: "') and "Total params: 16" in lines


# -- fit output and History ----------------------------------------------------------------------------

BAR = re.compile(
    r"^(\d+)/\1 \[=+\] - .+ - loss: \S+ - accuracy: \S+( - val_loss: \S+ - val_accuracy: \S+)?$"
)


def test_fit_verbose_1_prints_tf_keras_progress_bar(capsys):
    x, y = _data()
    model = _classifier()
    model.fit(x, y, epochs=2, batch_size=32, verbose=1, seed=0)
    out = capsys.readouterr().out
    lines = [line.split("\r")[-1].rstrip() for line in out.splitlines() if line.strip()]
    assert "Epoch 1/2" in lines and "Epoch 2/2" in lines
    bars = [line for line in lines if BAR.match(line)]
    assert len(bars) == 2, out
    # 96 samples in batches of 32: 3/3; the bar is 30 characters wide, as in tf.keras.
    assert bars[0].startswith("3/3 [" + "=" * 30 + "] - ")


def test_fit_verbose_auto_is_the_progress_bar(capsys):
    x, y = _data()
    _classifier().fit(x, y, epochs=1, validation_data=(x, y), seed=0)
    out = capsys.readouterr().out
    lines = [line.split("\r")[-1].rstrip() for line in out.splitlines() if line.strip()]
    assert any(BAR.match(line) and "val_accuracy" in line for line in lines), out


def test_fit_verbose_0_prints_nothing(capsys):
    x, y = _data()
    _classifier().fit(x, y, epochs=2, verbose=0, validation_split=0.25, seed=0)
    assert capsys.readouterr().out == ""


def test_fit_verbose_0_prints_nothing_even_when_training_diverges(capsys):
    # Targets of ~100 with learning rate 1 and momentum 0.9: the loss overflows within 2 epochs
    # and densekit stops there; with verbose=0 it must still say nothing on stdout (the
    # explanation belongs to history.stopped_on_nonfinite, or a warning).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = rng.normal(size=(64, 1)).astype(np.float32) * 100
    model = keras.Sequential(
        [
            L.Dense(8, activation="relu", input_shape=(4,), kernel_initializer=SEEDED(seed=1)),
            L.Dense(1, kernel_initializer=SEEDED(seed=2)),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0, momentum=0.9), loss="mse")
    history = model.fit(x, y, epochs=20, verbose=0, seed=0)
    assert history.stopped_on_nonfinite is not None
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert capsys.readouterr().out == ""


def test_history_has_one_value_per_epoch_for_each_key():
    x, y = _data()
    model = _classifier()
    history = model.fit(x, y, epochs=3, verbose=0, validation_data=(x[:32], y[:32]), seed=0)
    assert history is model.history
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 3 for values in history.history.values())
    assert history.epoch == [0, 1, 2]
    assert all(isinstance(v, float) for values in history.history.values() for v in values)
    # val_ metrics are those of evaluate at the end of the last epoch.
    val_loss, val_accuracy = model.evaluate(x[:32], y[:32], verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(val_accuracy)


def test_history_with_validation_split():
    x, y = _data()
    history = _classifier().fit(x, y, epochs=2, verbose=0, validation_split=0.25, seed=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert all(len(values) == 2 for values in history.history.values())


# -- callbacks ------------------------------------------------------------------------------------------


def test_early_stopping_stops_training():
    x, y = _data()
    model = _classifier()
    # min_delta=10: no later epoch lowers the loss by 10, so after the first epoch (always an
    # improvement) it waits 2 epochs and stops at epoch index 2, as Keras does.
    stopper = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10, patience=2)
    history = model.fit(x, y, epochs=20, verbose=0, callbacks=[stopper], seed=0)
    assert len(history.history["loss"]) == 3
    assert stopper.stopped_epoch == 2
    assert model.stop_training


def test_early_stopping_on_val_loss_with_restore_best_weights():
    x, y = _data()
    model = _classifier(lr=0.5, momentum=0.9)
    seen = []
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=1, restore_best_weights=True
    )
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen.append(model.get_weights())
    )
    history = model.fit(
        x[:64],
        y[:64],
        epochs=200,
        verbose=0,
        validation_data=(x[64:], y[64:]),
        callbacks=[record, stopper],
        seed=0,
    )
    epochs = len(history.history["loss"])
    assert epochs < 200
    best = int(np.argmin(history.history["val_loss"]))
    for got, want in zip(model.get_weights(), seen[best]):
        assert_array_equal(got, want)


def test_lambda_callback_on_epoch_end_once_per_epoch():
    x, y = _data()
    calls = []
    callback = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: calls.append((epoch, dict(logs)))
    )
    _classifier().fit(x, y, epochs=4, verbose=0, callbacks=[callback], seed=0)
    assert [epoch for epoch, _ in calls] == [0, 1, 2, 3]
    assert all(set(logs) == {"loss", "accuracy"} for _, logs in calls)


class BatchRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batches = []
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append((self.epochs[-1], batch, logs["loss"]))


def test_custom_on_train_batch_end_is_called_once_per_batch():
    x, y = _data(samples=100)
    recorder = BatchRecorder()
    _classifier().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[recorder], seed=0)
    # 100 samples in batches of 16: 7 steps (6 full, one of 4) per epoch.
    assert [(e, b) for e, b, _ in recorder.batches] == [(e, b) for e in range(2) for b in range(7)]
    assert all(np.isfinite(loss) for _, _, loss in recorder.batches)


def test_per_batch_callback_does_not_change_the_training():
    x, y = _data(samples=100)
    plain, watched = _classifier(momentum=0.9), _classifier(momentum=0.9)
    plain.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=5)
    watched.fit(x, y, epochs=3, batch_size=16, verbose=0, seed=5, callbacks=[BatchRecorder()])
    for a, b in zip(plain.get_weights(), watched.get_weights()):
        assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_stop_training_from_a_batch_callback_ends_the_epoch():
    x, y = _data(samples=100)
    model = _classifier()

    class Stop(BatchRecorder):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            if batch == 2:
                self.model.stop_training = True

    stop = Stop()
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[stop], seed=0)
    assert [b for _, b, _ in stop.batches] == [0, 1, 2]
    assert len(history.history["loss"]) == 1


# -- the optimizer's learning rate ----------------------------------------------------------------------


def test_learning_rate_scales_the_sgd_step():
    # Plain SGD: one step from the same weights moves them by -lr * gradient, so doubling the
    # learning rate doubles the change.
    x, y = _data(samples=32)
    model = _classifier(lr=0.01)
    start = model.get_weights()
    model.train_on_batch(x, y)
    small = [after - before for after, before in zip(model.get_weights(), start)]
    model.set_weights(start)
    model.optimizer.learning_rate = 0.02
    assert model.optimizer.learning_rate == pytest.approx(0.02)
    model.train_on_batch(x, y)
    large = [after - before for after, before in zip(model.get_weights(), start)]
    for s, l in zip(small, large):
        assert_allclose(l, 2 * s, rtol=1e-3, atol=1e-7)


def test_learning_rate_set_between_epochs_to_zero_freezes_the_weights():
    x, y = _data()
    model = _classifier()
    after_first = []

    def freeze(epoch, logs):
        if epoch == 0:
            after_first.extend(model.get_weights())
            model.optimizer.learning_rate = 0.0  # Keras accepts 0: no more updates

    model.fit(
        x,
        y,
        epochs=3,
        verbose=0,
        seed=0,
        callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=freeze)],
    )
    assert model.optimizer.learning_rate == 0.0
    for got, want in zip(model.get_weights(), after_first):
        assert_array_equal(got, want)


def test_learning_rate_set_between_fit_calls_changes_the_step():
    x, y = _data()
    fast, slow = _classifier(lr=0.05), _classifier(lr=0.05)
    start = fast.get_weights()
    slow.optimizer.learning_rate = 1e-6
    fast.fit(x, y, epochs=1, verbose=0, seed=0)
    slow.fit(x, y, epochs=1, verbose=0, seed=0)
    moved_fast = sum(np.abs(a - b).sum() for a, b in zip(fast.get_weights(), start))
    moved_slow = sum(np.abs(a - b).sum() for a, b in zip(slow.get_weights(), start))
    assert moved_slow < 1e-3 * moved_fast


# -- calling, predicting, evaluating ---------------------------------------------------------------------


def test_call_with_training_false_equals_predict():
    x, y = _data()
    model = keras.Sequential(
        [
            L.Dense(8, input_shape=(6,), kernel_initializer=SEEDED(seed=2)),
            L.BatchNormalization(),
            L.Activation("relu"),
            L.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, verbose=0, seed=0)
    assert_allclose(model(x, training=False), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    assert_allclose(model(x), model.predict(x, batch_size=7, verbose=0), rtol=1e-6, atol=1e-7)
    # training=True normalizes with the batch's statistics instead of the moving ones.
    assert not np.allclose(model(x, training=True), model(x, training=False), atol=1e-4)


@pytest.mark.parametrize("batch_size", [1, 32, 300, 1000])
def test_predict_and_evaluate_do_not_depend_on_batch_size(batch_size):
    # In inference mode the network computes in blocks of at least 256 rows, whatever the batch
    # size; 700 rows make several blocks and a partial one. Every output matches the row-by-row
    # float64 forward, and evaluate's loss is the mean of the per-sample losses.
    x, y = _data(samples=700)
    model = _classifier()
    model.fit(x[:96], y[:96], epochs=1, verbose=0, seed=0)
    w1, b1, w2, b2 = model.get_weights()
    hidden = np.maximum(np.float64(x) @ w1 + b1, 0)
    logits = hidden @ w2 + b2
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    assert_allclose(
        model.predict(x, batch_size=batch_size, verbose=0), probabilities, rtol=1e-5, atol=1e-6
    )
    loss, accuracy = model.evaluate(x, y, batch_size=batch_size, verbose=0)
    assert loss == pytest.approx(-np.log(probabilities[np.arange(700), y]).mean(), rel=1e-5)
    assert accuracy == pytest.approx((probabilities.argmax(axis=1) == y).mean())


def test_predict_on_batch_equals_predict():
    x, _ = _data()
    model = _classifier()
    assert_allclose(model.predict_on_batch(x), model.predict(x, verbose=0), rtol=1e-6)


def _numpy_loss_and_accuracy(model, x, y):
    proba = model.predict(x, verbose=0).astype(np.float64)
    loss = -np.log(np.clip(proba[np.arange(len(y)), y], 1e-7, 1 - 1e-7)).mean()
    accuracy = (proba.argmax(axis=1) == y).mean()
    return loss, accuracy


def test_evaluate_returns_loss_and_accuracy():
    x, y = _data()
    model = _classifier()
    model.fit(x, y, epochs=2, verbose=0, seed=0)
    result = model.evaluate(x, y, verbose=0)
    assert isinstance(result, list) and len(result) == 2
    loss, accuracy = _numpy_loss_and_accuracy(model, x, y)
    assert result[0] == pytest.approx(loss, rel=1e-5)
    assert result[1] == pytest.approx(accuracy)
    assert model.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(
        {"loss": result[0], "accuracy": result[1]}
    )


def test_evaluate_without_metrics_returns_the_loss():
    x, y = _data()
    model = _classifier()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y, verbose=0), float)


def test_test_on_batch_equals_evaluate():
    x, y = _data(samples=40)
    model = _classifier()
    assert model.test_on_batch(x, y) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


def test_train_on_batch_returns_the_loss_before_the_step_and_updates():
    x, y = _data(samples=40)
    model = _classifier()
    before = model.evaluate(x, y, verbose=0)
    result = model.train_on_batch(x, y)
    assert result == pytest.approx(before, rel=1e-5)
    assert model.evaluate(x, y, verbose=0)[0] < before[0]
    assert model.optimizer.iterations == 1


# -- "accuracy" chosen from the shapes, as Keras 3 does ------------------------------------------


@pytest.mark.parametrize(
    "loss, units, targets, expected_key_fn",
    [
        # 3 sigmoid outputs with multi-label targets: Keras's rule looks at shapes only (more than one
        # output, targets with more than one column), so it picks categorical accuracy here.
        ("binary_crossentropy", 3, "multilabel", "categorical"),
        # MSE on one-hot targets with 4 outputs: categorical accuracy (argmax vs argmax).
        ("mean_squared_error", 4, "onehot", "categorical"),
        # One output with MSE: binary accuracy.
        ("mean_squared_error", 1, "binary", "binary"),
    ],
)
def test_accuracy_is_chosen_from_shapes_like_keras(loss, units, targets, expected_key_fn):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 5)).astype(np.float32)
    if targets == "multilabel":
        y = (rng.random((40, units)) > 0.5).astype(np.float32)
    elif targets == "onehot":
        y = np.eye(units, dtype=np.float32)[rng.integers(0, units, 40)]
    else:
        y = (rng.random((40, 1)) > 0.5).astype(np.float32)
    activation = "sigmoid" if loss == "binary_crossentropy" else None
    model = densekit.Sequential(
        [densekit.layers.Dense(units, activation=activation, input_shape=(5,))]
    )
    model.compile(optimizer="sgd", loss=loss, metrics=["accuracy"])
    loss_value, accuracy = model.evaluate(x, y, verbose=0)
    pred = model.predict(x, verbose=0)
    # Independent formulas (Keras's binary_accuracy / categorical_accuracy):
    if expected_key_fn == "binary":
        expected = np.mean((pred > 0.5).astype(np.float32) == y)
    else:
        expected = np.mean(np.argmax(pred, axis=-1) == np.argmax(y, axis=-1))
    assert accuracy == pytest.approx(expected, abs=1e-6)


def test_softmax_layers_refuse_inputs_with_several_feature_axes():
    x = np.ones((2, 4, 5), np.float32)
    for layer in (densekit.layers.Softmax(), densekit.layers.Activation("softmax")):
        with pytest.raises(ValueError, match="softmax needs inputs of shape \\(batch, features\\)"):
            layer(x)
    # Element-wise activations are unaffected by the flattening.
    np.testing.assert_allclose(densekit.layers.Activation("relu")(x - 2), np.zeros_like(x))


# -- the sample shape of x ---------------------------------------------------------------------


def test_x_must_have_the_model_sample_shape_or_its_flat_form():
    # An (n, 4, 16) array has the 64 values of an 8x8 image but not its layout: refused, not
    # silently read as 8x8. The model's shape and the flat (n, 64) form are both accepted.
    model = keras.Sequential(
        [
            L.Flatten(input_shape=(8, 8)),
            L.Dense(3, activation="softmax", kernel_initializer=SEEDED(seed=0)),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(0).normal(size=(5, 8, 8)).astype(np.float32)
    labels = np.array([0, 1, 2, 0, 1])
    message = r"x has sample shape \(4, 16\) but the model expects \(8, 8\)"
    for call in (
        lambda x: model.predict(x, verbose=0),
        lambda x: model(x),
        lambda x: model.fit(x, labels, verbose=0),
        lambda x: model.evaluate(x, labels, verbose=0),
        lambda x: model.train_on_batch(x, labels),
        lambda x: model.test_on_batch(x, labels),
    ):
        with pytest.raises(ValueError, match=message):
            call(images.reshape(5, 4, 16))
    for wrong in ((5, 8, 8, 1), (5, 2, 32)):
        with pytest.raises(ValueError, match=re.escape(f"sample shape {wrong[1:]}")):
            model.predict(images.reshape(wrong), verbose=0)
    assert_array_equal(
        model.predict(images.reshape(5, 64), verbose=0), model.predict(images, verbose=0)
    )
    assert model.evaluate(images.reshape(5, 64), labels, verbose=0) == model.evaluate(
        images, labels, verbose=0
    )


# -- all-or-nothing structure and weight changes -------------------------------------------------


def _image_model():
    """(8, 8) images through an element-wise activation: a built model with no Flatten yet."""
    model = keras.Sequential([L.InputLayer(shape=(8, 8)), L.Activation("tanh", name="act")])
    images = np.linspace(-2, 2, 3 * 64, dtype=np.float32).reshape(3, 8, 8)
    return model, images


def test_failed_add_leaves_the_model_working_and_unchanged():
    model, images = _image_model()
    before = model.predict(images, verbose=0)
    network = model._network
    dense = L.Dense(4, kernel_initializer=SEEDED(seed=5))
    with pytest.raises(ValueError, match="Add a Flatten layer"):
        model.add(dense)  # Dense needs (batch, features); the input is (batch, 8, 8)
    assert [layer.name for layer in model.layers] == ["act"]
    assert model.built and model._network is network
    assert model.input_shape == (None, 8, 8) and model.output_shape == (None, 8, 8)
    assert_array_equal(model.predict(images, verbose=0), before)
    # The rejected layer is not left half built: it still fits after a Flatten.
    assert not dense.built
    model.add(L.Flatten())
    model.add(dense)
    assert model.output_shape == (None, 4)
    assert model.predict(images, verbose=0).shape == (3, 4)


def test_failed_add_to_a_compiled_model_keeps_it_training():
    model = _classifier()
    x, y = _data()
    before = model.predict(x, verbose=0)
    with pytest.raises(ValueError, match="unique names"):
        model.add(L.Dense(3, name=model.layers[0].name))
    built_elsewhere = L.Dense(2)
    built_elsewhere.build((None, 5))  # the model's top layer gives (None, 3)
    with pytest.raises(ValueError, match=r"built for inputs of shape \(None, 5\)"):
        model.add(built_elsewhere)
    assert len(model.layers) == 2 and model.output_shape == (None, 3)
    assert built_elsewhere.built and built_elsewhere.input_shape == (None, 5)
    assert_array_equal(model.predict(x, verbose=0), before)
    model.fit(x, y, epochs=1, verbose=0)
    assert model.optimizer.iterations == 3  # 96 samples in batches of 32


def test_failed_pop_leaves_the_model_unchanged(monkeypatch):
    from densekit.models import sequential

    model = _classifier()
    x, _ = _data()
    before = model.predict(x, verbose=0)
    top = model.layers[-1]

    def broken_network(*args, **kwargs):
        raise RuntimeError("no network today")

    monkeypatch.setattr(sequential._core, "Network", broken_network)
    with pytest.raises(RuntimeError, match="no network today"):
        model.pop()
    monkeypatch.undo()
    assert model.layers[-1] is top and len(model.layers) == 2
    assert model.built and model.output_shape == (None, 3)
    assert_array_equal(model.predict(x, verbose=0), before)


def test_add_to_a_built_model_makes_its_network_at_first_use(monkeypatch):
    # Adding to a built model builds the new layer alone and leaves the network to be made when
    # it is next used, so that adding n layers one by one stays linear in n; a network that
    # cannot be made then fails that use and leaves the model to be used once it can.
    from densekit.models import sequential

    model = _classifier()
    x, _ = _data()
    extra = L.Dense(2)

    def broken_network(*args, **kwargs):
        raise RuntimeError("no network today")

    monkeypatch.setattr(sequential._core, "Network", broken_network)
    model.add(extra)
    assert extra.built and model.output_shape == (None, 2)
    with pytest.raises(RuntimeError, match="no network today"):
        model.predict(x, verbose=0)
    monkeypatch.undo()
    expected = model.layers[-1](model.layers[1](model.layers[0](x)))
    assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6)


def test_add_whose_layer_fails_to_build_leaves_the_model_as_it_was(monkeypatch):
    model = _classifier()
    x, _ = _data()
    before = model.predict(x, verbose=0)
    extra = L.Dense(2)

    def broken_build(input_shape):
        raise ValueError("no build today")

    monkeypatch.setattr(extra, "build", broken_build)
    with pytest.raises(ValueError, match="no build today"):
        model.add(extra)
    monkeypatch.undo()
    assert len(model.layers) == 2 and model.output_shape == (None, 3)
    assert not extra.built
    assert_array_equal(model.predict(x, verbose=0), before)
    model.add(L.Dense(2))
    assert model.output_shape == (None, 2)


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.array([1.0, None, 2.0], dtype=object), r"real numbers.*object"),
        (np.array([1 + 2j, 0, 0]), r"real numbers.*complex"),
        (np.array(["a", "b", "c"]), r"real numbers"),
        (np.full(3, np.nan), r"NaN or Inf"),
        (np.array([1e300, 0.0, 0.0]), r"NaN or Inf"),  # float64 beyond float32's range
    ],
    ids=["object", "complex", "string", "nan", "overflow"],
)
def test_failed_set_weights_leaves_the_model_working_and_unchanged(bad, message):
    model = _classifier()
    x, y = _data()
    before_weights = model.get_weights()
    before = model.predict(x, verbose=0)
    weights = [np.full(w.shape, 0.5, np.float32) for w in before_weights]
    weights[-1] = bad  # the last array is bad: none of the earlier ones may be written
    with pytest.raises(ValueError, match=message):
        model.set_weights(weights)
    with pytest.raises(ValueError, match=message):
        model.layers[-1].set_weights(weights[-2:])
    with pytest.raises(ValueError, match=message):
        model.layers[-1].bias.assign(bad)
    for got, want in zip(model.get_weights(), before_weights):
        assert_array_equal(got, want)
    assert_array_equal(model.predict(x, verbose=0), before)
    model.fit(x, y, epochs=1, verbose=0)
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_set_weights_accepts_integer_and_float64_arrays():
    model = _classifier()
    weights = [np.ones(w.shape, np.int64) for w in model.get_weights()]
    weights[0] = weights[0].astype(np.float64) / 4
    model.set_weights(weights)
    assert all(w.dtype == np.float32 for w in model.get_weights())
    assert_array_equal(model.get_weights()[0], np.full(weights[0].shape, 0.25, np.float32))
    assert_array_equal(model.get_weights()[1], np.ones(weights[1].shape, np.float32))


def test_relu_negative_threshold_raises_value_error_as_keras():
    with pytest.raises(ValueError, match=r"threshold.*Received: threshold=-1"):
        L.ReLU(threshold=-1)
    assert L.ReLU(threshold=0.5).threshold == 0.5


def test_load_weights_refuses_nan_and_leaves_the_model(tmp_path):
    import h5py

    model = _classifier()
    path = str(tmp_path / "model.weights.h5")
    model.save_weights(path)
    with h5py.File(path, "r+") as h5:
        bias = h5["layers/dense_1/vars/1"]
        bias[...] = np.nan
    model.set_weights([np.full(w.shape, 0.5, np.float32) for w in model.get_weights()])
    before = model.get_weights()
    with pytest.raises(ValueError, match=r"layers/dense_1/vars/1.*NaN or Inf"):
        model.load_weights(path)
    for got, want in zip(model.get_weights(), before):
        assert_array_equal(got, want)


# -- compile state and data preparation -----------------------------------------------------------


def test_compile_keeps_its_state_in_a_typed_compile_state():
    import dataclasses

    from densekit.models.compile_state import CompileState

    model = _classifier()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    assert not hasattr(model, "_compiled")
    state = model._compile_state
    assert isinstance(state, CompileState) and dataclasses.is_dataclass(state)
    assert all(field.type is not None for field in dataclasses.fields(CompileState))
    assert state.optimizer is model.optimizer
    assert state.optimizer.learning_rate == pytest.approx(0.1)  # stored as float32
    assert state.loss_arg == model.loss == "sparse_categorical_crossentropy"
    assert state.loss._kernel_name == "sparse_categorical_crossentropy"
    assert (state.metric_key, state.accuracy_request, state.accuracy) == (None, None, None)


def test_compile_state_resolves_accuracy_from_the_first_targets():
    model = _classifier()
    model.compile(loss="sparse_categorical_crossentropy", metrics=["acc"])
    state = model._compile_state
    assert (state.metric_key, state.accuracy_request, state.accuracy) == ("acc", "auto", None)
    x, y = _data()
    history = model.fit(x, y, epochs=1, verbose=0)
    assert state.accuracy == "sparse_categorical_accuracy"
    assert list(history.history) == ["loss", "acc"]


def test_an_uncompiled_model_has_no_compile_state():
    model = keras.Sequential([L.Dense(2, input_shape=(3,))])
    assert model._compile_state is None and not model.compiled
    assert model.optimizer is None and model.loss is None
    model.compile(loss="mse")
    assert model.compiled


def test_preparing_targets_does_not_compile_the_network(monkeypatch):
    model = _classifier()
    x, y = _data()
    compiles = []
    monkeypatch.setattr(model, "_compile_network", lambda: compiles.append(1))
    xm = model._inputs(x, "test")
    y_array, ym = model._targets(y, xm.shape[0], "test")
    assert compiles == [] and model._compile_state.accuracy is None
    assert_array_equal(ym, y.reshape(-1, 1).astype(np.float32))
    assert_array_equal(y_array, y)
    # Settling the accuracy is the model's explicit step, and it compiles once per change.
    model._settle_accuracy(y_array, "test")
    model._settle_accuracy(y_array, "test")
    assert compiles == [1]
    assert model._compile_state.accuracy == "sparse_categorical_accuracy"


def test_data_preparation_is_arrays_in_arrays_out():
    from densekit.models import _data

    x = np.arange(12, dtype=np.int64).reshape(3, 2, 2)
    matrix = _data.prepare_x(x, (None, 2, 2), "test")
    assert matrix.dtype == np.float32 and matrix.shape == (3, 4)
    assert_array_equal(matrix, x.reshape(3, 4))
    array, target = _data.prepare_y([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], 3, 2, "mse", "test")
    assert_array_equal(target, np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32))
    labels = _data.prepare_y(np.array([2, 0, 1]), 3, 3, "sparse_categorical_crossentropy", "t")[1]
    assert_array_equal(labels, np.array([[2], [0], [1]], dtype=np.float32))
    x_train, y_train, x_val, y_val = _data.split_validation(matrix, target, 0.34)
    # int(3 * (1 - 0.34)) = 1 training sample; the last 2 are held out, as Keras.
    assert_array_equal(x_train, matrix[:1])
    assert_array_equal(y_val, target[1:])
    assert x_val.shape == (2, 4) and y_train.shape == (1, 2)


def test_fit_builds_an_unbuilt_model_then_compiles_its_network_once_more_for_the_accuracy():
    model = keras.Sequential([L.Dense(3, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    compiles = []
    compile_network = model._compile_network
    model._compile_network = lambda: (compiles.append(1), compile_network())
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0, validation_data=(x[:10], y[:10]))
    # One compile as the model is built, one as the first targets settle the accuracy; the
    # validation targets need the same accuracy.
    assert model.built and model.input_shape == (None, 6)
    assert len(compiles) == 2
