"""The data at the boundary of fit / evaluate / predict and the C++ network (private).

Going in: the user's x and y checked against what the model expects (its input shape, its output
units, its loss) and converted to the float32 matrices the network takes, and the order of the
rows each epoch trains on (`EpochRows`). Coming out: the network's summed totals as Keras logs.
Arrays in, arrays out: nothing here touches a model, and building or compiling its network is
the model's decision (`training.py`). Each error names the call (`where`) and the value
received.
"""

import math

import numpy as np

from densekit import _arrays, metrics

__all__ = []


# -- x and y ---------------------------------------------------------------------------------


def as_array(x, where):
    """`x` as a NumPy array (passed through when it is one already)."""
    if x is None:
        raise ValueError(f"{where}: x is required")
    return x if isinstance(x, np.ndarray) else np.asarray(x)


def sample_shape(array, where):
    """The shape of one sample of `array`, to build an unbuilt model from."""
    if array.ndim < 2:
        raise ValueError(f"{where}: x must have shape (samples, features...); got {array.shape}")
    return tuple(array.shape[1:])


def prepare_x(array, input_shape, where, allow_nonfinite=False):
    """`array` as the float32 (samples, features) matrix the network takes.

    A sample must have exactly the model's shape `input_shape[1:]`, or be its flat form
    `(prod,)`: an (n, 4, 16) array has the 64 values of an (8, 8) image but not its layout, so
    it is refused rather than silently reinterpreted.
    """
    expected = tuple(input_shape[1:])
    features = math.prod(expected)
    if (
        array.dtype == np.float32
        and array.ndim == 2
        and array.shape[0] > 0
        and array.shape[1] == features
        and array.flags.c_contiguous
    ):
        # Already the network's matrix (the common case, and the whole cost of predicting one
        # sample apart from the network): skip the general conversion.
        if not allow_nonfinite:
            _arrays.check_finite(array, where, "x")
        return array
    got = tuple(array.shape[1:])
    # A scalar has no sample shape: as_float_matrix reports the missing batch axis.
    if array.ndim >= 1 and got != expected and got != (features,):
        flat = f" (or the flat {(features,)})" if len(expected) > 1 else ""
        raise ValueError(
            f"{where}: x has sample shape {got} but the model expects {expected}{flat}. "
            f"Received: x with shape {array.shape}"
        )
    matrix = _arrays.as_float_matrix(array, where, "x", features=features)
    if not allow_nonfinite:
        _arrays.check_finite(matrix, where, "x")
    return matrix


def prepare_y(y, rows, units, loss_name, where, allow_nonfinite=False):
    """(y as a NumPy array, y as the float32 matrix the network takes).

    `loss_name` is the loss's kernel name: sparse categorical cross-entropy takes one integer
    label per sample in [0, units), every other loss `units` values per sample.
    """
    if y is None:
        raise ValueError(f"{where}: y is required")
    array = np.asarray(y)
    if array.ndim == 0 or array.shape[0] != rows:
        raise ValueError(
            f"{where}: x and y must have the same number of samples; x has {rows}, "
            f"y has {array.shape[0] if array.ndim else 'no batch axis'}"
        )
    if (
        array.dtype == object
        or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_)
        or np.iscomplexobj(array)
    ):
        raise ValueError(f"{where}: y must be a real numeric array; got dtype {array.dtype}")
    if loss_name == "sparse_categorical_crossentropy":
        return array, sparse_labels(array, units, where)
    target = np.ascontiguousarray(array.reshape(rows, -1), dtype=np.float32)
    if target.shape[1] != units:
        raise ValueError(
            f"{where}: y has {target.shape[1]} values per sample (shape {array.shape}) "
            f"but the model outputs {units} (loss {loss_name})"
        )
    if not allow_nonfinite:
        _arrays.check_finite(target, where, "y")
    return array, target


