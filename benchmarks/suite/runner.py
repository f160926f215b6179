"""Runs the benchmark: one worker process per peer, repetitions interleaved round-robin.

Each repetition measures the machine's sgemm rate, then every item on every peer, the peers'
order rotating from one repetition to the next, so a burst of machine noise lands on all peers
(and on the sgemm bound) alike instead of on whoever ran during it. Peak RSS is measured last, in
a fresh process per peer.
"""

import json
import os
import subprocess
import sys
import time

from suite import contention, machine
from suite.workloads import runs_on

__all__ = ["PEERS", "run"]

PEERS = ("densekit", "torch", "torch-fused", "jax", "jax-scan", "onnxruntime", "numpy")
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


_SETTLE_SECONDS = 0.5


def _log(message):
    print(message, file=sys.stderr, flush=True)


class WorkerError(RuntimeError):
    pass


class _Process:
    """The runner's end of one worker: a request in, a reply out."""

    def __init__(self, peer, threads):
        env = dict(os.environ)
        # The worker runs `python -m suite.worker`: it finds this package where bench.py is,
        # and densekit, NumPy and PyTorch where this interpreter finds them.
        suite_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(
            [suite_root] + [p for p in [env.get("PYTHONPATH")] if p]
        )
        env.update({name: str(threads) for name in _THREAD_VARIABLES})
        self.peer = peer
        self.process = subprocess.Popen(
            [sys.executable, "-m", "suite.worker", peer],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            text=True,
            bufsize=1,
        )

    def ask(self, op, **request):
        try:
            self.process.stdin.write(json.dumps({"op": op, **request}) + "\n")
        except OSError:  # it died earlier (a crash in the peer's native code)
            raise WorkerError(
                f"the {self.peer} worker exited (code {self.process.wait()})"
            ) from None
        line = self.process.stdout.readline()
        if not line:
            raise WorkerError(f"the {self.peer} worker exited (code {self.process.wait()})")
        reply = json.loads(line)
        if not reply.pop("ok"):
            raise WorkerError(reply["error"])
        return reply

    def close(self):
        try:
            self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
            self.process.stdin.close()
        except OSError:
            pass
        self.process.wait()


def _start(peer, options, notes):
    """A worker for `peer` with its data set up, or None (with a note) if it is unavailable."""
    process = _Process(peer, options["threads"])
    try:
        hello = process.ask("hello", threads=options["threads"])
        if not hello["available"]:
            notes.append(f"{peer}: not installed ({hello['reason']}); skipped")
            process.close()
            return None, None
        process.ask(
            "setup",
            samples=options["samples"],
            predict_samples=options["predict_samples"],
            seed=options["seed"],
        )
    except WorkerError as error:
        notes.append(f"{peer}: failed to start; skipped\n{error}")
        process.close()
        return None, None
    return process, hello["version"]


