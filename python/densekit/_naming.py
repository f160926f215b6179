"""Unique automatic names, as Keras gives them: dense, dense_1, dense_2, ... (private)."""

import re
from collections import defaultdict

__all__ = []

_counts = defaultdict(int)


def to_snake_case(name):
    """'BatchNormalization' -> 'batch_normalization', 'PReLU' -> 'p_re_lu' (as Keras does)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_name(base):
    """The first call for a base returns it unchanged, later ones append _1, _2, ..."""
    count = _counts[base]
    _counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def reset():
    """Forgets every count: the next name of each base is the base itself."""
    _counts.clear()
