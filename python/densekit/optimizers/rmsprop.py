"""Adagrad and RMSprop: steps scaled by the gradient's accumulated (or averaged) square."""

from densekit import _core
from densekit.optimizers.base import (
    Optimizer,
    base_arguments,
    check_fraction,
    check_non_negative,
)

__all__ = ["Adagrad", "RMSprop"]


class Adagrad(Optimizer):
    """Adagrad (Keras 3's): a ← a + g², w ← w − lr·g / √(a + ε).

    Args:
        learning_rate: a float >= 0 or a schedule. Defaults to 0.001.
        initial_accumulator_value: the accumulators' starting value, >= 0.
        epsilon: added inside the square root, >= 0.
        **kwargs: the base optimizer's arguments (see `SGD`).

    Example:
        >>> densekit.optimizers.Adagrad(learning_rate=0.01)
    """

    def __init__(
        self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, *args, **kwargs
    ):
        self.initial_accumulator_value = check_non_negative(
            "Adagrad", "initial_accumulator_value", initial_accumulator_value
        )
        self.epsilon = check_non_negative("Adagrad", "epsilon", epsilon)
        super().__init__(learning_rate=learning_rate, **base_arguments("Adagrad", args, kwargs))

    def _rule_settings(self):
        rule = _core.RuleSettings()
        rule.rule = _core.UpdateRule.adagrad
        rule.initial_accumulator_value = self.initial_accumulator_value
        rule.epsilon = self.epsilon
        return rule

    def _slot_groups(self):
        return [[("accumulator", 0)]]

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


class RMSprop(Optimizer):
    """RMSprop (Keras 3's), optionally centered and with momentum.

    v ← ρ·v + (1−ρ)·g²; the step lr·g/√(v + ε) (centered: √(v − ḡ² + ε) with ḡ the average
    gradient), taken through a momentum slot when momentum > 0.

    Args:
        learning_rate: a float >= 0 or a schedule. Defaults to 0.001.
        rho: the discount of the squares' average, in [0, 1].
        momentum: in [0, 1]; 0 takes the step directly.
        epsilon: added under the square root, >= 0.
        centered: divide by the estimated variance rather than the second moment.
        **kwargs: the base optimizer's arguments (see `SGD`).

    Example:
        >>> densekit.optimizers.RMSprop(learning_rate=0.001, rho=0.9)
    """

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        *args,
        **kwargs,
    ):
        self.rho = check_fraction("RMSprop", "rho", rho)
        self.momentum = check_fraction("RMSprop", "momentum", momentum)
        self.epsilon = check_non_negative("RMSprop", "epsilon", epsilon)
        if not isinstance(centered, bool):
            raise ValueError(f"RMSprop: `centered` must be a bool. Received: centered={centered!r}")
        self.centered = centered
        super().__init__(learning_rate=learning_rate, **base_arguments("RMSprop", args, kwargs))

    def _rule_settings(self):
        rule = _core.RuleSettings()
        rule.rule = _core.UpdateRule.rmsprop
        rule.rho = self.rho
        rule.momentum = self.momentum
        rule.epsilon = self.epsilon
        rule.centered = self.centered
        return rule

    def _slot_groups(self):
        groups = [[("velocity", 0)]]
        if self.momentum > 0:
            groups.append([("momentum", 1)])
        if self.centered:
            groups.append([("average_gradient", 2)])
        return groups

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }
