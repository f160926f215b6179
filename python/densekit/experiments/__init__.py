"""The experiments of `densekit experiment <name>`, one module each, on deep networks and digits.

* `activations`: activations and initializations, with and without batch normalization;
* `optimizers`: optimizers and learning-rate schedules;
* `regularization`: l2, dropout, max-norm and alpha dropout against overfitting, and MC dropout.

Each module has `add_arguments(parser)` for its options and `main(args)`, which runs it.
"""

import argparse
import importlib

__all__ = ["EXPERIMENTS", "add_parsers", "main"]

# name: the one-line help. The modules are imported when the command line is built, so that
# `--help` can show each one's docstring.
EXPERIMENTS = {
    "activations": "compare activations and initializations on a deep network (digits)",
    "optimizers": "compare optimizers and learning-rate schedules on a deep network (digits)",
    "regularization": "compare regularizers against overfitting, and MC dropout (digits)",
}


def _module(name):
    return importlib.import_module(f"densekit.experiments.{name}")


def add_parsers(subparsers):
    """Adds one parser per experiment to the `subparsers` of `densekit experiment`."""
    for name, summary in EXPERIMENTS.items():
        module = _module(name)
        module.add_arguments(
            subparsers.add_parser(
                name,
                help=summary,
                description=module.__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
        )


def main(args):
    """Runs the experiment `args.experiment` from parsed arguments; returns the exit code."""
    return _module(args.experiment).main(args)
