"""clone_model: fresh layers from the same configuration (new weights, nothing shared)."""

__all__ = ["clone_model"]


def clone_model(model):
    """A new Sequential with layers rebuilt from `model`'s config; weights are re-initialized
    (copy them with `clone.set_weights(model.get_weights())`)."""
    from densekit.layers import deserialize, serialize
    from densekit.models.sequential import Sequential

    clone = Sequential(name=None)
    if model._input_shape is not None:
        from densekit.layers import InputLayer

        clone.add(InputLayer(shape=model._input_shape[1:]))
    for layer in model.layers:
        config = serialize(layer)
        config["config"] = {k: v for k, v in config["config"].items() if k != "name"}
        clone.add(deserialize(config))
    return clone
