"""Shared pytest fixtures."""

import os

# Keras 3 is an oracle in some tests; its numpy backend needs jax, so use the torch backend.
os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed, fresh for each test, so every test is reproducible."""
    return np.random.default_rng(20240521)
