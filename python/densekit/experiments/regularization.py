"""`densekit experiment regularization`: what each regularizer does to overfitting, and MC dropout.

The data set is digits (8x8 pixels), of whose 1,437 training images the first `train_samples`
(400 by default) train and the 360 test images validate: few enough for a network of three
hidden layers of 300 units (about 200,000 parameters) to learn them by heart. Its training loss
goes to almost 0 while the test loss stays well above: the overfitting gap. (On all 1,437 images
the gap is a third as large: test accuracy 0.989 without any regularization.)
Each configuration (`--configs` keys in brackets) trains that network with Nadam at 0.001,
batch 32:

    [none]           ReLU, He initialization, nothing against overfitting
    [l2]             the same with kernel_regularizer=l2(L2_FACTOR) on every Dense layer
    [dropout]        the same with Dropout(DROPOUT_RATE) after each hidden layer
    [max-norm]       the same with kernel_constraint=max_norm(MAX_NORM) on the hidden layers
    [alpha-dropout]  the self-normalizing recipe (Klambauer et al. 2017): inputs standardized by a
                     Normalization layer adapted on the training set, SELU with LeCun
                     initialization, AlphaDropout(ALPHA_DROPOUT_RATE) after each hidden layer

`densekit.utils.set_random_seed(seed)` before each run fixes everything drawn: the initial
weights, the batch order and the dropout masks, so a run repeats bit for bit. The table gives,
averaged over `repeats` seeds, the last epoch's training and test accuracy and loss and the gap
between them (the test loss here includes no penalty: it is `evaluate`'s data loss minus the
penalty, so the configurations compare on the same footing).

MC dropout (Gal & Ghahramani 2016): for the configurations with dropout, the test set is also
predicted `samples` times with `model(x, training=True)`, each time with new masks, and the
probabilities averaged. The second table compares that average with plain `predict`: accuracy,
log loss, the mean predicted probability of the true class, the expected calibration error (10
bins of confidence) and the spread across samples (the standard deviation of the true class's
probability, averaged over the test images).

The curves (training solid, test dashed) go to `regularization.png`.
"""

import argparse
import os
import time

import numpy as np

from densekit import constraints, layers, plots, regularizers
from densekit.datasets import digits
from densekit.experiments._common import add_run_arguments, format_table, set_threads
from densekit.models import Sequential
from densekit.utils import set_random_seed

__all__ = ["CONFIGS", "add_arguments", "calibration", "main", "run_regularization"]

HIDDEN_LAYERS, UNITS = 3, 300
L2_FACTOR = 1e-4
DROPOUT_RATE = 0.3
MAX_NORM = 1.0
ALPHA_DROPOUT_RATE = 0.1

CONFIGS = {
    "none": "no regularization",
    "l2": f"l2({L2_FACTOR:g})",
    "dropout": f"Dropout({DROPOUT_RATE:g})",
    "max-norm": f"max_norm({MAX_NORM:g})",
    "alpha-dropout": f"SELU + AlphaDropout({ALPHA_DROPOUT_RATE:g})",
}
_WITH_DROPOUT = ("dropout", "alpha-dropout")


def build_model(key, x_train):
    """The network of configuration `key`; `x_train` adapts the alpha-dropout recipe's
    Normalization layer."""
    if key == "alpha-dropout":
        # One mean and variance over all pixels (axis=None): some pixels are 0 in every training
        # image, and a per-pixel variance of 0 would blow up any test image lit there.
        norm = layers.Normalization(axis=None)
        norm.adapt(x_train.reshape(len(x_train), -1))
        stack = [layers.Flatten(input_shape=x_train.shape[1:]), norm]
        for _ in range(HIDDEN_LAYERS):
            stack += [
                layers.Dense(UNITS, activation="selu", kernel_initializer="lecun_normal"),
                layers.AlphaDropout(ALPHA_DROPOUT_RATE),
            ]
        return Sequential(stack + [layers.Dense(10, activation="softmax")])
    stack = [layers.Flatten(input_shape=x_train.shape[1:])]
    for _ in range(HIDDEN_LAYERS):
        options = {}
        if key == "l2":
            options["kernel_regularizer"] = regularizers.l2(L2_FACTOR)
        if key == "max-norm":
            options["kernel_constraint"] = constraints.max_norm(MAX_NORM)
        stack.append(
            layers.Dense(UNITS, activation="relu", kernel_initializer="he_normal", **options)
        )
        if key == "dropout":
            stack.append(layers.Dropout(DROPOUT_RATE))
    output = {"kernel_regularizer": regularizers.l2(L2_FACTOR)} if key == "l2" else {}
    return Sequential(stack + [layers.Dense(10, activation="softmax", **output)])


