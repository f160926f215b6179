"""The hand-written NumPy baseline as a benchmark peer (see numpy_net for the math)."""

import numpy as np

from suite.numpy_net import Network
from suite.workloads import FEATURES, MODELS

__all__ = ["Predictor", "Trainer", "load", "set_threads"]


def load(threads):
    """NumPy's BLAS threads come from OPENBLAS_NUM_THREADS / OMP_NUM_THREADS, which the runner
    sets before this process starts; returns the version string."""
    return np.__version__


def set_threads(threads):
    raise ValueError("numpy peer: the BLAS thread count is fixed when the process starts")


class Trainer:
    """One `Network`; each call trains one shuffled epoch, batch by batch."""

    def __init__(self, model, batch, frozen=False, optimizer="sgd"):
        if frozen:
            raise ValueError("numpy peer: the frozen comparison is densekit only")
        self.net = Network(MODELS[model], FEATURES, optimizer=optimizer)
        self.batch = batch

    def epoch(self, x, y, seed):
        order = np.random.default_rng(seed).permutation(len(x))
        total = 0.0
        for start in range(0, len(x), self.batch):
            rows = order[start : start + self.batch]
            total += self.net.train_step(x[rows], y[rows]) * len(rows)
        return total / len(x)


class Predictor:
    def __init__(self, model):
        self.net = Network(MODELS[model], FEATURES)

    def predict(self, x, batch):
        out = np.empty((len(x), self.net.layers[-1].params[0].shape[1]), np.float32)
        for start in range(0, len(x), batch):
            out[start : start + batch] = self.net.predict(x[start : start + batch])
        return out

    def one(self, x):
        return self.net.predict(x)
