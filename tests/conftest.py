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
