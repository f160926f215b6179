"""Code a tf.keras user writes, run with `import densekit as keras`.

Each test is one short example: listing the initializers, activations and ReLU layers; Dense
layers with chosen initializers; NumPy's sigmoid and leaky ReLU against densekit's;
BatchNormalization on a small image; a batch-normalized model, its summary and its variables;
gradient clipping. The expected values are what tf.keras prints for the same code, or NumPy
arithmetic written out in a comment.
"""

import math
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose
from reference import BN_EXAMPLE_IMAGE, BN_EXAMPLE_OUTPUT

import densekit as keras

# -- the initializer listing ----------------------------------------------------------------------

TF_KERAS_INITIALIZERS = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "constant",
    "deserialize",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "identity",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "serialize",
    "truncated_normal",
    "variance_scaling",
    "zeros",
]

# -- the activation listing -----------------------------------------------------------------------

TF_KERAS_ACTIVATIONS = [
    "deserialize",
    "elu",
    "exponential",
    "gelu",
    "get",
    "hard_sigmoid",
    "linear",
    "relu",
    "selu",
    "serialize",
    "sigmoid",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]


def test_initializer_listing_contains_every_name_tf_keras_lists():
    names = [name for name in dir(keras.initializers) if not name.startswith("_")]
    assert set(TF_KERAS_INITIALIZERS) <= set(names), sorted(set(TF_KERAS_INITIALIZERS) - set(names))
    assert names == sorted(names)


def test_activation_listing_contains_every_name_tf_keras_lists():
    names = [activation for activation in dir(keras.activations) if not activation.startswith("_")]
    assert set(TF_KERAS_ACTIVATIONS) <= set(names), sorted(set(TF_KERAS_ACTIVATIONS) - set(names))


def test_relu_layer_listing_contains_the_four_tf_keras_variants():
    # tf.keras lists ['LeakyReLU', 'PReLU', 'ReLU', 'ThresholdedReLU']; densekit adds RReLU (the
    # randomized leaky ReLU).
    names = [layer for layer in dir(keras.layers) if "relu" in layer.lower()]
    assert {"LeakyReLU", "PReLU", "ReLU", "ThresholdedReLU"} <= set(names)
    for name in names:
        assert isinstance(getattr(keras.layers, name), type)


def test_every_listed_initializer_name_resolves():
    for name in TF_KERAS_INITIALIZERS:
        assert hasattr(keras.initializers, name)
    for name in ("glorot_uniform", "he_normal", "lecun_normal", "HeNormal"):
        assert isinstance(keras.initializers.get(name), keras.initializers.Initializer)


# -- Dense layers with chosen initializers ------------------------------------------------------------


def _built_kernel(layer, fan_in):
    model = keras.Sequential([keras.layers.InputLayer(shape=(fan_in,)), layer])
    assert model.built
    return layer.kernel.numpy()


def test_dense_relu_with_he_normal_kernel():
    layer = keras.layers.Dense(10, activation="relu", kernel_initializer="he_normal")
    assert layer.units == 10
    assert layer.activation is keras.activations.relu
    assert isinstance(layer.kernel_initializer, keras.initializers.HeNormal)
    kernel = _built_kernel(layer, 2000)
    # He normal: truncated normal with std sqrt(2 / fan_in) = sqrt(2 / 2000) = 0.0316;
    # the truncation at 2 std keeps every value within 0.0632 of 0.
    std = math.sqrt(2 / 2000)
    assert kernel.shape == (2000, 10) and kernel.dtype == np.float32
    assert abs(kernel.std() - std) < 0.05 * std
    assert np.abs(kernel).max() <= 2 * std / 0.87962566103423978 + 1e-6
    assert_allclose(layer.bias.numpy(), np.zeros(10))


