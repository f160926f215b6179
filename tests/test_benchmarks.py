"""benchmarks/bench.py runs against the installed densekit and writes its results section.

A tiny run (the densekit peer only, single-sample latency, 20 calls) goes through the whole path:
the worker process, the runner, the report and the README writer. No timing is asserted.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

BENCH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, "benchmarks", "bench.py"
)
MARKER = "<!-- Everything below this line is written by benchmarks/bench.py; a run replaces it. -->"


def _run_bench(tmp_path, readme):
    args = ["--quick", "--peers", "densekit", "--only", "latency", "--latency-calls", "20"]
    return subprocess.run(
        [sys.executable, BENCH, *args, "--json", "", "--readme", str(readme)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_bench_script_replaces_only_the_results_section_of_its_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\nThe method.\n\n{MARKER}\n\n## Results\n\nold numbers\n")
    done = _run_bench(tmp_path, readme)
    assert done.returncode == 0, done.stderr
    text = readme.read_text()
    head, results = text.split(MARKER)
    assert head == "# Benchmarks\n\nThe method.\n\n"
    assert "old numbers" not in results
    assert "## Results" in results and "1 sample, median of 20 calls | densekit" in results
    # The date, the machine and the versions open the report, on stdout and in the file.
    for line in ("- Date: ", "- Machine: ", "logical CPUs", "- Versions: densekit "):
        assert line in results and line in done.stdout
    assert f"Python {sys.version.split()[0]}" in results


# -- peers checked against densekit -----------------------------------------------------------
# The JAX and onnxruntime peers are benchmark extras: these run only where they are installed.
sys.path.insert(0, os.path.dirname(BENCH))


# Adam moves every weight by about its learning rate whatever its gradient's size, so in the
# 20-layer model a gradient that float32 rounding flips the sign of sends the two runs apart
# within a few steps (up to 3% in loss after 6): that model is compared after 2 steps.
@pytest.mark.parametrize(
    "model, optimizer, samples",
    [("bn", "sgd", 480), ("deep", "sgd", 480), ("bn", "adam", 480), ("deep", "adam", 64)],
)
@pytest.mark.parametrize("scan", [False, True], ids=["jit-step", "scan-epoch"])
def test_jax_peer_trains_one_epoch_as_densekit_does_from_the_same_weights(
    model, optimizer, samples, scan, one_thread
):
    pytest.importorskip("jax")
    from suite import peer_densekit, peer_jax, workloads

    x, y = workloads.make_data(samples, seed=3)  # batches of 32
    ours = peer_densekit.Trainer(model, 32, optimizer=optimizer)
    theirs = peer_jax.Trainer(model, 32, optimizer=optimizer)
    theirs.scan = scan
    # A small top kernel keeps every probability above Keras's clip at 1e-7, below which Keras
    # (and the JAX peer) pass no gradient and densekit passes p - 1.
    start = [w.copy() for w in ours.model.get_weights()]
    start[-2] *= 0.1
    ours.model.set_weights(start)
    theirs.set_weights(start)
    history = ours.model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    loss = theirs.epoch(x, y, seed=None)
    assert loss == pytest.approx(history.history["loss"][0], rel=2e-4)
    moved = 0.0
    for before, expected, got in zip(start, ours.model.get_weights(), theirs.get_weights()):
        if optimizer == "sgd":
            np.testing.assert_allclose(got, expected, rtol=1e-3, atol=2e-5)
        else:  # a rounding-flipped near-zero gradient moves a few weights by ~1e-3 a step
            assert np.mean(~np.isclose(got, expected, rtol=1e-3, atol=2e-5)) < 0.01
        moved = max(moved, float(np.max(np.abs(expected - before))))
    assert moved > 1e-3  # the epoch trained: the comparison is not of the starting weights


def test_onnxruntime_peer_graph_predicts_what_densekit_predicts_and_notices_a_wrong_graph(
    one_thread,
):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from suite import peer_densekit, peer_onnxruntime, workloads

    peer_onnxruntime.Predictor("bn")  # raises if its outputs are off by more than 1e-5
    model = peer_densekit.build("bn")
    peer_onnxruntime.randomized(model, seed=1)
    weights = model.get_weights()
    x, _ = workloads.make_data(64, seed=2)
    expected = model.predict(x, verbose=0)
    session = peer_onnxruntime.session(peer_onnxruntime.graph("bn", weights), 1)
    np.testing.assert_allclose(session.run(None, {"x": x})[0], expected, atol=1e-5)
    # The first batch norm's gamma and beta swapped: the comparison must see it.
    weights[0], weights[1] = weights[1], weights[0]
    wrong = peer_onnxruntime.session(peer_onnxruntime.graph("bn", weights), 1)
    assert np.max(np.abs(wrong.run(None, {"x": x})[0] - expected)) > 1e-3


def test_contend_spins_a_process_pinned_to_the_last_cpu_and_ends_it():
    from suite import contention

    with contention.busy_cpu(False) as cpu:
        assert cpu is None
    with contention.busy_cpu(True) as cpu:
        assert cpu == max(os.sched_getaffinity(0))
        children = [
            int(pid)
            for pid in os.listdir("/proc")
            if pid.isdigit() and _parent_of(int(pid)) == os.getpid()
        ]
        spinners = [pid for pid in children if os.sched_getaffinity(pid) == {cpu}]
        assert len(spinners) == 1
    assert _parent_of(spinners[0]) != os.getpid()  # killed and reaped


def _parent_of(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
