"""Loading hostile `.keras` and `.weights.h5` files: HDF5 entries that point at other files
(virtual datasets, external storage, soft and external links), datasets and zip members that
declare far more data than the model can hold, and configs nested or sized to exhaust the
loader. Each is refused with a ValueError naming the file and the entry, before the data is
read, and the model in memory stays as it was."""

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile

import h5py
import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densekit as keras
from densekit.models import sequential

L = keras.layers
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
# A value no initializer or training step of the model below produces: finding it in the
# model would mean a local file's bytes were copied into the weights.
SECRET = 4242.0


def _model():
    model = keras.Sequential([L.Input((3,)), L.Dense(2, name="d")])
    model.compile(optimizer="adam", loss="mse")
    x = np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3)
    model.fit(x, np.ones((4, 2), np.float32), epochs=1, verbose=0)
    return model


def _state(model):
    return [w.copy() for w in model.get_weights()] + [v.numpy() for v in model.optimizer.variables]


def _assert_unchanged(model, before):
    after = _state(model)
    assert len(after) == len(before)
    for a, b in zip(after, before):
        assert_array_equal(a, b)
    assert not any(np.any(a == SECRET) for a in after)


def _secret_file(tmp_path):
    path = tmp_path / "secret.bin"
    np.full(6, SECRET, np.float32).tofile(path)
    with h5py.File(tmp_path / "secret.h5", "w") as h5:
        h5["data"] = np.full((3, 2), SECRET, np.float32)
    return str(path), str(tmp_path / "secret.h5")


def _write(model, tmp_path, container, edit):
    """The model's weights file (or .keras) with `edit(h5)` applied to its HDF5 part."""
    if container == "weights.h5":
        path = tmp_path / "m.weights.h5"
        model.save_weights(path)
        with h5py.File(path, "r+") as h5:
            edit(h5)
        return path
    path = tmp_path / "m.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as h5:
        edit(h5)
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _virtual(secret_h5):
    def edit(h5):
        del h5["layers/dense/vars/0"]
        layout = h5py.VirtualLayout(shape=(3, 2), dtype="f4")
        layout[:] = h5py.VirtualSource(secret_h5, "data", shape=(3, 2))
        h5["layers/dense/vars"].create_virtual_dataset("0", layout)

    return edit


def _external_storage(secret_bin):
    def edit(h5):
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars"].create_dataset(
            "0", shape=(3, 2), dtype="f4", external=[(secret_bin, 0, 24)]
        )

    return edit


def _soft_link(h5):
    h5["elsewhere"] = np.full((3, 2), SECRET, np.float32)
    del h5["layers/dense/vars/0"]
    h5["layers/dense/vars/0"] = h5py.SoftLink("/elsewhere")


def _external_link_to(secret_h5, group=False):
    def edit(h5):
        if group:  # the layer's whole group lives in the other file
            del h5["layers/dense"]
            h5["layers/dense"] = h5py.ExternalLink(secret_h5, "/")
        else:
            del h5["layers/dense/vars/0"]
            h5["layers/dense/vars/0"] = h5py.ExternalLink(secret_h5, "/data")

    return edit


HOSTILE = {
    "virtual-dataset": (lambda b, h: _virtual(h), r"layers/dense/vars/0 is a virtual dataset"),
    "external-storage": (
        lambda b, h: _external_storage(b),
        r"layers/dense/vars/0 has external storage",
    ),
    "soft-link": (lambda b, h: _soft_link, r"layers/dense/vars/0 is an HDF5 SoftLink"),
    "external-link": (
        lambda b, h: _external_link_to(h),
        r"layers/dense/vars/0 is an HDF5 ExternalLink",
    ),
    "external-link-group": (
        lambda b, h: _external_link_to(h, group=True),
        r"layers/dense is an HDF5 ExternalLink",
    ),
}


