"""Text progress bar in the tf.keras 2 style (`=====>....`), used by fit.

Keras 3 draws a `━` bar; the scripts we run were written against tf.keras 2,
whose lines look like this (verbose=1, during and at the end of an epoch):

     512/1875 [=======>......................] - ETA: 2s - loss: 0.4211
    1875/1875 [==============================] - 3s 2ms/step - loss: 0.4211

and, with verbose=2, one line per epoch:

    1875/1875 - 3s - loss: 0.4211 - 3s/epoch - 2ms/step

Rendering is throttled to one line every `interval` seconds, so an update that
does not render costs a clock read and a few additions.
"""

import math
import os
import sys
import time

import numpy as np

__all__ = ["Progbar"]


class Progbar:
    """Displays a progress bar.

    Args:
        target: Total number of steps expected, None if unknown.
        width: Progress bar width on screen, in characters.
        verbose: Verbosity mode: 0 (silent), 1 (progress bar), 2 (one line
            when finalized).
        interval: Minimum time in seconds between two redraws.
        stateful_metrics: Iterable of names of metrics shown as given;
            the others are averaged over the steps they were fed for.
        unit_name: Display name for step counts (`"step"`, `"sample"`).
        file: Text stream to write to; None writes to the `sys.stdout` of
            the moment of writing.

    Example:

    >>> bar = Progbar(3, verbose=2)
    >>> for step in range(1, 4):
    ...     bar.update(step, [("loss", 1.0 / step)])  # doctest: +SKIP
    3/3 - 0s - loss: 0.6111 - 21us/epoch - 7us/step
    """

    def __init__(
        self,
        target,
        width=30,
        verbose=1,
        interval=0.05,
        stateful_metrics=None,
        unit_name="step",
        file=None,
    ):
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.stateful_metrics = set(stateful_metrics or ())
        self.unit_name = unit_name
        self.file = file
        # name -> [sum of value * steps, steps]; a dict keeps the order in
        # which the metrics first arrived, which is the display order.
        self._values = {}
        self._seen_so_far = 0
        self._start = time.time()
        self._last_update = -math.inf
        self._time_after_first_step = None
        self._prev_width = 0

    def update(self, current, values=None, finalize=None):
        """Updates the progress bar.

        Args:
            current: Index of the current step (steps done so far).
            values: List of `(name, value)` tuples, or a dict. A value of a
                name in `stateful_metrics` is shown as given; any other value
                counts for the `current - previous current` steps it covers
                and the bar shows the average over all steps.
            finalize: Whether this is the last update. If None, defaults to
                `current >= self.target`.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if values:
            if isinstance(values, dict):
                values = values.items()
            steps = max(current - self._seen_so_far, 1)
            for name, value in values:
                entry = self._values.get(name)
                if name in self.stateful_metrics:
                    self._values[name] = [value, 1]
                elif entry is None:
                    self._values[name] = [value * steps, steps]
                else:
                    entry[0] += value * steps
                    entry[1] += steps
        self._seen_so_far = current

        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)
        if self.verbose == 1:
            if not finalize and now - self._last_update < self.interval:
                return
            self._last_update = now
            stream = self._stream()
            dynamic = _is_dynamic(stream, self.file is None)
            # Without a terminal, `\r` redraws would pile up in the log:
            # like tf.keras, write only the final line there.
            if dynamic or finalize:
                line = self._bar_line(current, now, time_per_unit, finalize)
                if dynamic:
                    pad = max(self._prev_width - len(line), 0)
                    self._prev_width = len(line)
                    line = "\r" + line + " " * pad
                _write(stream, line + "\n" if finalize else line)
        elif self.verbose == 2 and finalize:
            self._last_update = now
            _write(self._stream(), self._epoch_line(current, now) + "\n")

    def add(self, n, values=None):
        """Advances the bar by `n` steps; `values` as in `update`."""
        self.update(self._seen_so_far + n, values)

    def _stream(self):
        return sys.stdout if self.file is None else self.file

    def _bar_line(self, current, now, time_per_unit, finalize):
        """`current/target [===>...] - ETA ...` (verbose=1), no `\\r`."""
        if self.target:
            prog_width = int(self.width * min(current / self.target, 1.0))
            bar = "%*d/%d [" % (len(str(self.target)), current, self.target)
            if prog_width > 0:
                bar += "=" * (prog_width - 1)
                bar += ">" if current < self.target else "="
            bar += "." * (self.width - prog_width) + "]"
        else:
            bar = "%7d/Unknown" % current
        if finalize or not self.target:
            info = " - %.0fs" % (now - self._start)
            info += _format_time(time_per_unit, self.unit_name)
        else:
            info = " - ETA: " + _format_eta(time_per_unit * (self.target - current))
        return bar + info + self._metrics_text()

    def _epoch_line(self, current, now):
        """`current/target - 3s - metrics - 3s/epoch - 2ms/step` (verbose=2).

        tf.keras 2 writes the elapsed time twice: rounded to seconds after
        the count, and per epoch and per step at the end.
        """
        target = self.target if self.target else current
        elapsed = now - self._start
        line = "%*d/%d" % (len(str(target)), current, target)
        line += " - %.0fs" % elapsed + self._metrics_text()
        line += " -" + _format_time(elapsed, "epoch")
        line += " -" + _format_time(elapsed / max(current, 1), self.unit_name)
        return line

    def _metrics_text(self):
        parts = []
        for name, (total, count) in self._values.items():
            value = total if count == 1 else total / count
            parts.append(" - %s: %s" % (name, _format_value(value)))
        return "".join(parts)

    def _estimate_step_duration(self, current, now):
        """Seconds per step, leaving out the first step when there are more.

        The first step pays for warm-up (allocation, thread start), so once
        step 1 has been seen the estimate runs from the end of step 1.
        """
        if not current:
            return 0.0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit


def _is_dynamic(stream, is_stdout):
    """Whether `\\r` redraws show as one line (a terminal or a notebook)."""
    isatty = getattr(stream, "isatty", None)
    try:
        if isatty is not None and isatty():
            return True
    except ValueError:  # a closed stream
        return False
    return is_stdout and ("ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ)


def _write(stream, text):
    stream.write(text)
    stream.flush()


def _format_value(value):
    """`%.4f`, or `%.4e` for magnitudes up to 1e-3, as Keras prints."""
    if isinstance(value, np.ndarray):
        value = value.mean()
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    return "%.4f" % value if abs(value) > 1e-3 else "%.4e" % value


def _format_time(seconds, unit_name):
    """` 3s/step`, ` 12ms/step` or ` 85us/step`, as tf.keras formats."""
    if seconds >= 1 or seconds == 0:
        return " %.0fs/%s" % (seconds, unit_name)
    if seconds >= 1e-3:
        return " %.0fms/%s" % (seconds * 1e3, unit_name)
    return " %.0fus/%s" % (seconds * 1e6, unit_name)


def _format_eta(eta):
    if eta > 3600:
        return "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
    if eta > 60:
        return "%d:%02d" % (eta // 60, eta % 60)
    return "%ds" % eta
