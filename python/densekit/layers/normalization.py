"""BatchNormalization."""

import math

from densekit import _core, constraints, initializers, regularizers
from densekit._numbers import as_float32, is_real
from densekit.layers import _weight_rules
from densekit.layers.base import Layer
from densekit.layers.core import _units

__all__ = ["BatchNormalization"]


class BatchNormalization(Layer):
    """Normalizes each feature over the batch, then scales by gamma and shifts by beta.

    Training (`fit`, or `training=True`): `y = gamma * (x - mean_batch) / sqrt(var_batch + epsilon)
    + beta`, and `moving = moving * momentum + batch * (1 - momentum)`. Inference (`predict`,
    `evaluate`, `layer(x)`): the moving statistics replace the batch's. A frozen layer
    (`trainable = False`) always runs in inference mode, as in Keras 3.

    Args:
        axis: the feature axis; only -1 (the last) is supported.
        momentum: of the moving statistics, in [0, 1].
        epsilon: added to the variance, > 0.
        center: learn the offset beta.
        scale: learn the scale gamma.

    Input and output shape: (batch, features). Parameters: 4 per feature (gamma, beta trainable;
    moving_mean, moving_variance not).
    """

    def __init__(
        self,
        axis=-1,
        momentum=0.99,
        epsilon=0.001,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        moving_mean_initializer="zeros",
        moving_variance_initializer="ones",
        beta_regularizer=None,
        gamma_regularizer=None,
        beta_constraint=None,
        gamma_constraint=None,
        synchronized=False,
        **kwargs,
    ):
        (
            kwargs.pop("renorm", None),
            kwargs.pop("renorm_clipping", None),
            kwargs.pop("renorm_momentum", None),
        )
        super().__init__(**kwargs)
        if axis not in (-1, [-1], (-1,)):
            raise ValueError(
                f"BatchNormalization '{self.name}': only axis=-1 is supported. Received: axis={axis!r}"
            )
        self.beta_regularizer = _weight_rules.regularizer(
            self, "beta_regularizer", beta_regularizer
        )
        self.gamma_regularizer = _weight_rules.regularizer(
            self, "gamma_regularizer", gamma_regularizer
        )
        self.beta_constraint = _weight_rules.constraint(self, "beta_constraint", beta_constraint)
        self.gamma_constraint = _weight_rules.constraint(self, "gamma_constraint", gamma_constraint)
        if not is_real(momentum) or not 0 <= momentum <= 1:
            raise ValueError(
                f"BatchNormalization '{self.name}': momentum must be in [0, 1]. "
                f"Received: momentum={momentum!r}"
            )
        if not is_real(epsilon) or not 0 < as_float32(epsilon) < math.inf:
            raise ValueError(
                f"BatchNormalization '{self.name}': epsilon must be > 0 and finite in float32. Received: epsilon={epsilon!r}"
            )
        self.axis = -1
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                f"BatchNormalization '{self.name}' expects inputs of shape (batch, "
                f"features); received {tuple(input_shape)}. Add a Flatten layer before it."
            )
        features = _units(input_shape, self.name)
        self._core = _core.layers.BatchNormalization(
            features, self.momentum, self.epsilon, self.center, self.scale
        )
        self._core.trainable = self.trainable
        initial = {
            "gamma": self.gamma_initializer,
            "beta": self.beta_initializer,
            "moving_mean": self.moving_mean_initializer,
            "moving_variance": self.moving_variance_initializer,
        }
        for p in self._core.parameters:
            p.value[...] = initial[p.name]((features,), dtype="float32")
        rules = {
            "gamma": (self.gamma_regularizer, self.gamma_constraint),
            "beta": (self.beta_regularizer, self.beta_constraint),
        }
        for p in self._core.parameters:
            if p.name in rules:
                _weight_rules.attach(
                    self, p, *rules[p.name], f"{p.name}_regularizer", f"{p.name}_constraint"
                )
        super().build(input_shape)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": initializers.serialize(self.beta_initializer),
            "gamma_initializer": initializers.serialize(self.gamma_initializer),
            "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
            "moving_variance_initializer": initializers.serialize(self.moving_variance_initializer),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
            "beta_constraint": constraints.serialize(self.beta_constraint),
            "gamma_constraint": constraints.serialize(self.gamma_constraint),
            "synchronized": False,
        }
