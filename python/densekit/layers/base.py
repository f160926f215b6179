"""The Layer base class and Variable, the Python face of a C++ parameter."""

import numpy as np

from densekit import _core, _naming
from densekit._numbers import is_real

__all__ = ["Layer", "Variable"]


class Variable:
    """A layer's variable: a numpy view of the C++ memory plus Keras's name and flags.

    `numpy()` and `value` return the view itself, as a NumPy-backend Keras variable does: writes
    through it change the model at once, without any check or lock, so they must not happen while
    `fit` runs in another thread. `assign(value)` checks the shape and that the value is finite,
    and copies it in under the lock that every computation holds: it waits for a running training
    epoch instead of racing it. `np.array(variable)` is a copy read under that lock.
    """

    def __init__(self, layer, parameter, shape=None, file_dtype="float32"):
        self._layer = layer
        self._parameter = parameter
        # Keras's shape when it differs from the C++ storage's (a 0-d count kept as (1,)).
        self._shape = None if shape is None else tuple(shape)
        self._file_dtype = file_dtype  # what a Keras file stores: "int64" for a count

    @property
    def name(self):
        return f"{self._layer.name}/{self._parameter.name}:0"

    @property
    def path(self):
        return f"{self._layer.name}/{self._parameter.name}"

    @property
    def regularizer(self):
        return self._layer._regularizers.get(self._parameter.name)

    @property
    def constraint(self):
        return self._layer._constraints.get(self._parameter.name)

    @property
    def trainable(self):
        return self._parameter.trainable and self._layer.trainable

    @property
    def shape(self):
        return self._shape if self._shape is not None else tuple(self._parameter.value.shape)

    @property
    def dtype(self):
        return "float32"

    def numpy(self):
        return self._parameter.value.reshape(self.shape)  # a view: the storage is contiguous

    @property
    def value(self):
        return self.numpy()

    def assign(self, value):
        """Copies `value` (real numbers of this variable's shape, all finite) into the variable."""
        array = np.asarray(value)
        if array.shape != self.shape:
            raise ValueError(
                f"Variable {self.path}: cannot assign a value of shape {array.shape}; "
                f"expected {self.shape}"
            )
        array = float32_weight(array, self.shape, f"Variable {self.path}: the value")
        self._parameter.assign(array.reshape(self._parameter.value.shape))

    def __array__(self, dtype=None, copy=None):
        value = self._parameter.copy().reshape(self.shape)
        return value if dtype is None else value.astype(dtype, copy=False)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype=float32>"


class VariableLists:
    """Keras's derived variable lists, from a class's `variables` (layers and models)."""

    @property
    def weights(self):
        return self.variables

    @property
    def trainable_variables(self):
        return [v for v in self.variables if v.trainable]

    trainable_weights = trainable_variables

    @property
    def non_trainable_variables(self):
        return [v for v in self.variables if not v.trainable]

    non_trainable_weights = non_trainable_variables


