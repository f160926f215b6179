"""Runs `densekit bench` from a source checkout: python benchmarks/bench.py --quick --threads 1.

The benchmark itself lives in densekit.bench (python/densekit/_bench/) so an installed densekit
can run it too; this script only puts the checkout's python/ first on the path.
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "python"))

from densekit.bench import main  # noqa: E402  (after the path is set)

if __name__ == "__main__":
    sys.exit(main())
