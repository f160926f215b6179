"""`densekit experiment activations`: activations and initializations compared on a deep network.

A deep stack of Dense layers (`depth` hidden layers of `units`) is trained on the digits data set
(densekit.datasets.digits) for each classic pairing of activation and initialization, with and
without batch normalization (Dense without bias -> BatchNormalization(momentum=0.9) ->
activation; momentum 0.9 because the data set is small, see _common._BN_MOMENTUM):

    logistic with RandomNormal(0, 1)  the init of the vanishing-gradients era
    logistic with Glorot              Glorot and Bengio's fix
    tanh with Glorot
    ReLU, leaky ReLU (0.2), ELU with He
    SELU with LeCun normal            on standardized inputs, as self-normalization requires

Every configuration uses the same seeds (initializers, shuffling) and the same optimizer. The table
gives the test accuracy and loss, the epochs until the test accuracy reaches `target`, the
bottom/top weight-gradient ratio at initialization (`diagnostics.gradient_flow` on a batch of
training data) and the time of `fit` (GradientMonitor included); the PNGs show the activations,
the gradient flow at initialization, the training curves and the gradient norms during training
(GradientMonitor).
"""

import os
import random
import time

import numpy as np

from densekit import diagnostics, initializers, optimizers, plots
from densekit.callbacks import GradientMonitor
from densekit.datasets import digits
from densekit.experiments import _cluster
from densekit.experiments._common import (
    add_run_arguments,
    build_model,
    epochs_to,
    format_table,
    set_threads,
)

__all__ = ["CONFIGS", "add_arguments", "build_model", "run_activations"]

# (label, activation name, initializer class and its arguments, standardized inputs)
CONFIGS = [
    (
        "logistic, N(0,1)",
        "sigmoid",
        (initializers.RandomNormal, {"mean": 0.0, "stddev": 1.0}),
        False,
    ),
    ("logistic, Glorot", "sigmoid", (initializers.GlorotUniform, {}), False),
    ("tanh, Glorot", "tanh", (initializers.GlorotUniform, {}), False),
    ("ReLU, He", "relu", (initializers.HeNormal, {}), False),
    ("leaky ReLU, He", "leaky_relu", (initializers.HeNormal, {}), False),
    ("ELU, He", "elu", (initializers.HeNormal, {}), False),
    ("SELU, LeCun", "selu", (initializers.LecunNormal, {}), True),
]
_FLOW_BATCH = 256  # training samples used for the gradient flow at initialization


def _standardize(x, reference):
    flat, ref = x.reshape(len(x), -1), reference.reshape(len(reference), -1)
    mean, std = ref.mean(axis=0), ref.std(axis=0)
    return ((flat - mean) / np.where(std > 0, std, 1.0)).astype(np.float32).reshape(x.shape)


def run_activations(
    depth=20,
    units=100,
    epochs=10,
    batch_size=32,
    learning_rate=0.003,
    momentum=0.9,
    target=0.9,
    seed=42,
    monitor_every=5,
    out="densekit-activations",
    configs=None,
    batch_norm=(False, True),
    verbose=0,
    scheduler=None,
):
    """Runs the comparison; prints a line per configuration, then the table; writes the PNGs.

    Args:
        scheduler: None to train here, one configuration after the other; else a Dask
            scheduler's address or `local:N`, whose workers train the configurations
            (see `densekit.experiments._cluster`), with the same seeds and results.

    Returns:
        A list with one dict per run: `label`, `batch_norm`, `accuracy`, `loss`, `epochs_to_target`,
        `grad_ratio_init`, `seconds`, `warnings` and `messages` (GradientMonitor's kinds and
        words), `history`, `flow`, `records`.
    """
    os.makedirs(out, exist_ok=True)
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    standardized = (_standardize(x_train, x_train), _standardize(x_test, x_train))
    configs = CONFIGS if configs is None else configs
    runs = [(config, bn) for bn in batch_norm for config in configs]
    print(
        f"digits: {len(x_train)} training, {len(x_test)} test images; {depth} hidden layers of "
        f"{units} units; SGD(learning_rate={learning_rate}, momentum={momentum}), batch "
        f"{batch_size}, {epochs} epochs; target test accuracy {target:.0%}",
        flush=True,
    )
    settings = (depth, units, epochs, batch_size, learning_rate, momentum, target, seed)
    tasks = []
    for config, bn in runs:
        data = (standardized if config[3] else (x_train, x_test), y_train, y_test)
        tasks.append((config, bn, data, settings, monitor_every, verbose))
    results = []
    outcomes = _cluster.runs(_run, tasks, scheduler)
    try:
        for i, ((label, *_), bn) in enumerate(runs, start=1):
            name = label + (" + BN" if bn else "")
            print(f"[{i:2d}/{len(runs)}] {name:<24}", end="\n" if verbose else "", flush=True)
            result = next(outcomes)
            results.append(result)
            print(
                f" test accuracy {result['accuracy']:.3f}  loss {result['loss']:.3f}  "
                f"{result['seconds']:.1f} s",
                flush=True,
            )
    finally:
        outcomes.close()  # a local cluster shuts down here
    print()
    print(format_results(results, target))
    for r in results:
        for message in r["messages"]:
            print(f"\n{r['label']}: {message}")
    paths = write_plots(results, out)
    print("\nwrote " + ", ".join(paths))
    return results


