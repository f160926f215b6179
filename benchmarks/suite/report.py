"""From raw repetitions to medians, ratios, the sgemm bound and the targets, as markdown.

Every figure is a ratio of medians over the repetitions; "densekit speedup" on a peer's row is
that peer's median time divided by densekit's, so > 1 means densekit is faster. "Adam / SGD" is
densekit's median Adam epoch divided by its median SGD epoch on the same model and batch size, in
the same run.
"""

import statistics

from suite.workloads import ITEMS, WIDTHS, epoch_samples, forward_flops, train_flops

__all__ = ["TARGETS", "markdown", "summarize"]

_ITEMS = {item.name: item for item in ITEMS}

# (item, measure, goal, wording): every goal is "measured >= goal" but those of the measures in
# _AT_MOST. A measure is a peer (densekit's speedup over it), "bound", "scaling" or "adam_sgd".
TARGETS = (
    ("bn-b32", "torch", 3.0, "bn b32: densekit speedup over PyTorch"),
    ("bn-b32", "bound", 0.50, "bn b32: fraction of the sgemm bound"),
    ("bn-b256", "torch", 1.5, "bn b256: densekit speedup over PyTorch"),
    ("bn-b256", "bound", 0.80, "bn b256: fraction of the sgemm bound"),
    ("deep-b32", "torch", 4.0, "deep b32: densekit speedup over PyTorch"),
    ("deep-b256", "torch", 2.0, "deep b256: densekit speedup over PyTorch"),
    ("predict", "torch", 1.5, "predict 10k: speedup over PyTorch (inference_mode)"),
    ("latency", "torch", 5.0, "1-sample latency: PyTorch's / densekit's (densekit ≤ 1/5)"),
    ("threads", "scaling", 1.7, "bn b256: 2 threads / 1 thread throughput"),
)
# Adam at batch 32 ≥ 3x PyTorch and at batch 256 ≥ 1.5x, against both of PyTorch's Adam
# implementations; an Adam epoch at most 10% slower than an SGD epoch.
TARGETS += tuple(
    target
    for model in ("bn", "deep")
    for batch, goal in ((32, 3.0), (256, 1.5))
    for target in (
        (
            f"{model}-adam-b{batch}",
            "torch",
            goal,
            f"{model} b{batch} Adam: densekit speedup over PyTorch (foreach)",
        ),
        (
            f"{model}-adam-b{batch}",
            "torch-fused",
            goal,
            f"{model} b{batch} Adam: densekit speedup over PyTorch (fused)",
        ),
        (
            f"{model}-adam-b{batch}",
            "adam_sgd",
            1.10,
            f"{model} b{batch}: densekit's Adam epoch / its SGD epoch",
        ),
    )
)
# densekit's epoch with dropout after each hidden layer at most 10% slower than without.
TARGETS += (
    (
        "dropout-cost-b32",
        "overhead",
        1.10,
        "bn b32: densekit's epoch with Dropout(0.2) / without",
    ),
)
# densekit at least 1.3x JAX (its faster form, per-batch jit or whole-epoch scan) with SGD.
TARGETS += tuple(
    (name, "jax", 1.3, f"{name.replace('-b', ' b')}: densekit speedup over JAX (faster form)")
    for name in ("bn-b32", "bn-b256", "deep-b32", "deep-b256")
)
# The wide models: at least 1.2x PyTorch and 85% of the sgemm rate at the same shapes, and
# densekit's samples/s not lower at batch 1024 than at 256.
TARGETS += tuple(
    target
    for width in WIDTHS
    for batch in (256, 1024)
    for target in (
        (
            f"wide{width}-b{batch}",
            "torch",
            1.2,
            f"wide{width} b{batch}: densekit speedup over PyTorch",
        ),
        (
            f"wide{width}-b{batch}",
            "gemm",
            0.85,
            f"wide{width} b{batch}: fraction of the sgemm rate",
        ),
    )
) + tuple(
    (
        f"wide{width}-b1024",
        "batch_scaling",
        1.0,
        f"wide{width}: samples/s at batch 1024 / at batch 256",
    )
    for width in WIDTHS
)
_AT_MOST = {"adam_sgd", "overhead"}
_PEER_MEASURES = {"torch", "torch-fused", "numpy", "jax"}
_JAX_FORMS = ("jax", "jax-scan")


