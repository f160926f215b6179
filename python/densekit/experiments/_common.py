"""What the experiments share: the deep model on digits, the epochs to a target, the table."""

from densekit import initializers, layers
from densekit.models import Sequential

__all__ = ["build_model", "epochs_to", "format_table", "set_threads"]

_LEAKY_SLOPE = 0.2
# digits gives 45 steps per epoch: with Keras's momentum 0.99 the moving variance would still hold
# 0.99^225 ≈ 10% of its initial 1.0 after 5 epochs, and inference (the test accuracy) would
# normalize with it; sigmoid layers are the most hurt (test accuracy near chance while the training
# accuracy is 90%).
_BN_MOMENTUM = 0.9


def _activation_layer(name):
    # A LeakyReLU layer, not activation="leaky_relu": the latter runs as a plain ReLU in the
    # network (negative_slope 0; reported as a library bug).
    if name == "leaky_relu":
        return layers.LeakyReLU(negative_slope=_LEAKY_SLOPE)
    return layers.Activation(name)


def build_model(
    activation, initializer, depth, units, batch_norm, seed, input_shape=(8, 8), classes=10
):
    """The deep model of one configuration: `depth` hidden layers, then a softmax output.

    Layer i's kernel initializer is `initializer[0](seed=seed * 1000 + i, **initializer[1])`:
    distinct per layer, the same across configurations. With `batch_norm` each hidden layer is
    Dense without bias -> BatchNormalization(momentum=0.9) -> activation.
    """
    cls, kwargs = initializer
    stack = [layers.Flatten(input_shape=list(input_shape))]
    for i in range(depth):
        init = cls(seed=seed * 1000 + i, **kwargs)
        if batch_norm:
            stack += [
                layers.Dense(units, use_bias=False, kernel_initializer=init),
                layers.BatchNormalization(momentum=_BN_MOMENTUM),
                _activation_layer(activation),
            ]
        elif activation == "leaky_relu":
            stack += [layers.Dense(units, kernel_initializer=init), _activation_layer(activation)]
        else:
            stack.append(layers.Dense(units, activation=activation, kernel_initializer=init))
    stack.append(
        layers.Dense(
            classes,
            activation="softmax",
            kernel_initializer=initializers.GlorotUniform(seed=seed * 1000 + depth),
        )
    )
    return Sequential(stack)


def epochs_to(history, target):
    """The first epoch (from 1) whose test accuracy reaches `target`, or None."""
    for epoch, accuracy in enumerate(history.history.get("val_accuracy", []), start=1):
        if accuracy >= target:
            return epoch
    return None


def format_table(headers, rows, left=(0,)):
    """A plain-text table: the columns in `left` left-aligned, the others right-aligned."""
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]

    def line(cells):
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return "\n".join([line(headers), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def set_threads(threads):
    """`densekit.set_num_threads(threads)` unless `threads` is None."""
    if threads is not None:
        from densekit import set_num_threads

        set_num_threads(threads)


def add_run_arguments(parser, out, scheduler=False):
    """The options every experiment shares: threads, fit's verbosity and the output folder; with
    `scheduler`, `--scheduler` too, for an experiment whose runs go through `_cluster.runs`."""
    parser.add_argument("--threads", type=int, default=None, help="densekit.set_num_threads")
    if scheduler:
        from densekit.experiments._cluster import parse_scheduler

        parser.add_argument(
            "--scheduler",
            type=parse_scheduler,
            default=None,
            help="run the independent runs on a Dask cluster: the scheduler's address "
            "(tcp://host:8786), or local:N for N local worker processes (needs "
            'pip install "densekit[distributed]")',
        )
    parser.add_argument(
        "--verbose",
        type=int,
        default=0,
        choices=(0, 1, 2),
        help="fit's progress output (default: one line per configuration)",
    )
    parser.add_argument("--out", default=out, help="folder for the PNGs")