def _data_loss(model, x, y):
    """`evaluate`'s loss without the weight penalties it includes."""
    loss, accuracy = model.evaluate(x, y, verbose=0)
    return loss - float(sum(model.losses)), accuracy


def calibration(probabilities, labels, bins=10):
    """Accuracy, log loss, mean probability of the true class and the expected calibration error
    (|accuracy - confidence| per bin of confidence, weighted by the bin's share) of predicted
    class probabilities (samples, classes)."""
    p = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels).reshape(-1)
    true = p[np.arange(len(labels)), labels]
    confidence, predicted = p.max(axis=1), p.argmax(axis=1)
    hit = predicted == labels
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    ece = sum(
        abs(hit[which == b].mean() - confidence[which == b].mean()) * np.mean(which == b)
        for b in range(bins)
        if np.any(which == b)
    )
    return {
        "accuracy": float(hit.mean()),
        "log_loss": float(-np.mean(np.log(np.maximum(true, 1e-12)))),
        "p_true": float(true.mean()),
        "ece": float(ece),
    }


def _mc_dropout(model, x, y, samples):
    """Plain `predict` against the mean of `samples` predictions with new dropout masks."""
    plain = calibration(model.predict(x, verbose=0), y)
    draws = np.stack([model(x, training=True) for _ in range(samples)])
    mc = calibration(draws.mean(axis=0), y)
    mc["spread"] = float(draws[:, np.arange(len(y)), y].std(axis=0).mean())
    plain["spread"] = 0.0
    return plain, mc


