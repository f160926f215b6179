"""densekit's own thread team: it survives fork() and reports threads the system refuses.

A forked child has only the thread that forked, so the team's workers do not exist there; the
child must start fresh ones instead of waiting for the parent's. A thread count the system cannot
provide must raise a Python exception, not end the process.
"""

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from concurrency import forks_a_threaded_process

import densekit
from densekit import layers as L
from densekit.initializers import GlorotUniform

CHILDREN = 30
CHILD_SECONDS = 120  # generous: the machine may be loaded; a hang fails instead of blocking


def _model(seed=0):
    # 64 x 256 x 128 = 2.1 M multiply-adds a product: large enough to be split across threads.
    model = densekit.Sequential(
        [
            L.Dense(
                128, activation="relu", input_shape=(256,), kernel_initializer=GlorotUniform(seed)
            ),
            L.BatchNormalization(),
            L.Dense(10, activation="softmax", kernel_initializer=GlorotUniform(seed + 1)),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((512, 256)).astype(np.float32)
    y = rng.integers(0, 10, size=512)
    return x, y


def _train_in_child():
    densekit.set_num_threads(2)
    x, y = _data(1)
    history = _model(1).fit(x, y, batch_size=64, epochs=1, verbose=0)
    os._exit(0 if np.isfinite(history.history["loss"][-1]) else 1)


@forks_a_threaded_process
def test_forked_children_train_on_fresh_threads_after_the_parent_trained():
    previous = densekit.get_num_threads()
    densekit.set_num_threads(2)
    try:
        x, y = _data()
        model = _model()
        context = multiprocessing.get_context("fork")
        for child in range(CHILDREN):
            # The parent's workers are awake (spinning) when it forks, as after any fit.
            model.fit(x, y, batch_size=64, epochs=1, verbose=0)
            process = context.Process(target=_train_in_child)
            process.start()
            process.join(CHILD_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
                pytest.fail(f"forked child {child} hung while training")
            assert process.exitcode == 0, f"forked child {child} exited with {process.exitcode}"
    finally:
        densekit.set_num_threads(previous)


def _train_in_pool_worker(seed):
    x, y = _data(seed)
    history = _model(seed).fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)
    return float(history.history["loss"][-1])


POOLS = 15


@forks_a_threaded_process
def test_pools_forked_while_another_thread_trains_do_not_deadlock():
    # Each fork lands, sooner or later, while the training thread holds the compute lock and
    # its workers run a region: the children must take fresh ones.
    previous = densekit.get_num_threads()
    densekit.set_num_threads(2)
    x, y = _data()
    model = _model()
    stop = threading.Event()
    steps = []

    def train():
        while not stop.is_set():
            model.fit(x, y, batch_size=64, epochs=1, verbose=0)
            steps.append(1)

    trainer = threading.Thread(target=train)
    trainer.start()
    try:
        context = multiprocessing.get_context("fork")
        for round_ in range(POOLS):
            with context.Pool(2) as pool:
                try:
                    losses = pool.map_async(_train_in_pool_worker, range(4)).get(CHILD_SECONDS)
                except multiprocessing.TimeoutError:
                    pytest.fail(f"pool {round_}: a forked worker hung")
            assert all(np.isfinite(losses))
    finally:
        stop.set()
        trainer.join()
        densekit.set_num_threads(previous)
    assert steps, "the parent never trained while forking"


# Run in a subprocess: an address-space limit leaves no room for more thread stacks, as a system
# out of threads refuses them, and the limit must not reach the test process.
_IMPOSSIBLE_THREADS = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import densekit
    import test_thread_team as t

    x, y = t._data()
    model = t._model()
    before = [w.copy() for w in model.get_weights()]
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    resource.setrlimit(resource.RLIMIT_AS, (mapped + (256 << 20), resource.RLIM_INFINITY))
    densekit.set_num_threads(1000)
    try:
        model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    except RuntimeError as e:
        print("raised:", e)
    else:
        sys.exit("fit with 1000 threads did not raise")
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights())), "weights moved"
    densekit.set_num_threads(1)
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
    print("trained on one thread afterwards")
    """
)


def test_an_impossible_thread_count_raises_instead_of_ending_the_process():
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    proc = subprocess.run(
        [sys.executable, "-c", _IMPOSSIBLE_THREADS, tests_dir],
        capture_output=True,
        text=True,
        timeout=CHILD_SECONDS,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "raised: densekit could not start thread" in proc.stdout
    assert "set_num_threads" in proc.stdout
    assert "trained on one thread afterwards" in proc.stdout
