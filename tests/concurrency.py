"""Running test code in several Python threads at once, and forking a process that has threads:
helpers for the tests, not tests."""

import threading

import pytest

JOIN_SECONDS = 120  # generous: the machine may be loaded


def run_threads(targets):
    """Starts one thread per callable, joins them; re-raises the first exception of any."""
    errors = []

    def guarded(target):
        try:
            target()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(t,), daemon=True) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_SECONDS)
    assert not any(t.is_alive() for t in threads), "a thread is stuck (deadlock?)"
    if errors:
        raise errors[0]


def forks_a_threaded_process(test):
    """Marks a test that forks while threads exist, which is what it checks, so the warnings that
    say so are expected: Python 3.12+ warns on any fork of a process with threads, and JAX (where
    the benchmarks' extra installed it and an earlier test imported it) warns from its own fork
    hook. The children never use JAX."""
    test = pytest.mark.filterwarnings(
        "ignore:This process .* is multi-threaded:DeprecationWarning"
    )(test)
    return pytest.mark.filterwarnings(r"ignore:os\.fork\(\) was called:RuntimeWarning")(test)
