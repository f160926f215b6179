"""The benchmark behind benchmarks/bench.py: the workloads, one module per peer (densekit, PyTorch,
NumPy), the worker processes, the round-robin runner, the markdown report and the README writer."""

__all__ = []