def test_variance_scaling_fan_avg_uniform_as_kernel_initializer():
    init = keras.initializers.VarianceScaling(scale=0.2, mode="fan_avg", distribution="uniform")
    layer = keras.layers.Dense(10, activation="relu", kernel_initializer=init)
    kernel = _built_kernel(layer, 784)
    # fan_avg = (784 + 10) / 2 = 397; limit = sqrt(3 * 0.2 / 397) = 0.038876
    limit = math.sqrt(3 * 0.2 / 397)
    assert abs(limit - 0.038876) < 1e-6
    assert np.abs(kernel).max() <= limit
    # 7,840 uniform draws: the extremes come within 1% of the bound, the std is limit / sqrt(3).
    assert np.abs(kernel).max() > 0.99 * limit
    assert abs(kernel.std() - limit / math.sqrt(3)) < 0.03 * limit / math.sqrt(3)
    assert abs(kernel.mean()) < 0.05 * limit


def test_dense_selu_with_lecun_normal_kernel():
    layer = keras.layers.Dense(10, activation="selu", kernel_initializer="lecun_normal")
    assert layer.activation is keras.activations.selu
    assert isinstance(layer.kernel_initializer, keras.initializers.LecunNormal)
    kernel = _built_kernel(layer, 1000)
    std = math.sqrt(1 / 1000)  # LeCun normal: std sqrt(1 / fan_in)
    assert abs(kernel.std() - std) < 0.05 * std
    # SELU's constants (Klambauer et al.): scale 1.0507, alpha 1.67326.
    z = np.array([-1.0, 0.0, 2.0])
    expected = 1.0507009873554805 * np.where(z > 0, z, 1.6732632423543772 * (np.exp(z) - 1))
    assert_allclose(keras.activations.selu(z), expected, rtol=1e-6, atol=1e-7)


# -- a NumPy sigmoid and leaky_relu against densekit's ------------------------------------------------


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def leaky_relu(z, alpha=0.01):
    return np.maximum(alpha * z, z)


def test_numpy_sigmoid_matches_keras_sigmoid():
    z = np.linspace(-5, 5, 200)
    assert_allclose(keras.activations.sigmoid(z), sigmoid(z), rtol=1e-6, atol=1e-7)
    # The logistic function saturates: sigmoid(±20) is 1 and 0 to float32 precision.
    assert_allclose(keras.activations.sigmoid(np.array([-20.0, 20.0])), [0.0, 1.0], atol=1e-8)


def test_numpy_leaky_relu_matches_keras_leaky_relu_with_negative_slope():
    z = np.linspace(-5, 5, 201)
    assert_allclose(
        keras.activations.leaky_relu(z, negative_slope=0.01), leaky_relu(z), rtol=1e-6, atol=1e-7
    )
    # leaky_relu(-3, alpha=0.01) = -0.03
    assert_allclose(
        keras.activations.leaky_relu(np.array([-3.0]), negative_slope=0.01), [-0.03], rtol=1e-6
    )


def test_leaky_relu_layer_matches_numpy_function():
    z = np.linspace(-5, 5, 40).reshape(4, 10)
    out = keras.layers.LeakyReLU(negative_slope=0.01)(z)
    assert_allclose(out, leaky_relu(z), rtol=1e-6, atol=1e-7)


# -- BatchNormalization on a 3x3 tensor -----------------------------------------------------------------


def test_batch_normalization_call_uses_initial_moving_stats():
    out = keras.layers.BatchNormalization()(BN_EXAMPLE_IMAGE)
    # Inference mode with moving_mean 0, moving_variance 1, epsilon 0.001, gamma 1, beta 0:
    # y = x / sqrt(1 + 0.001); 0.13832426 / 1.00049988 = 0.13825515.
    assert out.shape == (3, 3)
    assert_allclose(out, BN_EXAMPLE_IMAGE / np.sqrt(1.001), rtol=1e-6)
    assert_allclose(out, BN_EXAMPLE_OUTPUT, rtol=2e-7, atol=1e-7)


# -- the BN model, its summary and its variables --------------------------------------------------------


