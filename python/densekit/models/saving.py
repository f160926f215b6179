"""Saving and loading in Keras 3's formats: whole models as `.keras`, weights as `.weights.h5`.

A `.keras` file is a zip of `metadata.json`, `config.json` (the model config, as `to_json`) and
`model.weights.h5`. The HDF5 layout is Keras 3's: each layer's variables in
`layers/<snake_case class name, _1, _2 ... per class>/vars/<0, 1, ...>` (Keras addresses layers
by class and position, not by name), the optimizer's in `optimizer/vars` as iterations,
learning_rate, then one momentum per trainable variable (when momentum is not 0). So a file
written here loads in Keras 3 (`keras.saving.load_model`) and a Keras 3 file of a Sequential of
densekit's layers loads here, optimizer state included.

Not every densekit model loads in Keras: RReLU and ThresholdedReLU are not Keras 3 layers, so
Keras refuses files that hold them; they round-trip through densekit itself. Keras models that
densekit lacks (functional models, other layers or optimizers) raise ValueError here.

Guarantees:
    * Errors: a missing file raises FileNotFoundError; everything else wrong with a file (not
      a zip, truncated, bad CRC, a missing member, bad JSON, an unknown layer, a weights shape
      that does not fit) raises ValueError naming the file, the member and the layer. A failed
      load leaves the model in memory unchanged: every array is read and checked first.
    * Saving is atomic: the file is written under a temporary name in the same directory,
      synced, then renamed over the target, so a crash or a kill mid-save leaves the previous
      file whole (densekit._atomic: read-only files refused, symbolic links written through,
      temporaries of killed saves removed by the next save).
    * Loading runs no code from the file: JSON and numeric HDF5 datasets only, every class
      name looked up in densekit's registries.
    * Loading reads only the named file, and no more of it than the model can need: links,
      external storage and virtual datasets are refused, and sizes (zip members, datasets,
      JSON nesting) are checked before the data is read (see _file_guards).
"""

import contextlib
import datetime
import io
import json
import os
import zipfile

import numpy as np

from densekit._atomic import atomic_write
from densekit.models import _file_guards, keras_format

__all__ = [
    "load_model",
    "load_weights",
    "model_from_json",
    "model_to_json",
    "save_model",
    "save_weights",
]

# The Keras release whose format we write; Keras does not read it back, it is informational.
_KERAS_FORMAT_VERSION = "3.15.1"