def run(options):
    """Runs the selected items on the selected peers; returns the raw results (JSON-ready).

    options: samples, repeats, threads, seed, peers (list), items (list of Item), predict_samples,
    predict_batch, latency_calls, quick, contend (a busy process on one CPU while timing).
    """
    items = options["items"]
    notes, versions, workers = [], {}, {}
    raw = {
        "meta": {
            "options": {k: v for k, v in options.items() if k != "items"},
            "items": [item.name for item in items],
            "machine": machine.describe(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_before": os.getloadavg(),
        },
        "notes": notes,
        "versions": versions,
        "sgemm": [],
        "gemm": {},
        "results": {},
        "rss": {},
    }
    timed = [item for item in items if item.kind != "rss"]
    try:
        for peer in options["peers"]:
            # A peer none of the items runs on (torch-fused without an Adam item) is not started.
            needed = any(runs_on(item, peer) for item in timed)
            process, version = _start(peer, options, notes) if needed else (None, None)
            if process is not None:
                workers[peer], versions[peer] = process, version
        if not versions.get("torch", "2.13.0").startswith("2.13.0"):
            notes.append(
                f"torch: {versions['torch']} installed; the published results use torch 2.13.0"
            )
        _prepare(workers, timed, raw, notes)
        with contention.busy_cpu(options.get("contend", False)) as cpu:
            raw["meta"]["busy_cpu"] = cpu
            for rep in range(options["repeats"]):
                _repetition(rep, workers, timed, options, raw, notes)
    finally:
        for worker in workers.values():
            worker.close()
    for item in items:
        if item.kind == "rss":
            _measure_rss(item, options, raw, notes)
    raw["meta"]["load_after"] = os.getloadavg()
    return raw


def _peers_of(item, workers):
    return [peer for peer in workers if runs_on(item, peer)]


def _prepare(workers, items, raw, notes):
    for item in items:
        for peer in _peers_of(item, workers):
            _log(f"warm-up   {item.name:<12} {peer}")
            try:
                workers[peer].ask("prepare", item=item.name)
            except WorkerError as error:
                notes.append(f"{item.name} on {peer}: failed in warm-up; skipped\n{error}")
                continue
            raw["results"].setdefault(item.name, {})[peer] = []


def _repetition(rep, workers, items, options, raw, notes):
    label = f"rep {rep + 1}/{options['repeats']}"
    if any(item.kind == "train" for item in items) and workers:
        server = workers.get("numpy") or next(iter(workers.values()))
        time.sleep(_SETTLE_SECONDS)  # as before each item: measured beside spinning threads, the
        # rate came out at ~95 GFLOP/s instead of ~150-200, which made the bound look easy
        rate = server.ask("sgemm")["flops_per_s"]
        raw["sgemm"].append(rate)
        _log(f"{label}  sgemm        {rate / 1e9:.1f} GFLOP/s")
    for item in items:
        peers = list(raw["results"].get(item.name, {}))
        if item.model.startswith("wide") and peers:
            # The sgemm rate at this item's own shapes, measured beside its epochs.
            server = workers.get("numpy") or workers[peers[0]]
            time.sleep(_SETTLE_SECONDS)
            rate = server.ask("gemm", item=item.name)["flops_per_s"]
            raw["gemm"].setdefault(item.name, []).append(rate)
            _log(f"{label}  gemm {item.name:<16} {rate / 1e9:.1f} GFLOP/s")
        shift = rep % len(peers) if peers else 0
        for peer in peers[shift:] + peers[:shift]:
            # The other peers' processes stay alive between turns, and their thread pools spin
            # for a while after their last call (OpenMP's and OpenBLAS's waits, up to ~200 ms):
            # let them fall asleep, so no peer runs beside another's spinning threads.
            time.sleep(_SETTLE_SECONDS)
            try:
                result = workers[peer].ask(
                    "run",
                    item=item.name,
                    rep=rep,
                    predict_batch=options["predict_batch"],
                    latency_calls=options["latency_calls"],
                )
            except WorkerError as error:
                notes.append(f"{item.name} on {peer}: failed in repetition {rep + 1}\n{error}")
                continue
            raw["results"][item.name][peer].append(result)
            _log(f"{label}  {item.name:<12} {peer:<9} {_brief(result)}")


def _brief(result):
    if "seconds" in result:
        return f"{result['seconds']:.4g} s"
    return ", ".join(f"{key}: {value['seconds']:.4g} s" for key, value in result.items())


def _measure_rss(item, options, raw, notes):
    for peer in options["peers"]:
        if not runs_on(item, peer):
            continue
        scratch = []
        worker, version = _start(peer, options, scratch)
        if worker is None:
            if not any(note.startswith(peer + ":") for note in notes):
                notes.extend(scratch)  # not noted yet: the run measured nothing else
            continue
        raw["versions"].setdefault(peer, version)
        try:
            _log(f"rss       {item.name:<12} {peer}")
            raw["rss"][peer] = {
                "item": f"{item.model} b{item.batch}",
                **worker.ask("rss", item=item.name),
            }
        except WorkerError as error:
            notes.append(f"rss on {peer}: failed\n{error}")
        finally:
            worker.close()
