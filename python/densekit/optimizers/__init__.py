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

# By lowercase class name: Keras finds "ADAM", "RMSProp" and "adamw" alike.
_CLASSES = {
    cls.__name__.lower(): cls for cls in (SGD, Adagrad, RMSprop, Adam, AdamW, Adamax, Nadam, Lion)
}


def _class_named(name, custom_objects=None):
    """The class of an optimizer name: the user's own (custom_objects, by exact name) first."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return _CLASSES.get(name.lower()) if isinstance(name, str) else None


def get(identifier):
    """An optimizer from a name ("adam", "Adam", "RMSProp", ...), a config dict or an instance;
    None for None, as in Keras."""
    if identifier is None or isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    cls = _class_named(identifier)
    if cls is not None:
        return cls()
    raise ValueError(
        f"Could not interpret optimizer identifier: {identifier!r}. densekit has: "
        + ", ".join(sorted(_CLASSES))
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
    """The optimizer of a serialized form (or of {"class_name", "config"}); custom_objects:
    `{name: class}` for optimizer and schedule classes of your own."""
    if not isinstance(config, dict):
        raise ValueError(f"Could not deserialize optimizer from {config!r}")
    cls = _class_named(config.get("class_name"), custom_objects)
    if cls is None:
        raise ValueError(
            f"Unknown optimizer class: {config.get('class_name')!r}. densekit has: "
            + ", ".join(sorted(c.__name__ for c in _CLASSES.values()))
            + " (pass your own classes in custom_objects)"
        )
    inner = config.get("config", {})
    if not custom_objects:  # a class of the user's own may define from_config(cls, config)
        return cls.from_config(inner)
    return cls.from_config(inner, custom_objects=custom_objects)


def __dir__():
    return __all__
