"""clone_model: fresh layers from the same configuration (new weights, nothing shared)."""

from densekit.models import _arguments

__all__ = ["clone_model"]


def clone_model(
    model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs
):
    """A new Sequential whose layers are rebuilt from `model`'s layer configs, as Keras's
    `clone_model` (Keras 3): same model and layer names, classes, arguments and `trainable`
    flags, new weights (copy them with `clone.set_weights(model.get_weights())`). A compiled
    model's clone is compiled the same way, with a fresh optimizer (no state shared).

    Args:
        model: the Sequential to clone.
        clone_function: called on each layer to make its copy; by default
            `layer.__class__.from_config(layer.get_config())`.
        recursive: accepted for Keras's signature; a densekit Sequential holds no nested
            models, so there is nothing to recurse into.

    `input_tensors` and `call_function` are not implemented (NotImplementedError).

    Example:
        >>> clone = densekit.models.clone_model(model)
        >>> clone.set_weights(model.get_weights())
    """
    from densekit.layers import InputLayer
    from densekit.models.sequential import Sequential

    _arguments.not_implemented(
        "clone_model", input_tensors=input_tensors, call_function=call_function
    )
    _arguments.unrecognized("clone_model", kwargs)
    if not isinstance(model, Sequential):
        raise ValueError(f"clone_model expects a densekit Sequential. Received: {model!r}")
    clone_function = clone_function or _clone_layer
    if not callable(clone_function):
        raise ValueError(
            f"clone_model: clone_function must be callable. Received: {clone_function!r}"
        )
    clone = Sequential(name=model.name)
    if model._input_shape is not None:
        clone.add(InputLayer(shape=model._input_shape[1:]))
    for layer in model.layers:
        clone.add(clone_function(layer))
    if model.compiled:
        from densekit.models import keras_format

        keras_format.compile_from_config(
            clone, keras_format.compile_config(model), f"clone_model of '{model.name}'"
        )
    return clone


def _clone_layer(layer):
    return layer.__class__.from_config(layer.get_config())