def _median(results, key="seconds"):
    values = [r[key] for r in results if key in r]
    return statistics.median(values) if values else None


def summarize(raw):
    """Medians, rates, speedups, bound fractions and target verdicts of a `runner.run` result."""
    options = raw["meta"]["options"]
    samples = options["samples"]
    sgemm = statistics.median(raw["sgemm"]) if raw["sgemm"] else None
    summary = {"sgemm_flops_per_s": sgemm, "items": {}, "targets": []}
    for name, peers in raw["results"].items():
        item = _ITEMS[name]
        rows = {}
        for peer, results in peers.items():
            if not results:
                continue
            if item.kind == "overhead":
                variants = {key: _median([r[key] for r in results]) for key in results[0]}
                rows[peer] = {
                    "model_seconds": variants["model"],
                    "baseline_seconds": variants["baseline"],
                    "ratio": variants["model"] / variants["baseline"],
                }
                continue
            if item.kind in ("frozen", "threads"):
                variants = {key: _median([r[key] for r in results]) for key in results[0]}
                first, second = ("full", "frozen") if item.kind == "frozen" else ("1", "2")
                rows[peer] = {
                    **{f"{key}_seconds": value for key, value in variants.items()},
                    "speedup": variants[first] / variants[second],
                }
                continue
            row = {"seconds": _median(results)}
            count = {
                "train": epoch_samples(item, samples),
                "predict": options["predict_samples"],
                "latency": 1,
            }[item.kind]
            row["samples_per_s"] = count / row["seconds"]
            if item.kind == "train":
                row["loss"] = results[-1]["loss"]
                if item.model.startswith("wide"):
                    row["flops_per_s"] = train_flops(item.model) * count / row["seconds"]
                    rates = raw.get("gemm", {}).get(name)
                    if rates:
                        row["gemm_flops_per_s"] = statistics.median(rates)
                        row["gemm_fraction"] = row["flops_per_s"] / row["gemm_flops_per_s"]
                elif sgemm:
                    row["bound_seconds"] = 3 * forward_flops(item.model) * samples / sgemm
                    row["bound_fraction"] = row["bound_seconds"] / row["seconds"]
            rows[peer] = row
        if "densekit" in rows and "seconds" in rows["densekit"]:
            for peer, row in rows.items():
                if peer != "densekit":
                    row["densekit_speedup"] = row["seconds"] / rows["densekit"]["seconds"]
        forms = [peer for peer in _JAX_FORMS if "seconds" in rows.get(peer, {})]
        if forms and item.kind == "train":  # JAX's faster form stands for JAX in its targets
            best = min(forms, key=lambda peer: rows[peer]["seconds"])
            summary.setdefault("jax_best", {})[name] = {"form": best, **rows[best]}
        summary["items"][name] = rows
    for name, rows in summary["items"].items():
        sgd = summary["items"].get(_ITEMS[name].sgd_counterpart or "", {}).get("densekit")
        if sgd and "densekit" in rows:
            rows["densekit"]["sgd_seconds"] = sgd["seconds"]
            rows["densekit"]["adam_over_sgd"] = rows["densekit"]["seconds"] / sgd["seconds"]
    for name, measure, goal, wording in TARGETS:
        rows = summary["items"].get(name, {})
        value = None
        if measure == "jax":
            value = summary.get("jax_best", {}).get(name, {}).get("densekit_speedup")
        elif measure in _PEER_MEASURES:
            value = rows.get(measure, {}).get("densekit_speedup")
        elif measure == "gemm":
            value = rows.get("densekit", {}).get("gemm_fraction")
        elif measure == "batch_scaling":
            small = summary["items"].get(name.replace("-b1024", "-b256"), {}).get("densekit")
            large = rows.get("densekit")
            value = large["samples_per_s"] / small["samples_per_s"] if small and large else None
        elif measure == "bound":
            value = rows.get("densekit", {}).get("bound_fraction")
        elif measure == "adam_sgd":
            value = rows.get("densekit", {}).get("adam_over_sgd")
        elif measure == "overhead":
            value = rows.get("densekit", {}).get("ratio")
        else:
            value = rows.get("densekit", {}).get("speedup")
        if name in summary["items"]:
            met = value is not None and (value <= goal if measure in _AT_MOST else value >= goal)
            verdict = "n/a" if value is None else ("PASS" if met else "MISS")
            summary["targets"].append(
                {
                    "item": name,
                    "target": wording,
                    "goal": goal,
                    "at_most": measure in _AT_MOST,
                    "measured": value,
                    "result": verdict,
                }
            )
    return summary


