"""densekit: train deep dense networks fast on the CPU, with the Keras API.

`import densekit as keras` runs tf.keras code for what densekit covers: Sequential models of
Dense, activation and BatchNormalization layers, the Keras initializers and activations, SGD
with gradient clipping, callbacks and a progress bar. The math runs in C++ (Eigen + OpenMP).
"""

import os as _os

# libgomp (OpenMP) lets its worker threads sleep soon after a parallel region; waking them costs
# ~100 µs here, more than two threads gain on a batch-32 product, which made 2 threads slower than
# 1 (seed model, batch 32: 2.6-3.2 s an epoch against 1.4-1.5 s with longer spinning). Spin ~10-50
# ms before sleeping, unless the user chose; read when libgomp loads, so set before _core.
_os.environ.setdefault("GOMP_SPINCOUNT", "10000000")

from densekit import (
    activations,
    callbacks,
    datasets,
    diagnostics,
    initializers,
    layers,
    losses,
    metrics,
    models,
    optimizers,
)
from densekit._core import build_info as _build_info
from densekit._core import get_num_threads, set_num_threads
from densekit.layers import Input
from densekit.models import Model, Sequential

__version__ = _build_info()["version"]

__all__ = [
    "Input",
    "Model",
    "Sequential",
    "activations",
    "build_info",
    "callbacks",
    "datasets",
    "get_num_threads",
    "initializers",
    "layers",
    "losses",
    "metrics",
    "models",
    "optimizers",
    "set_num_threads",
    "diagnostics",
]


def build_info():
    """Version, Eigen version, OpenMP, the SIMD instruction sets Eigen uses and the threads."""
    return dict(_build_info())


def __dir__():
    return __all__
