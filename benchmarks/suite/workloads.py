"""What the benchmark measures: the two models, the items of a run, synthetic data.

Every peer builds its model from the same `ModelSpec`, so the batch-normalized ("bn") and deep
models are written down once; the FLOP count behind the sgemm bound is computed from the same spec.
"""

import dataclasses

import numpy as np

__all__ = [
    "FEATURES",
    "CLASSES",
    "ITEMS",
    "MODELS",
    "Item",
    "LayerSpec",
    "ModelSpec",
    "forward_flops",
    "make_data",
    "select_items",
]

FEATURES = 784  # 28 x 28 pixels, flattened
CLASSES = 10


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One layer: kind is "dense", "batch_norm" or "activation"."""

    kind: str
    units: int = 0
    activation: str = None
    use_bias: bool = True
    initializer: str = "glorot_uniform"


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A Sequential model after Flatten, trained with SGD and one gradient clip."""

    name: str
    layers: tuple
    clip: tuple  # ("clipvalue", 1.0) or ("clipnorm", 1.0), applied per variable as Keras does
    learning_rate: float = 0.01


def _dense(units, activation=None, use_bias=True, initializer="glorot_uniform"):
    return LayerSpec("dense", units, activation, use_bias, initializer)


_BN = LayerSpec("batch_norm")

MODELS = {
    # Flatten -> BN -> Dense(300, relu, no bias) -> BN -> Dense(100, no bias) -> BN -> relu
    # -> Dense(10, softmax); SGD(0.01, clipvalue=1.0).
    "bn": ModelSpec(
        "bn",
        (
            _BN,
            _dense(300, "relu", use_bias=False),
            _BN,
            _dense(100, use_bias=False),
            _BN,
            LayerSpec("activation", activation="relu"),
            _dense(CLASSES, "softmax"),
        ),
        clip=("clipvalue", 1.0),
    ),
    # 20 x Dense(100, elu, he_normal) -> Dense(10, softmax); SGD(0.01, clipnorm=1.0).
    "deep": ModelSpec(
        "deep",
        tuple(_dense(100, "elu", initializer="he_normal") for _ in range(20))
        + (_dense(CLASSES, "softmax"),),
        clip=("clipnorm", 1.0),
    ),
}


def forward_flops(model):
    """Multiply-adds x 2 of one sample's forward pass through the model's Dense layers.

    bn: 2 * (784*300 + 300*100 + 100*10) = 532,400; deep: 2 * (784*100 + 19*100*100 + 100*10)
    = 538,800. A training step costs about 3x this (forward, backward-data, backward-weights).
    """
    flops, width = 0, FEATURES
    for layer in MODELS[model].layers:
        if layer.kind == "dense":
            flops += 2 * width * layer.units
            width = layer.units
    return flops


@dataclasses.dataclass(frozen=True)
class Item:
    """One thing a run measures.

    kind: "train" (one epoch, every peer), "predict" (predict on the test set), "latency" (one
    sample per call), "frozen" (densekit: full vs all-but-the-top frozen), "threads" (densekit:
    1 vs 2 threads), "rss" (peak RSS during one epoch, a fresh process per peer).
    """

    name: str
    kind: str
    model: str
    batch: int = 0
    densekit_only: bool = False

    @property
    def label(self):
        return f"{self.model} b{self.batch}" if self.kind == "train" else self.name


ITEMS = (
    Item("bn-b32", "train", "bn", 32),
    Item("bn-b256", "train", "bn", 256),
    Item("deep-b32", "train", "deep", 32),
    Item("deep-b256", "train", "deep", 256),
    Item("predict", "predict", "bn"),
    Item("latency", "latency", "bn"),
    Item("frozen-b32", "frozen", "deep", 32, densekit_only=True),
    Item("frozen-b256", "frozen", "deep", 256, densekit_only=True),
    Item("threads", "threads", "bn", 256, densekit_only=True),
    Item("rss", "rss", "bn", 256),
)


def select_items(only):
    """The items whose name contains one of the comma-separated words of `only` (all if empty):
    "bn" picks bn-b32 and bn-b256, "b32" the three batch-32 items."""
    words = [w.strip() for w in (only or "").split(",") if w.strip()]
    if not words:
        return list(ITEMS)
    chosen = [item for item in ITEMS if any(word in item.name for word in words)]
    if not chosen:
        names = ", ".join(item.name for item in ITEMS)
        raise ValueError(f"--only {only!r} matches no workload; the workloads are: {names}")
    return chosen


def make_data(samples, seed):
    """Synthetic MNIST-shaped data: pixels uniform in [0, 1), labels from a fixed random linear
    map, so there is something to learn and the peers' losses can be compared.

    Returns:
        x of shape (samples, 784) float32, y of shape (samples,) int64.
    """
    rng = np.random.default_rng(seed)
    teacher = rng.standard_normal((FEATURES, CLASSES), dtype=np.float32)
    x = rng.random((samples, FEATURES), dtype=np.float32)
    y = np.argmax((x - np.float32(0.5)) @ teacher, axis=1).astype(np.int64)
    return x, y
