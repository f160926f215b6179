"""`serialize`, `deserialize` and `get`: schedules as Keras 3's config dicts, both ways."""

from densekit.optimizers.schedules.base import LearningRateSchedule
from densekit.optimizers.schedules.cosine import CosineDecay, CosineDecayRestarts
from densekit.optimizers.schedules.decays import (
    ExponentialDecay,
    InverseTimeDecay,
    PiecewiseConstantDecay,
    PolynomialDecay,
)
from densekit.optimizers.schedules.one_cycle import OneCycle

__all__ = ["deserialize", "get", "serialize"]

_BY_NAME = {
    cls.__name__: cls
    for cls in (
        CosineDecay,
        CosineDecayRestarts,
        ExponentialDecay,
        InverseTimeDecay,
        OneCycle,
        PiecewiseConstantDecay,
        PolynomialDecay,
    )
}


def serialize(learning_rate_schedule):
    """The Keras 3 config dict of a schedule.

    Built-ins are written as Keras writes its own, so Keras reads ours and we read Keras's;
    a schedule class of your own is written with its module and name, for `custom_objects`.

    Args:
        learning_rate_schedule: a `LearningRateSchedule` with a `get_config`.

    Returns:
        `{"module", "class_name", "config", "registered_name"}`.

    Example:

    >>> serialize(ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.5))["class_name"]
    'ExponentialDecay'
    """
    if not isinstance(learning_rate_schedule, LearningRateSchedule):
        raise ValueError(
            "Can only serialize LearningRateSchedule instances. "
            f"Received: learning_rate_schedule={learning_rate_schedule!r}"
        )
    cls = type(learning_rate_schedule)
    builtin = _BY_NAME.get(cls.__name__) is cls
    return {
        "module": "keras.optimizers.schedules" if builtin else cls.__module__,
        "class_name": cls.__name__,
        "config": learning_rate_schedule.get_config(),
        "registered_name": None if builtin else cls.__name__,
    }


def deserialize(config, custom_objects=None):
    """A schedule from the dict of `serialize` (ours or Keras's). Runs no code of the config.

    Args:
        config: `{"class_name": ..., "config": {...}}`, with or without "module" and
            "registered_name".
        custom_objects: `{name: class}` for schedule classes of your own.

    Returns:
        A new schedule.

    Example:

    >>> deserialize({"class_name": "CosineDecay", "config": {"initial_learning_rate": 0.1,
    ...                                                      "decay_steps": 1000}})
    CosineDecay(initial_learning_rate=0.1, decay_steps=1000, alpha=0.0, name='CosineDecay', warmup_target=None, warmup_steps=0)
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(
            "A learning rate schedule config must be a dict with 'class_name' and 'config'. "
            f"Received: config={config!r}"
        )
    name = config["class_name"]
    cls = (custom_objects or {}).get(name) or _BY_NAME.get(name)
    if cls is None:
        raise ValueError(
            f"Unknown learning rate schedule: {name!r}. densekit has: {', '.join(sorted(_BY_NAME))}"
            " (pass your own classes in custom_objects)"
        )
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier):
    """Resolves a schedule given to an optimizer.

    Args:
        identifier: None, a `LearningRateSchedule`, a `serialize` dict, or a callable
            that takes the step.

    Returns:
        The schedule (None for None).

    Example:

    >>> get({"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1,
    ...     "decay_steps": 100, "decay_rate": 0.9}})(0)
    np.float32(0.1)
    """
    if identifier is None or isinstance(identifier, LearningRateSchedule):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier) and not isinstance(identifier, type):
        return identifier
    raise ValueError(f"Could not interpret learning rate schedule identifier: {identifier!r}")
