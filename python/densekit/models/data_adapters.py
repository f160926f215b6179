"""Data fed from Python: a `PyDataset` or an iterator (a generator) of batches (private).

Arrays go to C++ whole and train an epoch in one call (`_data`); the data here arrives a batch
at a time, so each batch is one C++ step. `BatchStream` hands out each epoch's batches with
Keras 3's rules (its EpochIterator):

- A finite PyDataset runs all its batches each epoch, their order shuffled with `shuffle`.
- With `steps` (fit's `steps_per_epoch`, `validation_steps`, evaluate's and predict's `steps`),
  an epoch runs the next `steps` batches, going on from where the last epoch stopped; when a
  pass over a PyDataset ends within an epoch, that epoch stops there with a warning and the
  next one starts a new pass.
- An iterator runs until it is exhausted, or for `steps` batches. Once exhausted it yields
  nothing more: the epoch that finds it empty warns, and `fit` stops.
- An infinite PyDataset (`num_batches` None) needs `steps`: without them an epoch would never end.

`on_epoch_begin` / `on_epoch_end` of a PyDataset run around every epoch, once each.
"""

import warnings
from collections.abc import Iterator

import numpy as np

from densekit.models._arguments import _shown
from densekit.utils.py_dataset import Prefetcher, PyDataset

__all__ = []


def is_stream(data):
    """Whether `data` is fed batch by batch: a PyDataset, or an iterator such as a generator."""
    return isinstance(data, (PyDataset, Iterator)) and not isinstance(data, np.ndarray)


def refuse_with_stream(where, kind, **arguments):
    """ValueError for arguments a stream carries in its batches instead (Keras refuses them)."""
    for name, value in arguments.items():
        # validation_split's default is 0.0; the others' None.
        if value is not None and not (isinstance(value, (int, float)) and value == 0):
            raise ValueError(
                f"{where}: {name} is not supported when x is a {kind}; it must come in the "
                f"batches it yields instead. Received: {name}={_shown(value)}"
            )


def kind_of(data):
    return "PyDataset" if isinstance(data, PyDataset) else "generator or iterator"


