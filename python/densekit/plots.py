"""Figures of activations, gradient flow and training, written as PNG files with matplotlib
(the optional `plots` extra).

matplotlib is imported only when a figure is drawn, and drawn on the Agg canvas directly: pyplot and
its global backend are not touched, so the functions work the same in a script, a test or a
notebook. Each function takes the path of the PNG to write and returns it.

* `plot_activations`: activation functions, their derivatives and the regions where they saturate
  or give no gradient;
* `plot_gradient_flow`: a figure of `diagnostics.gradient_flow` per layer (e.g. at initialization);
* `plot_gradient_norms`: per-layer gradient norms over training, from a `GradientMonitor`;
* `plot_history`: training curves from a `History`.

Functions that draw runs accept one run or a dict {label: run}, drawn together.
"""

import math

import numpy as np

from densekit import _core, activations
from densekit._optional import require

__all__ = ["plot_activations", "plot_gradient_flow", "plot_gradient_norms", "plot_history"]

DEFAULT_ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu")
# The parameters drawn: the Keras 3 function defaults (leaky ReLU's slope 0.2, ELU's alpha 1.0).
_ACTIVATION_PARAMS = {"leaky_relu": {"negative_slope": 0.2}, "elu": {"alpha": 1.0}}
# Same rule as the monitor's saturated_fraction (cpp/src/diagnostics.cpp): the output within 1% of
# a limit, where the derivative is nearly zero.
_SATURATION = {
    "sigmoid": (0.01, 0.99),
    "hard_sigmoid": (0.01, 0.99),
    "tanh": (-0.99, 0.99),
    "softsign": (-0.99, 0.99),
}


def _figure(rows, cols, width=4.2, height=3.2):
    require("matplotlib", extra="plots", feature="Drawing figures (densekit.plots)")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width * cols, height * rows), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False)
    return figure, axes


def _save(figure, path, axes=None, used=0):
    if axes is not None:
        for ax in axes.flat[used:]:
            ax.set_visible(False)
    figure.savefig(str(path), dpi=100, format="png")
    return path


def _grid(count, max_cols=3):
    cols = min(count, max_cols)
    return -(-count // cols), cols


def _runs(runs, kind):
    """{label: run} from one run or a dict of them."""
    if isinstance(runs, dict) and not (kind == "history" and _is_history_dict(runs)):
        return dict(runs)
    return {None: runs}


def _is_history_dict(value):
    return bool(value) and all(isinstance(v, list) for v in value.values())


def plot_activations(path, names=DEFAULT_ACTIVATIONS, z_range=(-5.0, 5.0)):
    """Draws each activation f(z) with its derivative f'(z), one panel each.

    Shaded: where a squashing function (sigmoid, tanh, ...) saturates (its output within 1% of a
    limit, as the monitor counts it), and where f'(z) = 0 (a ReLU unit that stays there is dead).

    Args:
        path: the PNG file to write.
        names: activation names of `densekit.activations`.
        z_range: the (low, high) inputs drawn.
    """
    rows, cols = _grid(len(names))
    figure, axes = _figure(rows, cols)
    z = np.linspace(z_range[0], z_range[1], 1001, dtype=np.float32).reshape(1, -1)
    for ax, name in zip(axes.flat, names):
        activations.get(name)  # raises ValueError for an unknown name
        spec = _core.kernels.ActivationSpec(name, **_ACTIVATION_PARAMS.get(name, {}))
        y = _core.kernels.activation_forward(spec, z)
        dy = _core.kernels.activation_backward(spec, z, y, np.ones_like(z))
        zs, ys, dys = z[0], y[0], dy[0]
        if name in _SATURATION:
            low, high = _SATURATION[name]
            _shade(ax, zs, (ys <= low) | (ys >= high), "saturated (within 1% of a limit)")
        else:
            _shade(ax, zs, dys == 0, "no gradient (dead)")
        ax.plot(zs, ys, color="C0", linewidth=2, label=f"{name}(z)")
        ax.plot(zs, dys, color="C1", linestyle="--", label="derivative")
        ax.axhline(0, color="black", linewidth=0.6)
        ax.axvline(0, color="black", linewidth=0.6)
        params = ", ".join(f"{k}={v:g}" for k, v in _ACTIVATION_PARAMS.get(name, {}).items())
        ax.set_title(f"{name}({params})" if params else name)
        ax.set_xlabel("z")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize="small")
    return _save(figure, path, axes, len(names))