# -- markdown ---------------------------------------------------------------------------------
def _time(seconds):
    if seconds is None:
        return "—"
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.1f} µs"


def _rate(value):
    return "—" if value is None else f"{value:,.0f}"


def _times(value):
    return "—" if value is None else f"{value:.2f}×"


def _percent(value):
    return "—" if value is None else f"{value:.0%}"


def _table(header, rows, left=2):
    """A markdown table; the first `left` columns are text, the others numbers (right-aligned)."""
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def markdown(raw, summary, level=2):
    """The report: a title (a markdown heading of `level`), the date, machine and versions, then
    tables for training, inference, extras and targets (headings one level deeper)."""
    options = raw["meta"]["options"]
    sgemm = summary["sgemm_flops_per_s"]
    sub = "#" * (level + 1)
    lines = [
        f"{'#' * level} Benchmark: {options['samples']:,} samples, {options['repeats']} "
        f"repetition{'s' * (options['repeats'] != 1)}, {options['threads']} thread"
        f"{'s' * (options['threads'] != 1)}, medians",
        "",
        *_about(raw),
    ]
    if sgemm:
        lines.append(
            f"- sgemm rate (NumPy float32 matmul 1024², {options['threads']} thread"
            f"{'s' * (options['threads'] != 1)}): {sgemm / 1e9:.1f} GFLOP/s; the sgemm bound "
            f"of an epoch is 3 × its forward FLOPs / that rate" + _bounds(summary) + "."
        )
    if options.get("quick"):
        lines.append("- Quick run: indicative only; the targets are meant for full runs.")
    if raw["meta"].get("busy_cpu") is not None:
        lines.append(
            f"- Contended: a busy process spun on CPU {raw['meta']['busy_cpu']} through every "
            "repetition (`--contend`), a slow period made on purpose."
        )
    items = summary["items"]
    train = [
        (name, peer, row)
        for name, rows in items.items()
        if _ITEMS[name].kind == "train" and not _ITEMS[name].model.startswith("wide")
        for peer, row in rows.items()
    ]
    if train:
        lines += ["", f"{sub} Training, one epoch", ""]
        lines += _table(
            [
                "workload",
                "peer",
                "s/epoch",
                "samples/s",
                "densekit speedup",
                "of sgemm bound",
                "loss",
            ],
            [
                [
                    _ITEMS[name].label,
                    peer,
                    f"{row['seconds']:.3f}",
                    _rate(row["samples_per_s"]),
                    _times(row.get("densekit_speedup")),
                    _percent(row.get("bound_fraction")),
                    f"{row['loss']:.3f}",
                ]
                for name, peer, row in train
            ],
        )
    inference = [
        (name, peer, row)
        for name, rows in items.items()
        if _ITEMS[name].kind in ("predict", "latency")
        for peer, row in rows.items()
    ]
    if inference:
        what = {
            "predict": f"predict {options['predict_samples']:,} (batch {options['predict_batch']})",
            "latency": f"1 sample, median of {options['latency_calls']:,} calls",
        }
        lines += ["", f"{sub} Inference, bn model", ""]
        lines += _table(
            ["measure", "peer", "median", "samples/s", "densekit speedup"],
            [
                [
                    what[name],
                    peer,
                    _time(row["seconds"]),
                    _rate(row["samples_per_s"]),
                    _times(row.get("densekit_speedup")),
                ]
                for name, peer, row in inference
            ],
        )
    lines += _jax(summary, sub)
    lines += _wide(raw, items, sub)
    lines += _adam(items, sub)
    lines += _extras(raw, items, sub)
    if summary["targets"]:
        lines += ["", f"{sub} Targets", ""]
        lines += _table(
            ["target", "measured", "goal", "result"],
            [
                [
                    t["target"],
                    _percent(t["measured"]) if "fraction" in t["target"] else _times(t["measured"]),
                    _goal(t),
                    t["result"],
                ]
                for t in summary["targets"]
            ],
            left=1,
        )
    if raw["notes"]:
        lines += ["", f"{sub} Notes", ""] + [f"- {note.splitlines()[0]}" for note in raw["notes"]]
    return "\n".join(lines) + "\n"


