"""The `densekit` command line: `densekit demo` and `densekit experiment <name>`."""

import argparse
import sys

__all__ = ["main"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="densekit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train a batch-normalized deep model on digits")
    demo.add_argument("--epochs", type=int, default=20)
    demo.add_argument("--batch-size", type=int, default=32)
    demo.add_argument("--seed", type=int, default=42)
    experiment = commands.add_parser("experiment", help="run an experiment on deep networks")
    experiments = experiment.add_subparsers(dest="experiment", required=True)
    from densekit.experiments import add_parsers as add_experiment_parsers

    add_experiment_parsers(experiments)
    args = parser.parse_args(argv)
    if args.command == "demo":
        from densekit.demo import run

        accuracy = run(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
        return 0 if accuracy >= 0.95 else 1
    if args.command == "experiment":
        from densekit.experiments import main as run_experiment

        return run_experiment(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
