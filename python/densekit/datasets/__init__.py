"""Small datasets, loaded as `keras.datasets` loads them, without downloading.

`digits` ships with densekit; `mnist` and `fashion_mnist` read files
already on disk (Keras's cache, or a folder you name). `idx.read_idx` reads
the IDX format those two come in.
"""

from . import digits, fashion_mnist, idx, mnist

__all__ = ["digits", "fashion_mnist", "idx", "mnist"]
