"""densekit against PyTorch, JAX, onnxruntime and a hand-written NumPy baseline, on the CPU.

Trains a batch-normalized model ("bn") and a deep model of 20 ELU layers for one epoch at batch
32 and 256, with SGD and with Adam (PyTorch's Adam both foreach and fused), predicts 10,000
samples, times single-sample calls, and measures densekit's frozen-vs-full and 1-vs-2-thread
speedups and each peer's peak RSS during fit, and trains wide models (784 -> W -> W -> 10)
against the sgemm rate of their shapes. Peers run in their own processes, repetitions
interleaved round-robin. The report (markdown, with the targets' PASS/MISS) goes to stdout and
into the results section of benchmarks/README.md, the raw numbers to a JSON file, progress to
stderr. Needs densekit installed; each other peer runs where its package is installed.

Example:
    $ python benchmarks/bench.py --quick --threads 1          # 4,000 samples, 1 repetition
    $ python benchmarks/bench.py --only bn,predict --peers densekit,torch --readme ''
    $ python benchmarks/bench.py --only adam,bn-b,deep-b --repeats 3 --readme ''   # Adam and SGD
"""

import argparse
import json
import os
import shlex
import sys

from suite import readme, report, runner, workloads

__all__ = ["add_arguments", "main", "run"]

_README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "README.md")
_QUICK = {"samples": 4000, "repeats": 1}
_FULL = {"samples": 60000, "repeats": 5}


def add_arguments(parser):
    """Adds the benchmark's options to `parser`."""
    names = ", ".join(item.name for item in workloads.ITEMS)
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a fast check: {_QUICK['samples']:,} samples, {_QUICK['repeats']} repetition",
    )
    parser.add_argument(
        "--samples", type=_positive, help=f"samples per epoch (default {_FULL['samples']:,})"
    )
    parser.add_argument(
        "--repeats", type=_positive, help=f"timed repetitions (default {_FULL['repeats']})"
    )
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated workloads, matched as substrings of: {names} (default: all)",
    )
    parser.add_argument(
        "--peers",
        default=",".join(runner.PEERS),
        help=f"comma-separated peers among {', '.join(runner.PEERS)} (default: all); torch-fused "
        "is PyTorch with Adam(fused=True), on the Adam workloads only; jax-scan is JAX with the "
        "epoch as one lax.scan, on the training workloads; onnxruntime infers only",
    )
    parser.add_argument("--threads", type=_positive, default=2, help="threads per peer (default 2)")
    parser.add_argument(
        "--contend",
        action="store_true",
        help="a busy process pinned to the last CPU while the repetitions run: a slow period "
        "that every peer meets alike",
    )
    parser.add_argument(
        "--json",
        default="bench-results.json",
        metavar="PATH",
        help="where to write the raw numbers ('' for nowhere; default %(default)s)",
    )
    parser.add_argument(
        "--predict-batch",
        type=_positive,
        default=32,
        help="batch size of the predict workload (default 32, Keras's default)",
    )
    parser.add_argument(
        "--latency-calls",
        type=_positive,
        default=1000,
        help="single-sample calls per repetition (default 1000)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the synthetic data (default 0)"
    )
    parser.add_argument(
        "--readme",
        default=_README,
        metavar="PATH",
        help="the markdown file whose results section the report replaces ('' for none; "
        "default benchmarks/README.md)",
    )
    return parser


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer. Received: {text}")
    return value


def run(
    samples=60000,
    repeats=5,
    only="",
    peers=runner.PEERS,
    threads=2,
    predict_batch=32,
    latency_calls=1000,
    seed=0,
    quick=False,
    predict_samples=10000,
    contend=False,
):
    """Runs the benchmark; returns (raw results, summary, markdown report)."""
    peers = [
        p.strip() for p in (peers.split(",") if isinstance(peers, str) else peers) if p.strip()
    ]
    unknown = sorted(set(peers) - set(runner.PEERS))
    if unknown:
        raise ValueError(
            f"bench: unknown peers {unknown}; the peers are {', '.join(runner.PEERS)}. "
            f"Received: peers={','.join(peers)}"
        )
    options = {
        "samples": samples,
        "repeats": repeats,
        "threads": threads,
        "seed": seed,
        "peers": peers,
        "items": workloads.select_items(only),
        "quick": quick,
        "predict_samples": predict_samples,
        "predict_batch": predict_batch,
        "latency_calls": latency_calls,
        "contend": contend,
    }
    raw = runner.run(options)
    summary = report.summarize(raw)
    return raw, summary, report.markdown(raw, summary)


def main(argv=None):
    """`python benchmarks/bench.py [options]`; returns the exit code."""
    parser = add_arguments(
        argparse.ArgumentParser(
            prog="bench.py",
            description=__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
    )
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    defaults = _QUICK if args.quick else _FULL
    try:
        raw, summary, text = run(
            samples=args.samples or defaults["samples"],
            repeats=args.repeats or defaults["repeats"],
            only=args.only,
            peers=args.peers,
            threads=args.threads,
            predict_batch=args.predict_batch,
            latency_calls=args.latency_calls,
            seed=args.seed,
            quick=args.quick,
            contend=args.contend,
        )
    except ValueError as error:
        parser.error(str(error))
    print(text)
    if args.json:
        with open(args.json, "w") as out:
            json.dump({**raw, "summary": summary}, out, indent=1)
        print(f"raw numbers: {args.json}", file=sys.stderr)
    if args.readme:
        command = shlex.join(["python", "benchmarks/bench.py", *argv])
        readme.write_results(args.readme, report.markdown(raw, summary, level=3), command)
        print(f"results section: {args.readme}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
