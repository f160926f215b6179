"""densekit: train deep dense networks fast on the CPU, with the Keras API.

`import densekit as keras` runs tf.keras code for what densekit covers: Sequential models of
Dense, activation and BatchNormalization layers, the Keras initializers and activations, Keras's
optimizers and learning-rate schedules, callbacks and a progress bar. The math runs in C++ (Eigen, on
densekit's own thread team; OpenBLAS's sgemm for large products when scipy-openblas32 is
installed).
"""

from densekit import (
    activations,
    backend,
    callbacks,
    constraints,
    datasets,
    diagnostics,
    initializers,
    layers,
    losses,
    lr_finder,
    metrics,
    models,
    optimizers,
    regularizers,
    utils,
)
from densekit._core import build_info as _build_info
from densekit._core import get_num_threads, set_num_threads
from densekit._gemm import get_gemm_engine, set_gemm_engine
from densekit.layers import Input
from densekit.models import Model, Sequential

__version__ = _build_info()["version"]

from densekit._threadpool import register_with_threadpoolctl as _register  # noqa: E402

_register()

from densekit._gemm import use_default_engine as _use_default_engine  # noqa: E402

_use_default_engine()

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "backend",
    "build_info",
    "callbacks",
    "constraints",
    "datasets",
    "get_gemm_engine",
    "get_num_threads",
    "initializers",
    "layers",
    "losses",
    "lr_finder",
    "metrics",
    "models",
    "optimizers",
    "regularizers",
    "set_gemm_engine",
    "set_num_threads",
    "utils",
    "diagnostics",
]


def build_info():
    """Version, Eigen version, the SIMD instruction sets Eigen uses, the threads and the engine
    of the large matrix products (gemm: "openblas" or "eigen", gemm_library, gemm_config)."""
    return dict(_build_info())


def __dir__():
    return __all__


def __getattr__(name):
    # `densekit.wrappers` needs scikit-learn: imported on first use, as `keras.wrappers` is used.
    if name == "wrappers":
        import importlib

        return importlib.import_module("densekit.wrappers")
    raise AttributeError(f"module 'densekit' has no attribute {name!r}")
