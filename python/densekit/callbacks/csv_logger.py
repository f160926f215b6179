"""CSVLogger: one row of epoch logs per epoch, streamed to a CSV file."""

import collections.abc
import csv
import os

import numpy as np

from densekit.callbacks.base import Callback

__all__ = ["CSVLogger"]


class CSVLogger(Callback):
    """Streams the epoch logs to a CSV file, as Keras 3's.

    The columns are `epoch` (counted from 0), then the log keys of the first epoch sorted by
    name; when that epoch has no `val_` key, a `val_` column is added for each key (validation
    may come later, with `validation_freq`) and rows without one hold `NA`. Each row is flushed
    when written.

    Args:
        filename: the CSV file, e.g. `"run/log.csv"`.
        separator: the one-character field separator.
        append: True continues an existing file (the header is written only when the file is
            empty or new); False overwrites it.

    Example:

    >>> logger = CSVLogger("training.log")
    >>> model.fit(x, y, epochs=10, callbacks=[logger])  # doctest: +SKIP
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        try:
            self.filename = os.fspath(filename)
        except TypeError:
            raise TypeError(
                f"CSVLogger: filename must be a str or a path. Received: filename={filename!r}"
            ) from None
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(
                f"CSVLogger: separator must be a one-character string. "
                f"Received: separator={separator!r}"
            )
        self.sep = separator
        self.append = append
        self.keys = None
        self.writer = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        mode = "w"
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename) as f:
                    self.append_header = not f.readline()
            mode = "a"
        self._close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys.extend(f"val_{key}" for key in list(self.keys))
        if self.writer is None:

            class Dialect(csv.excel):
                delimiter = self.sep

            self.writer = csv.DictWriter(
                self.csv_file, fieldnames=["epoch"] + self.keys, dialect=Dialect
            )
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _cell(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        self._close()
        self.writer = None

    def _close(self):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()


def _cell(value):
    """A log value as Keras writes it: 1-D iterables as a quoted list, the rest as they are."""
    if isinstance(value, str) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return value
    if isinstance(value, collections.abc.Iterable):
        return f'"[{", ".join(map(str, value))}]"'
    return value
