"""One peer in its own process, driven by the runner: a JSON request per line on stdin, a JSON
reply per line on stdout (`python -m suite.worker PEER`).

Why a process per peer: each framework's thread pools (OpenMP, OpenBLAS) and memory stay its own,
the BLAS thread count can be set before NumPy loads, and an idle peer waits on a pipe instead of
spinning. Timing happens here, around the peer's call, the same way for every peer.
"""

import importlib
import json
import os
import statistics
import sys
import time
import traceback

import numpy as np

from suite import workloads

__all__ = ["main"]


def _warmup_rows(batch, samples):
    """Enough batches for the allocations and thread pools to settle, at most one epoch."""
    return min(samples, max(2048, 8 * batch))


def _memory_kib(key):
    """VmRSS or VmHWM (the peak) of this process, from /proc/self/status; None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak():
    """Resets VmHWM to the current RSS (Linux's clear_refs "5"); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


class Worker:
    def __init__(self, peer):
        self.name = peer
        self.peer = None
        self.trainers, self.predictors = {}, {}

    # -- requests ----------------------------------------------------------------------------
    def hello(self, threads):
        try:
            self.peer = importlib.import_module(f"suite.peer_{self.name.replace('-', '_')}")
        except ImportError as error:  # the peer's framework is not installed
            return {"available": False, "reason": str(error)}
        self.threads = threads
        return {"available": True, "version": self.peer.load(threads)}

    def setup(self, samples, predict_samples, seed):
        self.x, self.y = workloads.make_data(samples, seed)
        self.x_test, _ = workloads.make_data(predict_samples, seed + 1)
        return {}

    def prepare(self, item):
        """Builds what `item` needs and runs its warm-up, which is not timed."""
        rows = _warmup_rows(item.batch, len(self.x))
        if item.kind == "train":
            trainer = self._trainer(item.model, item.batch, optimizer=item.optimizer)
            trainer.epoch(self.x[:rows], self.y[:rows], seed=0)
            if hasattr(trainer, "compile"):  # JAX: every shape of a whole epoch, before timing
                trainer.compile(*self._data(item))
        elif item.kind == "threads":
            trainer = self._trainer(item.model, item.batch)
            for threads in (1, 2):
                self.peer.set_threads(threads)
                trainer.epoch(self.x[:rows], self.y[:rows], seed=0)
            self.peer.set_threads(self.threads)
        elif item.kind == "frozen":
            for frozen in (False, True):
                self._trainer(item.model, item.batch, frozen).epoch(self.x[:rows], self.y[:rows], 0)
        elif item.kind == "overhead":
            for model in (item.baseline, item.model):
                self._trainer(model, item.batch).epoch(self.x[:rows], self.y[:rows], seed=0)
        else:
            predictor = self._predictor(item.model)
            predictor.predict(self.x_test[:1000], 32)
            for i in range(50):
                predictor.one(self.x_test[i : i + 1])
        return {}

    def run(self, item, rep, predict_batch=32, latency_calls=1000):
        """One timed repetition of `item`; variants of a pair alternate which runs first."""
        seed = 1000 + rep
        if item.kind == "train":
            return self._epoch(
                self._trainer(item.model, item.batch, optimizer=item.optimizer), seed, item
            )
        if item.kind == "frozen":
            order = (False, True) if rep % 2 == 0 else (True, False)
            return {
                ("frozen" if frozen else "full"): self._epoch(
                    self._trainer(item.model, item.batch, frozen), seed
                )
                for frozen in order
            }
        if item.kind == "overhead":
            order = (item.baseline, item.model) if rep % 2 == 0 else (item.model, item.baseline)
            return {
                ("baseline" if model == item.baseline else "model"): self._epoch(
                    self._trainer(model, item.batch), seed
                )
                for model in order
            }
        if item.kind == "threads":
            trainer, result = self._trainer(item.model, item.batch), {}
            for threads in (1, 2) if rep % 2 == 0 else (2, 1):
                self.peer.set_threads(threads)
                result[str(threads)] = self._epoch(trainer, seed)
            self.peer.set_threads(self.threads)
            return result
        predictor = self._predictor(item.model)
        if item.kind == "predict":
            start = time.perf_counter()
            predictor.predict(self.x_test, predict_batch)
            return {"seconds": time.perf_counter() - start}
        if item.kind == "latency":
            times = []
            for i in range(latency_calls):
                sample = self.x_test[i % len(self.x_test)][None, :]
                start = time.perf_counter()
                predictor.one(sample)
                times.append(time.perf_counter() - start)
            times.sort()
            return {
                "seconds": statistics.median(times),
                "p10": times[len(times) // 10],
                "p90": times[len(times) * 9 // 10],
            }
        raise ValueError(f"worker: cannot run item kind {item.kind!r}")

    def rss(self, item):
        """Peak RSS while fitting one epoch of `item` in this (fresh) process."""
        before = _memory_kib("VmRSS")
        reset = _reset_peak()
        trainer = self._trainer(item.model, item.batch, optimizer=item.optimizer)
        seconds = self._epoch(trainer, seed=1)["seconds"]
        return {
            "rss_before_kib": before,
            "peak_kib": _memory_kib("VmHWM"),
            "peak_reset": reset,
            "seconds": seconds,
        }

    @staticmethod
    def sgemm(size=1024, calls=10):
        """NumPy float32 matmul of two size x size matrices: median FLOP/s of `calls` products."""
        rng = np.random.default_rng(0)
        a, b = (rng.random((size, size), dtype=np.float32) for _ in range(2))
        out = np.empty_like(a)
        np.matmul(a, b, out=out)
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - start)
        return {"flops_per_s": 2.0 * size**3 / statistics.median(times)}

    @staticmethod
    def gemm(item, calls=5):
        """NumPy float32 products of the shapes of one training step of `item` (forward, weight
        and input gradients, workloads.gemm_shapes), with the transposed operands as views:
        median FLOP/s of `calls` steps' worth of products."""
        rng = np.random.default_rng(0)
        products = []
        for m, k, n, transposed in workloads.gemm_shapes(item.model, item.batch):
            a = rng.random((k, m) if transposed == "a" else (m, k), dtype=np.float32)
            b = rng.random((n, k) if transposed == "b" else (k, n), dtype=np.float32)
            a, b = (a.T if transposed == "a" else a), (b.T if transposed == "b" else b)
            products.append((a, b, np.empty((m, n), np.float32)))
        flops = sum(2.0 * a.shape[0] * a.shape[1] * b.shape[1] for a, b, _ in products)
        times = []
        for _ in range(calls + 1):  # the first call is a warm-up
            start = time.perf_counter()
            for a, b, out in products:
                np.matmul(a, b, out=out)
            times.append(time.perf_counter() - start)
        return {"flops_per_s": flops / statistics.median(times[1:])}

    # -- helpers -----------------------------------------------------------------------------
    def _data(self, item):
        """The epoch's data of a training item: the first `epoch_samples` rows."""
        samples = workloads.epoch_samples(item, len(self.x))
        return self.x[:samples], self.y[:samples]

    def _trainer(self, model, batch, frozen=False, optimizer="sgd"):
        key = (model, batch, frozen, optimizer)
        if key not in self.trainers:
            self.trainers[key] = self.peer.Trainer(model, batch, frozen=frozen, optimizer=optimizer)
        return self.trainers[key]

    def _predictor(self, model):
        if model not in self.predictors:
            self.predictors[model] = self.peer.Predictor(model)
        return self.predictors[model]

    def _epoch(self, trainer, seed, item=None):
        x, y = self._data(item) if item is not None else (self.x, self.y)
        start = time.perf_counter()
        loss = trainer.epoch(x, y, seed)
        return {"seconds": time.perf_counter() - start, "loss": float(loss)}


def main(peer):
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever the peer prints, even from C, goes to stderr, not into the replies
    sys.stdout = sys.stderr
    items = {item.name: item for item in workloads.ITEMS}
    worker = Worker(peer)
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op")
        if op == "quit":
            break
        if "item" in request:
            request["item"] = items[request["item"]]
        try:
            reply = {"ok": True, **getattr(worker, op)(**request)}
        except Exception:  # reported to the runner, which notes it and goes on without this peer
            reply = {"ok": False, "error": traceback.format_exc()}
        replies.write(json.dumps(reply) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
