"""End-to-end training on real data (scikit-learn's 8x8 digits) and the input forms fit and
predict accept (dtypes, memory layouts) without changing the result."""

import time

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densekit as keras

L = keras.layers
EPOCHS = 30


@pytest.fixture(scope="module")
def digits():
    return keras.datasets.digits.load_data()


# Batches of 32 x 300 gain nothing from a second thread, and on a shared 2-core machine the
# OpenMP barriers of every product make a threaded epoch many times slower; the threaded
# path has its own test below (test_thread_count_does_not_change_training).
pytestmark = pytest.mark.usefixtures("one_thread_per_module")


def _digits_model(seed=0, lr=0.05, momentum=0.9):
    he = keras.initializers.HeNormal
    model = keras.Sequential(
        [
            L.Flatten(input_shape=[8, 8]),
            L.Dense(300, activation="relu", kernel_initializer=he(seed=seed)),
            L.Dense(100, activation="relu", kernel_initializer=he(seed=seed + 1)),
            L.Dense(
                10,
                activation="softmax",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2),
            ),
        ]
    )
    model.compile(
        loss="sparse_categorical_crossentropy",
        optimizer=keras.optimizers.SGD(learning_rate=lr, momentum=momentum),
        metrics=["accuracy"],
    )
    return model


@pytest.fixture(scope="module")
def trained(digits):
    (x_train, y_train), _ = digits
    model = _digits_model()
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=EPOCHS, batch_size=32, verbose=0, seed=42)
    seconds = time.perf_counter() - start
    return model, history, seconds


def test_digits_shapes_and_ranges(digits):
    (x_train, y_train), (x_test, y_test) = digits
    assert x_train.shape == (1437, 8, 8) and x_test.shape == (360, 8, 8)
    assert x_train.dtype == np.float32 and y_train.dtype == np.uint8
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    assert set(np.unique(y_train)) == set(range(10))


def test_digits_mlp_reaches_95_percent_test_accuracy(digits, trained):
    _, (x_test, y_test) = digits
    model, history, seconds = trained
    assert model.count_params() == (64 * 300 + 300) + (300 * 100 + 100) + (100 * 10 + 10)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    assert accuracy >= 0.95, history.history
    assert np.isfinite(loss) and loss < 0.3
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    assert (predicted == y_test).mean() == pytest.approx(accuracy)
    assert history.history["accuracy"][-1] >= 0.98
    assert seconds < 10, f"{EPOCHS} epochs took {seconds:.1f} s"


def test_digits_loss_history_decreases(trained):
    _, history, _ = trained
    losses = history.history["loss"]
    assert len(losses) == EPOCHS
    assert losses[0] > losses[-1]
    assert losses[-1] < 0.2 * losses[0]
    # Mostly monotone: SGD with momentum may go up now and then, in at most a fifth of the epochs.
    rises = sum(b > a for a, b in zip(losses, losses[1:]))
    assert rises <= EPOCHS // 5, losses


def test_digits_training_is_reproducible_with_fixed_seeds(digits):
    (x_train, y_train), _ = digits
    first, second = _digits_model(seed=3), _digits_model(seed=3)
    h1 = first.fit(x_train, y_train, epochs=2, verbose=0, seed=9)
    h2 = second.fit(x_train, y_train, epochs=2, verbose=0, seed=9)
    assert h1.history == h2.history
    for a, b in zip(first.get_weights(), second.get_weights()):
        assert_array_equal(a, b)
    # A different shuffle seed gives a different run.
    third = _digits_model(seed=3)
    h3 = third.fit(x_train, y_train, epochs=2, verbose=0, seed=10)
    assert h3.history["loss"] != h1.history["loss"]


def test_thread_count_does_not_change_training(digits):
    (x_train, y_train), _ = digits
    x, y = x_train[:512], y_train[:512]
    results = []
    for threads in (1, 2):
        keras.set_num_threads(threads)
        try:
            assert keras.get_num_threads() == threads
            model = _digits_model(seed=5)
            model.fit(x, y, epochs=2, batch_size=128, verbose=0, seed=1)
            results.append(model.get_weights())
        finally:
            keras.set_num_threads(1)
    for a, b in zip(*results):
        assert_allclose(a, b, rtol=1e-4, atol=1e-6)


# -- input forms ------------------------------------------------------------------------------------------


def _layouts(x):
    """The same values as `x` (float32, C order) in other dtypes and memory layouts."""
    fortran = np.asfortranarray(x)
    wide = np.zeros(x.shape[:2] + (2 * x.shape[2],), np.float32)
    wide[:, :, ::2] = x
    doubled = np.repeat(x, 2, axis=0)
    transposed = np.ascontiguousarray(x.transpose(0, 2, 1)).transpose(0, 2, 1)
    return {
        "float64": x.astype(np.float64),
        "fortran": fortran,
        "fortran[:, ::1]": fortran[:, ::1],
        "column stride 2": wide[:, :, ::2],
        "row stride 2": doubled[::2],
        "transposed view": transposed,
        "negative stride": np.ascontiguousarray(x[::-1])[::-1],
        "float64 fortran": np.asfortranarray(x, dtype=np.float64),
    }


