"""Models: Sequential, cloning, and (in densekit.models.saving) save / load."""

from densekit.models.cloning import clone_model
from densekit.models.sequential import Sequential

Model = Sequential

__all__ = ["Model", "Sequential", "clone_model"]


def __dir__():
    return __all__
