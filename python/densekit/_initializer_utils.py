"""NumPy sampling math behind `densekit.initializers` (private).

The initializer classes hold Keras-style configuration; the arithmetic they
share (dtypes, fans, truncated normal, orthogonal QR) lives here.
"""

import math
import random

import numpy as np

FLOATX = "float32"

# Std of a unit normal truncated to [-2, 2]. Dividing the target std by it
# makes the truncated draw end up with the target std (Keras's constant).
TRUNCATED_STD = 0.87962566103423978


def float_dtype(dtype, floating=False):
    """Resolves `dtype` (None means float32); `floating` rejects non-floats."""
    dtype = np.dtype(FLOATX if dtype is None else dtype)
    if floating and not np.issubdtype(dtype, np.floating):
        raise ValueError(f"Random initializers need a floating dtype. Received: dtype={dtype}")
    return dtype


def check_seed(seed):
    """Returns `(seed as given, seed to draw with)`.

    `seed=None` draws a seed once, as `keras.random.make_default_seed` does
    (from Python's `random`, so `random.seed` makes it reproducible).
    """
    if isinstance(seed, np.integer):
        seed = int(seed)
    if seed is not None and (type(seed) is bool or not isinstance(seed, int)):
        raise ValueError(f"`seed` argument should be an integer or None. Received: seed={seed}")
    return seed, (random.randint(1, int(1e9)) if seed is None else seed)


def compute_fans(shape, input_axes=None, output_axes=None):
    """Returns `(fan_in, fan_out)` of a weight shape, as Keras's `compute_fans`.

    A Dense kernel `(in, units)` gives `(in, units)`; a 1-D shape `(n,)` gives
    `(n, n)`; a conv kernel `(*window, in, out)` gives
    `(prod(window) * in, prod(window) * out)`. Explicit `input_axes` and
    `output_axes` (both given) override this: each fan is the product of the
    sizes along its axes.
    """
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        fan_in = math.prod(shape[axis] for axis in input_axes)
        fan_out = math.prod(shape[axis] for axis in output_axes)
        return int(fan_in), int(fan_out)
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive_field = math.prod(shape[:-2])
    return int(shape[-2] * receptive_field), int(shape[-1] * receptive_field)


def truncated_normal(rng, shape, mean, stddev):
    """Draws N(mean, stddev²), redrawing values beyond `mean ± 2 * stddev`."""
    x = rng.normal(mean, stddev, size=shape)
    outside = np.abs(x - mean) > 2.0 * stddev
    while outside.any():
        x[outside] = rng.normal(mean, stddev, size=int(outside.sum()))
        outside = np.abs(x - mean) > 2.0 * stddev
    return x


def orthogonal(rng, shape):
    """Draws an orthogonal matrix reshaped to `shape` (rank >= 2), as Keras.

    `(*lead, n)` is drawn as a `(rows, n)` matrix, `rows = prod(lead)`:
    A ~ N(0, 1) of shape `(max(rows, n), min(rows, n))`, A = QR, and
    Q * sign(diag(R)) has orthonormal columns; it is transposed when
    `rows < n` so that the rows are orthonormal instead.
    """
    if len(shape) < 2:
        raise ValueError(
            "The tensor to initialize must be at least two-dimensional. "
            f"Received: shape={shape} of rank {len(shape)}."
        )
    rows, cols = math.prod(shape[:-1]), shape[-1]
    q, r = np.linalg.qr(rng.normal(size=(max(rows, cols), min(rows, cols))))
    # The sign fix makes Q uniformly (Haar) distributed instead of biased by
    # the sign convention of the QR routine.
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.reshape(tuple(shape))
