"""An experiment's independent runs, here one after the other or on a Dask cluster.

`runs(function, tasks, scheduler)` yields `function(*task)` for each task, in the order of
`tasks`. With a scheduler every task is submitted at once to a `dask.distributed` cluster (the
address of its scheduler, or `local:N` for N worker processes started here and shut down at the
end); each runs with the thread count of this process, so that its result is the one a local run
gives (Dask starts its workers with one thread for OpenMP, and a run's float sums depend on how
many threads share them). Dask is imported only when a scheduler is given.
"""

import argparse
import re

from densekit._optional import require

__all__ = ["parse_scheduler", "runs"]

_LOCAL = re.compile(r"local:([1-9][0-9]*)$")


def parse_scheduler(text):
    """`--scheduler`'s value: `local:N` (N >= 1) or a scheduler's address, such as
    `tcp://10.0.0.5:8786`; refuses `local:` without a positive count."""
    if text.startswith("local:") and not _LOCAL.match(text):
        raise argparse.ArgumentTypeError(
            f"--scheduler: local:N needs a positive number of workers. Received: {text!r}"
        )
    return text


def _with_threads(threads, function, *task):
    from densekit import set_num_threads

    set_num_threads(threads)
    return function(*task)


def runs(function, tasks, scheduler=None):
    """Yields `function(*task)` for each of `tasks` in order; on the cluster `scheduler` when
    given (see the module's docstring), else in this process as each result is asked for."""
    if scheduler is None:
        for task in tasks:
            yield function(*task)
        return
    require("distributed", extra="distributed", feature="--scheduler")
    from distributed import Client, LocalCluster

    from densekit import get_num_threads

    threads = get_num_threads()
    local = _LOCAL.match(scheduler)
    cluster = (
        LocalCluster(
            n_workers=int(local.group(1)),
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
        )
        if local
        else None
    )
    try:
        with Client(cluster if cluster is not None else scheduler) as client:
            futures = [
                client.submit(_with_threads, threads, function, *task, pure=False) for task in tasks
            ]
            for future in futures:
                yield future.result()
    finally:
        if cluster is not None:
            cluster.close()
