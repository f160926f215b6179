"""Finding and loading MNIST-style datasets on disk (private).

Shared by `mnist` and `fashion_mnist`: both come as the same four IDX files,
and Keras also caches MNIST as one `.npz`. Nothing here downloads.
"""

import os
import zipfile

import numpy as np

from .idx import read_idx

__all__ = ["IDX_FILES", "NPZ_KEYS", "keras_home", "load_mnist_like"]

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def keras_home():
    """Returns Keras's cache root the way Keras finds it.

    `$KERAS_HOME` if set, else `~/.keras`, or `/tmp/.keras` when the home
    folder is not writable. Read at each call (Keras reads it at import), so
    that setting the variable later still counts.
    """
    if "KERAS_HOME" in os.environ:
        return os.path.expanduser(os.environ["KERAS_HOME"])
    base = os.path.expanduser("~")
    if not os.access(base, os.W_OK):
        base = "/tmp"
    return os.path.join(base, ".keras")


def load_mnist_like(name, path, cache_subdir, npz_name=None, hint=""):
    """Loads `(x_train, y_train), (x_test, y_test)` from IDX files or a `.npz`.

    Args:
        name: dataset name for messages, e.g. `"MNIST"`.
        path: a folder holding the four IDX files, a `.npz` file with the
            arrays `NPZ_KEYS`, or None for `<keras_home>/datasets/<cache_subdir>`
            (then `<keras_home>/datasets/<npz_name>` as a fallback). A relative
            path that does not exist is looked up under
            `<keras_home>/datasets`, as Keras does.
        cache_subdir: folder of the IDX files under `<keras_home>/datasets`.
        npz_name: file name of Keras's cached `.npz`, if Keras has one.
        hint: where to get the files, for the error when nothing is found.
    """
    datasets = os.path.join(keras_home(), "datasets")
    npz = None
    if path is None:
        folder = os.path.join(datasets, cache_subdir)
        if npz_name is not None:
            npz = os.path.join(datasets, npz_name)
    else:
        folder = os.fspath(path)
        if not os.path.exists(folder) and not os.path.isabs(folder):
            in_cache = os.path.join(datasets, folder)
            if os.path.exists(in_cache):
                folder = in_cache
        if os.path.isfile(folder):
            return _load_npz(folder)
    found = {f: _find(folder, f) for f in IDX_FILES}
    missing = [f for f, p in found.items() if p is None]
    if not missing:
        arrays = [read_idx(found[f]) for f in IDX_FILES]
        return _checked(arrays, [found[f] for f in IDX_FILES])
    if npz is not None and os.path.isfile(npz):
        return _load_npz(npz)
    if not os.path.isdir(folder):
        status = "the folder does not exist"
    else:
        status = f"missing: {', '.join(missing)}"
    alternative = f"or put Keras's {npz_name} at {npz}, " if npz else ""
    listing = "".join(f"\n    {f}" for f in IDX_FILES)
    raise FileNotFoundError(
        f"{name} files not found in {folder} ({status}).\n"
        "Put these four IDX files, each plain or gzipped (.gz suffix), in "
        f"that folder:{listing}\n{alternative}or pass as `path` another "
        "folder or a .npz file with the arrays "
        f"{', '.join(NPZ_KEYS)}. densekit never downloads; {hint}\n"
        f"Received: path={path!r}"
    )


def _find(folder, fname):
    for candidate in (fname, fname + ".gz"):
        full = os.path.join(folder, candidate)
        if os.path.isfile(full):
            return full
    return None


def _load_npz(path):
    if not zipfile.is_zipfile(path):
        raise ValueError(
            f"{path} is not a .npz file: `path` must be a folder holding the "
            f"IDX files {', '.join(IDX_FILES)} or a .npz file with the arrays "
            f"{', '.join(NPZ_KEYS)}."
        )
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in NPZ_KEYS if k not in f.files]
        if missing:
            raise ValueError(
                f"{path} lacks the arrays {', '.join(missing)}; it must hold "
                f"{', '.join(NPZ_KEYS)} as Keras's mnist.npz does. "
                f"Found: {', '.join(f.files)}"
            )
        arrays = [f[k] for k in NPZ_KEYS]
    return _checked(arrays, [f"{path}[{k}]" for k in NPZ_KEYS])


def _checked(arrays, sources):
    """Validates the four arrays against each other, names the culprit."""
    x_train, y_train, x_test, y_test = arrays
    for array, source, ndim in zip(arrays, sources, (3, 1, 3, 1)):
        if array.ndim != ndim or array.dtype != np.uint8:
            kind = "images (n, height, width)" if ndim == 3 else "labels (n,)"
            raise ValueError(
                f"{source} holds {array.dtype} data of shape {array.shape}; expected uint8 {kind}."
            )
    for i in (0, 2):
        if len(arrays[i]) != len(arrays[i + 1]):
            raise ValueError(
                f"{sources[i]} has {len(arrays[i])} images but "
                f"{sources[i + 1]} has {len(arrays[i + 1])} labels."
            )
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(
            f"{sources[0]} has images of size {x_train.shape[1:]} but "
            f"{sources[2]} has {x_test.shape[1:]}."
        )
    return (x_train, y_train), (x_test, y_test)
