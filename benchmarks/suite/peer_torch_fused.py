"""PyTorch with torch.optim.Adam(fused=True) as a benchmark peer: the torch peer in all but Adam's
step, which runs in one fused kernel (torch._fused_adam_) instead of foreach's sequence of
multi-tensor operations. It measures the Adam items only (workloads.runs_on)."""

from suite import peer_torch
from suite.peer_torch import Predictor, load, set_threads

__all__ = ["Predictor", "Trainer", "load", "set_threads"]


class Trainer(peer_torch.Trainer):
    fused = True
