"""A busy process pinned to one CPU while the repetitions run: a slow period made on purpose.

On a shared host another process takes one of the cores now and then; `--contend` makes that
happen for the whole timed part of a run, so that every peer meets it alike and the report shows
who keeps its lead. The process spins in pure Python (no memory traffic to speak of), pinned with
`sched_setaffinity` to the last CPU this process may use.
"""

import contextlib
import os
import subprocess
import sys

__all__ = ["busy_cpu"]

_SPIN = "while True: pass"


@contextlib.contextmanager
def busy_cpu(enabled):
    """Within the block, a process spins on the last CPU (yields that CPU, or None when off)."""
    if not enabled:
        yield None
        return
    cpu = max(os.sched_getaffinity(0))
    spinner = subprocess.Popen([sys.executable, "-c", _SPIN])
    try:
        os.sched_setaffinity(spinner.pid, {cpu})
        yield cpu
    finally:
        spinner.kill()
        spinner.wait()
