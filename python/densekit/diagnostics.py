"""Gradient diagnostics: vanishing and exploding gradients, saturated units and dead ReLUs.

The figures are computed in C++ (see `cpp/include/densekit/diagnostics.hpp`), for each layer that
computes something (a Flatten layer has none and is left out), bottom first:

* `weight_grad_norm`: L2 norm of the layer's trainable weight gradients, all variables together;
* `input_grad_norm`: L2 norm of ∂loss/∂(the layer's input), the gradient flowing into the layer;
* `output_mean`, `output_std`: of the layer's outputs over the batch and the units;
* `saturated_fraction`: outputs of a sigmoid, tanh, softsign or hard_sigmoid within 1% of a limit,
  where the derivative is nearly zero;
* `dead_fraction`: units of a ReLU that output zero for every sample of the batch.

A figure that does not apply to a layer (no weights, no squashing activation, no ReLU) is None; a
figure that applies but is not finite (exploded gradients) is NaN or Inf.

`gradient_flow` computes them for one batch without training; `densekit.callbacks.GradientMonitor`
collects them during `fit`.

Example:

>>> flow = diagnostics.gradient_flow(model, x_train[:256], y_train[:256])  # doctest: +SKIP
>>> print(flow)                                                            # doctest: +SKIP
>>> flow.grad_norm_ratio()   # bottom / top weight-gradient norm; tiny: vanishing  # doctest: +SKIP
"""

import math

import numpy as np

__all__ = [
    "FIGURES",
    "GradientFlow",
    "GradientWarning",
    "format_table",
    "grad_norm_ratio",
    "gradient_flow",
    "gradient_problems",
]

FIGURES = (
    "weight_grad_norm",
    "input_grad_norm",
    "output_mean",
    "output_std",
    "saturated_fraction",
    "dead_fraction",
)

_MAY_NOT_APPLY = ("weight_grad_norm", "saturated_fraction", "dead_fraction")


class GradientWarning(UserWarning):
    """Gradients vanish, explode or became NaN/Inf during training (see GradientMonitor)."""


class GradientFlow(list):
    """The per-layer dicts of `gradient_flow`, bottom first; `str()` is a readable table."""

    def grad_norm_ratio(self):
        """Weight-gradient norm of the lowest layer over the top layer's (see `grad_norm_ratio`)."""
        return grad_norm_ratio(self)

    def __str__(self):
        return format_table(self)


def gradient_flow(model, x, y):
    """The per-layer figures for one batch, in training mode, without changing the model.

    For inspecting a model at initialization: one forward and backward pass on `(x, y)` with batch
    statistics, as a training step would do, but without the update; the weights and the moving
    statistics of BatchNormalization stay as they were.

    Args:
        model: a compiled `Sequential` (the loss defines the gradients).
        x: the batch, shaped like the model's input.
        y: its targets, in the format `fit` takes for the model's loss.

    Returns:
        A `GradientFlow`: a list with one dict per layer, bottom first, with the keys `layer` (its
        name), `kind` (its class name) and those of `FIGURES`. Printing it shows a table.

    Raises:
        ValueError: if the model is not compiled, or `x` / `y` do not fit it.
    """
    return GradientFlow(_layer_dicts(model._gradient_flow(x, y)))


def _layer_dicts(pairs, described=None):
    """The public dicts of (layer, C++ `LayerStats`) pairs, bottom first.

    `described`: a dict kept across calls (converting many records) of each layer's
    `_describe_layer`, by layer id.
    """
    described = {} if described is None else described
    rows = []
    for layer, stats in pairs:
        if id(layer) not in described:
            described[id(layer)] = _describe_layer(layer)
        rows.append(_layer_dict(described[id(layer)], stats))
    return rows


def _describe_layer(layer):
    """(name, class name, has trainable weights) of a layer."""
    return layer.name, type(layer).__name__, any(v.trainable for v in layer.variables)


def _layer_dict(layer, stats):
    name, kind, has_weights = layer
    row = {"layer": name, "kind": kind}
    for figure in FIGURES:
        value = float(getattr(stats, figure))
        # C++ says "does not apply" with NaN. The outputs and the input gradient always apply,
        # and so does the weight gradient of a layer with trainable weights: a NaN there is real.
        if (
            math.isnan(value)
            and figure in _MAY_NOT_APPLY
            and not (figure == "weight_grad_norm" and has_weights)
        ):
            value = None
        row[figure] = value
    return row


def grad_norm_ratio(rows):
    """Weight-gradient norm of the lowest layer over that of the top layer.

    Only layers with a weight gradient count, Dense layers preferred (the gradients of a
    BatchNormalization's gamma and beta are on another scale). Near 1 the gradient reaches the
    bottom of the network; orders of magnitude below 1, it vanishes on the way down.

    Returns:
        A float (NaN if a norm is not finite), or None with fewer than two such layers.
    """
    ends = _bottom_and_top(rows)
    if ends is None:
        return None
    bottom, top = ends[0]["weight_grad_norm"], ends[1]["weight_grad_norm"]
    if not (math.isfinite(bottom) and math.isfinite(top)):
        return math.nan
    return bottom / top if top > 0 else math.inf


def _bottom_and_top(rows):
    with_grads = [r for r in rows if r["weight_grad_norm"] is not None]
    dense = [r for r in with_grads if r.get("kind") == "Dense"]
    chosen = dense if len(dense) >= 2 else with_grads
    return (chosen[0], chosen[-1]) if len(chosen) >= 2 else None


