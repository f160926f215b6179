"""Utilities: `set_random_seed` and `to_categorical`."""

from densekit.utils.numerical_utils import to_categorical
from densekit.utils.random_seed import set_random_seed

__all__ = ["set_random_seed", "to_categorical"]


def __dir__():
    return __all__
