"""The machine and software a run measured: CPU model, instruction sets, cores, versions.

Results are only comparable on the same machine with the same versions, so every report and the
results section of benchmarks/README.md start with these.
"""

import os
import platform

import numpy as np

import densekit

__all__ = ["describe"]

# The /proc/cpuinfo flags that matter to float32 matrix products, in the order they are printed.
_SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni")


def _cpuinfo():
    """The first processor's fields of /proc/cpuinfo ({} where there is none)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def describe():
    """A JSON-ready dict: cpu, simd (list of flags), cpus (logical), cores (physical, per socket,
    None if unknown), the versions of Python, NumPy and densekit, and densekit's build info."""
    info = _cpuinfo()
    flags = set(info.get("flags", "").split())
    cores = info.get("cpu cores")
    return {
        "cpu": info.get("model name") or platform.processor() or platform.machine(),
        "simd": [flag for flag in _SIMD_FLAGS if flag in flags],
        "cpus": os.cpu_count(),
        "cores": int(cores) if cores and cores.isdigit() else None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "densekit": densekit.__version__,
        "densekit_build": densekit.build_info(),
        "platform": platform.platform(),
    }
