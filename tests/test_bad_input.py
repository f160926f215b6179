"""Bad input raises a clear exception whose message names the problem.

One table of cases: (id, call, exception type, regex the message must match). ValueError unless
Keras raises something else for the same mistake.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densekit as keras

L = keras.layers
OPT = keras.optimizers
X = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
Y = np.array([0, 1, 2, 0, 1, 2])


def compiled(loss="sparse_categorical_crossentropy", units=3):
    model = keras.Sequential(
        [
            L.Dense(4, input_shape=(3,), activation="relu"),
            L.Dense(units, activation="softmax" if "categorical" in loss else None),
        ]
    )
    model.compile(
        optimizer="sgd", loss=loss, metrics=["accuracy"] if "categorical" in loss else None
    )
    return model


def uncompiled():
    return keras.Sequential([L.Dense(3, input_shape=(3,))])


def unbuilt():
    return keras.Sequential([L.Dense(3)])


def with_value(array, index, value):
    array = np.array(array, dtype=np.float64)
    array[index] = value
    return array


def set_learning_rate(value):
    optimizer = OPT.SGD()
    optimizer.learning_rate = value


STRINGS = np.array([["a", "b", "c"]] * 6)
OBJECTS = np.array([[1.0, None, 3.0]] * 6, dtype=object)
NAN, INF = float("nan"), float("inf")

CASES = [
    # -- unknown names: the message lists the valid ones
    (
        "activation name",
        lambda: L.Dense(3, activation="relux"),
        ValueError,
        r"(?s)Unknown activation.*'relux'.*relu.*sigmoid.*tanh",
    ),
    (
        "activation layer name",
        lambda: L.Activation("sigmoidd"),
        ValueError,
        r"(?s)Unknown activation.*sigmoidd.*sigmoid",
    ),
    ("activations.get", lambda: keras.activations.get("nope"), ValueError, r"(?s)nope.*elu.*relu"),
    (
        "initializer name",
        lambda: L.Dense(3, kernel_initializer="he_nromal"),
        ValueError,
        r"(?s)initializer.*he_nromal.*GlorotUniform.*he_normal",
    ),
    (
        "initializers.get",
        lambda: keras.initializers.get("glorot"),
        ValueError,
        r"(?s)glorot\b.*glorot_uniform",
    ),
    (
        "loss name",
        lambda: compiled().compile(loss="categorical_crossentropyy"),
        ValueError,
        r"(?s)Unknown loss.*categorical_crossentropyy.*sparse_categorical_crossentropy",
    ),
    ("losses.get", lambda: keras.losses.get("hinge"), ValueError, r"(?s)hinge.*mean_squared_error"),
    (
        "optimizer name",
        lambda: compiled().compile(optimizer="adamm", loss="mse"),
        ValueError,
        r"(?s)optimizer.*adamm.*adam, adamax",
    ),
    ("no loss", lambda: uncompiled().compile(optimizer="sgd"), ValueError, r"loss"),
    (
        "no optimizer",
        lambda: uncompiled().compile(optimizer=None, loss="mse"),
        ValueError,
        r"compile: `optimizer`.*optimizer=None",
    ),
    # -- x and y of different lengths
    (
        "fit lengths",
        lambda: compiled().fit(X, Y[:5], verbose=0),
        ValueError,
        r"same number of samples.*x has 6.*y has 5",
    ),
    (
        "evaluate lengths",
        lambda: compiled().evaluate(X[:4], Y, verbose=0),
        ValueError,
        r"same number of samples.*x has 4.*y has 6",
    ),
    (
        "train_on_batch lengths",
        lambda: compiled().train_on_batch(X, Y[:2]),
        ValueError,
        r"same number of samples",
    ),
    (
        "validation lengths",
        lambda: compiled().fit(X, Y, validation_data=(X, Y[:3]), verbose=0),
        ValueError,
        r"same number of samples",
    ),
    ("y scalar", lambda: compiled().fit(X, 1, verbose=0), ValueError, r"same number of samples"),
    # -- wrong feature count for a built model
    (
        "fit features",
        lambda: compiled().fit(np.ones((6, 4)), Y, verbose=0),
        ValueError,
        r"\(4,\).*expects \(3,\)",
    ),
    (
        "predict features",
        lambda: compiled().predict(np.ones((2, 5)), verbose=0),
        ValueError,
        r"\(5,\).*expects \(3,\)",
    ),
    (
        "evaluate features",
        lambda: compiled().evaluate(np.ones((6, 2)), Y, verbose=0),
        ValueError,
        r"\(2,\).*expects \(3,\)",
    ),
    ("call features", lambda: compiled()(np.ones((2, 4))), ValueError, r"\(4,\).*expects \(3,\)"),
    (
        "predict 1-D on a built model",
        lambda: compiled().predict(np.ones(3), verbose=0),
        ValueError,
        r"expects \(3,\)",
    ),
    (
        "layer rebuilt for other features",
        lambda: [layer := L.Dense(2), layer(np.ones((1, 3))), layer(np.ones((1, 4)))],
        ValueError,
        r"built for inputs of shape \(None, 3\).*\(None, 4\)",
    ),
    # -- labels of sparse categorical cross-entropy
    (
        "label = classes",
        lambda: compiled().fit(X, [0, 1, 2, 3, 0, 1], verbose=0),
        ValueError,
        r"labels must be integers in \[0, 3\).*found label 3",
    ),
    (
        "label too large uint8",
        lambda: compiled().fit(X, np.array([0, 1, 2, 255, 0, 1], np.uint8), verbose=0),
        ValueError,
        r"\[0, 3\).*255",
    ),
    (
        "negative label",
        lambda: compiled().fit(X, [0, 1, 2, -1, 0, 1], verbose=0),
        ValueError,
        r"labels must be integers in \[0, 3\).*found label -1",
    ),
    (
        "non-integer label",
        lambda: compiled().fit(X, [0, 1, 2, 1.5, 0, 1], verbose=0),
        ValueError,
        r"labels must be integers.*non-integer",
    ),
    (
        "NaN label",
        lambda: compiled().fit(X, [0, 1, NAN, 1, 0, 1], verbose=0),
        ValueError,
        r"labels must be integers.*non-integer",
    ),
    (
        "label out of range in evaluate",
        lambda: compiled().evaluate(X, [0, 1, 2, 7, 0, 1], verbose=0),
        ValueError,
        r"found label 7",
    ),
    (
        "label out of range in train_on_batch",
        lambda: compiled().train_on_batch(X, [0, 9, 2, 0, 0, 1]),
        ValueError,
        r"found label 9",
    ),
    (
        "label out of range in validation",
        lambda: compiled().fit(X, Y, validation_data=(X, [0, 1, 2, 3, 0, 1]), verbose=0),
        ValueError,
        r"found label 3",
    ),
    (
        "one label per sample",
        lambda: compiled().fit(X, np.zeros((6, 2)), verbose=0),
        ValueError,
        r"one integer label per sample",
    ),
    (
        "one-hot width",
        lambda: compiled("categorical_crossentropy").fit(X, np.zeros((6, 2)), verbose=0),
        ValueError,
        r"y has 2 values per sample.*outputs 3",
    ),
    # -- a model that is not built
    (
        "predict before build",
        lambda: unbuilt().predict(np.ones(3), verbose=0),
        ValueError,
        r"built model",
    ),
    ("count_params before build", lambda: unbuilt().count_params(), ValueError, r"built"),
    ("output_shape before build", lambda: unbuilt().output_shape, ValueError, r"built"),
    ("set_weights before build", lambda: unbuilt().set_weights([]), ValueError, r"built"),
    (
        "predict without layers",
        lambda: keras.Sequential().predict(np.ones((2, 2)), verbose=0),
        ValueError,
        r"no layers",
    ),
    ("build without shape", lambda: unbuilt().build(), ValueError, r"input shape"),
    # -- non-numeric, complex, scalar data
    (
        "string x",
        lambda: compiled().fit(STRINGS, Y, verbose=0),
        ValueError,
        r"x must be a numeric array.*<U1",
    ),
    (
        "object x",
        lambda: compiled().fit(OBJECTS, Y, verbose=0),
        ValueError,
        r"x must be a numeric array.*object",
    ),
    ("string x predict", lambda: compiled().predict(STRINGS, verbose=0), ValueError, r"numeric"),
    (
        "bytes x",
        lambda: compiled().predict(STRINGS.astype(bytes), verbose=0),
        ValueError,
        r"numeric",
    ),
    (
        "string y",
        lambda: compiled().fit(X, np.array(list("abcabc")), verbose=0),
        ValueError,
        r"y must be a real numeric array",
    ),
    (
        "object y",
        lambda: compiled().fit(X, np.array([0, 1, None, 0, 1, 2], dtype=object), verbose=0),
        ValueError,
        r"y must be a real numeric array.*object",
    ),
    ("string layer input", lambda: L.Dense(2)(STRINGS), ValueError, r"numeric"),
    (
        "complex x",
        lambda: compiled().fit(X.astype(np.complex64), Y, verbose=0),
        ValueError,
        r"real.*complex64",
    ),
    (
        "complex x predict",
        lambda: compiled().predict(X.astype(np.complex128), verbose=0),
        ValueError,
        r"real.*complex128",
    ),
    (
        "complex y",
        lambda: compiled("mse").fit(X, np.zeros((6, 3), np.complex64), verbose=0),
        ValueError,
        r"real numeric.*complex64",
    ),
    ("scalar x", lambda: compiled().predict(np.float32(1.0), verbose=0), ValueError, r"batch axis"),
    # -- NaN and Inf for fit
    (
        "NaN in x",
        lambda: compiled().fit(with_value(X, (2, 1), NAN), Y, verbose=0),
        ValueError,
        r"x contains NaN or Inf.*sample 2",
    ),
    (
        "Inf in x",
        lambda: compiled().fit(with_value(X, (4, 0), INF), Y, verbose=0),
        ValueError,
        r"x contains NaN or Inf.*sample 4",
    ),
    (
        "-Inf in x",
        lambda: compiled().fit(with_value(X, (0, 0), -INF), Y, verbose=0),
        ValueError,
        r"x contains NaN or Inf.*sample 0",
    ),
    (
        "NaN in y",
        lambda: compiled("mse").fit(X, with_value(np.zeros((6, 3)), (1, 1), NAN), verbose=0),
        ValueError,
        r"y contains NaN or Inf.*sample 1",
    ),
    (
        "Inf in y",
        lambda: compiled("mse").fit(X, with_value(np.zeros((6, 3)), (5, 2), INF), verbose=0),
        ValueError,
        r"y contains NaN or Inf.*sample 5",
    ),
    (
        "NaN in validation x",
        lambda: compiled().fit(X, Y, validation_data=(with_value(X, (3, 2), NAN), Y), verbose=0),
        ValueError,
        r"validation_data.*NaN or Inf",
    ),
    (
        "NaN in x for train_on_batch",
        lambda: compiled().train_on_batch(with_value(X, (1, 1), NAN), Y),
        ValueError,
        r"NaN or Inf",
    ),
    # -- fit / evaluate / predict arguments
    (
        "batch_size 0",
        lambda: compiled().fit(X, Y, batch_size=0, verbose=0),
        ValueError,
        r"batch_size must be a positive integer.*batch_size=0",
    ),
    (
        "batch_size negative",
        lambda: compiled().fit(X, Y, batch_size=-4, verbose=0),
        ValueError,
        r"batch_size must be a positive integer.*batch_size=-4",
    ),
    (
        "batch_size float",
        lambda: compiled().fit(X, Y, batch_size=2.5, verbose=0),
        ValueError,
        r"batch_size.*2.5",
    ),
    (
        "predict batch_size 0",
        lambda: compiled().predict(X, batch_size=0, verbose=0),
        ValueError,
        r"batch_size must be a positive integer",
    ),
    (
        "evaluate batch_size negative",
        lambda: compiled().evaluate(X, Y, batch_size=-1, verbose=0),
        ValueError,
        r"batch_size must be a positive integer",
    ),
    (
        "epochs negative",
        lambda: compiled().fit(X, Y, epochs=-1, verbose=0),
        ValueError,
        r"epochs must be a non-negative integer.*epochs=-1",
    ),
    ("epochs float", lambda: compiled().fit(X, Y, epochs=1.5, verbose=0), ValueError, r"epochs"),
    (
        "validation_split 1",
        lambda: compiled().fit(X, Y, validation_split=1.0, verbose=0),
        ValueError,
        r"validation_split",
    ),
    (
        "validation_data not a pair",
        lambda: compiled().fit(X, Y, validation_data=X, verbose=0),
        ValueError,
        r"validation_data",
    ),
    ("verbose 3", lambda: compiled().fit(X, Y, verbose=3), ValueError, r"verbose.*3"),
    # -- layers
    ("units 0", lambda: L.Dense(0), ValueError, r"units.*positive integer.*units=0"),
    ("units negative", lambda: L.Dense(units=-5), ValueError, r"units.*positive.*units=-5"),
    ("units float", lambda: L.Dense(2.5), ValueError, r"units=2.5"),
    ("units string", lambda: L.Dense("10"), ValueError, r"units='10'"),
    ("input_shape 0", lambda: L.Dense(2, input_shape=(0,)), ValueError, r"input_shape"),
    ("BN momentum", lambda: L.BatchNormalization(momentum=1.5), ValueError, r"momentum.*1.5"),
    ("BN epsilon", lambda: L.BatchNormalization(epsilon=0), ValueError, r"epsilon"),
    ("LeakyReLU slope", lambda: L.LeakyReLU(negative_slope=-0.1), ValueError, r"negative_slope"),
    (
        "Dense after 3-D input",
        lambda: keras.Sequential([L.Dense(2, input_shape=(2, 3))]),
        ValueError,
        r"Flatten",
    ),
    ("add a non-layer", lambda: keras.Sequential().add("dense"), ValueError, r"layers"),
    (
        "duplicate names",
        lambda: keras.Sequential([L.Dense(2, name="a"), L.Dense(2, name="a")]),
        ValueError,
        r"unique.*'a'",
    ),
    ("pop an empty model", lambda: keras.Sequential().pop(), IndexError, r"no layers"),
    ("unknown layer kwarg", lambda: L.Dense(2, activaton="relu"), TypeError, r"activaton"),
    # -- optimizer: momentum, learning rate, clipping
    ("momentum negative", lambda: OPT.SGD(momentum=-0.1), ValueError, r"momentum.*-0.1"),
    ("momentum above 1", lambda: OPT.SGD(momentum=1.5), ValueError, r"momentum.*1.5"),
    ("momentum NaN", lambda: OPT.SGD(momentum=NAN), ValueError, r"momentum.*nan"),
    (
        "learning rate negative",
        lambda: OPT.SGD(learning_rate=-0.1),
        ValueError,
        r"learning_rate.*-0.1",
    ),
    ("learning rate NaN", lambda: OPT.SGD(learning_rate=NAN), ValueError, r"learning_rate.*nan"),
    ("learning rate Inf", lambda: OPT.SGD(learning_rate=INF), ValueError, r"learning_rate.*inf"),
    ("learning rate string", lambda: OPT.SGD(learning_rate="0.1"), ValueError, r"learning_rate"),
    (
        "learning rate set negative",
        lambda: set_learning_rate(-1.0),
        ValueError,
        r"learning_rate.*-1",
    ),
    ("learning rate set NaN", lambda: set_learning_rate(NAN), ValueError, r"learning_rate.*nan"),
    ("clipvalue 0", lambda: OPT.SGD(clipvalue=0), ValueError, r"clipvalue.*clipvalue=0"),
    ("clipvalue negative", lambda: OPT.SGD(clipvalue=-1.0), ValueError, r"clipvalue.*-1"),
    ("clipvalue Inf", lambda: OPT.SGD(clipvalue=INF), ValueError, r"clipvalue.*inf"),
    ("clipnorm negative", lambda: OPT.SGD(clipnorm=-2.0), ValueError, r"clipnorm.*-2"),
    (
        "global_clipnorm NaN",
        lambda: OPT.SGD(global_clipnorm=NAN),
        ValueError,
        r"global_clipnorm.*nan",
    ),
    (
        "clipvalue and clipnorm",
        lambda: OPT.SGD(clipvalue=1.0, clipnorm=1.0),
        ValueError,
        r"Only one of `clipnorm`, `clipvalue` and `global_clipnorm`",
    ),
    (
        "clipnorm and global_clipnorm",
        lambda: OPT.SGD(clipnorm=1.0, global_clipnorm=2.0),
        ValueError,
        r"Only one of",
    ),
    (
        "all three clips",
        lambda: OPT.SGD(clipvalue=1.0, clipnorm=1.0, global_clipnorm=1.0),
        ValueError,
        r"Only one of",
    ),
    # -- order of calls
    (
        "fit before compile",
        lambda: uncompiled().fit(X, Y, verbose=0),
        ValueError,
        r"compile\(\) before fit",
    ),
    (
        "evaluate before compile",
        lambda: uncompiled().evaluate(X, Y, verbose=0),
        ValueError,
        r"compile\(\) before evaluate",
    ),
    (
        "train_on_batch before compile",
        lambda: uncompiled().train_on_batch(X, Y),
        ValueError,
        r"compile\(\) before train_on_batch",
    ),
    (
        "test_on_batch before compile",
        lambda: uncompiled().test_on_batch(X, Y),
        ValueError,
        r"compile\(\) before test_on_batch",
    ),
    # -- empty data
    (
        "empty x fit",
        lambda: compiled().fit(np.zeros((0, 3)), np.zeros(0), verbose=0),
        ValueError,
        r"x is empty",
    ),
    (
        "empty x predict",
        lambda: compiled().predict(np.zeros((0, 3)), verbose=0),
        ValueError,
        r"x is empty",
    ),
    (
        "empty x evaluate",
        lambda: compiled().evaluate(np.zeros((0, 3)), np.zeros(0), verbose=0),
        ValueError,
        r"x is empty",
    ),
    ("x None", lambda: compiled().fit(None, Y, verbose=0), ValueError, r"x is required"),
    ("y None", lambda: compiled().fit(X, None, verbose=0), ValueError, r"y is required"),
    # -- weights
    (
        "set_weights count",
        lambda: compiled().set_weights([np.zeros((3, 4))]),
        ValueError,
        r"expects 4 weight arrays; received 1",
    ),
    (
        "set_weights shape",
        lambda: compiled().set_weights(
            [np.zeros((4, 4)), np.zeros(4), np.zeros((4, 3)), np.zeros(3)]
        ),
        ValueError,
        r"kernel.*\(3, 4\).*\(4, 4\)",
    ),
    (
        "assign shape",
        lambda: compiled().variables[0].assign(np.zeros((4, 4))),
        ValueError,
        r"shape \(4, 4\).*\(3, 4\)",
    ),
    ("assign NaN", lambda: compiled().variables[1].assign(np.full(4, NAN)), ValueError, r"NaN"),
    # -- initializers
    (
        "VarianceScaling scale",
        lambda: keras.initializers.VarianceScaling(scale=-1.0),
        ValueError,
        r"scale.*positive",
    ),
    (
        "VarianceScaling mode",
        lambda: keras.initializers.VarianceScaling(mode="fan_sum"),
        ValueError,
        r"mode.*fan_avg.*fan_sum",
    ),
    (
        "VarianceScaling distribution",
        lambda: keras.initializers.VarianceScaling(distribution="cauchy"),
        ValueError,
        r"distribution.*cauchy",
    ),
]


@pytest.mark.parametrize(
    "call, error, message", [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_case_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))


# -- a refused call changes nothing ------------------------------------------------------------------------


def test_rejected_fit_leaves_the_model_untouched():
    model = compiled()
    weights = model.get_weights()
    with pytest.raises(ValueError, match="found label 3"):
        model.fit(X, [0, 1, 2, 3, 0, 1], verbose=0)
    with pytest.raises(ValueError, match="NaN or Inf"):
        model.fit(with_value(X, (5, 2), NAN), Y, verbose=0)
    for got, want in zip(model.get_weights(), weights):
        assert_array_equal(got, want)
    assert model.optimizer.iterations == 0
    model.fit(X, Y, epochs=1, verbose=0)  # and it still trains afterwards
    assert model.optimizer.iterations == 1


def test_rejected_set_weights_leaves_every_weight():
    model = compiled()
    weights = model.get_weights()
    bad = [np.ones_like(w) for w in weights]
    bad[-1] = np.ones(7)  # the last one is wrong: none may be copied
    with pytest.raises(ValueError, match=r"\(3,\).*\(7,\)"):
        model.set_weights(bad)
    for got, want in zip(model.get_weights(), weights):
        assert_array_equal(got, want)


def test_predict_allows_nonfinite_inputs():
    # predict does not refuse NaN (Keras does not either): it propagates to that sample only.
    model = compiled()
    out = model.predict(with_value(X, (2, 0), NAN), verbose=0)
    assert np.isnan(out[2]).all()
    assert np.isfinite(np.delete(out, 2, axis=0)).all()


def test_fit_allow_nonfinite_accepts_nan_in_x_and_stops_at_the_bad_step():
    model = compiled()
    weights = model.get_weights()
    x = np.repeat(X, 2, axis=0).copy()
    x[:, 0] = NAN
    history = model.fit(
        x, np.repeat(Y, 2), epochs=3, batch_size=4, verbose=0, allow_nonfinite=True, shuffle=False
    )
    assert history.stopped_on_nonfinite == {"epoch": 0, "step": 0}
    for got, want in zip(model.get_weights(), weights):
        assert_array_equal(got, want)
