"""Checks that keep a hostile `.keras` or `.weights.h5` file from doing harm (private).

Loading reads a file only after deciding how much it may read: a zip member's declared size is
checked before it is decompressed, an HDF5 dataset's shape is checked against the model before
it is read, and nothing in a file may send the reader to another file (HDF5 soft and external
links, external storage, virtual datasets): every refusal is a ValueError naming the file and
the entry.
"""

import json

import numpy as np

__all__ = []

# Keras configs are a few levels deep (model, layer, initializer, its config); 64 leaves room
# for any real one and stops a nesting meant to exhaust the interpreter's stack.
MAX_JSON_DEPTH = 64
# config.json of a 20,000-layer model is about 15 MB.
MAX_CONFIG_BYTES = 64 << 20
# The weights file of a model holds each parameter at most this many times: the weight and
# up to five optimizer slots (moments, a maximum, an average, an accumulated gradient), each
# as float64 at most.
_ARRAYS_PER_PARAMETER = 6
_BYTES_PER_VALUE = 8
# HDF5's own structures: an object header and index entries per dataset or group, the file's
# superblock and root group.
_BYTES_PER_ENTRY = 16 << 10
_FIXED_BYTES = 1 << 20


def parse_json(text, where):
    """The JSON value of `text` (str or bytes), refused past MAX_JSON_DEPTH levels of nesting."""
    try:
        value = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as e:
        raise ValueError(f"{where} is not valid JSON ({e})") from e
    except RecursionError:  # nesting deeper than the interpreter's recursion limit
        raise ValueError(
            f"{where}: the JSON is nested more than {MAX_JSON_DEPTH} levels deep"
        ) from None
    _check_depth(value, where)
    return value


def _check_depth(value, where):
    # iterative, so that checking cannot itself exhaust the stack
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ValueError(f"{where}: the JSON is nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def weights_size_limit(model):
    """The most bytes a weights file of `model` (with its optimizer state) can need."""
    variables = model.variables
    parameters = sum(int(np.prod(v.shape)) for v in variables)
    entries = _ARRAYS_PER_PARAMETER * len(variables) + 4 * len(model.layers) + 16
    return (
        _ARRAYS_PER_PARAMETER * _BYTES_PER_VALUE * parameters
        + _BYTES_PER_ENTRY * entries
        + _FIXED_BYTES
    )


def read_zip_member(archive, path, name, limit, what):
    """The bytes of the member `name`, refused before decompression when it declares more than
    `limit` bytes; no more than the declared size is ever decompressed, and its CRC is checked."""
    info = archive.getinfo(name)
    if info.file_size > limit:
        raise ValueError(
            f"{path}: {name} declares {info.file_size} bytes uncompressed, more than "
            f"{what} can need ({limit} bytes); the file is refused unread"
        )
    with archive.open(info) as member:
        # read(n) decompresses at most n bytes, and reaching the declared size checks the CRC
        data = member.read(info.file_size)
    if len(data) != info.file_size:
        raise ValueError(f"{path}: {name} is shorter than its declared size")
    return data


def check_file_size(path, size, limit):
    if size > limit:
        raise ValueError(
            f"{path}: the file has {size} bytes, more than the model's weights and optimizer "
            f"state can need ({limit} bytes); it is refused unread"
        )


def hard_child(h5py, group, key, where, path):
    """`group[key]`, or None when absent; refused when it is a soft or external link."""
    link = group.get(key, getlink=True)
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise ValueError(
            f"{where}: {path} is an HDF5 {type(link).__name__}; links are refused (a weights "
            f"file holds its arrays itself)"
        )
    return group[key]


def checked_dataset(h5py, dataset, what, shapes):
    """`dataset` read into memory once it is shown to be a plain, real-valued dataset stored in
    this file with one of `shapes` (tuples); refused before anything is read otherwise."""
    if not isinstance(dataset, h5py.Dataset):
        raise ValueError(f"{what} is not a dataset")
    if dataset.is_virtual:
        raise ValueError(f"{what} is a virtual dataset (data from other files); it is refused")
    if dataset.external:
        raise ValueError(f"{what} has external storage (data in other files); it is refused")
    if dataset.dtype.kind not in "fiu":
        raise ValueError(f"{what} is not numeric (dtype {dataset.dtype}); weights are real numbers")
    if dataset.shape not in shapes:
        expected = " or ".join(str(s) for s in sorted(shapes, key=len))
        raise ValueError(f"{what} has shape {dataset.shape}; the model's is {expected}")
    if dataset.chunks is not None:
        # a chunk larger than the dataset would make HDF5 allocate it whole to read
        chunk = int(np.prod(dataset.chunks)) * dataset.dtype.itemsize
        if chunk > max(dataset.size * dataset.dtype.itemsize, 1 << 20):
            raise ValueError(f"{what} declares chunks {dataset.chunks}, larger than the data")
    return np.asarray(dataset[()])
