"""BackupAndRestore: a run killed after an epoch and started again ends with the weights of a
run that went straight through, bit for bit; backups are atomic and checked when read."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import densekit
from densekit.callbacks import BackupAndRestore, CallbackList, LambdaCallback

pytestmark = pytest.mark.usefixtures("one_thread_per_module")

# The same script for every run: a batch-normalized model, Adam, shuffling. KILL_AFTER_EPOCH
# in the environment makes it SIGKILL itself at the end of that epoch (counted from 1), after
# the backup of that epoch was written.
_SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    import numpy as np
    import densekit as keras

    backup_dir, out, steps_per_epoch = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    keras.set_num_threads(1)
    keras.utils.set_random_seed(5)
    (x, y), _ = keras.datasets.digits.load_data()
    model = keras.Sequential([
        keras.layers.Flatten(input_shape=(8, 8)),
        keras.layers.Dense(32, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.RReLU(),  # random slopes: the resumed run must draw what the straight one did
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(0.01),
                  metrics=["accuracy"])
    kill_after = int(os.environ.get("KILL_AFTER_EPOCH", 0))

    def maybe_die(epoch, logs):
        if epoch + 1 == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    history = model.fit(
        x, y, batch_size=64, epochs=5, steps_per_epoch=steps_per_epoch, verbose=0, seed=11,
        callbacks=[keras.callbacks.BackupAndRestore(backup_dir),
                   keras.callbacks.LambdaCallback(on_epoch_end=maybe_die)],
    )
    np.savez(out, *model.get_weights(), epochs=np.array(history.epoch),
             iterations=np.array(int(model.optimizer.iterations)))
    """
)


def _run(tmp_path, name, steps_per_epoch, kill_after=None):
    script = tmp_path / "train.py"
    script.write_text(_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "KILL_AFTER_EPOCH"}
    if kill_after:
        env["KILL_AFTER_EPOCH"] = str(kill_after)
    out = tmp_path / f"{name}.npz"
    args = [str(tmp_path / f"backup-{name}"), str(out), json.dumps(steps_per_epoch)]
    result = subprocess.run(
        [sys.executable, str(script), *args], env=env, capture_output=True, text=True
    )
    return result, out


# None: every epoch a new shuffle; 7: epochs of 7 of the 23 batches, the order running on
# from one epoch to the next, so a backup lands in the middle of a pass over the data.
@pytest.mark.parametrize("steps_per_epoch", [None, 7])
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, steps_per_epoch):
    straight, straight_out = _run(tmp_path, "straight", steps_per_epoch)
    assert straight.returncode == 0, straight.stderr
    killed, _ = _run(tmp_path, "resumed", steps_per_epoch, kill_after=2)
    assert killed.returncode == -9, killed.stderr
    backup = tmp_path / "backup-resumed"
    metadata = json.loads((backup / "training_metadata.json").read_text())
    assert metadata["fit"]["epoch"] == 2
    assert sorted(os.listdir(backup)) == [metadata["model"], "training_metadata.json"]
    resumed, resumed_out = _run(tmp_path, "resumed", steps_per_epoch)
    assert resumed.returncode == 0, resumed.stderr
    a, b = np.load(straight_out), np.load(resumed_out)
    assert list(a["epochs"]) == [0, 1, 2, 3, 4] and list(b["epochs"]) == [2, 3, 4]
    assert int(a["iterations"]) == int(b["iterations"])
    weights = [k for k in a.files if k.startswith("arr_")]
    assert len(weights) == 7  # kernel, BN's four, kernel and bias
    for key in weights:
        np.testing.assert_array_equal(a[key], b[key])
    assert not backup.exists()  # a completed run deletes its backup
    assert not (tmp_path / "backup-straight").exists()


def test_a_run_resumed_without_its_shuffle_state_would_differ(tmp_path, digits, digits_model):
    # What the test above guards against: resuming with the weights and the epoch alone, fit's
    # shuffling starts over and the weights part ways with the uninterrupted run.
    (x, y), _ = digits
    straight = digits_model()
    straight.fit(x, y, epochs=3, batch_size=64, verbose=0, seed=3)
    partial = digits_model()
    partial.fit(x, y, epochs=1, batch_size=64, verbose=0, seed=3)
    partial.fit(x, y, epochs=3, initial_epoch=1, batch_size=64, verbose=0, seed=3)
    assert not np.array_equal(straight.get_weights()[0], partial.get_weights()[0])


