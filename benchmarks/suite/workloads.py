"""What the benchmark measures: the two models, their optimizers, the items of a run, synthetic data.

Every peer builds its model from the same `ModelSpec` and its Adam from the same `AdamSpec`, so the
batch-normalized ("bn") and deep models are written down once; the FLOP count behind the sgemm
bound is computed from the same spec.
"""

import dataclasses

import numpy as np

__all__ = [
    "ADAM",
    "FEATURES",
    "CLASSES",
    "ITEMS",
    "MODELS",
    "AdamSpec",
    "Item",
    "LayerSpec",
    "ModelSpec",
    "forward_flops",
    "make_data",
    "runs_on",
    "select_items",
    "WIDE_SAMPLES",
    "WIDTHS",
    "epoch_samples",
    "gemm_shapes",
    "train_flops",
]

FEATURES = 784  # 28 x 28 pixels, flattened
CLASSES = 10


@dataclasses.dataclass(frozen=True)
class LayerSpec:
    """One layer: kind is "dense", "batch_norm", "activation" or "dropout" (of `rate`)."""

    kind: str
    units: int = 0
    activation: str = None
    use_bias: bool = True
    initializer: str = "glorot_uniform"
    rate: float = 0.0


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A Sequential model after Flatten with one gradient clip, which holds for either optimizer;
    `learning_rate` is SGD's."""

    name: str
    layers: tuple
    clip: tuple  # ("clipvalue", 1.0), ("clipnorm", 1.0) per variable as Keras does, or None
    learning_rate: float = 0.01


@dataclasses.dataclass(frozen=True)
class AdamSpec:
    """Adam as Keras 3 defaults it; the model's clip applies before the update, as with SGD."""

    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7


ADAM = AdamSpec()


def _dense(units, activation=None, use_bias=True, initializer="glorot_uniform"):
    return LayerSpec("dense", units, activation, use_bias, initializer)


