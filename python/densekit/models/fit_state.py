"""Where a running `fit` stands, as plain data, so a killed run can resume (BackupAndRestore).

The weights and the optimizer state are saved with the model; what `fit` itself holds is the
epoch to go on from and the state of its shuffling (`_data.EpochRows`). A state taken at the end
of an epoch resumes at the next epoch with the same rows as the run that went straight through;
one taken within an epoch resumes at that epoch's start, with the rows it drew then (as Keras,
the epoch runs again from its first batch on the weights saved within it). The layers that
draw random numbers (RReLU, dropout, noise) go on from the draws they were at, so a resumed run
draws what the straight one did.
"""

import numpy as np

__all__ = ["FitState"]


class FitState:
    """The epoch `fit` is at and its rows' state at that epoch's start and end."""

    def __init__(self, epoch_rows, initial_epoch, layers):
        self.initial_epoch = initial_epoch
        self._rows = epoch_rows
        self._layers = [layer for layer in layers if layer._core is not None]
        self._epoch = initial_epoch
        self._rows_at_start = epoch_rows.get_state()
        self._draws_at_start = self._draws()
        self._ended = False

    def _draws(self):
        return [layer._core.random_step for layer in self._layers]

    def rows_of_epoch(self, epoch):
        """The rows of `epoch` and whether they ran out (`EpochRows.next_epoch`)."""
        self._epoch, self._ended = epoch, False
        self._rows_at_start = self._rows.get_state()
        self._draws_at_start = self._draws()
        return self._rows.next_epoch()

    def end_epoch(self):
        """Marks the running epoch as done: a state taken now resumes after it."""
        self._ended = True

    def to_json(self):
        """The state as a dict of JSON types."""
        epoch, rows, draws = (
            (self._epoch + 1, self._rows.get_state(), self._draws())
            if self._ended
            else (self._epoch, self._rows_at_start, self._draws_at_start)
        )
        order = rows["order"]
        return {
            "epoch": epoch,
            "rows": {**rows, "order": None if order is None else np.asarray(order).tolist()},
            "random_steps": draws,
        }

    def restore(self, state):
        """Resumes from `to_json()`'s state; ValueError, and nothing changed, when it does not
        fit this `fit` (other data, other batches)."""
        epoch = state.get("epoch") if isinstance(state, dict) else None
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"its epoch must be a non-negative int; it is {epoch!r}")
        draws = state.get("random_steps", [0] * len(self._layers))
        if (
            not isinstance(draws, list)
            or len(draws) != len(self._layers)
            or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**64 for d in draws
            )
        ):
            raise ValueError(
                f"its random_steps must be {len(self._layers)} ints in [0, 2**64), one per "
                f"computing layer; they are {draws!r}"
            )
        self._rows.set_state(state.get("rows") or {})
        for layer, step in zip(self._layers, draws):
            layer._core.random_step = step
        self.initial_epoch = self._epoch = epoch
        self._rows_at_start = self._rows.get_state()
