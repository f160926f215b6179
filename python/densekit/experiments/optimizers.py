"""`densekit experiment optimizers`: optimizers and learning-rate schedules on a deep network.

The model is that of `densekit experiment activations`: `depth` hidden Dense layers of `units`
(20 of 100 by default), ReLU with He initialization, a softmax output, no batch normalization,
trained on the digits data set. ReLU rather than ELU: with ELU plain SGD at 0.01 reached 90% test
accuracy in 2 epochs (seed 42), leaving little between the optimizers to see, and SGD with
Nesterov momentum 0.9 at 0.01 took a non-finite step in the first epoch; with ReLU plain SGD
needs 7 epochs and the optimizers separate. No batch normalization: the optimizer alone copes
with the depth.

Each configuration trains from the same initial weights and in the same batch order: for each
of `repeats` seeds (`seed`, `seed + 1`, ...) layer i's initializer is seeded `seed * 1000 + i`
and `fit` shuffles with `seed`. The configurations (`--configs` keys in brackets; the reasons for
each rate are in `densekit.experiments._optimizer_configs`):

    [sgd] SGD 0.01                       [adagrad] Adagrad 0.01
    [momentum] SGD momentum 0.9, 0.003   [nesterov] SGD Nesterov momentum 0.9, 0.003
    [rmsprop] [adam] [adamw] [adamax] [nadam] at Keras's default 0.001
    [lion] Lion 1e-4
    [momentum-exponential] SGD momentum, ExponentialDecay from 0.003, down 10x over the run
    [momentum-piecewise] SGD momentum, 0.003, then 0.001 from half the run, 3e-4 from 3/4
    [momentum-1cycle] SGD, OneCycle: 0.001 -> 0.01 -> 1e-6, momentum 0.95 -> 0.85 -> 0.95
    [adam-cosine] Adam, CosineDecay from 0.001 to 0 over the run

The table gives, averaged over the seeds, the final test accuracy (and its range), the test loss,
the last epoch's training loss and the time of `fit`, and per seed the first epoch whose test
accuracy reaches `target`. Two PNGs draw the mean curves (training loss, test accuracy per epoch):
`optimizers.png` for the constant rates, `lr_schedules.png` for the schedules and their
constant-rate baselines.
"""

import argparse
import os
import random
import time

import numpy as np

from densekit import initializers, plots
from densekit.datasets import digits
from densekit.experiments import _cluster
from densekit.experiments._common import (
    add_run_arguments,
    build_model,
    epochs_to,
    format_table,
    set_threads,
)
from densekit.experiments._optimizer_configs import CONFIGS, Config, config_named, keys

__all__ = ["CONFIGS", "Config", "add_arguments", "format_results", "run_optimizers", "write_plots"]


def _mean_curve(histories, key):
    """The per-epoch mean over the seeds; a run cut short (a non-finite step) leaves NaN gaps."""
    curves = [h.history.get(key, []) for h in histories]
    length = max(map(len, curves))
    padded = np.full((len(curves), length), np.nan)
    for row, curve in zip(padded, curves):
        row[: len(curve)] = curve
    return padded.mean(axis=0).tolist()


