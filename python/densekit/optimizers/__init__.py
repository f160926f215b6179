"""Optimizers with Keras 3's names, arguments and update rules.

Each optimizer's whole step (the rule, clipping, weight decay, gradient accumulation, EMA and the
learning-rate schedule) runs in the C++ core inside the training call; Python holds the
configuration and the names. `learning_rate` reads and writes like a Keras variable.

Example:
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")  # doctest: +SKIP
    >>> densekit.optimizers.Nadam(learning_rate=2e-3)
"""

from densekit.optimizers import schedules
from densekit.optimizers.adam import Adam, Adamax, AdamW, Nadam
from densekit.optimizers.base import Optimizer
from densekit.optimizers.lion import Lion
from densekit.optimizers.rmsprop import Adagrad, RMSprop
from densekit.optimizers.sgd import SGD

__all__ = [
    "Optimizer",
    "SGD",
    "Adagrad",
    "RMSprop",
    "Adam",
    "AdamW",
    "Adamax",
    "Nadam",
    "Lion",
    "schedules",
    "deserialize",
    "get",
    "serialize",
]

_CLASSES = {cls.__name__: cls for cls in (SGD, Adagrad, RMSprop, Adam, AdamW, Adamax, Nadam, Lion)}
_CLASSES.update({name.lower(): cls for name, cls in list(_CLASSES.items())})


def get(identifier):
    """An optimizer from a name ("adam", "Adam", "rmsprop", ...), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str) and identifier in _CLASSES:
        return _CLASSES[identifier]()
    raise ValueError(
        f"Could not interpret optimizer identifier: {identifier!r}. densekit has: "
        + ", ".join(sorted(name for name in _CLASSES if name.islower()))
    )


def serialize(optimizer):
    """Keras's serialized form: {"module", "class_name", "config", "registered_name"}."""
    return {
        "module": "keras.optimizers",
        "class_name": type(optimizer).__name__,
        "config": optimizer.get_config(),
        "registered_name": None,
    }


def deserialize(config, custom_objects=None):
    """The optimizer of a serialized form (or of {"class_name", "config"})."""
    if not isinstance(config, dict):
        raise ValueError(f"Could not deserialize optimizer from {config!r}")
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(
            f"Unknown optimizer class: {config.get('class_name')!r}. densekit has: "
            + ", ".join(sorted(name for name in _CLASSES if not name.islower()))
        )
    return cls.from_config(config.get("config", {}))


def __dir__():
    return __all__
