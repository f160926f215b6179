"""Shared pytest fixtures."""

import os

# Keras 3 is an oracle in some tests; its numpy backend needs jax, so use the torch backend.
os.environ.setdefault("KERAS_BACKEND", "torch")

import contextlib  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import densekit  # noqa: E402


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed, fresh for each test, so every test is reproducible."""
    return np.random.default_rng(20240521)


@contextlib.contextmanager
def _threads(n):
    previous = densekit.get_num_threads()
    densekit.set_num_threads(n)
    try:
        yield
    finally:
        densekit.set_num_threads(previous)


# Small layers run faster on one thread on a busy machine: with more threads than free cores,
# every OpenMP region of a step can take many times longer. A module opts in with
# `pytestmark = pytest.mark.usefixtures("one_thread")` (or "one_thread_per_module"); tests of
# the threaded paths set their own count.
@pytest.fixture
def one_thread():
    """densekit on one thread for the test; the count before is restored."""
    with _threads(1):
        yield


@pytest.fixture(scope="module")
def one_thread_per_module():
    """densekit on one thread for the whole module; the count before is restored."""
    with _threads(1):
        yield


@pytest.fixture(scope="session")
def digits():
    """densekit's digits, ((x_train, y_train), (x_test, y_test)), loaded once."""
    return densekit.datasets.digits.load_data()


def _small_digits_model(optimizer="adam", seed=7):
    densekit.utils.set_random_seed(seed)
    model = densekit.Sequential(
        [
            densekit.layers.Flatten(input_shape=(8, 8)),
            densekit.layers.Dense(32, activation="relu"),
            densekit.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer=optimizer, metrics=["accuracy"])
    return model


@pytest.fixture
def digits_model():
    """Makes a small compiled classifier of the 8x8 digits (Flatten, Dense(32, relu),
    Dense(10, softmax); accuracy as metric): `digits_model(optimizer="adam", seed=7)`."""
    return _small_digits_model
