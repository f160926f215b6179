"""Seeds drawn from Python's `random` when none is given, so `set_random_seed` fixes them."""

import random

import numpy as np


def generator(seed):
    """A NumPy generator from `seed`, or from a seed drawn from Python's `random` when None."""
    return np.random.default_rng(random.getrandbits(63) if seed is None else seed)