def save_model(model, filepath, overwrite=True, include_optimizer=True):
    """Saves architecture, weights and (when compiled) optimizer state as a `.keras` file."""
    path = os.fspath(filepath)
    if not path.endswith(".keras"):
        raise ValueError(
            "Invalid filepath extension for saving. Please add a `.keras` extension "
            f"(densekit writes the Keras 3 format only). Received: filepath={path}"
        )
    config = json.dumps(keras_format.model_config(model, include_optimizer), default=_json_default)
    metadata = json.dumps(
        {
            "keras_version": _KERAS_FORMAT_VERSION,
            "densekit_version": _version(),
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        }
    )
    weights = keras_format.weights_bytes(model, include_optimizer)

    def write(file):
        with zipfile.ZipFile(file, "w") as archive:
            archive.writestr("metadata.json", metadata)
            archive.writestr("config.json", config)
            archive.writestr("model.weights.h5", weights)

    atomic_write(path, write, overwrite)


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Loads a `.keras` file written by densekit or Keras 3; compiled if it was compiled.

    `custom_objects` ({name: class}) gives the optimizer and `LearningRateSchedule` classes of
    your own that the file's compile config names; layers, activations and initializers are
    densekit's own (each runs in C++).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a corrupt or truncated file, an unknown layer or optimizer, or weights that
            do not fit the config; the message names the file part and the layer.
    """
    path = os.fspath(filepath)
    with _open_archive(path) as archive:
        text = _read_member(
            archive, path, "config.json", _file_guards.MAX_CONFIG_BYTES, "a model config"
        )
        data = _file_guards.parse_json(text, f"{path}: config.json")
        model = keras_format.model_from_config(
            data,
            compile=compile,
            where=f"{path}: config.json",
            compile_hint=". Load with compile=False to get the model uncompiled",
            custom_objects=custom_objects,
        )
        # the model read from the config bounds the size of its weights
        weights = _read_member(
            archive,
            path,
            "model.weights.h5",
            _file_guards.weights_size_limit(model),
            "the weights of the model in config.json",
        )
    keras_format.load_h5(model, io.BytesIO(weights), f"{path}: model.weights.h5", compile)
    return model


def save_weights(model, filepath, overwrite=True):
    """Saves the weights (and optimizer state) as a Keras 3 `.weights.h5` file."""
    path = os.fspath(filepath)
    if not path.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={path}")
    if not model.built:
        raise ValueError(
            f"Sequential '{model.name}': save_weights needs a built model (it has no weights "
            "yet); build it, give the first layer an input shape, or call it on data"
        )
    data = keras_format.weights_bytes(model, True)
    atomic_write(path, lambda file: file.write(data), overwrite)


def load_weights(model, filepath, skip_mismatch=False):
    """Loads weights from a `.weights.h5` or `.keras` file into a built model; all or nothing,
    or with skip_mismatch every layer whose weights fit (the others warned about)."""
    path = os.fspath(filepath)
    if not model.built:
        raise ValueError(
            f"Sequential '{model.name}': load_weights needs a built model; build it "
            f"or give the first layer an input shape"
        )
    limit = _file_guards.weights_size_limit(model)
    if zipfile.is_zipfile(path):
        with _open_archive(path) as archive:
            data = _read_member(archive, path, "model.weights.h5", limit, "the model's weights")
        where = f"{path}: model.weights.h5"
    else:
        with open(path, "rb") as f:
            _file_guards.check_file_size(path, os.fstat(f.fileno()).st_size, limit)
            data, where = f.read(limit + 1), path
    keras_format.load_h5(model, io.BytesIO(data), where, True, skip_mismatch)


def model_to_json(model, **kwargs):
    """The model config as a JSON string (Keras 3's `to_json`)."""
    return json.dumps(keras_format.model_config(model), default=_json_default, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A new model from `to_json`'s string (densekit's or Keras 3's), with fresh weights."""
    data = _file_guards.parse_json(json_string, "model_from_json: the string")
    return keras_format.model_from_config(
        data, where="model_from_json", custom_objects=custom_objects
    )


# -- files -------------------------------------------------------------------------------------
_ZIP_ERRORS = (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError)
_NOT_CORRUPT = (FileNotFoundError, PermissionError, IsADirectoryError)


@contextlib.contextmanager
def _open_archive(path):
    """The zip archive at `path`; a truncated or corrupt one is a ValueError."""
    try:
        archive = zipfile.ZipFile(path)
    except _NOT_CORRUPT:
        raise
    except _ZIP_ERRORS as e:
        raise _corrupt(path, e) from e
    with archive:
        yield archive


def _read_member(archive, path, name, limit, what):
    if name not in archive.namelist():
        raise ValueError(f"{path}: not a Keras model archive: it has no {name}")
    try:
        return _file_guards.read_zip_member(archive, path, name, limit, what)
    except _NOT_CORRUPT:
        raise
    except _ZIP_ERRORS as e:  # reading to the end checks the member's CRC
        raise _corrupt(path, e) from e


_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def _corrupt(path, e):
    try:
        with open(path, "rb") as f:
            legacy = f.read(len(_HDF5_SIGNATURE)) == _HDF5_SIGNATURE
    except OSError:
        legacy = False
    if legacy:
        return ValueError(
            f"{path}: an HDF5 file, not a .keras archive: densekit does not read Keras's legacy "
            "whole-model .h5 format. Load it in Keras and save it as .keras, or load the "
            "weights alone from a .weights.h5 file with load_weights"
        )
    return ValueError(
        f"{path}: not a valid .keras file; the zip archive is truncated or "
        f"corrupt ({type(e).__name__}: {e})"
    )


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"Cannot serialize {value!r} ({type(value).__name__}) to JSON")


def _version():
    import densekit

    return getattr(densekit, "__version__", "unknown")