def test_in_process_resume_matches_and_the_backup_stays_when_asked(tmp_path, digits, digits_model):
    (x, y), _ = digits
    x, y = x[:640], y[:640]
    straight = digits_model()
    straight.fit(x, y, epochs=4, batch_size=64, verbose=0, seed=2)

    class Stop(Exception):
        pass

    def stop_after_second(epoch, logs):
        if epoch == 1:
            raise Stop  # an exception: no on_train_end, so the backup stays

    backup = BackupAndRestore(tmp_path / "b")
    first = digits_model()
    with pytest.raises(Stop):
        first.fit(
            x,
            y,
            epochs=4,
            batch_size=64,
            verbose=0,
            seed=2,
            callbacks=[backup, LambdaCallback(on_epoch_end=stop_after_second)],
        )
    # A new process would build a new model from the same seed: its weights get overwritten.
    again = digits_model(seed=123)
    history = again.fit(
        x,
        y,
        epochs=4,
        batch_size=64,
        verbose=0,
        seed=2,
        callbacks=[BackupAndRestore(tmp_path / "b", delete_checkpoint=False)],
    )
    assert history.epoch == [2, 3]
    for ours, theirs in zip(again.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert (tmp_path / "b" / "training_metadata.json").exists()


def test_a_failing_backup_leaves_the_previous_one_whole(
    tmp_path, digits, digits_model, monkeypatch
):
    (x, y), _ = digits
    x, y = x[:320], y[:320]
    model = digits_model()
    saves = []
    real_save = type(model).save

    def save_twice_then_fail(self, filepath, overwrite=True):
        if len(saves) == 2:
            raise OSError("disk full")
        saves.append(filepath)
        real_save(self, filepath, overwrite=overwrite)

    monkeypatch.setattr(type(model), "save", save_twice_then_fail)
    with pytest.raises(OSError, match="disk full"):
        model.fit(x, y, epochs=4, verbose=0, seed=1, callbacks=[BackupAndRestore(tmp_path / "b")])
    monkeypatch.undo()
    names = sorted(os.listdir(tmp_path / "b"))
    assert names == ["backup-2.keras", "training_metadata.json"]
    metadata = json.loads((tmp_path / "b" / "training_metadata.json").read_text())
    assert metadata["fit"]["epoch"] == 2 and metadata["model"] == "backup-2.keras"
    history = digits_model().fit(
        x, y, epochs=4, verbose=0, seed=1, callbacks=[BackupAndRestore(tmp_path / "b")]
    )
    assert history.epoch == [2, 3]


def test_a_backup_within_an_epoch_resumes_at_that_epochs_start(tmp_path, digits, digits_model):
    (x, y), _ = digits
    x, y = x[:650], y[:650]  # 13 batches of 50
    backup = BackupAndRestore(tmp_path / "b", save_freq=4, delete_checkpoint=False)
    assert CallbackList([backup]).needs_batch_hooks("train")
    assert not CallbackList([BackupAndRestore(tmp_path / "c")]).needs_batch_hooks("train")
    digits_model().fit(x, y, epochs=2, batch_size=50, verbose=0, seed=4, callbacks=[backup])
    # Saves after batches 4, 8, ..., 24 of the fit; the last is batch 11 of epoch 2.
    metadata = json.loads((tmp_path / "b" / "training_metadata.json").read_text())
    assert metadata["batch"] == 10 and metadata["fit"]["epoch"] == 1
    # The rows resume as drawn at that epoch's start: the generator after one permutation.
    rng = np.random.default_rng(4)
    rng.permutation(650)
    assert metadata["fit"]["rows"]["rng"] == json.loads(json.dumps(rng.bit_generator.state))


def test_a_backup_of_other_data_is_refused(tmp_path, digits, digits_model):
    (x, y), _ = digits
    model = digits_model()
    model.fit(
        x[:300],
        y[:300],
        epochs=1,
        steps_per_epoch=2,
        batch_size=50,
        verbose=0,
        callbacks=[BackupAndRestore(tmp_path / "b", delete_checkpoint=False)],
    )
    with pytest.raises(ValueError, match="BackupAndRestore: the backup in .* does not fit"):
        model.fit(
            x[:400],
            y[:400],
            epochs=2,
            steps_per_epoch=2,
            batch_size=50,
            verbose=0,
            callbacks=[BackupAndRestore(tmp_path / "b")],
        )


def test_an_unreadable_backup_is_named(tmp_path, digits, digits_model):
    (x, y), _ = digits
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "training_metadata.json").write_text("{not json")
    with pytest.raises(ValueError, match="BackupAndRestore: the backup in .* is unreadable"):
        digits_model().fit(
            x[:100], y[:100], verbose=0, callbacks=[BackupAndRestore(tmp_path / "b")]
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"backup_dir": ""}, "backup_dir must name a directory"),
        ({"backup_dir": "b", "save_freq": "batch"}, "save_freq=.batch."),
        ({"backup_dir": "b", "save_freq": 0}, "save_freq=0"),
    ],
)
def test_backup_and_restore_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=f"BackupAndRestore: .*{match}"):
        BackupAndRestore(**kwargs)


def test_fit_state_is_only_there_during_fit(digits_model):
    model = digits_model()
    with pytest.raises(RuntimeError, match="no fit is running"):
        model._training_state()
    assert isinstance(densekit.callbacks.BackupAndRestore("b"), densekit.callbacks.Callback)