def _train(config, seed, data, depth, units, epochs, batch_size, verbose):
    (x_train, y_train), (x_test, y_test) = data
    random.seed(seed)  # for anything seeded from Python's random (initializers by name)
    model = build_model("relu", (initializers.HeNormal, {}), depth, units, False, seed)
    total_steps = epochs * -(-len(x_train) // batch_size)
    model.compile(
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        optimizer=config.make(total_steps),
    )
    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        validation_data=(x_test, y_test),
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    return history, float(loss), float(accuracy), seconds


def run_optimizers(
    depth=20,
    units=100,
    epochs=20,
    batch_size=32,
    target=0.9,
    seed=42,
    repeats=3,
    out="densekit-optimizers",
    configs=None,
    verbose=0,
    scheduler=None,
):
    """Runs the comparison; prints a line per configuration, then the table; writes the PNGs.

    Args:
        configs: keys of `CONFIGS` or `Config` objects; None for all of `CONFIGS`.
        scheduler: None to train here, one run after the other; else a Dask scheduler's address
            or `local:N`, whose workers train the runs (see `densekit.experiments._cluster`),
            with the same seeds and results.

    Returns:
        A list with one dict per configuration: `key`, `label`, `rate`, `accuracies` (one per
        seed), `accuracy`, `loss`, `train_loss` and `seconds` (means over the seeds),
        `epochs_to_target` (one per seed, None where not reached), `diverged` (the seeds whose
        training stopped on a non-finite step), `histories`.
    """
    configs = [config_named(c) for c in (CONFIGS if configs is None else configs)]
    os.makedirs(out, exist_ok=True)
    data = digits.load_data()
    seeds = [seed + r for r in range(repeats)]
    print(
        f"digits: {len(data[0][0])} training, {len(data[1][0])} test images; {depth} hidden "
        f"ReLU layers of {units} units; batch {batch_size}, {epochs} epochs, seeds "
        f"{', '.join(map(str, seeds))}; target test accuracy {target:.0%}",
        flush=True,
    )
    results = []
    tasks = [
        (c, s, data, depth, units, epochs, batch_size, verbose) for c in configs for s in seeds
    ]
    outcomes = _cluster.runs(_train, tasks, scheduler)
    try:
        for i, config in enumerate(configs, start=1):
            print(
                f"[{i:2d}/{len(configs)}] {config.label:<26}",
                end="\n" if verbose else "",
                flush=True,
            )
            runs = [next(outcomes) for _ in seeds]
            result = _summary(config, seeds, runs, target)
            results.append(result)
            print(
                f" test accuracy {result['accuracy']:.3f}  loss {result['loss']:.3f}  "
                f"{result['seconds']:.1f} s per run",
                flush=True,
            )
    finally:
        outcomes.close()  # a local cluster shuts down here
    print()
    print(format_results(results, target))
    paths = write_plots(results, out)
    print("\nwrote " + ", ".join(paths))
    return results


def _summary(config, seeds, runs, target):
    """The result dict of one configuration from its runs, one per seed."""
    histories = [history for history, *_ in runs]
    return {
        "key": config.key,
        "label": config.label,
        "rate": config.rate,
        "baseline": config.baseline,
        "accuracies": [accuracy for _, _, accuracy, _ in runs],
        "accuracy": float(np.mean([accuracy for _, _, accuracy, _ in runs])),
        "loss": float(np.mean([loss for _, loss, _, _ in runs])),
        "train_loss": float(np.mean([h.history["loss"][-1] for h in histories])),
        "seconds": float(np.mean([seconds for *_, seconds in runs])),
        "epochs_to_target": [epochs_to(h, target) for h in histories],
        "diverged": [s for s, h in zip(seeds, histories) if h.stopped_on_nonfinite],
        "histories": histories,
    }


def format_results(results, target):
    """The comparison table, one row per configuration."""
    headers = (
        "optimizer",
        "learning rate",
        "test acc",
        "acc range",
        "test loss",
        "train loss",
        f"epochs to {target:.0%}",
        "time (s)",
        "notes",
    )
    rows = [
        (
            r["label"],
            r["rate"],
            f"{r['accuracy']:.3f}",
            f"{min(r['accuracies']):.3f}-{max(r['accuracies']):.3f}",
            f"{r['loss']:.3f}",
            f"{r['train_loss']:.3f}",
            " ".join("-" if e is None else str(e) for e in r["epochs_to_target"]),
            f"{r['seconds']:.2f}",
            ", ".join(f"seed {s} stopped: non-finite" for s in r["diverged"]) or "-",
        )
        for r in results
    ]
    return format_table(headers, rows, left=(0, 1, 8))


def write_plots(results, out):
    """`optimizers.png` (constant rates) and `lr_schedules.png` (schedules and their baselines)
    in `out`, the curves averaged over the seeds; returns the paths written."""
    constant = [r for r in results if r["baseline"] is None]
    scheduled = [r for r in results if r["baseline"] is not None]
    baselines = {r["baseline"] for r in scheduled}
    groups = {"optimizers.png": constant}
    if scheduled:
        groups["lr_schedules.png"] = [r for r in constant if r["key"] in baselines] + scheduled
    paths = []
    for name, group in groups.items():
        if not group:
            continue
        curves = {
            r["label"]: {
                "loss": _mean_curve(r["histories"], "loss"),
                "val_accuracy": _mean_curve(r["histories"], "val_accuracy"),
            }
            for r in group
        }
        paths.append(plots.plot_history(curves, os.path.join(out, name), keys=["loss", "accuracy"]))
    return paths


def _keys(text):
    chosen = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in chosen if k not in keys()]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown configuration {', '.join(unknown) or repr(text)}; the keys are: "
            + ", ".join(keys())
        )
    return chosen


def add_arguments(parser):
    """The options of `densekit experiment optimizers`."""
    parser.add_argument("--depth", type=int, default=20, help="hidden layers (default 20)")
    parser.add_argument("--units", type=int, default=100, help="units per hidden layer (100)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs per run (20)")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per step (32)")
    parser.add_argument("--target", type=float, default=0.9, help="test accuracy to reach (0.9)")
    parser.add_argument("--seed", type=int, default=42, help="the first seed (42)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="runs per configuration, with seeds seed, seed+1, ... (3)",
    )
    parser.add_argument(
        "--configs",
        type=_keys,
        default=None,
        help="comma-separated keys of the configurations to run (default all): "
        + ", ".join(keys()),
    )
    add_run_arguments(parser, out="densekit-optimizers", scheduler=True)


def main(args):
    """Runs `densekit experiment optimizers` from parsed arguments; returns the exit code."""
    set_threads(args.threads)
    run_optimizers(
        depth=args.depth,
        units=args.units,
        epochs=args.epochs,
        batch_size=args.batch_size,
        target=args.target,
        seed=args.seed,
        repeats=args.repeats,
        out=args.out,
        configs=args.configs,
        verbose=args.verbose,
        scheduler=args.scheduler,
    )
    return 0