@pytest.mark.parametrize("container", ["weights.h5", "keras"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_entries_that_point_at_other_files_are_refused_and_change_nothing(
    tmp_path, kind, container
):
    make_edit, pattern = HOSTILE[kind]
    model = _model()
    path = _write(model, tmp_path, container, make_edit(*_secret_file(tmp_path)))
    before = _state(model)
    with pytest.raises(ValueError, match=rf"m\.{container}.*{pattern}"):
        model.load_weights(path)
    _assert_unchanged(model, before)
    if container == "keras":
        with pytest.raises(ValueError, match=pattern):
            keras.models.load_model(path)


def test_a_chunk_larger_than_its_dataset_is_refused(tmp_path):
    def edit(h5):
        del h5["layers/dense/vars/0"]
        h5["layers/dense/vars"].create_dataset(
            "0", shape=(3, 2), maxshape=(None, None), chunks=(32768, 32768), dtype="f4"
        )

    model = _model()
    path = _write(model, tmp_path, "weights.h5", edit)
    before = _state(model)
    with pytest.raises(ValueError, match=r"declares chunks \(32768, 32768\)"):
        model.load_weights(path)
    _assert_unchanged(model, before)


# The child caps its address space at what it maps plus 512 MiB: reading a declared 4 GiB
# dataset or decompressing a 1 GiB member would fail there with MemoryError, not ValueError.
_CAPPED_LOAD = textwrap.dedent(
    """
    import resource, sys
    sys.path.insert(0, sys.argv[1])
    import densekit
    import test_hostile_files as t

    model = t._model()
    before = t._state(model)
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (mapped + (512 << 20), resource.RLIM_INFINITY))
    try:
        if sys.argv[3] == "load_model":
            densekit.models.load_model(sys.argv[2])
        else:
            model.load_weights(sys.argv[2])
    except ValueError as e:
        print("refused:", e)
    t._assert_unchanged(model, before)
    """
)


def _capped_load(path, how="load_weights"):
    proc = subprocess.run(
        [sys.executable, "-c", _CAPPED_LOAD, TESTS_DIR, str(path), how],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _huge(where):
    def edit(h5):
        parent, name = where.rsplit("/", 1)
        if where in h5:
            del h5[where]
        h5.require_group(parent).create_dataset(
            name, shape=(32768, 32768), dtype="f4", chunks=(1024, 1024), compression="gzip"
        )

    return edit


@pytest.mark.parametrize(
    "where, pattern",
    [
        ("layers/dense/vars/0", r"\(3, 2\) in the model but \(32768, 32768\)"),
        ("optimizer/vars/2", r"optimizer/vars/2 .* has shape \(32768, 32768\)"),
        ("layers/dense_7/vars/0", r"layers the model does not have: layers/dense_7"),
    ],
    ids=["layer", "optimizer", "extra-layer"],
)
def test_a_dataset_declaring_4_gib_is_refused_before_it_is_read(tmp_path, where, pattern):
    path = _write(_model(), tmp_path, "weights.h5", _huge(where))
    assert os.path.getsize(path) < 1 << 20
    out = _capped_load(path)
    assert "refused:" in out and "m.weights.h5" in out
    assert re.search(pattern, out), out


def _bomb(path, member, size, filler):
    """Rewrites the .keras at `path` with `member` padded to `size` bytes by `filler`, deflated
    (about 1/1000 of that on disk)."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in members.items():
            if name != member:
                archive.writestr(name, data)
                continue
            with archive.open(name, "w", force_zip64=True) as out:
                out.write(data)
                block = filler * (1 << 20)
                for _ in range((size - len(data)) >> 20):
                    out.write(block)


@pytest.mark.parametrize(
    "member, filler, how, pattern",
    [
        ("model.weights.h5", b"\0", "load_model", r"more than the weights of the model"),
        ("model.weights.h5", b"\0", "load_weights", r"more than the model's weights can need"),
        # trailing spaces keep the JSON valid: read whole, it would load
        ("config.json", b" ", "load_model", r"config\.json declares \d+ bytes"),
    ],
)
def test_a_zip_bomb_is_refused_before_it_is_decompressed(tmp_path, member, filler, how, pattern):
    path = tmp_path / "m.keras"
    _model().save(path)
    _bomb(path, member, 1 << 30, filler)
    assert os.path.getsize(path) < 8 << 20
    out = _capped_load(path, how)
    assert "refused:" in out and "refused unread" in out, out
    assert re.search(pattern, out), out


def test_a_weights_file_larger_than_the_model_can_need_is_refused_unread(tmp_path):
    model = _model()
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    with open(path, "r+b") as f:  # sparse: 4 GiB declared, nothing written
        f.truncate(4 << 30)
    before = _state(model)
    with pytest.raises(ValueError, match=r"has 4294967296 bytes.*refused unread"):
        model.load_weights(path)
    _assert_unchanged(model, before)


def test_the_size_limits_leave_files_of_real_models_alone(tmp_path):
    # A model whose file is mostly optimizer state: Adam with AMSGrad keeps three slots.
    model = keras.Sequential([L.Input((64,)), L.Dense(128), L.BatchNormalization(), L.Dense(3)])
    model.compile(optimizer=keras.optimizers.Adam(amsgrad=True), loss="mse")
    x = np.linspace(-1, 1, 64 * 8, dtype=np.float32).reshape(8, 64)
    model.fit(x, np.zeros((8, 3), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert_array_equal(a, b)


@pytest.mark.parametrize(
    "value, pattern",
    [
        (np.complex64(1 + 1j), r"optimizer/vars/0 .* is not numeric \(dtype complex64\)"),
        (np.array([1e30]), r"optimizer/vars/0 .* must be a whole number"),
    ],
    ids=["complex", "array"],
)
def test_a_bad_iteration_count_is_a_value_error(tmp_path, value, pattern):
    def edit(h5):
        h5["layers/dense/vars/0"][...] = np.full((3, 2), 9, np.float32)  # a valid kernel
        del h5["optimizer/vars/0"]
        h5["optimizer/vars/0"] = value

    model = _model()
    path = _write(model, tmp_path, "weights.h5", edit)
    before = _state(model)
    with pytest.raises(ValueError, match=pattern):
        model.load_weights(path)
    _assert_unchanged(model, before)


def test_a_slot_beyond_float32_is_refused_without_a_warning(tmp_path):
    # The suite turns warnings into errors: an overflowing cast would fail here first.
    def edit(h5):
        del h5["optimizer/vars/2"]
        h5["optimizer/vars/2"] = np.full((3, 2), 1e39)

    model = _model()
    path = _write(model, tmp_path, "weights.h5", edit)
    before = _state(model)
    with pytest.raises(ValueError, match=r"optimizer/vars/2 .* beyond float32's range"):
        model.load_weights(path)
    _assert_unchanged(model, before)


# -- configs ---------------------------------------------------------------------------------
def _deep(depth):
    return '{"class_name": "Sequential", "config": {"layers": [' + "[" * depth + "]" * depth + "]}}"


@pytest.mark.parametrize("depth", [65, 100_000])
def test_deeply_nested_json_is_a_value_error(tmp_path, depth):
    with pytest.raises(ValueError, match="nested more than 64 levels"):
        keras.models.model_from_json(_deep(depth))
    path = tmp_path / "m.keras"
    _model().save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    members["config.json"] = _deep(depth).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ValueError, match=r"m\.keras: config\.json.*nested more than 64"):
        keras.models.load_model(path)


def _config(layers):
    entries = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 4]}}] + [
        {"class_name": "Dense", "config": {"units": 4, "name": f"d{i}"}} for i in range(layers)
    ]
    return json.dumps({"class_name": "Sequential", "config": {"name": "s", "layers": entries}})


def test_loading_a_config_builds_each_layer_once_and_the_network_once(monkeypatch):
    made, built = [], []
    network = sequential._core.Network
    build = L.Dense.build

    def counting_network(*args):
        made.append(len(args[0]))
        return network(*args)

    def counting_build(self, input_shape):
        built.append(self.name)
        return build(self, input_shape)

    monkeypatch.setattr(sequential._core, "Network", counting_network)
    monkeypatch.setattr(L.Dense, "build", counting_build)
    model = keras.models.model_from_json(_config(300))
    assert len(built) == 300 and len(set(built)) == 300
    x = np.ones((2, 4), np.float32)
    model.predict(x, verbose=0)
    model.predict(x, verbose=0)
    # one network for the first layer's build, one for the whole model at its first use
    assert made == [1, 300]


def test_adding_layers_one_by_one_builds_each_once():
    model = keras.Sequential([L.Input((4,))])
    layers = [L.Dense(4) for _ in range(200)]
    for layer in layers:
        model.add(layer)
    assert all(layer.input_shape == (None, 4) for layer in layers)
    with pytest.raises(ValueError, match="unique names"):
        model.add(L.Dense(4, name=layers[57].name))
    old_name, layers[10].name = layers[10].name, "renamed"
    model.add(L.Dense(4, name=old_name))  # free again: the index's entry is stale
    assert len(model.layers) == 201
    x = np.linspace(-1, 1, 8, dtype=np.float32).reshape(2, 4)
    expected = x
    for layer in model.layers:
        expected = layer(expected)
    assert_array_equal(model.predict(x, verbose=0), expected)


_MANY_LAYERS = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import numpy as np
    import densekit
    import test_hostile_files as t

    model = densekit.models.model_from_json(t._config(int(sys.argv[3])))
    model.save(sys.argv[2])
    loaded = densekit.models.load_model(sys.argv[2])
    x = np.ones((1, 4), np.float32)
    assert np.array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    print("layers:", len(loaded.layers))
    """
)


@pytest.mark.slow
def test_a_20000_layer_config_loads_and_round_trips(tmp_path):
    # A generous bound that only a hang or a quadratic rebuild (minutes) would reach.
    proc = subprocess.run(
        [sys.executable, "-c", _MANY_LAYERS, TESTS_DIR, str(tmp_path / "m.keras"), "20000"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "layers: 20000" in proc.stdout
