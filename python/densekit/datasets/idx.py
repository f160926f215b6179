"""Reader for the IDX files in which MNIST and Fashion-MNIST are distributed.

An IDX file is a header followed by the data, all big-endian:

    magic  4 bytes: 0x00, 0x00, a data type code, the number of dimensions n
    sizes  n unsigned 32-bit integers, the shape
    data   prod(sizes) items of that type, row-major

The file may be gzipped; that is recognised from its first bytes, not its name.
"""

import gzip
import math
import os
import struct
import zlib

import numpy as np

__all__ = ["read_idx"]

# The third magic byte (see http://yann.lecun.com/exdb/mnist/).
_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(path):
    """Reads one IDX file, plain or gzipped, into a NumPy array.

    The header is validated against the data: a truncated, padded or otherwise
    corrupt file raises instead of returning garbage.

    Args:
        path: path of the file (`str` or `os.PathLike`).

    Returns:
        A new, writable array in native byte order whose shape and dtype are
        those of the header, e.g. `(n, 28, 28)` `uint8` for an MNIST image file
        and `(n,)` `uint8` for a label file.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: if the magic number is not an IDX one, the gzip stream is
            corrupt, or the data length does not match the header. The message
            names the file.

    Example:

    >>> images = read_idx("train-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    ((60000, 28, 28), dtype('uint8'))
    """
    path = os.fspath(path)
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as e:
            raise ValueError(
                f"Corrupt IDX file {path}: its gzip stream cannot be decompressed ({e})."
            ) from e
    return _parse(raw, path)


def _parse(raw, path):
    if len(raw) < 4:
        raise ValueError(
            f"Truncated IDX file {path}: {len(raw)} bytes, fewer than the "
            "4 bytes of the magic number."
        )
    code, ndim = raw[2], raw[3]
    if raw[:2] != b"\x00\x00" or code not in _DTYPES or ndim == 0:
        codes = ", ".join(f"0x{c:02x}" for c in _DTYPES)
        raise ValueError(
            f"Bad magic number 0x{raw[:4].hex()} in {path}: an IDX file "
            f"starts with 0x0000, a data type code ({codes}) and a number "
            "of dimensions of at least 1."
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(
            f"Truncated IDX file {path}: the header declares {ndim} "
            f"dimensions ({header} header bytes) but the file has "
            f"{len(raw)} bytes."
        )
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = _DTYPES[code]
    count = math.prod(shape)
    expected, actual = count * dtype.itemsize, len(raw) - header
    if actual != expected:
        what = "Truncated" if actual < expected else "Oversized"
        raise ValueError(
            f"{what} IDX file {path}: the header declares shape {shape} of "
            f"{dtype.name}, {expected} data bytes, but {actual} follow it."
        )
    data = np.frombuffer(raw, dtype=dtype, count=count, offset=header)
    # astype copies: the result is writable and in native byte order.
    return data.reshape(shape).astype(dtype.newbyteorder("="))
