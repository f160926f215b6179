"""Fashion-MNIST, loaded from local files (never downloaded)."""

import os

from ._files import keras_home, load_mnist_like

__all__ = ["load_data"]


def load_data(path=None):
    """Loads the Fashion-MNIST dataset from local files.

    60,000 28x28 grayscale training images of 10 kinds of clothing and 10,000
    test images, a drop-in replacement for MNIST. The labels are 0 T-shirt/top,
    1 Trouser, 2 Pullover, 3 Dress, 4 Coat, 5 Sandal, 6 Shirt, 7 Sneaker,
    8 Bag, 9 Ankle boot.

    Unlike `keras.datasets.fashion_mnist` this never downloads, and it takes a
    `path`: a folder holding the four IDX files `train-images-idx3-ubyte`,
    `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
    `t10k-labels-idx1-ubyte` (each plain or gzipped, `.gz` suffix), or a
    `.npz` file with the arrays `x_train`, `y_train`, `x_test`, `y_test`.
    With `path=None` it reads Keras's cache folder
    `~/.keras/datasets/fashion-mnist/` (`~/.keras` is `$KERAS_HOME` when that
    is set), where Keras keeps the gzipped IDX files. The sizes are read from
    the files, so any consistent IDX files load.

    Args:
        path: folder of IDX files, `.npz` file, or None for Keras's cache.

    Returns:
        Tuple of NumPy arrays: `(x_train, y_train), (x_test, y_test)`.
        `x_train`: `uint8` of shape `(60000, 28, 28)`, pixel values 0-255.
        `y_train`: `uint8` of shape `(60000,)`, labels 0-9.
        `x_test`: `uint8` of shape `(10000, 28, 28)`.
        `y_test`: `uint8` of shape `(10000,)`.

    Raises:
        FileNotFoundError: if the files are absent; the message lists the
            missing files and the folder to put them in.
        ValueError: if a file is truncated or corrupt, or the arrays are
            inconsistent; the message names the file.

    Example:

    >>> (x_train, y_train), _ = fashion_mnist.load_data()  # doctest: +SKIP
    >>> x_train.shape  # doctest: +SKIP
    (60000, 28, 28)
    """
    folder = os.path.join(keras_home(), "datasets", "fashion-mnist")
    hint = f"keras.datasets.fashion_mnist.load_data() downloads the gzipped files into {folder}."
    return load_mnist_like("Fashion-MNIST", path, "fashion-mnist", hint=hint)
