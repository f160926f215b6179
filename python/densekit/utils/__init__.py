"""Utilities: `set_random_seed`, `to_categorical`, and `PyDataset` (alias `Sequence`)."""

from densekit.utils.numerical_utils import to_categorical
from densekit.utils.py_dataset import PyDataset, Sequence
from densekit.utils.random_seed import set_random_seed

__all__ = ["PyDataset", "Sequence", "set_random_seed", "to_categorical"]


def __dir__():
    return __all__
