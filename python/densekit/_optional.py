"""Optional dependencies, imported where a feature needs them (`import densekit` needs numpy alone)."""

import importlib

__all__ = ["require"]


def require(module, extra, feature):
    """Imports `module` for `feature`, or raises ImportError naming the extra that installs it.

    Example: `h5py = require("h5py", extra="io", feature="Saving .keras files")`.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise ImportError(
            f'{feature} needs {module}, which is not installed: pip install "densekit[{extra}]"'
        ) from e