def _shade(ax, z, mask, label):
    """Shades the runs of `z` where `mask` holds, labelling the first one."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    for start, stop in zip(edges[::2], edges[1::2]):
        ax.axvspan(z[start], z[stop - 1], color="tab:red", alpha=0.12, label=label)
        label = None


def _positive(values):
    """Floats for a log axis: None, zero, negative or non-finite values become NaN (a gap)."""
    out = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    out[~(np.isfinite(out) & (out > 0))] = np.nan
    return out


def _log_if_positive(ax, *series):
    if any(np.isfinite(s).any() for s in series):
        ax.set_yscale("log")


def plot_gradient_flow(flows, path, figure="weight_grad_norm", kinds=None):
    """Draws one figure of `diagnostics.gradient_flow` against the depth of the layer.

    Args:
        flows: a `gradient_flow` result, or a dict {label: result} drawn as one line each.
        path: the PNG file to write.
        figure: the key drawn, "weight_grad_norm" (log scale) by default.
        kinds: layer classes drawn, e.g. ("Dense",); None: every layer with the figure.
    """
    fig, axes = _figure(1, 1, width=7, height=4.5)
    ax = axes[0, 0]
    for label, rows in _runs(flows, "flow").items():
        layers = [
            r
            for r in rows
            if r.get(figure) is not None and (kinds is None or r.get("kind") in kinds)
        ]
        values = [r[figure] for r in layers]
        if figure.endswith("_norm"):
            values = _positive(values)
        ax.plot(range(1, len(layers) + 1), values, marker="o", markersize=3, label=label)
    if figure.endswith("_norm"):
        _log_if_positive(ax, *[line.get_ydata() for line in ax.get_lines()])
    ax.set_xlabel("layer (bottom to top)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel(figure.replace("_", " "))
    ax.set_title(f"{figure.replace('_', ' ')} per layer, one batch")
    ax.grid(True, alpha=0.3)
    if any(label is not None for label in _runs(flows, "flow")):
        ax.legend(fontsize="small", ncol=2)
    return _save(fig, path)


def plot_gradient_norms(records, path, figure="weight_grad_norm", kinds=None):
    """Draws a per-layer figure over training, one line per layer, bottom layers dark.

    Args:
        records: a `GradientMonitor`, its `records`, or a dict {label: either}: one panel each.
        path: the PNG file to write.
        figure: the per-layer key drawn, "weight_grad_norm" by default (log scale for norms).
        kinds: layer classes drawn, e.g. ("Dense",); None: every layer with the figure.
    """
    runs = _runs(records, "records")
    rows, cols = _grid(len(runs), max_cols=2)
    fig, axes = _figure(rows, cols, width=5.5, height=3.4)
    import matplotlib

    colormap = matplotlib.colormaps["viridis"]
    for ax, (label, run) in zip(axes.flat, runs.items()):
        run = getattr(run, "records", run)
        steps = [r["step"] for r in run]
        first = run[0]["layers"] if run else []
        drawn = [i for i, row in enumerate(first) if kinds is None or row.get("kind") in kinds]
        drawn = [i for i in drawn if any(r["layers"][i][figure] is not None for r in run)]
        lines = []
        for depth, i in enumerate(drawn):
            values = [r["layers"][i][figure] for r in run]
            if figure.endswith("_norm"):
                values = _positive(values)
            color = colormap(depth / max(len(drawn) - 1, 1))
            lines.append(ax.plot(steps, values, color=color, linewidth=1)[0].get_ydata())
        if figure.endswith("_norm"):
            _log_if_positive(ax, *lines)
        ax.set_title(label or f"{figure.replace('_', ' ')} over training", fontsize="medium")
        ax.set_xlabel("training step")
        ax.set_ylabel(figure.replace("_", " "))
        ax.grid(True, alpha=0.3)
    norm = matplotlib.colors.Normalize(0, 1)
    bar = fig.colorbar(
        matplotlib.cm.ScalarMappable(norm=norm, cmap=colormap),
        ax=axes[:, -1].tolist(),
        ticks=[0, 1],
        shrink=0.8 if rows < 3 else 0.4,
    )
    bar.ax.set_yticklabels(["bottom", "top"])
    bar.set_label("layer")
    return _save(fig, path, axes, len(runs))


def plot_history(history, path, keys=None):
    """Draws training curves: one panel per metric, validation dashed.

    Args:
        history: a `History`, its `.history` dict, or a dict {label: either}: one line each.
        path: the PNG file to write.
        keys: the metrics drawn (without "val_"); by default all, "loss" first.
    """
    runs = {label: getattr(h, "history", h) for label, h in _runs(history, "history").items()}
    if keys is None:
        found = {k[4:] if k.startswith("val_") else k for h in runs.values() for k in h}
        keys = sorted(found, key=lambda k: (k != "loss", k))
    rows, cols = _grid(max(len(keys), 1))
    fig, axes = _figure(rows, cols)
    for k, (ax, key) in enumerate(zip(axes.flat, keys)):
        for i, (label, logs) in enumerate(runs.items()):
            color = f"C{i % 10}"
            for prefix, style in (("", "-"), ("val_", "--")):
                values = logs.get(prefix + key)
                if not values:
                    continue
                name = label if label is not None else prefix + key
                epochs = range(1, len(values) + 1)
                values = [math.nan if v is None else v for v in values]
                if key == "grad_norm_ratio":
                    values = _positive(values)
                ax.plot(
                    epochs,
                    values,
                    style,
                    color=color,
                    label=name if (label is None or not prefix) else None,
                )
        if key == "grad_norm_ratio":
            _log_if_positive(ax, *[line.get_ydata() for line in ax.get_lines()])
        validation = any(logs.get("val_" + key) for logs in runs.values())
        ax.set_title(key.replace("_", " ") + (" (dashed: validation)" if validation else ""))
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True, alpha=0.3)
        # Several runs: one legend of the runs, on the first panel.
        if ax.get_lines() and (None in runs or k == 0):
            ax.legend(fontsize="x-small", ncol=2 if len(runs) > 4 else 1)
    return _save(fig, path, axes, len(keys))
