"""The Adam family: Adam (and AMSGrad), AdamW, Adamax and Nadam."""

import numpy as np

from densekit import _core
from densekit.optimizers.base import (
    Optimizer,
    base_arguments,
    check_fraction,
    check_non_negative,
)
from densekit.optimizers.variables import ScalarVariable

__all__ = ["Adam", "AdamW", "Adamax", "Nadam"]


class _Moments(Optimizer):
    """β₁, β₂ and ε, shared by the family."""

    _rule = None

    def __init__(
        self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, *args, **kwargs
    ):
        owner = type(self).__name__
        self.beta_1 = check_fraction(owner, "beta_1", beta_1)
        self.beta_2 = check_fraction(owner, "beta_2", beta_2)
        self.epsilon = check_non_negative(owner, "epsilon", epsilon)
        super().__init__(learning_rate=learning_rate, **base_arguments(owner, args, kwargs))

    def _rule_settings(self):
        rule = _core.RuleSettings()
        rule.rule = self._rule
        rule.beta_1 = self.beta_1
        rule.beta_2 = self.beta_2
        rule.epsilon = self.epsilon
        rule.amsgrad = getattr(self, "amsgrad", False)
        return rule

    def _slot_groups(self):
        return [[("momentum", 0), ("velocity", 1)]]

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
        }


class Adam(_Moments):
    """Adam (Kingma & Ba, 2015), as Keras 3 computes it.

    m ← β₁·m + (1−β₁)·g, v ← β₂·v + (1−β₂)·g², w ← w − α·m/(√v + ε) with
    α = lr·√(1−β₂ᵗ)/(1−β₁ᵗ); with amsgrad, v is replaced by its running maximum.

    Args:
        learning_rate: a float >= 0 or a schedule. Defaults to 0.001.
        beta_1: the first moment's decay, in [0, 1].
        beta_2: the second moment's decay, in [0, 1].
        epsilon: added to √v, >= 0.
        amsgrad: use the AMSGrad variant.
        **kwargs: the base optimizer's arguments (see `SGD`).

    Example:
        >>> densekit.optimizers.Adam(learning_rate=1e-3)
    """

    _rule = _core.UpdateRule.adam

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        *args,
        **kwargs,
    ):
        if not isinstance(amsgrad, bool):
            raise ValueError(
                f"{type(self).__name__}: `amsgrad` must be a bool. Received: amsgrad={amsgrad!r}"
            )
        self.amsgrad = amsgrad
        kwargs = base_arguments(type(self).__name__, args, kwargs)
        super().__init__(learning_rate, beta_1, beta_2, epsilon, **kwargs)

    def _slot_groups(self):
        groups = super()._slot_groups()
        return groups + [[("velocity_hat", 2)]] if self.amsgrad else groups

    def get_config(self):
        return {**super().get_config(), "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): `weight_decay` defaults to
    0.004 and must be set.

    Example:
        >>> densekit.optimizers.AdamW(learning_rate=1e-3, weight_decay=1e-4)
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        *args,
        **kwargs,
    ):
        if weight_decay is None:
            raise ValueError("AdamW: `weight_decay` must be set. Received: weight_decay=None")
        kwargs = base_arguments("AdamW", args, kwargs, own=("weight_decay",))
        super().__init__(
            learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay=weight_decay, **kwargs
        )


class Adamax(_Moments):
    """Adamax, Adam with the infinity norm: u ← max(β₂·u, |g|), w ← w − lr·m/((u + ε)(1−β₁ᵗ)).

    Args: as `Adam`, without amsgrad.

    Example:
        >>> densekit.optimizers.Adamax(learning_rate=2e-3)
    """

    _rule = _core.UpdateRule.adamax

    def _slot_groups(self):
        return [[("momentum", 0), ("norm", 1)]]


class Nadam(_Moments):
    """Adam with Nesterov momentum (Dozat, 2016), with Keras 3's momentum schedule
    uₜ = β₁(1 − ½·0.96ᵗ).

    Args: as `Adam`, without amsgrad.

    Example:
        >>> densekit.optimizers.Nadam(learning_rate=1e-3)
    """

    _rule = _core.UpdateRule.nadam

    def _extra_variables(self):
        if not self._tracked:
            return []
        return [
            ScalarVariable(
                "u_product",
                f"{self.name}/u_product",
                "float32",
                lambda: np.float32(self._core.u_product),
                self._write_u_product,
            )
        ]

    def _write_u_product(self, value):
        self._core.u_product = float(value)