def unpack(batch, where):
    """(x, y, sample_weight) of one batch; y and sample_weight None when absent. A batch is
    `x` alone, or a tuple `(x,)`, `(x, y)` or `(x, y, sample_weight)`."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple):
        if isinstance(batch, dict) or batch is None:
            raise ValueError(
                f"{where}: a batch must be x or a tuple (x,), (x, y) or (x, y, sample_weight). "
                f"Received: a batch of type {type(batch).__name__}"
            )
        return batch, None, None
    if len(batch) not in (1, 2, 3):
        raise ValueError(
            f"{where}: a batch must be a tuple (x,), (x, y) or (x, y, sample_weight). "
            f"Received: a tuple of {len(batch)} elements"
        )
    return batch + (None,) * (3 - len(batch))


def _checked_dataset(data, where):
    """The PyDataset's num_batches, with its parallelism arguments checked."""
    if data.use_multiprocessing:
        raise NotImplementedError(
            f"{where}: use_multiprocessing=True is not implemented in densekit; batches are "
            f"computed by threads (workers). Received: use_multiprocessing=True"
        )
    # As Keras: workers 0 or 1 compute each batch when it is due, max_queue_size 0 is no bound.
    for name, value in (("workers", data.workers), ("max_queue_size", data.max_queue_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(
                f"{where}: the PyDataset's {name} must be an integer >= 0. "
                f"Received: {name}={_shown(value)}"
            )
    count = data.num_batches
    if count is not None and (
        isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0
    ):
        raise ValueError(
            f"{where}: the PyDataset's length must be a non-negative integer or None "
            f"(infinite). Received: {count!r}"
        )
    return None if count is None else int(count)


class BatchStream:
    """The batches of a PyDataset or an iterator, epoch by epoch (see the module docstring).

    `next_epoch()` returns an iterator over the next epoch's batches; `num_batches` is the
    batches an epoch runs when that is known (steps, or a finite PyDataset), else None.
    """

    def __init__(
        self, data, where, steps=None, shuffle=False, rng=None, steps_name="steps", restart=False
    ):
        """restart: every epoch reads from the first batch again (validation, as Keras resets
        its iterator before each pass) instead of going on where the last one stopped."""
        self.where, self.steps, self.steps_name = where, steps, steps_name
        self._restart = restart
        self._data, self._rng = data, rng
        self._dataset = data if isinstance(data, PyDataset) else None
        self._pass = None  # the iterator over the current pass, kept across epochs with steps
        self._peeked = []  # batches taken by `peek` and not yet trained on
        self._pass_taken = 0  # batches of the current pass already run
        if self._dataset is not None:
            self._length = _checked_dataset(data, where)
            self._shuffle = bool(shuffle) and self._length is not None
            if self._length is None and steps is None:
                raise ValueError(
                    f"{where}: the PyDataset is infinite (num_batches is None), so "
                    f"{steps_name} is required to end an epoch"
                )
        else:
            self._length = None
        self.num_batches = steps if steps is not None else self._length

    # -- the first batch, to build the model from ------------------------------------------
    def peek(self):
        """The first batch, without using it up."""
        if self._dataset is not None:
            if self._length == 0:
                raise ValueError(f"{self.where}: the PyDataset has no batches (its length is 0)")
            return self._dataset[0]
        if not self._peeked:
            try:
                self._peeked.append(next(self._data))
            except StopIteration:
                raise ValueError(f"{self.where}: the generator yielded no batch") from None
        return self._peeked[0]

    def exhausted(self):
        """Whether a generator has no batch left (warned about): fit then ends before the
        epoch rather than logging an epoch of no batch. A PyDataset never is."""
        if self._dataset is not None or self._peeked:
            return False
        batch = next(self._data, _END)
        if batch is not _END:
            self._peeked.append(batch)
            return False
        warnings.warn(
            f"{self.where}: the input ran out of data; a generator must yield at least "
            f"{self.steps_name} × epochs batches. Training stops here.",
            stacklevel=3,
        )
        return True

    # -- epochs ----------------------------------------------------------------------------
    def _new_pass(self):
        if self._dataset is None:
            return self._data
        if self._length is None:
            indices = _count()
        elif self._shuffle:
            rng = self._rng if self._rng is not None else np.random.default_rng()
            indices = rng.permutation(self._length).tolist()
        else:
            indices = range(self._length)
        if self._dataset.workers > 1:
            return Prefetcher(
                self._dataset, indices, self._dataset.workers, self._dataset.max_queue_size
            )
        return (self._dataset[i] for i in indices)

    def _end_pass(self):
        if isinstance(self._pass, Prefetcher):
            self._pass.close()
        self._pass = None

    def next_epoch(self):
        """(an iterator over the next epoch's batches, False): FitState's `next_epoch`; a
        running-out is warned about by the iterator itself."""
        return self._epoch(), False

    def _epoch(self):
        if self._dataset is not None:
            self._dataset.on_epoch_begin()
        try:
            if self._pass is None or self.steps is None or self._restart:
                self._end_pass()
                self._pass, self._pass_taken = self._new_pass(), 0
            taken = 0
            while self.steps is None or taken < self.steps:
                batch = self._peeked.pop(0) if self._peeked else next(self._pass, _END)
                if batch is _END:
                    self._ran_out(taken)
                    break
                taken += 1
                self._pass_taken += 1
                yield batch
            # As Keras, a pass that ends with the epoch starts anew with the next one.
            if self._length is not None and self._pass_taken >= self._length:
                self._end_pass()
        finally:
            if self.steps is None:
                self._end_pass()
            if self._dataset is not None:
                self._dataset.on_epoch_end()

    def _ran_out(self, taken):
        self._end_pass()
        if self._dataset is None:
            # The end of a generator ends the first epoch without steps; any other epoch it
            # ends early, or finds it already empty.
            if taken == 0 or self.steps is not None:
                warnings.warn(
                    f"{self.where}: the input ran out of data after {taken} batches of this "
                    f"epoch; a generator must yield at least {self.steps_name} × epochs batches. "
                    f"An epoch that gets no batch ends training.",
                    stacklevel=4,
                )
        elif self.steps is not None:
            warnings.warn(
                f"{self.where}: the PyDataset ran out of data after {taken} of this epoch's "
                f"{self.steps_name}={self.steps} batches; the next epoch starts a new pass, "
                f"as in Keras.",
                stacklevel=4,
            )

    def close(self):
        """Stops the prefetching threads, if any."""
        self._end_pass()

    # -- FitState's interface (a stream cannot be rewound: only the shuffling is saved) -------
    def get_state(self):
        rng = None if self._rng is None else self._rng.bit_generator.state
        return {"rng": rng, "order": None, "done": 0}

    def set_state(self, state):
        rng_state = state.get("rng")
        if rng_state is not None and self._rng is not None:
            rng = np.random.default_rng()
            try:
                rng.bit_generator.state = rng_state
            except (TypeError, ValueError) as e:
                raise ValueError(f"its shuffling state does not fit a NumPy generator ({e})") from e
            self._rng = rng


_END = object()


def _count():
    index = 0
    while True:
        yield index
        index += 1
