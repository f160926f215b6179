"""A learning-rate finder: train a copy of a model while the rate grows exponentially, and read a
good rate off the loss curve (not in Keras).

The technique is Leslie N. Smith's learning-rate range test ("Cyclical Learning Rates for
Training Neural Networks", WACV 2017), as fast.ai's `lr_find` runs it and as Aurélien Géron's
"Hands-On Machine Learning with Scikit-Learn, Keras, and TensorFlow" explains it:
the loss first barely moves, then falls faster and faster, and at too high a rate shoots up.
The model passed in is not trained: a clone is, starting from the model's weights.

Example:

>>> finding = densekit.lr_finder.find_learning_rate(model, x_train, y_train)  # doctest: +SKIP
>>> model.optimizer.learning_rate = finding.suggestion  # doctest: +SKIP
>>> finding.plot().figure.savefig("lr_finder.png")  # doctest: +SKIP
"""

import math
from dataclasses import dataclass

import numpy as np

from densekit import _seeds
from densekit._numbers import as_float32, is_real
from densekit._optional import require

__all__ = ["LearningRateFinding", "find_learning_rate"]

# The default run: one pass over the data, but at least 100 steps, since the smoothing averages
# over about 50 and on a shorter run the lowest smoothed loss can be the noise of the first
# batches (on the 8x8 digits, 45 steps suggested 1e-6 for one initialization in eight).
_DEFAULT_STEPS = (100, 300)
# fast.ai's smoothing: an exponential moving average over roughly the last 1 / (1 - beta) = 50
# steps, divided by 1 - beta**t so that the first values are not pulled towards 0.
_BETA = 0.98
# The suggestion backs off this far from the rate at the lowest smoothed loss.
_BACK_OFF = 10.0


@dataclass(frozen=True, eq=False)
class LearningRateFinding:
    """What `find_learning_rate` measured, one entry per training step.

    Attributes:
        rates: The learning rate of each step, growing geometrically from `min_rate`.
        losses: The loss of each step's batch, computed before that step's update.
        smoothed_losses: `losses` exponentially smoothed (beta 0.98) with bias correction, as
            fast.ai does; the noise of single batches hides the trend otherwise.
        suggestion: A learning rate to train with: one tenth of the rate at which the smoothed
            loss is lowest, but not below the first rate. Past that lowest point the loss is
            about to climb, so the rate there is already too high for stable training; a rate
            ten times lower still falls fast. This is the rule Géron gives. It was chosen over
            the rate of the steepest descent of the smoothed loss (fast.ai's former suggestion)
            because a slope over a few dozen noisy, smoothed steps moves from run to run far
            more than the position of the minimum does.
    """

    rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    suggestion: float

    def plot(self, ax=None):
        """Draws the loss against the learning rate (log scale), with the suggestion marked.

        Args:
            ax: A matplotlib Axes to draw on. None draws on a new figure of its own (on the Agg
                canvas: pyplot and its global state are not touched); save it with
                `ax.figure.savefig(path)`, or pass `ax=plt.gca()` to draw in a notebook.

        Returns:
            The Axes drawn on.

        Example:

        >>> ax = finding.plot()  # doctest: +SKIP
        >>> ax.figure.savefig("lr_finder.png")  # doctest: +SKIP
        """
        require("matplotlib", extra="plots", feature="Drawing the learning-rate finder's curve")
        if ax is None:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure

            figure = Figure(figsize=(6.4, 4.0), layout="constrained")
            FigureCanvasAgg(figure)
            ax = figure.subplots()
        ax.plot(self.rates, self.losses, color="tab:blue", alpha=0.3, label="loss per batch")
        ax.plot(self.rates, self.smoothed_losses, color="tab:blue", label="smoothed loss")
        ax.axvline(
            self.suggestion,
            color="tab:red",
            linestyle="--",
            label=f"suggestion: {self.suggestion:.3g}",
        )
        ax.plot(
            [self.suggestion],
            [np.interp(np.log(self.suggestion), np.log(self.rates), self.smoothed_losses)],
            "o",
            color="tab:red",
        )
        # The last steps of a run that diverged are far above the rest: cut the y axis at the
        # highest loss up to the turning point, so the descent keeps its height.
        turning = int(np.argmin(self.smoothed_losses))
        top = 1.1 * float(np.max(self.losses[: turning + 1]))
        bottom = float(min(np.min(self.losses), np.min(self.smoothed_losses)))
        if bottom < top:
            ax.set_ylim(bottom - 0.05 * (top - bottom), top)
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylabel("loss")
        ax.set_title("Learning-rate range test")
        ax.legend()
        return ax


