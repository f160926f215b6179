"""densekit flushes subnormal floats to zero inside its computations only: NumPy's arithmetic
after a fit still produces them."""

import numpy as np

import densekit


def test_numpy_keeps_subnormals_after_densekit_computes():
    model = densekit.Sequential([densekit.Input((3,)), densekit.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((8, 3)), np.zeros((8, 2)), epochs=1, verbose=0)
    smallest_normal = np.finfo(np.float32).tiny
    assert smallest_normal * np.float32(0.5) > 0
