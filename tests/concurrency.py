"""Running test code in several Python threads at once (tests/test_threads.py and
tests/test_weight_locking.py): a helper for the tests, not a test."""

import threading

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