def _run(config, bn, data, settings, monitor_every, verbose):
    """One configuration trained and measured: the result dict of `run_activations`."""
    (label, activation, initializer, _), ((xtr, xte), y_train, y_test) = config, data
    depth, units, epochs, batch_size, learning_rate, momentum, target, seed = settings
    random.seed(seed)  # for anything seeded from Python's random (initializers by name)
    model = build_model(activation, initializer, depth, units, bn, seed)
    model.compile(
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        optimizer=optimizers.SGD(learning_rate=learning_rate, momentum=momentum),
    )
    flow = diagnostics.gradient_flow(model, xtr[:_FLOW_BATCH], y_train[:_FLOW_BATCH])
    monitor = GradientMonitor(every=monitor_every, warn=False)
    start = time.perf_counter()
    history = model.fit(
        xtr,
        y_train,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        validation_data=(xte, y_test),
        callbacks=[monitor],
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(xte, y_test, verbose=0)
    return {
        "label": label + (" + BN" if bn else ""),
        "batch_norm": bn,
        "accuracy": float(accuracy),
        "loss": float(loss),
        "epochs_to_target": epochs_to(history, target),
        "grad_ratio_init": flow.grad_norm_ratio(),
        "seconds": seconds,
        "warnings": [kind for kind, _ in monitor.messages],
        "messages": [message for _, message in monitor.messages],
        "history": history,
        "flow": flow,
        "records": monitor.records,
    }


def format_results(results, target):
    """The comparison table, one row per run."""
    headers = (
        "model",
        "test acc",
        "test loss",
        f"epochs to {target:.0%}",
        "grad ratio at init",
        "time (s)",
        "monitor warnings",
    )
    rows = []
    for r in results:
        reached = r["epochs_to_target"]
        ratio = r["grad_ratio_init"]
        rows.append(
            (
                r["label"],
                f"{r['accuracy']:.3f}",
                f"{r['loss']:.3f}",
                "-" if reached is None else str(reached),
                "-" if ratio is None else f"{ratio:.2e}",
                f"{r['seconds']:.2f}",
                ", ".join(r["warnings"]) or "-",
            )
        )
    return format_table(headers, rows, left=(0, 6))


def write_plots(results, out):
    """The experiment's PNGs in `out`; returns their paths."""
    paths = [plots.plot_activations(os.path.join(out, "activations.png"))]
    for bn, suffix in ((False, ""), (True, "_bn")):
        group = [r for r in results if r["batch_norm"] == bn]
        if not group:
            continue
        paths.append(
            plots.plot_gradient_flow(
                {r["label"]: r["flow"] for r in group},
                os.path.join(out, f"gradient_flow_init{suffix}.png"),
                kinds=("Dense",),
            )
        )
        paths.append(
            plots.plot_history(
                {r["label"]: r["history"] for r in group},
                os.path.join(out, f"training_curves{suffix}.png"),
                keys=["loss", "accuracy", "grad_norm_ratio"],
            )
        )
    paths.append(
        plots.plot_gradient_norms(
            {r["label"]: r["records"] for r in results},
            os.path.join(out, "gradient_norms.png"),
            kinds=("Dense",),
        )
    )
    return paths


def add_arguments(parser):
    """The options of `densekit experiment activations`."""
    parser.add_argument("--depth", type=int, default=20, help="hidden layers (default 20)")
    parser.add_argument("--units", type=int, default=100, help="units per hidden layer")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=0.003)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--target", type=float, default=0.9, help="test accuracy to reach")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--monitor-every",
        type=int,
        default=5,
        help="GradientMonitor records one step out of this many",
    )
    add_run_arguments(parser, out="densekit-activations", scheduler=True)


def main(args):
    """Runs `densekit experiment activations` from parsed arguments; returns the exit code."""
    set_threads(args.threads)
    run_activations(
        depth=args.depth,
        units=args.units,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        momentum=args.momentum,
        target=args.target,
        seed=args.seed,
        monitor_every=args.monitor_every,
        out=args.out,
        verbose=args.verbose,
        scheduler=args.scheduler,
    )
    return 0