def find_learning_rate(
    model,
    x,
    y,
    min_rate=1e-6,
    max_rate=10.0,
    steps=None,
    batch_size=32,
    stop_factor=4.0,
    seed=None,
):
    """Trains a clone of `model` with an exponentially growing learning rate; records the loss.

    The clone (`densekit.models.clone_model`) starts from `model`'s weights and gets a fresh
    optimizer of the same class and configuration, so momentum and the other settings are those
    the model will train with; `model`, its weights and its optimizer are left as they were. At
    step i of n the rate is `min_rate * (max_rate / min_rate) ** (i / (n - 1))`, set on the
    clone's optimizer before one `train_on_batch`. Batches are drawn from `(x, y)` in a shuffled
    order, reshuffled after each pass. The run stops early, after recording the step, when the
    loss exceeds `stop_factor` times the lowest loss so far, or before recording it when the loss
    is not finite: the results are then shorter than `steps`.

    Args:
        model: A compiled densekit Sequential.
        x: Training inputs, as for `fit`.
        y: Training targets, as for `fit`.
        min_rate: The first learning rate, > 0.
        max_rate: The last learning rate, > `min_rate`.
        steps: Number of training steps (at least 2). None: one pass over the data
            (`ceil(len(x) / batch_size)` steps), but at least 100 (the smoothing needs them)
            and at most 300.
        batch_size: Samples per step.
        stop_factor: The run stops when a loss exceeds this many times the best so far, > 1.
        seed: Seed of the batch order, for reproducible runs.

    Returns:
        A `LearningRateFinding` with the rates, the losses, the smoothed losses and a
        suggested rate.

    Raises:
        ValueError: If the model is not compiled or an argument is out of range.

    Example:

    >>> finding = find_learning_rate(model, x_train, y_train, seed=0)  # doctest: +SKIP
    >>> model.optimizer.learning_rate = finding.suggestion  # doctest: +SKIP
    >>> model.fit(x_train, y_train, epochs=10)  # doctest: +SKIP
    """
    _check_arguments(model, min_rate, max_rate, steps, batch_size, stop_factor)
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            "find_learning_rate: x and y must hold the same number of samples, at least one. "
            f"Received: x with {len(x)} samples, y with {len(y)}"
        )
    if steps is None:
        steps = int(np.clip(math.ceil(len(x) / batch_size), *_DEFAULT_STEPS))
    clone = _trainable_clone(model, float(min_rate))
    rates = min_rate * (max_rate / min_rate) ** (np.arange(steps) / (steps - 1))
    batches = _batches(len(x), batch_size, _seeds.generator(seed))
    losses = []
    best = math.inf
    for rate in rates:
        clone.optimizer.learning_rate = float(rate)
        rows = next(batches)
        loss = float(clone.train_on_batch(x[rows], y[rows], return_dict=True)["loss"])
        if not math.isfinite(loss):
            break
        losses.append(loss)
        if loss > stop_factor * best:
            break
        best = min(best, loss)
    if not losses:
        raise ValueError(
            "find_learning_rate: the first step's loss was not finite, so there is nothing to "
            "suggest. That loss comes before any update, whatever the rate: check the data and "
            "the model's starting weights."
        )
    rates = rates[: len(losses)]
    losses = np.asarray(losses)
    smoothed = _smooth(losses)
    suggestion = max(float(rates[np.argmin(smoothed)]) / _BACK_OFF, float(rates[0]))
    return LearningRateFinding(rates, losses, smoothed, suggestion)


def _check_arguments(model, min_rate, max_rate, steps, batch_size, stop_factor):
    def fail(name, value, expected):
        raise ValueError(
            f"find_learning_rate: {name} must be {expected}. Received: {name}={value!r}"
        )

    if not getattr(model, "compiled", False):
        fail("model", model, "a compiled densekit model (its loss and optimizer are used)")
    if not is_real(min_rate) or not 0 < min_rate < math.inf:
        fail("min_rate", min_rate, "a finite number > 0")
    if (
        not is_real(max_rate)
        or not min_rate < max_rate < math.inf
        or math.isinf(as_float32(max_rate))
    ):
        fail("max_rate", max_rate, f"a number > min_rate={min_rate!r}, finite in float32")
    if steps is not None and (not _is_int(steps) or steps < 2):
        fail("steps", steps, "None or an integer >= 2")
    if not _is_int(batch_size) or batch_size < 1:
        fail("batch_size", batch_size, "a positive integer")
    if not is_real(stop_factor) or not stop_factor > 1:
        fail("stop_factor", stop_factor, "a number > 1")


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _trainable_clone(model, learning_rate):
    """A clone of `model` with its weights and a fresh optimizer of the same configuration."""
    from densekit.models import clone_model

    clone = clone_model(model)
    if model.built:
        if not clone.built:
            clone.build(model.input_shape)
        clone.set_weights(model.get_weights())
    config = model.optimizer.get_config()
    # A float rate, whatever the model's was (a schedule could not be set at each step).
    config["learning_rate"] = learning_rate
    clone.compile(optimizer=type(model.optimizer).from_config(config), loss=model.loss)
    return clone


def _batches(samples, batch_size, rng):
    """Endless row indices of batches: shuffled passes over the samples."""
    while True:
        order = rng.permutation(samples)
        for start in range(0, samples, batch_size):
            yield order[start : start + batch_size]


def _smooth(losses):
    average = 0.0
    smoothed = np.empty_like(losses)
    for t, loss in enumerate(losses, start=1):
        average = _BETA * average + (1 - _BETA) * loss
        smoothed[t - 1] = average / (1 - _BETA**t)
    return smoothed


def __dir__():
    return __all__