def _goal(target):
    if "fraction" in target["target"]:
        return f"≥ {target['goal']:.0%}"
    return f"{'≤' if target.get('at_most') else '≥'} {target['goal']:g}×"


def _jax(summary, sub):
    """JAX's two forms of training side by side, and which one its targets take."""
    rows = []
    for name, best in summary.get("jax_best", {}).items():
        peers = summary["items"][name]
        rows.append(
            [
                _ITEMS[name].label,
                _time(peers.get("jax", {}).get("seconds")),
                _time(peers.get("jax-scan", {}).get("seconds")),
                "scan epoch" if best["form"] == "jax-scan" else "jit step",
                _times(best.get("densekit_speedup")),
            ]
        )
    if not rows:
        return []
    header = ["workload", "jit step per batch", "lax.scan epoch", "faster", "densekit speedup"]
    return ["", f"{sub} JAX: a jit-compiled step per batch, or the epoch as one scan", ""] + (
        _table(header, rows, left=1)
    )


def _wide(raw, items, sub):
    """The wide models: time, achieved GFLOP/s against the sgemm rate at the same shapes, and
    samples/s at each batch size."""
    names = [name for name in items if _ITEMS[name].model.startswith("wide")]
    if not names:
        return []
    samples = epoch_samples(_ITEMS[names[0]], raw["meta"]["options"]["samples"])
    rows, by_batch = [], {}
    for name in names:
        item = _ITEMS[name]
        for peer, row in items[name].items():
            gemm = row.get("gemm_flops_per_s")
            rows.append(
                [
                    item.label,
                    peer,
                    f"{row['seconds']:.3f}",
                    _rate(row["samples_per_s"]),
                    f"{row['flops_per_s'] / 1e9:.1f}",
                    "—" if gemm is None else f"{gemm / 1e9:.1f}",
                    _percent(row["flops_per_s"] / gemm if gemm else None),
                    _times(row.get("densekit_speedup")),
                ]
            )
            by_batch.setdefault((item.model, peer), {})[item.batch] = row["samples_per_s"]
    lines = [
        "",
        f"{sub} Wide models: 784 → W → W → 10 (ReLU, SGD 0.01), {samples:,} samples an epoch",
        "",
        "GFLOP/s counts the products of a step (forward, weight gradients, input gradients above "
        "the first layer); the sgemm rate is NumPy's float32 matmul of the same shapes in the same "
        "run.",
        "",
    ]
    lines += _table(
        [
            "workload",
            "peer",
            "s/epoch",
            "samples/s",
            "GFLOP/s",
            "sgemm GFLOP/s",
            "of sgemm",
            "densekit speedup",
        ],
        rows,
    )
    lines += ["", "Samples/s by batch size:", ""]
    lines += _table(
        ["model", "peer", "b256", "b1024", "b1024 / b256"],
        [
            [
                model,
                peer,
                _rate(rates.get(256)),
                _rate(rates.get(1024)),
                _times(rates[1024] / rates[256] if 256 in rates and 1024 in rates else None),
            ]
            for (model, peer), rates in by_batch.items()
        ],
    )
    return lines


def _adam(items, sub):
    """Each Adam workload beside PyTorch's two Adams and beside densekit's own SGD epoch."""
    rows = []
    for name, peers in items.items():
        item, dk = _ITEMS[name], peers.get("densekit")
        if item.kind != "train" or item.optimizer != "adam" or not dk:
            continue
        foreach, fused = peers.get("torch", {}), peers.get("torch-fused", {})
        rows.append(
            [
                item.label,
                _time(dk["seconds"]),
                _time(foreach.get("seconds")),
                _times(foreach.get("densekit_speedup")),
                _time(fused.get("seconds")),
                _times(fused.get("densekit_speedup")),
                _time(dk.get("sgd_seconds")),
                _times(dk.get("adam_over_sgd")),
            ]
        )
    if not rows:
        return []
    header = [
        "workload",
        "densekit Adam",
        "PyTorch foreach",
        "densekit speedup",
        "PyTorch fused",
        "densekit speedup",
        "densekit SGD",
        "Adam / SGD",
    ]
    return [
        "",
        f"{sub} Adam: against PyTorch's foreach and fused Adam, and against densekit's SGD",
        "",
    ] + _table(header, rows, left=1)


