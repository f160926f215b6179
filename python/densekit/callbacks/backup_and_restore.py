"""BackupAndRestore: a training run killed midway resumes where its last backup left off."""

import contextlib
import json
import os

import numpy as np

from densekit._atomic import atomic_write
from densekit.callbacks._batch_count import BatchesSinceSave
from densekit.callbacks.base import Callback

__all__ = ["BackupAndRestore"]

_METADATA = "training_metadata.json"


class BackupAndRestore(Callback):
    """Backs training up to `backup_dir` and resumes from it when `fit` starts again, as Keras 3's.

    Each backup holds the model as a `.keras` file (weights and optimizer state) and
    `training_metadata.json`: the epoch to resume at and the state of `fit`'s shuffling. When
    `fit` starts with a backup in `backup_dir` (the same script run again after a crash or a
    kill), `on_train_begin` loads it and training goes on from there; a run resumed from a
    backup taken at an epoch's end ends with the weights of a run that went straight through,
    bit for bit, given the same `fit(seed=...)` and thread count. (Layers that draw random
    numbers in training, such as RReLU, do not have their generators backed up.)

    Writes are atomic and the metadata, written last, names the model file it goes with, so a
    kill at any moment leaves the previous backup whole; `double_checkpoint` is accepted for
    Keras's sake and has nothing to add. At the end of a completed `fit` the backup is deleted
    when `delete_checkpoint`.

    Args:
        backup_dir: the directory of the backup; use one per training run.
        save_freq: `"epoch"`, or an int n: back up after every n training batches (then `fit`
            runs one C++ call per batch). As in Keras, a backup taken within an epoch resumes at
            that epoch's first batch, with the weights it saved.
        double_checkpoint: Keras's fallback on the previous backup; see above.
        delete_checkpoint: delete the backup when `fit` completes.

    Example:

    >>> backup = BackupAndRestore(backup_dir="/tmp/backup")
    >>> model.fit(x, y, epochs=50, seed=1, callbacks=[backup])  # doctest: +SKIP
    """

    def __init__(
        self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True
    ):
        super().__init__()
        if not backup_dir:
            raise ValueError(
                f"BackupAndRestore: backup_dir must name a directory. Received: backup_dir={backup_dir!r}"
            )
        self.backup_dir = os.fspath(backup_dir)
        if save_freq != "epoch" and (
            isinstance(save_freq, bool)
            or not isinstance(save_freq, (int, np.integer))
            or save_freq < 1
        ):
            raise ValueError(
                "BackupAndRestore: save_freq must be 'epoch' or a positive integer number of "
                f"batches. Received: save_freq={save_freq!r}"
            )
        self.save_freq = save_freq if save_freq == "epoch" else int(save_freq)
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._metadata_path = os.path.join(self.backup_dir, _METADATA)
        self._serial = 0  # of the last backup written
        self._batches = BatchesSinceSave(self.save_freq)

    def _needs_batch_hooks(self, mode):
        return mode == "train" and self.save_freq != "epoch"

    def on_train_begin(self, logs=None):
        self._serial = 0
        self._batches.reset()
        if not os.path.exists(self._metadata_path):
            return
        try:
            with open(self._metadata_path) as f:
                metadata = json.load(f)
            model_file = os.path.join(self.backup_dir, metadata["model"])
            serial = int(metadata["serial"])
            fit_state = metadata["fit"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(
                f"BackupAndRestore: the backup in {self.backup_dir} is unreadable ({e!r}); "
                f"delete {self._metadata_path} to start training afresh"
            ) from e
        try:
            self.model._resume_training(fit_state)
        except ValueError as e:
            raise ValueError(
                f"BackupAndRestore: the backup in {self.backup_dir} does not fit this fit: {e}. "
                f"Use a backup_dir of its own for each training run"
            ) from e
        self.model.load_weights(model_file)
        self._serial = serial

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save()

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save()

    def on_train_end(self, logs=None):
        if not self.delete_checkpoint or not os.path.isdir(self.backup_dir):
            return
        for name in os.listdir(self.backup_dir):
            if name == _METADATA or name.startswith("backup-") or name.startswith(".backup-"):
                os.unlink(os.path.join(self.backup_dir, name))
        with contextlib.suppress(OSError):  # not empty: files of someone else's are kept
            os.rmdir(self.backup_dir)

    def _should_save_on_batch(self, batch):
        return self.save_freq != "epoch" and self._batches.due(batch)

    def _save(self):
        """The model file first, then the metadata naming it (the commit), then the old file."""
        os.makedirs(self.backup_dir, exist_ok=True)
        serial = self._serial + 1
        name = f"backup-{serial}.keras"
        self.model.save(os.path.join(self.backup_dir, name), overwrite=True)
        metadata = json.dumps(
            {
                "serial": serial,
                "model": name,
                "batch": self._batches.last_batch,
                "fit": self.model._training_state(),
            }
        ).encode("utf-8")
        atomic_write(self._metadata_path, lambda file: file.write(metadata))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.backup_dir, f"backup-{self._serial}.keras"))
        self._serial = serial
