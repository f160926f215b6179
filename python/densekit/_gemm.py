"""The engine of densekit's large matrix products.

OpenBLAS's sgemm, from the scipy-openblas32 package, computes the products large enough for it
to be faster than Eigen (a wide layer's); Eigen computes all the others, and all of them when the
package is not installed. At import, densekit loads OpenBLAS when the package is there, unless
the environment variable DENSEKIT_GEMM is "eigen" (read once, at import); "openblas" makes a
missing or broken library an error instead of a fallback to Eigen.
"""

import importlib.util
import os
import warnings

from densekit import _core

__all__ = ["get_gemm_engine", "set_gemm_engine"]

ENVIRONMENT_VARIABLE = "DENSEKIT_GEMM"
_ENGINES = ("eigen", "openblas")


def openblas_library():
    """The path of scipy-openblas32's shared library, or None when the package is missing."""
    if importlib.util.find_spec("scipy_openblas32") is None:
        return None
    import scipy_openblas32

    stem = os.path.join(scipy_openblas32.get_lib_dir(), f"lib{scipy_openblas32.get_library()}")
    for suffix in (".so", ".dylib"):
        if os.path.exists(stem + suffix):
            return stem + suffix
    return None


def set_gemm_engine(name, library=None):
    """Chooses the engine of the large matrix products, for the whole process.

    Args:
        name: "openblas" (OpenBLAS's sgemm for the products large enough to gain from it, Eigen
            for the rest) or "eigen" (Eigen for every product).
        library: for "openblas", the path of an OpenBLAS shared library built as scipy-openblas32
            builds it; by default, the one that package installed.

    Raises:
        ValueError: for another name, or a library given with "eigen".
        RuntimeError: when OpenBLAS is not installed or cannot be loaded; the engine is then
            unchanged.
    """
    if name not in _ENGINES:
        raise ValueError(
            f"set_gemm_engine: name must be one of {', '.join(map(repr, _ENGINES))}. "
            f"Received: name={name!r}"
        )
    if name == "eigen":
        if library is not None:
            raise ValueError(
                f"set_gemm_engine: library is only for 'openblas'. Received: library={library!r}"
            )
        _core.gemm_use_eigen()
        return
    path = os.fspath(library) if library is not None else openblas_library()
    if path is None:
        raise RuntimeError(
            "set_gemm_engine: 'openblas' needs the scipy-openblas32 package "
            "(pip install scipy-openblas32) or the path of an OpenBLAS library. "
            "Received: library=None"
        )
    _core.gemm_use_openblas(path)


def get_gemm_engine():
    """The engine of the large matrix products: {"name": "openblas" or "eigen", "library": the
    path of OpenBLAS's shared library, or "" for Eigen}."""
    info = _core.build_info()
    return {"name": info["gemm"], "library": info["gemm_library"]}


def use_default_engine():
    """The engine at import: as DENSEKIT_GEMM says ("eigen", "openblas", or unset / "auto":
    OpenBLAS when scipy-openblas32 is installed and loads, else Eigen)."""
    choice = os.environ.get(ENVIRONMENT_VARIABLE, "auto").strip().lower() or "auto"
    if choice not in ("auto",) + _ENGINES:
        raise ValueError(
            f"densekit: the environment variable {ENVIRONMENT_VARIABLE} must be 'auto', "
            f"'eigen' or 'openblas'. Received: {ENVIRONMENT_VARIABLE}={choice!r}"
        )
    if choice == "eigen":
        return
    if choice == "openblas":
        set_gemm_engine("openblas")
        return
    path = openblas_library()
    if path is None:
        return
    try:
        _core.gemm_use_openblas(path)
    except RuntimeError as error:
        warnings.warn(
            f"densekit: OpenBLAS could not be loaded, so Eigen computes every product: {error}",
            RuntimeWarning,
            stacklevel=3,
        )
