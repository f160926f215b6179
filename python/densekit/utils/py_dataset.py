"""`PyDataset` (tf.keras's `Sequence`): batches computed in Python, one per index."""

import itertools
import math
from concurrent.futures import ThreadPoolExecutor

__all__ = ["PyDataset", "Sequence"]


class PyDataset:
    """Base class for a data set of batches computed in Python, as Keras 3's.

    A subclass implements `__len__` (the number of batches) and `__getitem__(index)` (the batch
    at `index`: `(x,)`, `(x, y)` or `(x, y, sample_weight)`, or `x` alone for `predict`), and
    may implement `on_epoch_begin` / `on_epoch_end`, which `fit` calls around each epoch (and
    `evaluate` / `predict` around their pass). An infinite data set returns None from
    `num_batches`; `fit` then needs `steps_per_epoch`.

    Args:
        workers: Threads that compute batches ahead of the training step (which runs in C++
            with the GIL released, so the two overlap). 0 or 1 computes each batch when it is
            due.
        use_multiprocessing: Keras's option to compute batches in processes; only False is
            implemented (NotImplementedError otherwise).
        max_queue_size: With `workers > 1`, at most this many batches are computed ahead; 0
            sets no bound, as in Keras.

    Example:

    ```python
    class Batches(keras.utils.PyDataset):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch_size = x, y, batch_size

        def __len__(self):
            return math.ceil(len(self.x) / self.batch_size)

        def __getitem__(self, index):
            rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
            return self.x[rows], self.y[rows]

    model.fit(Batches(x, y, 64, workers=2), epochs=5)
    ```
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    # Keras reads these through properties, with its defaults when a subclass forgot to call
    # super().__init__.
    @property
    def workers(self):
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """The batch at position `index`."""
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    @property
    def num_batches(self):
        """The number of batches, or None for an infinite data set: `len(self)` by default."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__} must implement __len__ or the num_batches property"
        )

    def __iter__(self):
        count = self.num_batches
        for index in itertools.count() if count is None else range(count):
            yield self[index]

    def on_epoch_begin(self):
        """Called at the start of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""


# tf.keras 2's name for the same base class.
Sequence = PyDataset


class Prefetcher:
    """`dataset[i]` for the indices of `indices` in order, computed by `workers` threads at most
    `ahead` batches in advance (private to the data adapters)."""

    def __init__(self, dataset, indices, workers, ahead):
        self._dataset, self._indices = dataset, iter(indices)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="densekit-data")
        self._pending = []
        self._ahead = ahead if ahead > 0 else math.inf  # 0: no bound, as Keras's queue

    def _fill(self):
        while len(self._pending) < self._ahead:
            index = next(self._indices, None)
            if index is None:
                return
            self._pending.append(self._pool.submit(self._dataset.__getitem__, index))

    def __iter__(self):
        return self

    def __next__(self):
        self._fill()
        if not self._pending:
            raise StopIteration
        batch = self._pending.pop(0).result()
        self._fill()  # keep the threads busy while the caller trains on `batch`
        return batch

    def close(self):
        """Drops the batches not taken yet and stops the threads."""
        for future in self._pending:
            future.cancel()
        self._pending = []
        self._pool.shutdown(wait=True)
