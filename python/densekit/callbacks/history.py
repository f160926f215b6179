"""History, which records the epoch logs, and ProgbarLogger, which draws the progress bar."""

from densekit._progbar import Progbar
from densekit.callbacks.base import Callback, _chunkable, _print_msg

__all__ = ["History", "ProgbarLogger"]


class History(Callback):
    """Records the epoch logs; `fit` returns it and sets `model.history`.

    Attributes:
        history: Dict mapping each log key to its list of per-epoch values.
        epoch: List of the epoch indices seen.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        # Set after each epoch so the model holds the latest state.
        self.model.history = self


class ProgbarLogger(Callback):
    """Prints `Epoch i/n` and a progress bar with the metrics to stdout.

    Uses `params["verbose"]` (1: bar, 2: one line per epoch), `epochs` and
    `steps` (None: learned at the end of the first epoch). Batch reports may
    come once per chunk, with the batch index jumping. An epoch cut short
    (`model.stop_training` set during it) ends its bar at the steps done.
    """

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        # Validation inside `fit` is silent.
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        if self.verbose and self.epochs > 1:
            _print_msg(f"Epoch {epoch + 1}/{self.epochs}")

    @_chunkable
    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    @_chunkable
    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    @_chunkable
    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)  # Not the predictions.

    def on_epoch_end(self, epoch, logs=None):
        # Training stopped within the epoch (TerminateOnNaN, a non-finite step, a callback):
        # the final line shows the steps done, not `steps`. fit reports the last step done
        # before this hook, and none when no step was applied.
        stopped = getattr(self.model, "stop_training", False)
        self._finalize_progbar(logs, self.seen if stopped else None)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = Progbar(self.target, verbose=self.verbose)

    def _update_progbar(self, batch, logs):
        if self.progbar is None:
            self._reset_progbar()
        self.seen = batch + 1
        if self.verbose == 1:
            logs = logs or {}
            # The model's logs are already means: show them as given.
            self.progbar.stateful_metrics.update(logs)
            self.progbar.update(self.seen, list(logs.items()), finalize=False)

    def _finalize_progbar(self, logs, current=None):
        """The final line, at `current` steps (None: all of them)."""
        logs = logs or {}
        if self.progbar is None:
            self._reset_progbar()
        if self.target is None:
            self.target = self.progbar.target = self.seen
        self.progbar.stateful_metrics.update(logs)
        self.progbar.update(
            self.target if current is None else current, list(logs.items()), finalize=True
        )
