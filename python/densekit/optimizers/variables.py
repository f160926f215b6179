"""Optimizer variables with Keras's names: the iteration count, the learning rate and the slots.

Each reads and writes the C++ optimizer's memory, so `optimizer.learning_rate` behaves like the
Keras variable tf.keras code expects: `float()`, `.numpy()`, `.assign()`, arithmetic,
`keras.backend.get_value` / `set_value`.
"""

import numpy as np

__all__ = ["ScalarVariable", "SlotVariable"]


class ScalarVariable:
    """A scalar optimizer variable (`iteration`, `learning_rate`, Nadam's product).

    Args:
        name: the variable's name, e.g. "learning_rate".
        path: "optimizer_name/name".
        dtype: "float32" or "int64".
        read: returns the value.
        write: stores a value already checked (None: read-only).
    """

    shape = ()
    trainable = False

    def __init__(self, name, path, dtype, read, write=None):
        self.name = name
        self.path = path
        self.dtype = dtype
        self._read = read
        self._write = write

    def numpy(self):
        return np.array(self._read(), dtype=self.dtype)

    @property
    def value(self):
        return self.numpy()

    def assign(self, value):
        if self._write is None:
            raise AttributeError(f"{self.path} cannot be assigned")
        value = np.asarray(value)
        if value.shape != ():
            raise ValueError(f"{self.path} is a scalar. Received: value of shape {value.shape}")
        self._write(value.item())
        return self

    def assign_add(self, delta):
        return self.assign(self._read() + np.asarray(delta).item())

    def assign_sub(self, delta):
        return self.assign(self._read() - np.asarray(delta).item())

    def __array__(self, dtype=None, copy=None):
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    def __float__(self):
        return float(self.numpy())

    def __int__(self):
        return int(self.numpy())

    def __index__(self):
        if self.dtype != "int64":
            raise TypeError(f"{self.path} is not an integer variable")
        return int(self.numpy())

    def __bool__(self):
        return bool(self.numpy())

    def __format__(self, spec):
        return format(self.numpy().item(), spec)

    def __repr__(self):
        return f"<Variable path={self.path}, shape=(), dtype={self.dtype}, value={self.numpy()}>"

    # Arithmetic and comparisons act on the value, as on a Keras variable.
    def __neg__(self):
        return -self.numpy()

    def __abs__(self):
        return abs(self.numpy())

    def __hash__(self):
        return id(self)


def _binary(name):
    def method(self, other):
        if isinstance(other, ScalarVariable):
            other = other.numpy()
        return getattr(self.numpy(), name)(other)

    method.__name__ = name
    return method


for _name in (
    "__add__ __radd__ __sub__ __rsub__ __mul__ __rmul__ __truediv__ __rtruediv__ __floordiv__ "
    "__rfloordiv__ __mod__ __rmod__ __pow__ __rpow__ __lt__ __le__ __gt__ __ge__ __eq__ __ne__"
).split():
    setattr(ScalarVariable, _name, _binary(_name))


class SlotVariable:
    """A per-parameter optimizer variable (a slot, a moving average, a gradient accumulator).

    Args:
        name: Keras's name: the parameter's path with "/" as "_", then the slot's name.
        path: "optimizer_name/name".
        view: returns a numpy view of the C++ memory.
        reference: the model variable it belongs to.
        written: called after an assignment (the optimizer measures its state again).
    """

    trainable = False
    dtype = "float32"

    def __init__(self, name, path, view, reference=None, written=None):
        self.name = name
        self.path = path
        self._view = view
        self.reference = reference
        self._written = written

    @property
    def shape(self):
        return tuple(self._view().shape)

    def numpy(self):
        return np.array(self._view())

    @property
    def value(self):
        return self.numpy()

    def assign(self, value):
        value = np.asarray(value, dtype=np.float32)
        target = self._view()
        if value.shape != target.shape:
            raise ValueError(
                f"{self.path} has shape {target.shape}. Received: value of shape {value.shape}"
            )
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{self.path}: the value holds NaN or Inf")
        target[...] = value
        if self._written is not None:
            self._written()
        return self

    def __array__(self, dtype=None, copy=None):
        return self.numpy() if dtype is None else self.numpy().astype(dtype)

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype=float32>"
