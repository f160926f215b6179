"""Utilities: `set_random_seed`."""

from densekit.utils.random_seed import set_random_seed

__all__ = ["set_random_seed"]


def __dir__():
    return __all__
