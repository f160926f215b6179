"""LambdaCallback: a callback built from plain functions."""

from densekit.callbacks.base import Callback

__all__ = ["LambdaCallback"]


class LambdaCallback(Callback):
    """A callback built from plain functions.

    `on_epoch_begin`/`on_epoch_end` are called as `f(epoch, logs)`,
    `on_train_begin`/`on_train_end` as `f(logs)` and the batch hooks as
    `f(batch, logs=logs)`. Any other hook is given by keyword, e.g.
    `LambdaCallback(on_test_end=f)`.

    Args:
        on_epoch_begin: Called at the beginning of every epoch.
        on_epoch_end: Called at the end of every epoch.
        on_train_begin: Called at the beginning of training.
        on_train_end: Called at the end of training.
        on_train_batch_begin: Called at the beginning of every train batch.
        on_train_batch_end: Called at the end of every train batch.
        **kwargs: Any other hook of `Callback`, by name.

    Example:

    >>> log = []
    >>> cb = LambdaCallback(on_epoch_end=lambda epoch, logs: log.append(epoch))
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        self.__dict__.update(kwargs)
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name, function in hooks.items():
            if function is not None:
                setattr(self, name, function)
