"""The data at the boundary of fit / evaluate / predict and the C++ network (private).

Going in: the user's x and y checked against what the model expects (its input shape, its output
units, its loss) and converted to the float32 matrices the network takes, and the other arguments
checked. Coming out: the network's summed totals as Keras logs. Plain functions, so that
`training.py` keeps the loops; each error names the call (`where`) and the value received.
"""

import math

import numpy as np

from densekit import _arrays, metrics

__all__ = []


# -- x and y ---------------------------------------------------------------------------------


def model_x(model, x, where, allow_nonfinite=False):
    """x as `model`'s input matrix, building an unbuilt model from x's sample shape first."""
    array = as_array(x, where)
    if not model.built:
        model.build((None,) + sample_shape(array, where))
    return prepare_x(array, model.input_shape, where, allow_nonfinite)


def model_y(model, y, rows, where, allow_nonfinite=False):
    """y as `model`'s target matrix; the first targets also settle the accuracy (as Keras)."""
    array, target = prepare_y(
        y,
        rows,
        model._network.output_units,
        model._compiled["loss"]._kernel_name,
        where,
        allow_nonfinite,
    )
    model._resolve_accuracy(array, where)
    return target


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


def fit_arrays(model, x, y, validation_split, validation_data, allow_nonfinite):
    """(x_train, y_train, x_val, y_val) for `model.fit`, the validation pair None without one.

    `validation_data` wins over `validation_split`, which takes the last samples, as Keras.
    """
    if not 0 <= validation_split < 1:
        raise ValueError(
            f"fit: validation_split must be in [0, 1). "
            f"Received: validation_split={validation_split!r}"
        )
    x_all = model._prepare_x(x, "fit", allow_nonfinite)
    y_all = model._prepare_y(y, x_all.shape[0], "fit", allow_nonfinite)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("fit: validation_data must be a tuple (x_val, y_val)")
        where = "fit (validation_data)"
        x_val = model._prepare_x(validation_data[0], where, allow_nonfinite)
        y_val = model._prepare_y(validation_data[1], x_val.shape[0], where, allow_nonfinite)
        return x_all, y_all, x_val, y_val
    if not validation_split:
        return x_all, y_all, None, None
    split = int(x_all.shape[0] * (1 - validation_split))
    if split == 0 or split == x_all.shape[0]:
        raise ValueError(
            f"fit: validation_split={validation_split} leaves no training or "
            f"no validation samples out of {x_all.shape[0]}"
        )
    return x_all[:split], y_all[:split], x_all[split:], y_all[split:]


# -- the other arguments ---------------------------------------------------------------------


def positive_int(value, where, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer. Received: {name}={value!r}")
    return int(value)


def non_negative_int(value, where, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(
            f"{where}: {name} must be a non-negative integer. Received: {name}={value!r}"
        )
    return int(value)


def check_batch_size(value, where):
    """`batch_size` checked, 32 when None (Keras's default)."""
    return positive_int(32 if value is None else value, where, "batch_size")


def check_verbose(value):
    """0, 1 or 2; "auto" is 1, as Keras outside a notebook."""
    if value == "auto":
        return 1
    if value not in (0, 1, 2):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2. Received: verbose={value!r}")
    return value


def fit_arguments(batch_size, epochs, initial_epoch, verbose, class_weight, sample_weight):
    """fit's (batch_size, epochs, initial_epoch, verbose), checked."""
    if class_weight is not None or sample_weight is not None:
        raise ValueError("fit: class_weight and sample_weight are not supported")
    return (
        check_batch_size(batch_size, "fit"),
        non_negative_int(epochs, "fit", "epochs"),
        non_negative_int(initial_epoch, "fit", "initial_epoch"),
        check_verbose(verbose),
    )


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
