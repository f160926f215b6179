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
    args = parser.parse_args(argv)
    if args.command == "demo":
        from densekit.demo import run

        accuracy = run(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed)
        return 0 if accuracy >= 0.95 else 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
