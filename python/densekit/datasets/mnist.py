"""MNIST handwritten digits, loaded from local files (never downloaded)."""

import os

from ._files import keras_home, load_mnist_like

__all__ = ["load_data"]


def load_data(path=None):
    """Loads the MNIST dataset from local files, as `keras.datasets.mnist`.

    60,000 28x28 grayscale training images of the digits 0-9 and 10,000 test
    images. Unlike Keras this never downloads; it reads, in this order:

    - `path` as a folder holding the four IDX files `train-images-idx3-ubyte`,
      `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
      `t10k-labels-idx1-ubyte`, each plain or gzipped (`.gz` suffix);
    - `path` as a `.npz` file with the arrays `x_train`, `y_train`, `x_test`,
      `y_test`, such as the `mnist.npz` that Keras caches. A relative `path`
      that does not exist is looked up under `~/.keras/datasets`, as in Keras;
    - with `path=None`, the IDX files in `~/.keras/datasets/mnist/`, else
      Keras's `~/.keras/datasets/mnist.npz` (`~/.keras` is `$KERAS_HOME` when
      that is set).

    The sizes are read from the files, so any consistent IDX files load.

    Args:
        path: folder of IDX files, `.npz` file, or None for Keras's cache.

    Returns:
        Tuple of NumPy arrays: `(x_train, y_train), (x_test, y_test)`.
        `x_train`: `uint8` of shape `(60000, 28, 28)`, pixel values 0-255.
        `y_train`: `uint8` of shape `(60000,)`, digits 0-9.
        `x_test`: `uint8` of shape `(10000, 28, 28)`.
        `y_test`: `uint8` of shape `(10000,)`.

    Raises:
        FileNotFoundError: if the files are absent; the message lists the
            missing files and the folder to put them in.
        ValueError: if a file is truncated or corrupt, or the arrays are
            inconsistent; the message names the file.

    Example:

    >>> (x_train, y_train), (x_test, y_test) = mnist.load_data()  # doctest: +SKIP
    >>> x_train.shape, y_test.shape  # doctest: +SKIP
    ((60000, 28, 28), (10000,))
    """
    datasets = os.path.join(keras_home(), "datasets")
    hint = f"keras.datasets.mnist.load_data() downloads mnist.npz into {datasets}."
    return load_mnist_like("MNIST", path, "mnist", "mnist.npz", hint)
