"""SGD, with momentum and Nesterov momentum."""

from densekit import _core
from densekit.optimizers.base import Optimizer, base_arguments, check_fraction

__all__ = ["SGD"]


class SGD(Optimizer):
    """Gradient descent with momentum (Keras 3's `SGD`).

    momentum = 0: w ← w − lr·g. Otherwise m ← momentum·m − lr·g and w ← w + m, or with Nesterov
    w ← w + momentum·m − lr·g.

    Args:
        learning_rate: a float >= 0 or a schedule. Defaults to 0.01.
        momentum: in [0, 1]; 0 is plain SGD (no slots).
        nesterov: use Nesterov momentum.
        **kwargs: the base optimizer's arguments (`weight_decay`, `clipnorm`, `clipvalue`,
            `global_clipnorm`, `use_ema`, `ema_momentum`, `ema_overwrite_frequency`,
            `loss_scale_factor`, `gradient_accumulation_steps`, `name`).

    Example:
        >>> densekit.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True)
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, *args, **kwargs):
        self.momentum = check_fraction("SGD", "momentum", momentum)
        if not isinstance(nesterov, bool):
            raise ValueError(f"SGD: `nesterov` must be a bool. Received: nesterov={nesterov!r}")
        self.nesterov = nesterov
        super().__init__(learning_rate=learning_rate, **base_arguments("SGD", args, kwargs))

    def _rule_settings(self):
        rule = _core.RuleSettings()
        rule.rule = _core.UpdateRule.sgd
        rule.momentum = self.momentum
        rule.nesterov = self.nesterov
        return rule

    def _slot_groups(self):
        return [[("momentum", 0)]] if self.momentum != 0 else []

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
