"""Callbacks mirroring `keras.callbacks` (Keras 3 behaviour, tf.keras 2 output).

A callback hooks into `fit`, `evaluate` and `predict`. The training loop talks
to a `CallbackList`, which forwards every hook to its callbacks.

The modules, by what the callbacks do:

* `base`: `Callback` and `CallbackList`, and how batch hooks are reported per
  chunk of steps when no callback needs every batch;
* `history`: `History` (the epoch logs) and `ProgbarLogger` (the progress bar);
* `stopping`: `EarlyStopping` and `TerminateOnNaN`;
* `learning_rate`: `LearningRateScheduler` and `ReduceLROnPlateau`, which set the
  learning rate between epochs;
* `lambda_callback`: `LambdaCallback`;
* `gradient_monitor`: `GradientMonitor` (see `densekit.diagnostics`);
* `csv_logger`: `CSVLogger`, the epoch logs as CSV rows;
* `model_checkpoint`: `ModelCheckpoint`, the model or its weights saved during training;
* `tensorboard`: `TensorBoard`, event files for TensorBoard (needs the `tensorboard` package);
* `backup_and_restore`: `BackupAndRestore`, which resumes a killed run where it left off.

Example:

>>> stopper = EarlyStopping(monitor="loss", patience=3)
>>> history = model.fit(x, y, epochs=100, callbacks=[stopper])  # doctest: +SKIP
"""

from densekit.callbacks.backup_and_restore import BackupAndRestore
from densekit.callbacks.base import Callback, CallbackList
from densekit.callbacks.csv_logger import CSVLogger
from densekit.callbacks.gradient_monitor import GradientMonitor
from densekit.callbacks.history import History, ProgbarLogger
from densekit.callbacks.lambda_callback import LambdaCallback
from densekit.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from densekit.callbacks.model_checkpoint import ModelCheckpoint
from densekit.callbacks.stopping import EarlyStopping, TerminateOnNaN
from densekit.callbacks.tensorboard import TensorBoard

__all__ = [
    "Callback",
    "CallbackList",
    "History",
    "ProgbarLogger",
    "EarlyStopping",
    "TerminateOnNaN",
    "LearningRateScheduler",
    "ReduceLROnPlateau",
    "LambdaCallback",
    "GradientMonitor",
    "CSVLogger",
    "ModelCheckpoint",
    "TensorBoard",
    "BackupAndRestore",
]


def __dir__():
    return __all__