_BN = LayerSpec("batch_norm")
_DROPOUT = LayerSpec("dropout", rate=0.2)

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
    # bn with Dropout(0.2) after each hidden layer's activation: Flatten -> BN -> Dense(300,
    # relu, no bias) -> Dropout -> BN -> Dense(100, no bias) -> BN -> relu -> Dropout
    # -> Dense(10, softmax).
    "bn-dropout": ModelSpec(
        "bn-dropout",
        (
            _BN,
            _dense(300, "relu", use_bias=False),
            _DROPOUT,
            _BN,
            _dense(100, use_bias=False),
            _BN,
            LayerSpec("activation", activation="relu"),
            _DROPOUT,
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
# 784 -> W -> W -> 10, ReLU, plain SGD(0.01): the matrix products dominate, so the epoch shows how
# close each peer comes to the machine's sgemm rate at these shapes.
WIDTHS = (1024, 2048, 4096)
for _width in WIDTHS:
    MODELS[f"wide{_width}"] = ModelSpec(
        f"wide{_width}",
        (
            _dense(_width, "relu", initializer="he_normal"),
            _dense(_width, "relu", initializer="he_normal"),
            _dense(CLASSES, "softmax"),
        ),
        clip=None,
    )
WIDE_SAMPLES = 8192  # a wide epoch stays a few seconds: 4096 wide is ~120 MFLOP a sample


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


def train_flops(model):
    """FLOPs of one sample's training step in the Dense layers' matrix products: forward,
    weight gradient and input gradient of each, but the first layer's input gradient (no one
    needs the data's gradient). wide1024: 3 * 2 * (784*1024 + 1024*1024 + 1024*10)
    - 2 * 784 * 1024 = 9,564,160."""
    return 3 * forward_flops(model) - 2 * FEATURES * next(
        layer.units for layer in MODELS[model].layers if layer.kind == "dense"
    )


def gemm_shapes(model, batch):
    """(m, k, n, transposed) of each matrix product of one training step at `batch`, where
    transposed names the operand that is a transposed view ("a", "b" or ""): the forward
    x (batch, in) @ w (in, units), the weight gradient x^T (in, batch) @ dy (batch, units) and,
    above the first layer, the input gradient dy (batch, units) @ w^T (units, in)."""
    shapes, width = [], FEATURES
    for layer in MODELS[model].layers:
        if layer.kind == "dense":
            shapes += [(batch, width, layer.units, ""), (width, batch, layer.units, "a")]
            if width != FEATURES:
                shapes.append((batch, layer.units, width, "b"))
            width = layer.units
    return shapes


@dataclasses.dataclass(frozen=True)
class Item:
    """One thing a run measures.

    kind: "train" (one epoch, every peer), "predict" (predict on the test set), "latency" (one
    sample per call), "frozen" (densekit: full vs all-but-the-top frozen), "threads" (densekit:
    1 vs 2 threads), "overhead" (densekit: `model` vs `baseline`, the same model without a
    feature), "rss" (peak RSS during one epoch, a fresh process per peer).
    optimizer: "sgd" or "adam", for the kinds that train.
    samples: the epoch's size if smaller than the run's (0: the run's).
    """

    name: str
    kind: str
    model: str
    batch: int = 0
    densekit_only: bool = False
    optimizer: str = "sgd"
    baseline: str = None
    samples: int = 0

    @property
    def label(self):
        if self.kind != "train":
            return self.name
        return f"{self.model} b{self.batch}" + (" Adam" if self.optimizer == "adam" else "")

    @property
    def sgd_counterpart(self):
        """The name of the SGD item on the same model and batch size (None for SGD items)."""
        if self.kind != "train" or self.optimizer == "sgd":
            return None
        return f"{self.model}-b{self.batch}"


# Each Adam item runs right after its SGD counterpart, so the Adam/SGD ratio compares epochs
# measured seconds apart rather than a repetition apart, when the machine's load may differ.
ITEMS = (
    Item("bn-b32", "train", "bn", 32),
    Item("bn-adam-b32", "train", "bn", 32, optimizer="adam"),
    Item("bn-b256", "train", "bn", 256),
    Item("bn-adam-b256", "train", "bn", 256, optimizer="adam"),
    Item("deep-b32", "train", "deep", 32),
    Item("deep-adam-b32", "train", "deep", 32, optimizer="adam"),
    Item("deep-b256", "train", "deep", 256),
    Item("deep-adam-b256", "train", "deep", 256, optimizer="adam"),
    Item("dropout-b32", "train", "bn-dropout", 32),
    Item("dropout-cost-b32", "overhead", "bn-dropout", 32, densekit_only=True, baseline="bn"),
    Item("predict", "predict", "bn"),
    Item("latency", "latency", "bn"),
    Item("frozen-b32", "frozen", "deep", 32, densekit_only=True),
    Item("frozen-b256", "frozen", "deep", 256, densekit_only=True),
    Item("threads", "threads", "bn", 256, densekit_only=True),
    Item("rss", "rss", "bn", 256),
) + tuple(
    Item(f"wide{width}-b{batch}", "train", f"wide{width}", batch, samples=WIDE_SAMPLES)
    for width in WIDTHS
    for batch in (256, 1024)
)

# Peers that measure only some kinds of item (the others measure every kind but densekit_only).
_KINDS = {
    "torch-fused": ("train",),
    "jax-scan": ("train",),
    "onnxruntime": ("predict", "latency"),
}


def epoch_samples(item, samples):
    """The samples of one epoch of `item` in a run of `samples`."""
    return min(item.samples, samples) if item.samples else samples


def runs_on(item, peer):
    """Whether `peer` measures `item`. "torch-fused" differs from "torch" only in Adam's step
    (fused=True instead of foreach=True), so it measures the Adam items alone; "jax-scan" is
    JAX's whole-epoch form of training; onnxruntime only infers. The NumPy baseline has no
    dropout, and its BLAS is the sgemm reference of the wide models rather than a peer there."""
    if item.densekit_only:
        return peer == "densekit"
    if peer in _KINDS and item.kind not in _KINDS[peer]:
        return False
    if peer == "numpy" and (
        item.model.startswith("wide")
        or any(layer.kind == "dropout" for layer in MODELS[item.model].layers)
    ):
        return False
    if peer == "torch-fused":
        return item.optimizer == "adam"
    return True


def select_items(only):
    """The items whose name contains one of the comma-separated words of `only` (all if empty):
    "bn" picks the four bn training items, "adam" the four Adam items, "b32" the batch-32 ones."""
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
