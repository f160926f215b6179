"""Pickling and deep copies: a model, layer or optimizer goes as its class, config and values and
is rebuilt from them, since its C++ twin cannot be pickled.

A copy predicts identically and trains independently of the original: a model keeps its layers
(their classes, so subclasses too), weights, compile arguments and optimizer state; a layer its
config and weights; an optimizer its config, iteration count and learning rate (its slots belong
to a model's variables and travel with the model). Compile arguments pickle as Python objects, so
a loss or metric given as a function must be importable, as pickle requires.
"""

import numpy as np

__all__ = ["reduce_layer", "reduce_model", "reduce_optimizer"]


def reduce_layer(layer):
    built = (layer.input_shape, layer.get_weights(), _random_step(layer)) if layer.built else None
    # A noise layer's stream seed: drawn at random when the config has no seed, so a copy that
    # is to draw the same noise as the original needs it.
    seed = getattr(layer, "generator_seed", None)
    return _restore_layer, (type(layer), layer.get_config(), built, seed)


def _random_step(layer):
    return layer._core.random_step if layer._core is not None else 0


def _restore_layer(cls, config, built, generator_seed=None):
    layer = cls.from_config(config)
    if generator_seed is not None:
        layer.generator_seed = generator_seed
    if built is not None:
        input_shape, weights, random_step = built
        layer.build(tuple(input_shape))
        layer.set_weights(weights)
        if layer._core is not None:
            layer._core.random_step = random_step
    return layer


def reduce_optimizer(optimizer):
    head = [
        np.array(v.numpy())
        for v in optimizer.variables[: 2 if optimizer._learning_rate is None else 1]
    ]
    return _restore_optimizer, (type(optimizer), optimizer.get_config(), head)


def _restore_optimizer(cls, config, head):
    optimizer = cls.from_config(config)
    for variable, value in zip(optimizer.variables, head):
        variable.assign(value)
    return optimizer


def reduce_model(model):
    compiled = None
    if model.compiled:
        state = model._compile_state
        optimizer_values = [np.array(v.numpy()) for v in state.optimizer.variables]
        # The weights the optimizer keeps state for: those trainable at compile and any
        # unfrozen since, frozen ones included.
        tracked = [v.path for v in state.optimizer._tracked]
        compiled = (state.optimizer, state.loss_arg, state.metrics_arg, optimizer_values, tracked)
    shape = model.input_shape if model.built else None
    return _restore_model, (type(model), model.name, model.layers, shape, compiled)


def _restore_model(cls, name, layers, input_shape, compiled):
    model = cls(layers, name=name)
    if input_shape is not None and not model.built:
        model.build(tuple(input_shape))
    if compiled is not None:
        optimizer, loss, metrics, optimizer_values, *tracked = compiled  # older: no tracked
        tracked = tracked[0] if tracked else None
        model.compile(optimizer=optimizer, loss=loss, metrics=metrics)
        if tracked:
            paths = set(tracked)
            optimizer._track([v for v in model.variables if v.path in paths])
        variables = optimizer.variables
        if len(variables) == len(optimizer_values):
            for variable, value in zip(variables, optimizer_values):
                variable.assign(value if variable.shape else value.item())
    return model