@pytest.fixture(scope="module")
def reference(digits, trained):
    _, (x_test, _) = digits
    model = trained[0]
    x = np.ascontiguousarray(x_test[:100], dtype=np.float32)
    return model, x, model.predict(x, verbose=0)


@pytest.mark.parametrize("kind", list(_layouts(np.zeros((2, 8, 8), np.float32))))
def test_predict_accepts_other_dtypes_and_layouts(reference, kind):
    model, x, expected = reference
    variant = _layouts(x)[kind]
    assert_array_equal(variant, x)
    if kind != "float64":
        assert not variant.flags.c_contiguous
    assert_allclose(model.predict(variant, verbose=0), expected, rtol=1e-6, atol=1e-7)
    assert_allclose(model(variant), expected, rtol=1e-6, atol=1e-7)


def test_predict_accepts_integer_inputs(reference):
    model, x, _ = reference
    pixels = np.round(x * 16)  # the digits' original 0..16 integers
    expected = model.predict(pixels.astype(np.float32), verbose=0)
    for dtype in (np.int64, np.int32, np.uint8, np.int16):
        assert_allclose(
            model.predict(pixels.astype(dtype), verbose=0), expected, rtol=1e-6, atol=1e-7
        )
    assert_allclose(
        model.predict(pixels.astype(np.int64).tolist(), verbose=0), expected, rtol=1e-6, atol=1e-7
    )


def test_predict_of_float64_rounds_like_float32(reference):
    model, x, _ = reference
    noisy = x.astype(np.float64) + 1e-9  # below float32 resolution near 1, not near 0
    expected = model.predict(noisy.astype(np.float32), verbose=0)
    assert_allclose(model.predict(noisy, verbose=0), expected, rtol=1e-6, atol=1e-7)


def test_predict_does_not_modify_or_keep_the_input(reference):
    model, x, expected = reference
    variant = np.asfortranarray(x, dtype=np.float64)
    copy = variant.copy()
    out = model.predict(variant, verbose=0)
    assert_array_equal(variant, copy)
    out[...] = 0  # the result is the caller's own array
    assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-6, atol=1e-7)


def _fit_weights(x, y, epochs=2):
    model = _digits_model(seed=11)
    history = model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, seed=4)
    return history.history["loss"], model.get_weights()


def test_fit_gives_the_same_training_for_every_input_form(digits):
    (x_train, y_train), _ = digits
    x = np.ascontiguousarray(x_train[:400])
    y = y_train[:400]
    losses, weights = _fit_weights(x, y)
    variants = dict(_layouts(x))
    for name, variant in variants.items():
        got_losses, got_weights = _fit_weights(variant, y)
        assert_allclose(got_losses, losses, rtol=1e-6, err_msg=name)
        for a, b in zip(got_weights, weights):
            assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("kind", ["int64", "int32", "float32", "float64", "column", "list"])
def test_fit_accepts_labels_of_any_integer_form(digits, kind):
    (x_train, y_train), _ = digits
    x, y = np.ascontiguousarray(x_train[:256]), y_train[:256]
    losses, weights = _fit_weights(x, y, epochs=1)
    labels = {
        "int64": y.astype(np.int64),
        "int32": y.astype(np.int32),
        "float32": y.astype(np.float32),
        "float64": y.astype(np.float64),
        "column": y.reshape(-1, 1),
        "list": [int(v) for v in y],
    }[kind]
    got_losses, got_weights = _fit_weights(x, labels, epochs=1)
    assert_allclose(got_losses, losses, rtol=1e-6)
    for a, b in zip(got_weights, weights):
        assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_one_hot_targets_with_categorical_crossentropy_train_like_sparse_labels(digits):
    (x_train, y_train), _ = digits
    x, y = np.ascontiguousarray(x_train[:256]), y_train[:256]
    sparse = _digits_model(seed=21)
    dense = _digits_model(seed=21)
    dense.compile(
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9),
    )
    h_sparse = sparse.fit(x, y, epochs=2, verbose=0, seed=0)
    h_dense = dense.fit(x, np.eye(10, dtype=np.float32)[y], epochs=2, verbose=0, seed=0)
    assert_allclose(h_dense.history["loss"], h_sparse.history["loss"], rtol=1e-5)
    assert_allclose(h_dense.history["accuracy"], h_sparse.history["accuracy"])