def _extras(raw, items, sub):
    rows = []
    for name, peers in items.items():
        row = peers.get("densekit")
        item = _ITEMS[name]
        if item.kind == "frozen" and row:
            rows.append(
                [
                    f"deep b{item.batch}: all but the top frozen vs all trained",
                    f"full {_time(row['full_seconds'])}, frozen {_time(row['frozen_seconds'])}",
                    _times(row["speedup"]),
                ]
            )
        elif item.kind == "overhead" and row:
            rows.append(
                [
                    f"{item.model} b{item.batch} vs {item.baseline} b{item.batch}",
                    f"{item.baseline} {_time(row['baseline_seconds'])}, "
                    f"{item.model} {_time(row['model_seconds'])}",
                    f"{row['ratio']:.3f}× the time",
                ]
            )
        elif item.kind == "threads" and row:
            rows.append(
                [
                    f"bn b{item.batch}: 2 threads vs 1",
                    f"1 thread {_time(row['1_seconds'])}, 2 threads {_time(row['2_seconds'])}",
                    _times(row["speedup"]),
                ]
            )
    lines = []
    if rows:
        lines += ["", f"{sub} densekit only", ""] + _table(
            ["measure", "epoch medians", "speedup"], rows, left=1
        )
    if raw["rss"]:
        lines += ["", f"{sub} Peak RSS during one epoch of fit (fresh process per peer)", ""]
        lines += _table(
            ["peer", "workload", "RSS before fit", "peak during fit", "fit adds"],
            [
                [
                    peer,
                    r["item"],
                    _mib(r["rss_before_kib"]),
                    _mib(r["peak_kib"]),
                    _mib(
                        r["peak_kib"] - r["rss_before_kib"]
                        if r["peak_kib"] and r["rss_before_kib"]
                        else None
                    ),
                ]
                for peer, r in raw["rss"].items()
            ],
        )
        if not all(r["peak_reset"] for r in raw["rss"].values()):
            lines.append("(VmHWM could not be reset before the fit: the peak may predate it.)")
    return lines


def _about(raw):
    """The date, the machine, the versions and the load, as markdown list items."""
    meta, machine = raw["meta"], raw["meta"]["machine"]
    cores = f", {machine['cores']} cores" if machine.get("cores") else ""
    build = machine["densekit_build"]
    versions = raw["versions"]
    return [
        f"- Date: {meta['date']}",
        f"- Machine: {machine['cpu']}, {machine['cpus']} logical CPUs{cores}; instruction sets: "
        f"{' '.join(machine['simd']) or 'unknown'}",
        f"- Versions: densekit {versions.get('densekit', machine['densekit'])} (Eigen "
        f"{build['eigen_version']}, SIMD in use: {build['simd']}, {_gemm(build)}), NumPy "
        f"{versions.get('numpy', machine['numpy'])}, PyTorch {versions.get('torch', 'not run')}, "
        + "".join(
            f"{label} {versions[peer]}, "
            for peer, label in (("jax", "JAX"), ("jax-scan", "JAX"), ("onnxruntime", "onnxruntime"))
            if peer in versions and not (peer == "jax-scan" and "jax" in versions)
        )
        + f"Python {machine['python']}",
        f"- Load average (1 min): {meta['load_before'][0]:.2f} before, "
        f"{meta['load_after'][0]:.2f} after",
    ]


def _gemm(build):
    """The engine of densekit's large products, as the Versions line names it."""
    if build.get("gemm") != "openblas":
        return "large products: Eigen"
    return f"large products: {build.get('gemm_config') or 'OpenBLAS'} (1 thread per part)"


def _bounds(summary):
    """ ": bn 0.98 s, deep 0.99 s" for the models trained in this run."""
    bounds = {}
    for name, rows in summary["items"].items():
        for row in rows.values():
            if "bound_seconds" in row:
                bounds[_ITEMS[name].model] = row["bound_seconds"]
    return "".join(
        f"{', ' if i else ': '}{model} {_time(seconds)}"
        for i, (model, seconds) in enumerate(bounds.items())
    )


def _mib(kib):
    return "—" if kib is None else f"{kib / 1024:,.0f} MiB"