def gradient_problems(records, vanishing_ratio=1e-3, exploding_growth=100.0, nonfinite_at=None):
    """The first vanishing, exploding and non-finite gradients in the records of one epoch.

    * vanishing: the lowest layer's weight-gradient norm below `vanishing_ratio` times the top
      layer's (see `grad_norm_ratio`);
    * exploding: the norm of all weight gradients together grows `exploding_growth` times from the
      epoch's first record (the global norm: a tiny bottom-layer gradient that wobbles is no
      explosion); the layer with the largest gradient is named;
    * nonfinite: a gradient or an output is NaN or Inf; the lowest layer with a non-finite output
      is named (the forward pass overflowed there), else the top layer with a non-finite gradient
      (the backward pass started there).

    Args:
        records: `GradientMonitor` records ({"epoch", "step", "layers"}) of one epoch, in order.
        nonfinite_at: (epoch, step) of a step that `fit` found non-finite, for when that step was
            not recorded; the layer with the largest gradient at the last record is named then.

    Returns:
        A list of (kind, message) pairs, at most one per kind, kinds in the order above.
    """
    found = {}
    first_norm = None
    for record in records:
        rows, where = record["layers"], f"epoch {record['epoch'] + 1}, step {record['step']}"
        bad = _nonfinite_layer(rows)
        if bad is not None:
            found.setdefault(
                "nonfinite",
                (
                    f"Gradients exploded to NaN or Inf at {where}, in layer '{bad}'. Lower the learning "
                    f"rate, clip the gradients (clipnorm=1.0) or add batch normalization."
                ),
            )
            continue
        ratio = grad_norm_ratio(rows)
        if ratio is not None and ratio < vanishing_ratio and "vanishing" not in found:
            bottom, top = _bottom_and_top(rows)
            found["vanishing"] = (
                f"Vanishing gradients at {where}: the weight gradients of the lowest layer "
                f"'{bottom['layer']}' ({bottom['weight_grad_norm']:.2e}) are {ratio:.1e} times those "
                f"of the top layer '{top['layer']}' ({top['weight_grad_norm']:.2e}), below "
                f"{vanishing_ratio:g}; the lower layers barely learn. Try a non-saturating activation "
                f"(ReLU, ELU, SELU) with He or LeCun initialization, or batch normalization."
            )
        norms = [r["weight_grad_norm"] for r in rows if r["weight_grad_norm"] is not None]
        norm = math.sqrt(sum(n * n for n in norms)) if norms else None
        if first_norm is None:
            first_norm, first_where = norm, where
        elif (
            norm
            and first_norm
            and norm >= exploding_growth * first_norm
            and "exploding" not in found
        ):
            largest = max(
                (r for r in rows if r["weight_grad_norm"] is not None),
                key=lambda r: r["weight_grad_norm"],
            )
            found["exploding"] = (
                f"Exploding gradients: the weight gradients grew {norm / first_norm:.0f}x within "
                f"epoch {record['epoch'] + 1}, from {first_norm:.2e} at {first_where} to "
                f"{norm:.2e} at step {record['step']}, the largest in layer '{largest['layer']}' "
                f"({largest['weight_grad_norm']:.2e}). Lower the learning rate or clip the "
                f"gradients (clipnorm=1.0)."
            )
    if nonfinite_at is not None and "nonfinite" not in found:
        epoch, step = nonfinite_at
        last = [
            r
            for r in (records[-1]["layers"] if records else [])
            if r["weight_grad_norm"] is not None
        ]
        hint = "no step of that epoch was recorded"
        if last:
            largest = max(last, key=lambda r: r["weight_grad_norm"])
            hint = (
                f"at the last recorded step ({records[-1]['step']}) the largest weight gradient "
                f"was in layer '{largest['layer']}' ({largest['weight_grad_norm']:.2e})"
            )
        found["nonfinite"] = (
            f"Gradients exploded to NaN or Inf at epoch {epoch + 1}, step {step}, a step the "
            f"monitor did not record (every=1 records all); {hint}. Lower the learning rate, clip "
            f"the gradients (clipnorm=1.0) or add batch normalization."
        )
    return [
        (kind, found[kind]) for kind in ("vanishing", "exploding", "nonfinite") if kind in found
    ]


def _nonfinite_layer(rows):
    for r in rows:
        if not (math.isfinite(r["output_mean"]) and math.isfinite(r["output_std"])):
            return r["layer"]
    for r in reversed(rows):
        if any(
            r[name] is not None and not math.isfinite(r[name])
            for name in ("weight_grad_norm", "input_grad_norm")
        ):
            return r["layer"]
    return None


def format_table(rows):
    """A fixed-width table of per-layer dicts (`gradient_flow` rows or a record's `layers`)."""
    headers = ("layer", "weight grad", "input grad", "out mean", "out std", "saturated", "dead")
    formats = ("{:.3e}", "{:.3e}", "{:+.3f}", "{:.3f}", "{:.1%}", "{:.1%}")
    lines = [
        [r["layer"]] + [_cell(fmt, r[name]) for fmt, name in zip(formats, FIGURES)] for r in rows
    ]
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
        for i, h in enumerate(headers)
    ]

    def join(cells):
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        )

    out = [join(headers), "  ".join("-" * w for w in widths)] + [join(line) for line in lines]
    return "\n".join(out)


def _cell(fmt, value):
    if value is None:
        return "-"
    if not np.isfinite(value):
        return str(value)
    return fmt.format(value)


def __dir__():
    return __all__
