"""Lion, the sign-of-momentum optimizer."""

from densekit import _core
from densekit.optimizers.base import Optimizer, base_arguments, check_fraction

__all__ = ["Lion"]


class Lion(Optimizer):
    """Lion (Chen et al., 2023): w ← w − lr·sign(β₁·m + (1−β₁)·g), then m ← β₂·m + (1−β₂)·g.

    Args:
        learning_rate: a float >= 0 or a schedule. Defaults to 0.001.
        beta_1: the interpolation of the step's direction, in (0, 1].
        beta_2: the momentum's decay, in [0, 1].
        **kwargs: the base optimizer's arguments (see `SGD`).

    Example:
        >>> densekit.optimizers.Lion(learning_rate=1e-4, weight_decay=0.01)
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, *args, **kwargs):
        self.beta_1 = check_fraction("Lion", "beta_1", beta_1, low_open=True)
        self.beta_2 = check_fraction("Lion", "beta_2", beta_2)
        super().__init__(learning_rate=learning_rate, **base_arguments("Lion", args, kwargs))

    def _rule_settings(self):
        rule = _core.RuleSettings()
        rule.rule = _core.UpdateRule.lion
        rule.beta_1 = self.beta_1
        rule.beta_2 = self.beta_2
        return rule

    def _slot_groups(self):
        return [[("momentum", 0)]]

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}
