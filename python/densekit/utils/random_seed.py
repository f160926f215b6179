"""One seed for everything densekit draws."""

import random

import numpy as np

__all__ = ["set_random_seed"]


def set_random_seed(seed):
    """Seeds Python's `random`, NumPy's global generator, and through them everything densekit
    draws when no seed is given: initializers, `fit`'s shuffling, dropout masks and noise, RReLU's
    slopes. Building the same model and calling `fit` again after the same seed gives
    bit-identical weights with the same thread count.

    Each of those draws its own seed once from Python's `random` (initializers and layers when
    they are made, `fit` when it starts), so the sequence of what is built and trained after the
    call is what must repeat.

    Args:
        seed: an int in [0, 2**32).
    """
    if isinstance(seed, np.integer):
        seed = int(seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(
            f"set_random_seed: seed must be an int. Received: seed={seed!r} "
            f"(of type {type(seed).__name__})"
        )
    if not 0 <= seed < 2**32:
        raise ValueError(f"set_random_seed: seed must be in [0, 2**32). Received: seed={seed}")
    random.seed(seed)
    np.random.seed(seed)
