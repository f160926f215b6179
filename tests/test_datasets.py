"""Tests of densekit.datasets: scikit-learn's digits and the IDX/npz loaders.

The IDX files are tiny ones written here by an independent writer, so nothing
is downloaded and the whole file runs in about a second.
"""

import gzip
import struct
import sys

import numpy as np
import pytest

from densekit.datasets import digits, fashion_mnist, mnist
from densekit.datasets.idx import read_idx

IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
TYPE_CODES = {
    "uint8": 0x08,
    "int8": 0x09,
    "int16": 0x0B,
    "int32": 0x0C,
    "float32": 0x0D,
    "float64": 0x0E,
}


def idx_bytes(array):
    """IDX encoding written from the format spec, independent of read_idx."""
    header = bytes([0, 0, TYPE_CODES[array.dtype.name], array.ndim])
    sizes = struct.pack(f">{array.ndim}I", *array.shape)
    return header + sizes + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, gz=False):
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def tiny_mnist(seed=0):
    """5 training and 3 test images of 28x28 with their labels."""
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 5, dtype=np.uint8),
        rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 3, dtype=np.uint8),
    )


def write_folder(folder, arrays, gz=(False,) * 4):
    folder.mkdir(parents=True, exist_ok=True)
    for name, array, zipped in zip(IDX_FILES, arrays, gz):
        write_idx(folder / (name + (".gz" if zipped else "")), array, zipped)
    return folder


