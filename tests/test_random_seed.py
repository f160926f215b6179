"""`densekit.utils.set_random_seed`: one seed fixes initializers, shuffling and random layers,
so two runs give bit-identical weights; another seed gives other weights."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densekit

L = densekit.layers


def seeded_run(seed, x, y):
    densekit.utils.set_random_seed(seed)
    model = densekit.Sequential(
        [
            densekit.Input((x.shape[1],)),
            L.Dense(16, activation="relu", kernel_initializer="he_normal"),
            L.RReLU(),
            L.Dense(3, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # shuffles with no seed given
    return model.get_weights()


def test_same_seed_same_bits_other_seed_other_weights():
    data = np.random.default_rng(0)
    x = data.normal(size=(64, 5)).astype(np.float32)
    y = data.integers(0, 3, size=64)
    first, again, other = seeded_run(7, x, y), seeded_run(7, x, y), seeded_run(8, x, y)
    for a, b in zip(first, again):
        assert_array_equal(a, b)
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_the_shuffle_alone_follows_the_seed():
    """Same initial weights, no seed given to fit: the order of the batches follows set_random_seed's seed."""
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20, dtype=np.float32).reshape(20, 1)

    def weights_after_fit(seed):
        model = densekit.Sequential([densekit.Input((2,)), L.Dense(1, kernel_initializer="ones")])
        model.compile(optimizer=densekit.optimizers.SGD(1e-4), loss="mse")
        densekit.utils.set_random_seed(seed)
        model.fit(x, y, batch_size=3, epochs=1, verbose=0)
        return model.get_weights()[0]

    assert_array_equal(weights_after_fit(1), weights_after_fit(1))
    assert not np.array_equal(weights_after_fit(1), weights_after_fit(2))


@pytest.mark.parametrize("seed", [1.5, "3", None, True, -1, 2**32])
def test_bad_seed_is_refused(seed):
    with pytest.raises(ValueError, match="set_random_seed: seed must be"):
        densekit.utils.set_random_seed(seed)