def sparse_labels(array, classes, where):
    """One integer label per sample, checked to lie in [0, classes), as a float32 column."""
    labels = array.reshape(array.shape[0], -1)
    if labels.shape[1] != 1:
        raise ValueError(
            f"{where}: sparse_categorical_crossentropy needs one integer label per sample; "
            f"y has shape {array.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.floor(labels)):
            raise ValueError(
                f"{where}: labels must be integers in [0, {classes}); y has non-integer "
                f"values (dtype {array.dtype})"
            )
    low, high = labels.min(), labels.max()
    if low < 0 or high >= classes:
        bad = low if low < 0 else high
        raise ValueError(
            f"{where}: labels must be integers in [0, {classes}) for a model with "
            f"{classes} outputs; found label {bad}"
        )
    return np.ascontiguousarray(labels, dtype=np.float32)


def accuracy_name(name, y, units, where):
    """The accuracy compile asked for (`name`, "auto" resolved from the shapes as Keras does),
    checked to fit the targets `y`: integer labels for the sparse one, one-hot rows otherwise."""
    if name == "auto":
        name = metrics.accuracy_for_shapes(np.shape(y), units)
    wants_labels = name == "sparse_categorical_accuracy"
    has_labels = np.ndim(y) < 2 or np.shape(y)[-1] == 1
    if wants_labels != has_labels and units > 1:
        raise ValueError(
            f"{where}: {name} needs {'integer labels' if wants_labels else 'one-hot targets'}; "
            f"y has shape {np.shape(y)}"
        )
    return name


def split_validation(x, y, validation_split):
    """(x_train, y_train, x_val, y_val): the last `validation_split` of the samples held out,
    as Keras does, the validation pair None when `validation_split` is 0."""
    if not validation_split:
        return x, y, None, None
    split = int(x.shape[0] * (1 - validation_split))
    if split == 0 or split == x.shape[0]:
        raise ValueError(
            f"fit: validation_split={validation_split} leaves no training or "
            f"no validation samples out of {x.shape[0]}"
        )
    return x[:split], y[:split], x[split:], y[split:]


def first_rows(batches, batch_size, *arrays):
    """`arrays` cut to the rows of their first `batches` batches."""
    return tuple(array[: batches * batch_size] for array in arrays)


class EpochRows:
    """The rows each epoch of `fit` trains on, in order, as Keras 3 iterates arrays.

    Without `steps_per_epoch`, an epoch runs every batch of a fresh order (a permutation of the
    samples drawn from `rng` when shuffling). With it, an epoch runs the next `steps_per_epoch`
    batches of the current order, and a fresh order starts once all of its batches have run; an
    epoch that reaches the end of the order first stops there (Keras warns that the input ran
    out of data). So 5 batches at steps_per_epoch=2 run as [0, 1], [2, 3], [4], [0, 1], ...
    """

    def __init__(self, samples, batch_size, steps_per_epoch, shuffle, rng):
        self.samples, self.batch_size, self.steps = samples, batch_size, steps_per_epoch
        self.shuffle, self.rng = shuffle, rng
        self.batches = -(-samples // batch_size)
        self._order = None
        self._done = 0  # batches of `_order` already run

    def next_epoch(self):
        """(the rows of the next epoch in the order they train, whether it ran out of batches)."""
        if self._order is None or self.steps is None:
            self._order = (
                self.rng.permutation(self.samples) if self.shuffle else np.arange(self.samples)
            )
            self._done = 0
        if self.steps is None:
            return self._order, False
        start = self._done
        self._done = min(start + self.steps, self.batches)
        rows = self._order[start * self.batch_size : self._done * self.batch_size]
        if self._done == self.batches:
            self._order = None
        return rows, self._done - start < self.steps

    def get_state(self):
        """Where the rows stand, as plain data: the generator's state, and with
        `steps_per_epoch` the order being worked through and its batches already run. The order
        is held, not copied: `next_epoch` draws a new array rather than changing it."""
        order = self._order if self.steps is not None else None  # else redrawn each epoch
        return {"rng": self.rng.bit_generator.state, "order": order, "done": self._done}

    def set_state(self, state):
        """Continues from `get_state()`'s `state` (or its JSON round trip); ValueError, and
        nothing changed, when it does not fit these rows."""
        order = state.get("order")
        if order is not None:
            order = np.asarray(order, dtype=np.int64)
            if order.shape != (self.samples,) or not np.array_equal(
                np.sort(order), np.arange(self.samples)
            ):
                raise ValueError(f"its order of rows is not one of the {self.samples} samples")
            if self.steps is None:
                order = None  # an epoch draws its own order without steps_per_epoch
        done = state.get("done", 0)
        if not isinstance(done, int) or not 0 <= done <= self.batches:
            raise ValueError(f"its count of batches run, {done!r}, is not in [0, {self.batches}]")
        rng = np.random.default_rng()
        try:
            rng.bit_generator.state = state["rng"]
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"its shuffling state does not fit a NumPy generator ({e})") from e
        self.rng, self._order, self._done = rng, order, done


# -- what comes back ---------------------------------------------------------------------------


class Totals:
    """The network's StepTotals, summed in Python for the per-batch loop."""

    def __init__(self):
        self.loss_sum = self.correct_sum = 0.0
        self.samples = self.steps = 0
        self.finite = True

    def add(self, step):
        self.loss_sum += step.loss_sum
        self.correct_sum += step.correct_sum
        self.samples += step.samples
        self.steps += step.steps


def logs_of(totals, key):
    """The means of `totals` as logs (`key` names the accuracy, None without one).

    NaN when no sample was counted (the first step of an epoch was not finite): a mean over no
    samples is not 0.
    """
    samples = totals.samples or float("nan")
    logs = {"loss": totals.loss_sum / samples}
    if key is not None:
        logs[key] = totals.correct_sum / samples
    return logs


def result_of(logs, return_dict):
    """What evaluate and the *_on_batch methods return: the dict, [loss, accuracy] or the loss."""
    if return_dict:
        return logs
    return list(logs.values()) if len(logs) > 1 else logs["loss"]