def assert_loaded(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    for got, want in zip((x_train, y_train, x_test, y_test), arrays):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
    assert x_train.shape == (5, 28, 28) and y_train.shape == (5,)
    assert x_test.shape == (3, 28, 28) and y_test.shape == (3,)


# --- digits -----------------------------------------------------------------


@pytest.fixture(scope="module")
def digits_default():
    return digits.load_data()


def test_digits_shapes_and_dtypes(digits_default):
    (x_train, y_train), (x_test, y_test) = digits_default
    # 1797 samples: int(1797 * 0.8) = 1437 for training, 360 for testing.
    assert x_train.shape == (1437, 8, 8) and x_test.shape == (360, 8, 8)
    assert y_train.shape == (1437,) and y_test.shape == (360,)
    assert x_train.dtype == x_test.dtype == np.float32
    assert y_train.dtype == y_test.dtype == np.uint8


def test_digits_pixels_are_sixteenths_in_unit_interval(digits_default):
    (x_train, _), (x_test, _) = digits_default
    x = np.concatenate([x_train, x_test])
    assert x.min() == 0.0 and x.max() == 1.0  # raw 0 and 16
    np.testing.assert_array_equal(x * 16, np.round(x * 16))


def test_digits_is_a_shuffle_of_sklearn_data(digits_default):
    from sklearn.datasets import load_digits

    bunch = load_digits()
    (x_train, y_train), (x_test, y_test) = digits_default
    x = np.concatenate([x_train, x_test]).reshape(-1, 64) * 16
    y = np.concatenate([y_train, y_test])
    order = np.lexsort(np.column_stack([x, y]).T)
    want = np.column_stack([bunch.data, bunch.target])
    want_order = np.lexsort(want.T)
    np.testing.assert_array_equal(np.column_stack([x, y])[order], want[want_order])
    assert not np.array_equal(y, bunch.target)  # actually shuffled


def test_digits_covers_all_classes_in_both_splits(digits_default):
    (_, y_train), (_, y_test) = digits_default
    assert set(y_train) == set(y_test) == set(range(10))


def test_digits_is_deterministic_per_seed(digits_default):
    (x_train, y_train), (x_test, _) = digits.load_data()
    np.testing.assert_array_equal(x_train, digits_default[0][0])
    np.testing.assert_array_equal(x_test, digits_default[1][0])
    (_, y_other), _ = digits.load_data(seed=7)
    assert not np.array_equal(y_train, y_other)


def test_digits_test_split_sets_sizes():
    (x_train, _), (x_test, _) = digits.load_data(test_split=0.5)
    assert len(x_train) == 898 and len(x_test) == 899  # int(1797 * 0.5) = 898
    (x_train, _), (x_test, _) = digits.load_data(test_split=0.0)
    assert len(x_train) == 1797 and len(x_test) == 0


@pytest.mark.parametrize("test_split", [-0.1, 1.0])
def test_digits_rejects_test_split_outside_unit_interval(test_split):
    with pytest.raises(ValueError, match="Received: test_split="):
        digits.load_data(test_split=test_split)


def test_digits_loads_without_sklearn(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    (x_train, y_train), (x_test, _) = digits.load_data()
    assert x_train.shape == (1437, 8, 8) and x_test.shape == (360, 8, 8)
    assert x_train.dtype == np.float32 and y_train.dtype == np.uint8


def test_digits_equals_sklearn_data_shuffled_by_random_state():
    # The shipped copy keeps scikit-learn's order, so a seeded split is the same arrays as
    # scikit-learn's images shuffled by RandomState(seed).
    from sklearn.datasets import load_digits

    bunch = load_digits()
    order = np.arange(1797)
    np.random.RandomState(5).shuffle(order)
    (x_train, y_train), (x_test, y_test) = digits.load_data(test_split=0.3, seed=5)
    split = int(1797 * 0.7)
    np.testing.assert_array_equal(x_train, (bunch.images[order[:split]] / 16).astype(np.float32))
    np.testing.assert_array_equal(x_test, (bunch.images[order[split:]] / 16).astype(np.float32))
    np.testing.assert_array_equal(y_train, bunch.target[order[:split]])
    np.testing.assert_array_equal(y_test, bunch.target[order[split:]])


# --- read_idx ---------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_reads_plain_and_gzipped(tmp_path, gz):
    images = tiny_mnist()[0]
    got = read_idx(write_idx(tmp_path / "images", images, gz))
    assert got.dtype == np.uint8 and got.shape == (5, 28, 28)
    np.testing.assert_array_equal(got, images)
    got[0, 0, 0] = 1  # a writable copy, not a view of the file's bytes


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "float32", "float64"])
def test_read_idx_decodes_big_endian_types(tmp_path, dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 12).astype(dtype) * 3
    got = read_idx(write_idx(tmp_path / "a", array))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated_file_raises_naming_it(tmp_path, gz):
    path = tmp_path / "labels"
    data = idx_bytes(np.arange(10, dtype=np.uint8))[:-3]
    path.write_bytes(gzip.compress(data) if gz else data)
    # Header: 4 magic + 4 size bytes; 10 data bytes declared, 7 present.
    pattern = r"Truncated.*declares shape \(10,\).*10 data bytes, but 7"
    with pytest.raises(ValueError, match=pattern) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_truncated_gzip_stream_raises(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(50, dtype=np.uint8)))[:-12])
    with pytest.raises(ValueError, match="gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_truncated_header_raises(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(idx_bytes(tiny_mnist()[0])[:10])  # 3 dims need 16 bytes
    with pytest.raises(ValueError, match="Truncated IDX file .*3 dimensions"):
        read_idx(path)


def test_read_idx_trailing_bytes_raise(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(np.arange(4, dtype=np.uint8)) + b"\x00")
    with pytest.raises(ValueError, match="Oversized.*4 data bytes, but 5"):
        read_idx(path)


@pytest.mark.parametrize(
    "magic",
    [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00"],
    ids=["nonzero-prefix", "unknown-type", "zero-dims"],
)
def test_read_idx_bad_magic_raises(tmp_path, magic):
    path = tmp_path / "labels"
    path.write_bytes(magic + struct.pack(">I", 2) + b"\x01\x02")
    with pytest.raises(ValueError, match="Bad magic number 0x" + magic.hex()) as info:
        read_idx(path)
    assert str(path) in str(info.value)


# --- mnist and fashion_mnist ------------------------------------------------


@pytest.mark.parametrize(
    "gz",
    [(False,) * 4, (True,) * 4, (True, False, False, True)],
    ids=["plain", "gzipped", "mixed"],
)
@pytest.mark.parametrize("module", [mnist, fashion_mnist])
def test_load_data_reads_idx_folder(tmp_path, module, gz):
    arrays = tiny_mnist()
    assert_loaded(module.load_data(path=write_folder(tmp_path, arrays, gz)), arrays)


@pytest.mark.parametrize("module, subdir", [(mnist, "mnist"), (fashion_mnist, "fashion-mnist")])
def test_load_data_default_reads_keras_home_cache(tmp_path, monkeypatch, module, subdir):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    arrays = tiny_mnist()
    write_folder(tmp_path / "datasets" / subdir, arrays, gz=(True,) * 4)
    assert_loaded(module.load_data(), arrays)


def test_mnist_reads_keras_npz(tmp_path):
    arrays = tiny_mnist()
    path = tmp_path / "mnist.npz"
    np.savez(path, **dict(zip(NPZ_KEYS, arrays)))
    assert_loaded(mnist.load_data(path=path), arrays)
    assert_loaded(mnist.load_data(path=str(path)), arrays)


def test_mnist_default_falls_back_to_keras_npz(tmp_path, monkeypatch):
    # keras.datasets.mnist caches <KERAS_HOME>/datasets/mnist.npz.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    arrays = tiny_mnist()
    (tmp_path / "datasets").mkdir()
    np.savez(tmp_path / "datasets" / "mnist.npz", **dict(zip(NPZ_KEYS, arrays)))
    assert_loaded(mnist.load_data(), arrays)
    assert_loaded(mnist.load_data("mnist.npz"), arrays)  # Keras's relative form


def test_npz_missing_array_raises(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=tiny_mnist()[0])
    with pytest.raises(ValueError, match="lacks the arrays y_train, x_test, y_test"):
        mnist.load_data(path=path)


def test_path_to_a_non_npz_file_raises(tmp_path):
    path = write_idx(tmp_path / "train-images-idx3-ubyte", tiny_mnist()[0])
    with pytest.raises(ValueError, match="is not a .npz file"):
        mnist.load_data(path=path)


@pytest.mark.parametrize("module, subdir", [(mnist, "mnist"), (fashion_mnist, "fashion-mnist")])
def test_missing_files_error_names_files_and_folder(tmp_path, monkeypatch, module, subdir):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        module.load_data()
    message = str(info.value)
    assert str(tmp_path / "datasets" / subdir) in message
    assert all(name in message for name in IDX_FILES)
    assert "never downloads" in message


def test_missing_one_file_is_named(tmp_path):
    write_folder(tmp_path, tiny_mnist())
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match=r"missing: t10k-labels-idx1-ubyte\)"):
        mnist.load_data(path=tmp_path)


def test_load_data_truncated_file_raises_value_error(tmp_path):
    write_folder(tmp_path, tiny_mnist())
    path = tmp_path / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ValueError, match="Truncated IDX file .*train-images"):
        fashion_mnist.load_data(path=tmp_path)


def test_load_data_label_count_mismatch_raises(tmp_path):
    x_train, y_train, x_test, y_test = tiny_mnist()
    write_folder(tmp_path, (x_train, y_train[:4], x_test, y_test))
    with pytest.raises(ValueError, match="has 5 images but .* has 4 labels"):
        mnist.load_data(path=tmp_path)


def test_load_data_any_consistent_size(tmp_path):
    # Sizes come from the headers: 2 + 1 images of 4x6 load as such.
    rng = np.random.default_rng(1)
    arrays = (
        rng.integers(0, 256, (2, 4, 6), dtype=np.uint8),
        np.array([3, 9], np.uint8),
        rng.integers(0, 256, (1, 4, 6), dtype=np.uint8),
        np.array([0], np.uint8),
    )
    write_folder(tmp_path, arrays)
    (x_train, y_train), (x_test, _) = mnist.load_data(path=tmp_path)
    assert x_train.shape == (2, 4, 6) and x_test.shape == (1, 4, 6)
    np.testing.assert_array_equal(y_train, [3, 9])
