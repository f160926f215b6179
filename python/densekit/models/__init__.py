"""Models: Sequential, cloning, and saving / loading in Keras 3's `.keras` format."""

from densekit.models.cloning import clone_model
from densekit.models.saving import load_model, model_from_json, save_model
from densekit.models.sequential import Sequential

Model = Sequential

__all__ = ["Model", "Sequential", "clone_model", "load_model", "model_from_json", "save_model"]


def __dir__():
    return __all__