class Layer(VariableLists):
    """Base class of the layers: configuration and names in Python, math in a C++ twin.

    Subclasses set `_core` in `build(input_shape)` (None for layers without computation, such as
    Flatten) and implement `compute_output_shape` and `get_config`.

    Args:
        name: unique name; automatic (snake_case class name, then _1, _2, ...) when None.
        trainable: whether the layer's weights are updated by `fit`.
        input_shape: the shape of one sample, without the batch axis (first layer only).
    """

    def __init__(
        self,
        name=None,
        trainable=True,
        dtype=None,
        input_shape=None,
        input_dim=None,
        batch_input_shape=None,
        **kwargs,
    ):
        # Keras's Layer takes an activity regularizer; densekit's Dense has its own argument.
        if kwargs.pop("activity_regularizer", None) is not None:
            raise NotImplementedError(
                f"{type(self).__name__}: activity_regularizer is supported on Dense layers only"
            )
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword arguments {sorted(kwargs)}")
        if dtype not in (None, "float32", np.float32):
            raise ValueError(
                f"{type(self).__name__}: only dtype='float32' is supported. "
                f"Received: dtype={dtype!r}"
            )
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(
                f"{type(self).__name__}: name must be a non-empty string. Received: name={name!r}"
            )
        self.name = name or _naming.unique_name(_naming.to_snake_case(type(self).__name__))
        self._trainable = _check_trainable(type(self).__name__, trainable)
        if input_dim is not None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            input_shape = tuple(batch_input_shape)[1:]
        self._input_shape_arg = (
            None if input_shape is None else _shape_tuple(input_shape, self.name)
        )
        self._core = None
        self.built = False
        self.input_shape = None
        self._regularizers = {}  # parameter name -> regularizer, set at build
        self._constraints = {}  # parameter name -> constraint, set at build

    # -- building ---------------------------------------------------------------------------
    def build(self, input_shape):
        """Creates the C++ twin and the weights for inputs of shape (None, ...)."""
        self.input_shape = tuple(input_shape)
        self.built = True

    def _ensure_built(self, input_shape):
        if not self.built:
            self.build(input_shape)
        elif tuple(input_shape)[1:] != tuple(self.input_shape)[1:]:
            raise ValueError(
                f"Layer '{self.name}' was built for inputs of shape {self.input_shape}; "
                f"received {tuple(input_shape)}"
            )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    @property
    def output_shape(self):
        if not self.built:
            raise AttributeError(f"Layer '{self.name}' is not built yet: it has no output shape")
        return self.compute_output_shape(self.input_shape)

    # -- running ----------------------------------------------------------------------------
    def __call__(self, inputs, training=None):
        """Runs the layer on a numpy array (inference mode unless training=True)."""
        from densekit._arrays import as_float_matrix

        array = np.asarray(inputs)
        if array.ndim < 2:
            raise ValueError(
                f"Layer '{self.name}': inputs need a batch axis; got shape {array.shape}"
            )
        self._ensure_built((None,) + array.shape[1:])
        matrix = as_float_matrix(array, f"Layer '{self.name}'", "inputs")
        out = matrix if self._core is None else self._core.forward(matrix, bool(training))
        return out.reshape(
            (array.shape[0],) + tuple(self.compute_output_shape((None,) + array.shape[1:]))[1:]
        )

    # -- variables --------------------------------------------------------------------------
    @property
    def trainable(self):
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        self._trainable = _check_trainable(f"{type(self).__name__} '{self.name}'", value)
        if self._core is not None:
            self._core.trainable = self._trainable

    @property
    def variables(self):
        if self._core is None:
            return []
        return [Variable(self, p) for p in self._core.parameters]

    @property
    def losses(self):
        """The penalties of the regularized trainable variables at their current values (Keras's
        weight-regularization losses: a frozen layer has none), as floats."""
        return [
            v._parameter.penalty() for v in self.trainable_variables if v.regularizer is not None
        ]

    def count_params(self):
        if not self.built:
            raise ValueError(
                f"You tried to call `count_params` on layer '{self.name}', but the "
                f"layer isn't built."
            )
        return int(sum(np.prod(v.shape) for v in self.variables))

    def get_weights(self):
        """Copies of the variables' values, in Keras's order, read under the compute lock."""
        return copy_variables(self.variables)

    def set_weights(self, weights):
        """Copies `weights` into the variables, all or nothing: every array is checked (real
        numbers, the variable's shape, finite) before the first is written."""
        variables = self.variables
        weights = list(weights)
        if len(weights) != len(variables):
            raise ValueError(
                f"Layer '{self.name}' expects {len(variables)} weights; received {len(weights)}"
            )
        arrays = [
            float32_weight(w, v.shape, f"Layer '{self.name}': weight {v.path}")
            for v, w in zip(variables, weights)
        ]
        assign_variables(variables, arrays)

    # -- configuration ----------------------------------------------------------------------
    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        if self._input_shape_arg is not None:
            config["batch_input_shape"] = (None,) + self._input_shape_arg
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):  # Keras 3 writes a DTypePolicy config
            config["dtype"] = config["dtype"].get("config", {}).get("name", "float32")
        if "batch_shape" in config:
            config["batch_input_shape"] = config.pop("batch_shape")
        return cls(**config)

    def __reduce__(self):
        from densekit.pickling import reduce_layer

        return reduce_layer(self)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


# For densekit's own modules (Sequential, the file formats); not in __all__.
def copy_variables(variables):
    """Copies of the variables' values, all read under one hold of the compute lock."""
    copies = _core.layers.copy_parameters([v._parameter for v in variables])
    return [copy.reshape(v.shape) for v, copy in zip(variables, copies)]


def assign_variables(variables, arrays):
    """Writes arrays[i] into variables[i] under one hold of the compute lock, all or nothing
    (the arrays come from `float32_weight`; the C++ side checks shapes and values again)."""
    _core.layers.assign_parameters(
        [v._parameter for v in variables],
        [np.reshape(a, v._parameter.value.shape) for v, a in zip(variables, arrays)],
    )


def _check_trainable(owner, value):
    # A config's "false" is truthy: bool(value) would load such a layer as trainable.
    if not isinstance(value, (bool, np.bool_)) and not (is_real(value) and value in (0, 1)):
        raise ValueError(f"{owner}: trainable must be True or False. Received: trainable={value!r}")
    return bool(value)


def float32_weight(value, shape, what):
    """`value` as a C-contiguous float32 array of `shape`, or ValueError starting with `what`.

    Only real numbers are accepted (no complex, bool, object or string data) and every value,
    after rounding to float32, must be finite.
    """
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise ValueError(f"{what} must hold real numbers; received an array of dtype {array.dtype}")
    if array.shape != tuple(shape):
        raise ValueError(f"{what} has shape {tuple(shape)}; received {array.shape}")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf, refused below
        array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"{what} contains NaN or Inf")
    return array


def _shape_tuple(shape, name):
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(
            f"Layer '{name}': input_shape must be a tuple of ints. Received: input_shape={shape!r}"
        ) from None
    if not all(isinstance(d, (int, np.integer)) and d > 0 for d in shape) or not shape:
        raise ValueError(
            f"Layer '{name}': input_shape must be a non-empty tuple of positive ints. "
            f"Received: input_shape={shape!r}"
        )
    return tuple(int(d) for d in shape)
