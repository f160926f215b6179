"""Saving onto awkward targets: a read-only file is refused and left as it is, a symbolic link
is written through (the link stays a link), and a temporary file left by a process killed
mid-save is removed by the next save to the same file, while one being written is not. The
checkpointing callbacks write through the same code (densekit._atomic)."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densekit as keras

L = keras.layers


def _model(seed):
    model = keras.Sequential(
        [L.Input((3,)), L.Dense(2, kernel_initializer=keras.initializers.RandomNormal(seed=seed))]
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("name", ["m.keras", "m.weights.h5"])
def test_saving_onto_a_read_only_file_raises_and_leaves_it(tmp_path, name):
    path = tmp_path / name
    _model(0).save(path) if name.endswith(".keras") else _model(0).save_weights(path)
    os.chmod(path, 0o444)
    before = path.read_bytes()
    other = _model(1)
    with pytest.raises(PermissionError, match=rf"{name} is read-only \(mode 0o444\)"):
        other.save(path) if name.endswith(".keras") else other.save_weights(path)
    assert path.read_bytes() == before
    assert os.stat(path).st_mode & 0o777 == 0o444
    assert sorted(os.listdir(tmp_path)) == [name]  # no temporary left


def test_saving_onto_a_symbolic_link_writes_the_file_it_points_to(tmp_path):
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "m.weights.h5"
    link = tmp_path / "m.weights.h5"
    _model(0).save_weights(target)
    os.chmod(target, 0o640)
    os.symlink(os.path.relpath(target, tmp_path), link)
    model = _model(1)
    model.save_weights(link)
    assert os.path.islink(link) and os.path.realpath(link) == str(target)
    assert os.stat(target).st_mode & 0o777 == 0o640  # the target's mode is kept
    loaded = _model(2)
    loaded.load_weights(target)
    for a, b in zip(loaded.get_weights(), model.get_weights()):
        assert_array_equal(a, b)
    assert sorted(os.listdir(tmp_path / "real")) == ["m.weights.h5"]


# The child writes the model's file, then stops for good inside the write, where a kill finds it.
_KILLED_MID_SAVE = """
import sys, time
import densekit
from densekit.models import saving

original = saving.atomic_write

def stalling(path, write, overwrite=True):
    def stalled(file):
        write(file)
        file.flush()
        print("writing", flush=True)
        time.sleep(600)
    return original(path, stalled, overwrite)

saving.atomic_write = stalling
model = densekit.Sequential([densekit.layers.Input((3,)), densekit.layers.Dense(2)])
model.save(sys.argv[1])
"""


def _stalled_saver(path):
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_MID_SAVE, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout.readline().strip() == "writing"
    return process


def _temporaries(directory):
    return sorted(e for e in os.listdir(directory) if e.endswith(".tmp"))


def test_the_next_save_removes_the_temporary_of_a_process_killed_mid_save(tmp_path):
    path = tmp_path / "m.keras"
    _model(0).save(path)
    process = _stalled_saver(path)
    try:
        (left,) = _temporaries(tmp_path)
        assert left.startswith(f".m.keras.{process.pid}.")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        process.kill()
        process.stdout.close()
    assert _temporaries(tmp_path) == [left]  # the kill left it
    _model(1).save(path)
    assert sorted(os.listdir(tmp_path)) == ["m.keras"]
    assert len(keras.models.load_model(path).layers) == 1


def test_a_save_leaves_the_temporary_of_a_process_still_saving(tmp_path):
    path = tmp_path / "m.keras"
    process = _stalled_saver(path)
    try:
        (writing,) = _temporaries(tmp_path)
        _model(1).save(path)  # the other process is alive: its temporary is not stale
        assert _temporaries(tmp_path) == [writing]
    finally:
        process.kill()
        process.wait(timeout=30)
        process.stdout.close()
    _model(1).save(path)
    assert _temporaries(tmp_path) == []


def test_only_temporaries_of_the_saved_file_are_removed(tmp_path):
    dead = _dead_pid()
    names = [
        f".m.keras.{dead}.abc.tmp",  # stale, this file's: removed
        f".n.keras.{dead}.abc.tmp",  # another file's
        f".m.keras.{os.getpid()}.abc.tmp",  # this process's: maybe being written
        ".m.keras.abcdefgh.tmp",  # not the pattern
        f".m.keras.{dead}.tmp",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    _model(0).save(tmp_path / "m.keras")
    assert sorted(os.listdir(tmp_path)) == sorted(names[1:] + ["m.keras"])


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_checkpoints_are_written_through_the_same_guards(tmp_path):
    path = tmp_path / "best.keras"
    _model(0).save(path)
    os.chmod(path, 0o444)
    model = _model(0)
    x = np.ones((4, 3), np.float32)
    callback = keras.callbacks.ModelCheckpoint(str(path))
    with pytest.raises(PermissionError, match="read-only"):
        model.fit(x, np.zeros((4, 2), np.float32), epochs=1, verbose=0, callbacks=[callback])