def _train(key, seed, data, epochs, batch_size, samples, verbose):
    (x_train, y_train), (x_test, y_test) = data
    set_random_seed(seed)
    model = build_model(key, x_train)
    model.compile(optimizer="nadam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    start = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=(x_test, y_test),
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    train = _data_loss(model, x_train, y_train)
    test = _data_loss(model, x_test, y_test)
    mc = _mc_dropout(model, x_test, y_test, samples) if key in _WITH_DROPOUT else None
    return {"history": history, "train": train, "test": test, "seconds": seconds, "mc": mc}


def run_regularization(
    train_samples=400,
    epochs=60,
    batch_size=32,
    seed=42,
    repeats=3,
    samples=100,
    out="densekit-regularization",
    configs=None,
    verbose=0,
):
    """Runs the comparison; prints a line per configuration, then the tables; writes the PNG.

    Returns:
        A list with one dict per configuration: `key`, `label`, `runs` (one dict per seed with
        `history`, `train` and `test` (data loss, accuracy) after the last epoch, `seconds`, and
        `mc`: None, or the (plain, MC dropout) calibration dicts).
    """
    configs = list(CONFIGS) if configs is None else list(configs)
    unknown = [k for k in configs if k not in CONFIGS]
    if unknown:
        raise ValueError(
            f"unknown configuration {', '.join(unknown)}; the keys are: {', '.join(CONFIGS)}"
        )
    os.makedirs(out, exist_ok=True)
    (x_train, y_train), test = digits.load_data()
    data = (x_train[:train_samples], y_train[:train_samples]), test
    seeds = [seed + r for r in range(repeats)]
    print(
        f"digits: {len(data[0][0])} training, {len(data[1][0])} test images; {HIDDEN_LAYERS} "
        f"hidden layers of {UNITS} units; Nadam 0.001, batch {batch_size}, {epochs} epochs, "
        f"seeds {', '.join(map(str, seeds))}; MC dropout with {samples} samples",
        flush=True,
    )
    results = []
    for i, key in enumerate(configs, start=1):
        label = CONFIGS[key]
        print(f"[{i}/{len(configs)}] {label:<28}", end="\n" if verbose else "", flush=True)
        runs = [_train(key, s, data, epochs, batch_size, samples, verbose) for s in seeds]
        results.append({"key": key, "label": label, "runs": runs})
        print(
            f" train accuracy {np.mean([r['train'][1] for r in runs]):.3f}  test accuracy "
            f"{np.mean([r['test'][1] for r in runs]):.3f}  "
            f"{np.mean([r['seconds'] for r in runs]):.1f} s per run",
            flush=True,
        )
    print()
    print(format_results(results))
    mc_table = format_mc_dropout(results)
    if mc_table:
        print()
        print(mc_table)
    path = write_plot(results, out)
    print("\nwrote " + path)
    return results


def _mean(runs, pick):
    return float(np.mean([pick(r) for r in runs]))


def format_results(results):
    """The overfitting table: one row per configuration, means over the seeds."""
    headers = (
        "regularization",
        "train acc",
        "test acc",
        "acc gap",
        "train loss",
        "test loss",
        "loss gap",
        "time (s)",
    )
    rows = []
    for r in results:
        runs = r["runs"]
        train_acc, test_acc = (
            _mean(runs, lambda x: x["train"][1]),
            _mean(runs, lambda x: x["test"][1]),
        )
        train_loss, test_loss = (
            _mean(runs, lambda x: x["train"][0]),
            _mean(runs, lambda x: x["test"][0]),
        )
        rows.append(
            (
                r["label"],
                f"{train_acc:.3f}",
                f"{test_acc:.3f}",
                f"{train_acc - test_acc:.3f}",
                f"{train_loss:.3f}",
                f"{test_loss:.3f}",
                f"{test_loss - train_loss:.3f}",
                f"{_mean(runs, lambda x: x['seconds']):.2f}",
            )
        )
    return format_table(headers, rows)


def format_mc_dropout(results):
    """Plain `predict` against MC dropout on the test set, for the configurations with dropout;
    an empty string when there are none."""
    headers = ("model", "prediction", "accuracy", "log loss", "mean p(true)", "ECE", "spread")
    rows = []
    for r in results:
        if r["runs"][0]["mc"] is None:
            continue
        for i, name in enumerate(("predict", "MC dropout")):
            runs = r["runs"]
            rows.append(
                (
                    r["label"],
                    name,
                    *(
                        f"{_mean(runs, lambda x, k=k, i=i: x['mc'][i][k]):.3f}"
                        for k in ("accuracy", "log_loss", "p_true", "ece", "spread")
                    ),
                )
            )
    return format_table(headers, rows, left=(0, 1)) if rows else ""


def _mean_curve(runs, key):
    return np.mean([r["history"].history[key] for r in runs], axis=0).tolist()


def write_plot(results, out):
    """`regularization.png` in `out`: loss and accuracy per epoch, means over the seeds."""
    curves = {
        r["label"]: {
            key: _mean_curve(r["runs"], key)
            for key in ("loss", "val_loss", "accuracy", "val_accuracy")
        }
        for r in results
    }
    return plots.plot_history(
        curves, os.path.join(out, "regularization.png"), keys=["loss", "accuracy"]
    )


def _keys(text):
    chosen = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in chosen if k not in CONFIGS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown configuration {', '.join(unknown) or repr(text)}; the keys are: "
            + ", ".join(CONFIGS)
        )
    return chosen


def add_arguments(parser):
    """The options of `densekit experiment regularization`."""
    parser.add_argument(
        "--train-samples", type=int, default=400, help="training images used, the first (400)"
    )
    parser.add_argument("--epochs", type=int, default=60, help="epochs per run (60)")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per step (32)")
    parser.add_argument("--seed", type=int, default=42, help="the first seed (42)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs per configuration, seeds seed, seed+1, ... (3)"
    )
    parser.add_argument(
        "--samples", type=int, default=100, help="MC dropout predictions averaged (100)"
    )
    parser.add_argument(
        "--configs",
        type=_keys,
        default=None,
        help="comma-separated keys of the configurations to run (default all): "
        + ", ".join(CONFIGS),
    )
    add_run_arguments(parser, out="densekit-regularization")


def main(args):
    """Runs `densekit experiment regularization` from parsed arguments; returns the exit code."""
    set_threads(args.threads)
    run_regularization(
        train_samples=args.train_samples,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        repeats=args.repeats,
        samples=args.samples,
        out=args.out,
        configs=args.configs,
        verbose=args.verbose,
    )
    return 0
