"""JAX with the whole epoch compiled as one `jax.lax.scan` over the shuffled batches: the jax
peer in all but the loop, which runs inside XLA instead of in Python (see peer_jax). It measures
the training items only (workloads.runs_on)."""

from suite import peer_jax
from suite.peer_jax import load, set_threads

__all__ = ["Trainer", "load", "set_threads"]


class Trainer(peer_jax.Trainer):
    scan = True
