"""The `densekit` command line: `densekit demo`, `densekit experiment activations`, `densekit bench`."""

import argparse
import sys

__all__ = ["main"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="densekit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="train the seed's batch-normalized model on digits")
    demo.add_argument("--epochs", type=int, default=20)
    demo.add_argument("--batch-size", type=int, default=32)
    demo.add_argument("--seed", type=int, default=42)
    experiment = commands.add_parser("experiment", help="run one of the chapter's experiments")
    experiments = experiment.add_subparsers(dest="experiment", required=True)
    from densekit.experiment import add_arguments as add_experiment_arguments

    add_experiment_arguments(
        experiments.add_parser(
            "activations", help="compare activations and initializations on a deep network (digits)"
        )
    )
    from densekit.bench import add_arguments as add_bench_arguments

    add_bench_arguments(
        commands.add_parser("bench", help="time training and inference against PyTorch and NumPy")
    )
    args = parser.parse_args(argv)
    if args.command == "demo":
        from densekit.demo import run

        accuracy = run(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
        return 0 if accuracy >= 0.95 else 1
    if args.command == "experiment":
        from densekit.experiment import main as run_experiment

        return run_experiment(args)
    if args.command == "bench":
        from densekit.bench import run_parsed

        return run_parsed(args, parser)
    return 2


if __name__ == "__main__":
    sys.exit(main())
