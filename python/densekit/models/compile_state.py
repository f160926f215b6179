"""CompileState: what `compile` was given and what it resolved (private).

Read by training (the network's loss, optimizer and accuracy), by saving (Keras's
compile_config) and by cloning; a model that was never compiled has none.
"""

from dataclasses import dataclass
from typing import Any, Optional

from densekit import losses, metrics, optimizers

__all__ = ["CompileState"]


@dataclass
class CompileState:
    """The compiled half of a model.

    Attributes:
        optimizer: The optimizer instance (`optimizers.get` of the `optimizer` argument).
        loss: The loss instance (`losses.get` of the `loss` argument).
        loss_arg: The `loss` argument as given: what `model.loss` returns and what a saved
            compile config names when it is a string.
        metrics_arg: The `metrics` argument as given.
        metric_key: The history key of the accuracy (the name given, e.g. "acc"), or None.
        accuracy_request: The accuracy asked for: a Keras accuracy name, "auto" for
            "accuracy" / "acc" (resolved from the shapes of the targets, as Keras does), or None.
        accuracy: The accuracy the network counts: `accuracy_request` resolved once targets
            were seen; None before that and without an accuracy.
    """

    optimizer: optimizers.Optimizer
    loss: losses.Loss
    loss_arg: Any
    metrics_arg: Any = None
    metric_key: Optional[str] = None
    accuracy_request: Optional[str] = None
    accuracy: Optional[str] = None

    @classmethod
    def from_arguments(cls, optimizer, loss, metrics_arg):
        """The state `compile(optimizer=..., loss=..., metrics=...)` asks for; ValueError for
        an identifier that cannot be interpreted or a metric densekit does not count."""
        if optimizer is None:
            raise ValueError(
                "compile: `optimizer` must be a name such as 'adam', a config dict or an "
                "optimizer. Received: optimizer=None"
            )
        optimizer = optimizers.get(optimizer)
        loss_object = losses.get(loss)
        metric = metrics.resolve(metrics_arg)  # (history key, accuracy name or "auto") or None
        return cls(
            optimizer=optimizer,
            loss=loss_object,
            loss_arg=loss,
            metrics_arg=metrics_arg,
            metric_key=metric[0] if metric else None,
            accuracy_request=metric[1] if metric else None,
        )