def _bn_model():
    return keras.models.Sequential(
        [
            keras.layers.Flatten(input_shape=[28, 28]),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(300, activation="relu", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(100, use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


BN_MODEL_PARAMS = [0, 3136, 235200, 1200, 30000, 400, 0, 1010]
BN_MODEL_SHAPES = [
    (None, 784),
    (None, 784),
    (None, 300),
    (None, 300),
    (None, 100),
    (None, 100),
    (None, 100),
    (None, 10),
]


def test_bn_model_layer_counts_and_shapes():
    model = _bn_model()
    assert model.built
    assert [layer.count_params() for layer in model.layers] == BN_MODEL_PARAMS
    assert [layer.output_shape for layer in model.layers] == BN_MODEL_SHAPES
    # 270,946 = 3136 + 235200 + 1200 + 30000 + 400 + 1010; non-trainable: 2 * (784 + 300 + 100).
    assert model.count_params() == 270946
    assert sum(int(np.prod(v.shape)) for v in model.trainable_weights) == 268578
    assert sum(int(np.prod(v.shape)) for v in model.non_trainable_weights) == 2368


def test_bn_model_summary_rows_and_totals(capsys):
    model = _bn_model()
    model.summary()
    text = capsys.readouterr().out
    assert f'Model: "{model.name}"' in text
    assert "Total params: 270,946" in text
    assert "Trainable params: 268,578" in text
    assert "Non-trainable params: 2,368" in text
    # Every row: the name and type (wrapped as tf.keras wraps it), the shape, the count.
    flat = re.sub(r"\s+", " ", text)
    for layer, shape, count in zip(model.layers, BN_MODEL_SHAPES, BN_MODEL_PARAMS):
        label = f"{layer.name} ({type(layer).__name__})"
        head = label[:27]
        assert re.search(re.escape(head) + r" " + re.escape(str(shape)) + rf" {count} ", flat), (
            label
        )
    for count in ("3136", "235200", "1200", "30000", "400", "1010"):
        assert re.search(rf"\) +{count}\s*$", text, re.MULTILINE), count


def _tf_keras_row(fields, positions=(29, 55, 65)):
    """tf.keras 2's `print_row` of `print_summary` (layer_utils.py), the oracle of the layout:
    each cell is cut to its column width less 2, followed by 2 spaces, then padded to the
    column's end position (a cell that fills its column pushes the next one right by one)."""
    left = [str(field) for field in fields]
    lines = []
    while any(left):
        line = ""
        for col, text in enumerate(left):
            start = positions[col - 1] if col else 0
            space = 2 if col != len(positions) - 1 else 0
            cutoff = positions[col] - start - space
            piece = text[:cutoff]
            cuts = [piece.find(x) + len(x) for x in ("),", "},", "],", "',") if piece.find(x) >= 0]
            if cuts:
                cutoff = min(cuts)
                piece = piece[:cutoff]
            if col == 0:
                line += " "
            line += piece + " " * space
            left[col] = text[cutoff:]
            line += " " * (positions[col] - len(line))
        lines.append(line)
    return lines


def test_tf_keras_row_oracle_reproduces_tf_keras_summary_lines():
    tf_keras_lines = [
        " Layer (type)                Output Shape              Param #   ",
        " flatten_26 (Flatten)        (None, 784)               0         ",
        " batch_normalization_35 (Bat  (None, 784)              3136      ",
        " chNormalization)                                                ",
        " dense_14 (Dense)            (None, 300)               235200    ",
    ]
    rows = (
        _tf_keras_row(["Layer (type)", "Output Shape", "Param #"])
        + _tf_keras_row(["flatten_26 (Flatten)", "(None, 784)", 0])
        + _tf_keras_row(["batch_normalization_35 (BatchNormalization)", "(None, 784)", 3136])
        + _tf_keras_row(["dense_14 (Dense)", "(None, 300)", 235200])
    )
    assert rows == tf_keras_lines


def test_bn_model_summary_has_tf_keras_column_layout(capsys):
    model = _bn_model()
    model.summary()
    lines = capsys.readouterr().out.splitlines()
    expected = [f'Model: "{model.name}"', "_" * 65]
    expected += _tf_keras_row(["Layer (type)", "Output Shape", "Param #"]) + ["=" * 65]
    for i, (layer, shape, count) in enumerate(zip(model.layers, BN_MODEL_SHAPES, BN_MODEL_PARAMS)):
        expected += _tf_keras_row([f"{layer.name} ({type(layer).__name__})", str(shape), count])
        expected.append("=" * 65 if i == len(model.layers) - 1 else " " * 65)
    expected += [
        "Total params: 270,946",
        "Trainable params: 268,578",
        "Non-trainable params: 2,368",
        "_" * 65,
    ]
    assert [line.rstrip() for line in lines] == [line.rstrip() for line in expected]


def test_bn_layer_variables_names_and_trainable_flags():
    model = _bn_model()
    bn1 = model.layers[1]
    assert isinstance(bn1, keras.layers.BatchNormalization)
    pairs = [(var.name, var.trainable) for var in bn1.variables]
    # tf.keras: [('batch_normalization_35/gamma:0', True), ('.../beta:0', True),
    # ('.../moving_mean:0', False), ('.../moving_variance:0', False)]; the number depends on
    # how many BN layers this process created before.
    assert re.fullmatch(r"batch_normalization(_\d+)?", bn1.name)
    assert [name.split("/")[0] for name, _ in pairs] == [bn1.name] * 4
    assert [(name.split("/", 1)[1], flag) for name, flag in pairs] == [
        ("gamma:0", True),
        ("beta:0", True),
        ("moving_mean:0", False),
        ("moving_variance:0", False),
    ]
    assert [v.shape for v in bn1.variables] == [(784,)] * 4


def test_bn_model_dense_layers_without_bias_have_only_a_kernel():
    model = _bn_model()
    assert [v.name.split("/", 1)[1] for v in model.layers[2].variables] == ["kernel:0"]
    assert model.layers[2].bias is None
    assert [v.name.split("/", 1)[1] for v in model.layers[7].variables] == ["kernel:0", "bias:0"]


def test_bn_model_trains_and_predicts_probabilities():
    model = _bn_model()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.random((64, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    moving_mean_before = model.layers[1].variables[2].numpy().copy()
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0, seed=0)
    assert set(history.history) == {"loss", "accuracy"}
    # Training updates the moving statistics (not by backpropagation: momentum 0.99).
    assert not np.allclose(model.layers[1].variables[2].numpy(), moving_mean_before)
    proba = model.predict(x[:5], verbose=0)
    assert proba.shape == (5, 10)
    assert_allclose(proba.sum(axis=1), np.ones(5), rtol=1e-5)


# -- gradient clipping ----------------------------------------------------------------------------------


def test_sgd_clipvalue_optimizer_config():
    optimizer = keras.optimizers.SGD(clipvalue=1.0)
    assert isinstance(optimizer, keras.optimizers.SGD)
    assert optimizer.clipvalue == 1.0
    assert optimizer.clipnorm is None and optimizer.global_clipnorm is None
    assert optimizer.get_config()["clipvalue"] == 1.0
    assert optimizer.learning_rate == pytest.approx(0.01)  # Keras's default


def test_sgd_clipvalue_bounds_every_weight_step():
    # With plain SGD one step is w -= lr * clip(g, -1, 1), so no weight moves more than lr.
    # Targets of 1000 make the MSE gradients far larger than 1.
    init = keras.initializers.RandomUniform(-1, 1, seed=4)
    model = keras.Sequential([keras.layers.Dense(3, input_shape=(5,), kernel_initializer=init)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1, clipvalue=1.0), loss="mse")
    x = np.random.default_rng(1).normal(size=(8, 5)).astype(np.float32) * 10
    y = np.full((8, 3), 1000.0, np.float32)
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)
    steps = [np.abs(after - b) for after, b in zip(model.get_weights(), before)]
    assert max(s.max() for s in steps) == pytest.approx(0.1, rel=1e-5)
    # The bias gradient is 2 * mean(pred - 1000) / 3 ~ -667 per unit: clipped to exactly lr.
    assert_allclose(steps[1], np.full(3, 0.1), rtol=1e-5)
