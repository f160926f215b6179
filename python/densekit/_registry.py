"""Keras's identifiers of the objects of one module (regularizers, constraints): names, config
dicts, classes and instances, and Keras 3's dict form of an instance."""

import inspect

from densekit._naming import to_snake_case


class KerasRegistry:
    """The classes of one Keras module, found by class name or by snake-case name.

    Args:
        kind: what an object is called in messages ("regularizer").
        module: Keras's module name written by `serialize` ("keras.regularizers").
        base: the base class of the module's objects.
        classes: the built-in classes.
    """

    def __init__(self, kind, module, base, classes):
        self.kind, self.module, self.base = kind, module, base
        self.by_name = {cls.__name__: cls for cls in classes}
        self.by_name.update({to_snake_case(cls.__name__): cls for cls in classes})

    def serialize(self, obj):
        if obj is None:
            return None
        if not isinstance(obj, self.base):
            raise ValueError(
                f"Can only serialize {self.base.__name__} instances. Received: {self.kind}={obj!r}"
            )
        cls = type(obj)
        builtin = self.by_name.get(cls.__name__) is cls
        return {
            "module": self.module if builtin else cls.__module__,
            "class_name": cls.__name__,
            "config": obj.get_config(),
            "registered_name": None if builtin else cls.__name__,
        }

    def deserialize(self, config, custom_objects=None):
        if isinstance(config, str):
            return self._lookup(config, config, custom_objects)()
        if not isinstance(config, dict) or "class_name" not in config:
            raise ValueError(f"Could not interpret {self.kind} identifier: {config!r}")
        cls = self._lookup(config["class_name"], config, custom_objects)
        return cls.from_config(dict(config.get("config") or {}))

    def get(self, identifier):
        if identifier is None:
            return None
        if isinstance(identifier, (dict, str)):
            return self.deserialize(identifier)
        if inspect.isclass(identifier):
            return identifier()
        if callable(identifier):
            return identifier
        raise ValueError(f"Could not interpret {self.kind} identifier: {identifier!r}")

    def _lookup(self, name, identifier, custom_objects=None):
        cls = (custom_objects or {}).get(name) or self.by_name.get(name)
        if cls is None:
            raise ValueError(
                f"Could not interpret {self.kind} identifier: {identifier!r}. "
                f"Valid names: {', '.join(sorted(self.by_name))}."
            )
        return cls
