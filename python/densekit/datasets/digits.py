"""The 8x8 handwritten digits that ship with densekit, split like a Keras dataset.

The data is the 1,797-image "Optical Recognition of Handwritten Digits" set of the UCI Machine
Learning Repository (E. Alpaydin and C. Kaynak, 1998, https://doi.org/10.24432/C50P49), licensed
CC BY 4.0, in the order scikit-learn's `load_digits` also gives it.
"""

import os

import numpy as np

__all__ = ["load_data"]

_DATA_FILE = os.path.join(os.path.dirname(__file__), "data", "digits.npz")


def load_data(test_split=0.2, seed=113):
    """Loads the 8x8 digits that ship with densekit, shuffled and split.

    1,797 grayscale images of the digits 0-9 (about 180 of each), real data
    stored inside the package, so it works offline with nothing else installed. The pixels, 0-16 in the
    original, are divided by 16. The shuffle and split follow Keras's
    `reuters.load_data`: `np.random.RandomState(seed)` shuffles the indices,
    then the first `int(n * (1 - test_split))` samples are for training. The
    result depends only on `test_split` and `seed`.

    Args:
        test_split: fraction of the samples held out for testing, in [0, 1).
        seed: seed of the shuffle.

    Returns:
        Tuple of NumPy arrays: `(x_train, y_train), (x_test, y_test)`.
        `x_train`: `float32` of shape `(n_train, 8, 8)`, values in [0, 1].
        `y_train`: `uint8` of shape `(n_train,)`, digits 0-9.
        `x_test`: `float32` of shape `(n_test, 8, 8)`.
        `y_test`: `uint8` of shape `(n_test,)`.
        With the defaults `n_train` is 1437 and `n_test` is 360.

    Raises:
        ValueError: if `test_split` is outside [0, 1).

    Example:

    >>> (x_train, y_train), (x_test, y_test) = digits.load_data()  # doctest: +SKIP
    >>> x_train.shape, x_test.shape  # doctest: +SKIP
    ((1437, 8, 8), (360, 8, 8))
    """
    if not 0 <= test_split < 1:
        raise ValueError(f"test_split must be in [0, 1). Received: test_split={test_split}")
    with np.load(_DATA_FILE, allow_pickle=False) as data:
        x = (data["images"] / 16.0).astype(np.float32)
        y = data["labels"].astype(np.uint8)
    # RandomState rather than default_rng: its stream is frozen across NumPy
    # versions, and it is what Keras's datasets use.
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    split = int(len(x) * (1 - test_split))
    return (x[:split], y[:split]), (x[split:], y[split:])
