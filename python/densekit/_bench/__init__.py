"""The implementation of `densekit bench` (see densekit.bench): workloads, peers, workers,
the round-robin runner and the markdown report."""

__all__ = []
