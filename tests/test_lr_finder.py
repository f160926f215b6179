"""densekit.lr_finder on the 8x8 digits: the rates swept, the losses recorded, early stopping on
divergence, the suggestion, the original model left alone, and the plot."""

import math
import re
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densekit as keras
from densekit.lr_finder import LearningRateFinding, find_learning_rate

L = keras.layers
STEPS = 150

# Batches of 32 x 100 gain nothing from a second thread on a shared machine.
pytestmark = pytest.mark.usefixtures("one_thread_per_module")


@pytest.fixture(scope="module")
def digits():
    (x_train, y_train), _ = keras.datasets.digits.load_data()
    return x_train, y_train


def _digits_model(learning_rate=0.01, built=True):
    he = keras.initializers.HeNormal
    layers = [L.Flatten(input_shape=[8, 8])] if built else [L.Flatten()]
    model = keras.Sequential(
        layers
        + [
            L.Dense(100, activation="relu", kernel_initializer=he(seed=1)),
            L.Dense(10, activation="softmax", kernel_initializer=he(seed=2)),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


@pytest.fixture(scope="module")
def run(digits):
    """(model, its weights before, the finding) of one run of the finder on a fresh model."""
    model = _digits_model()
    weights = model.get_weights()
    finding = find_learning_rate(model, *digits, steps=STEPS, seed=0)
    return model, weights, finding


def test_rates_grow_geometrically_from_min_rate(run):
    _, _, finding = run
    assert isinstance(finding, LearningRateFinding)
    assert finding.rates[0] == pytest.approx(1e-6)
    # Step i of 150 is at 1e-6 * (10 / 1e-6) ** (i / 149): a constant ratio of 1e7 ** (1 / 149).
    assert_allclose(finding.rates[1:] / finding.rates[:-1], 1e7 ** (1 / 149), rtol=1e-12)
    assert len(finding.losses) == len(finding.rates) == len(finding.smoothed_losses)


def test_losses_are_finite_and_near_chance_at_small_rates(run):
    _, _, finding = run
    assert np.all(np.isfinite(finding.losses))
    # At rates below 1e-4 the untrained ten-class model barely moves: about ln(10) = 2.3.
    # Those are 2 of the 7 decades swept: steps 0 to 42 of 150 (42 / 149 * 7 = 1.97).
    small = finding.losses[finding.rates < 1e-4]
    assert len(small) == 43
    assert np.all((small > 1.0) & (small < 5.0))


def test_run_stops_early_when_the_loss_diverges(run):
    _, _, finding = run
    assert len(finding.rates) < STEPS
    assert finding.rates[-1] < 10.0
    # The last step recorded is the one whose loss went past 4 x the best before it.
    assert finding.losses[-1] > 4.0 * finding.losses[:-1].min()


def test_run_over_stable_rates_takes_every_step(digits):
    finding = find_learning_rate(_digits_model(), *digits, max_rate=1e-2, steps=40, seed=0)
    assert len(finding.rates) == 40
    assert finding.rates[-1] == pytest.approx(1e-2)


def test_run_at_absurd_rates_stops_within_a_few_steps_with_finite_losses(digits):
    finding = find_learning_rate(
        _digits_model(), *digits, min_rate=1e10, max_rate=1e20, steps=50, seed=0
    )
    assert len(finding.rates) <= 3
    assert np.all(np.isfinite(finding.losses))


def test_smoothed_losses_are_the_bias_corrected_moving_average(run):
    _, _, finding = run
    # s_t = a_t / (1 - 0.98**t), a_t = 0.98 a_(t-1) + 0.02 loss_t, a_0 = 0; so s_1 = loss_1.
    average, expected = 0.0, []
    for t, loss in enumerate(finding.losses.astype(np.float64), start=1):
        average = 0.98 * average + 0.02 * loss
        expected.append(average / (1 - 0.98**t))
    assert finding.smoothed_losses[0] == finding.losses[0]
    assert_allclose(finding.smoothed_losses, expected, rtol=1e-12)


def test_suggestion_is_a_tenth_of_the_rate_at_the_lowest_smoothed_loss(run):
    _, _, finding = run
    lowest = finding.rates[np.argmin(finding.smoothed_losses)]
    assert finding.suggestion == pytest.approx(lowest / 10)
    assert 1e-6 < finding.suggestion < 10.0


def test_training_with_the_suggestion_reduces_the_loss(digits):
    x, y = digits
    model = _digits_model()
    finding = find_learning_rate(model, x, y, steps=STEPS, seed=0)
    before = model.evaluate(x, y, verbose=0)[0]
    model.optimizer.learning_rate = finding.suggestion
    history = model.fit(x, y, epochs=2, batch_size=32, verbose=0, seed=0)
    after = model.evaluate(x, y, verbose=0)[0]
    assert after < 0.3 * before
    assert history.history["loss"][1] < history.history["loss"][0]


def test_original_model_weights_and_optimizer_are_untouched(run):
    model, weights, _ = run
    for before, after in zip(weights, model.get_weights()):
        assert_array_equal(before, after)
    assert model.optimizer.iterations == 0
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    assert model.optimizer.momentum == pytest.approx(0.9)


def test_clone_starts_from_the_model_weights_not_fresh_ones(digits):
    x, y = digits
    model = _digits_model()
    model.fit(x, y, epochs=2, verbose=0, seed=0)  # trained: far below the untrained 2.3
    finding = find_learning_rate(model, x, y, max_rate=1e-4, steps=10, seed=0)
    assert finding.losses.max() < 1.0


def test_same_seed_gives_the_same_run(digits):
    first, second = (
        find_learning_rate(_digits_model(), *digits, steps=30, seed=7) for _ in range(2)
    )
    assert_array_equal(first.losses, second.losses)


def test_default_steps_is_one_pass_but_at_least_100(digits):
    x, y = digits
    # 1437 samples in batches of 32 are 45 steps, raised to 100: ratio 1e7 ** (1 / 99).
    finding = find_learning_rate(_digits_model(), x, y, seed=0)
    assert_allclose(finding.rates[1] / finding.rates[0], 1e7 ** (1 / 99), rtol=1e-12)
    finding = find_learning_rate(_digits_model(), x[:100], y[:100], max_rate=1e-3, seed=0)
    assert len(finding.rates) == 100


def test_unbuilt_model_stays_unbuilt(digits):
    model = _digits_model(built=False)
    finding = find_learning_rate(model, *digits, max_rate=1e-2, steps=5, seed=0)
    assert len(finding.rates) == 5
    assert not model.built


@pytest.mark.parametrize(
    "kwargs, received",
    [
        (dict(min_rate=0), "Received: min_rate=0"),
        (dict(min_rate=-1e-3), "Received: min_rate=-0.001"),
        (dict(min_rate=1e-2, max_rate=1e-2), "Received: max_rate=0.01"),
        (dict(max_rate=1e-7), "Received: max_rate=1e-07"),
        (dict(max_rate=1e39), "Received: max_rate=1e+39"),
        (dict(steps=1), "Received: steps=1"),
        (dict(steps=2.5), "Received: steps=2.5"),
        (dict(batch_size=0), "Received: batch_size=0"),
        (dict(stop_factor=1.0), "Received: stop_factor=1.0"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(digits, kwargs, received):
    with pytest.raises(ValueError, match=r"^find_learning_rate: .*" + re.escape(received)):
        find_learning_rate(_digits_model(), *digits, **kwargs)


def test_uncompiled_model_is_refused(digits):
    model = keras.Sequential([L.Flatten(input_shape=[8, 8]), L.Dense(10)])
    with pytest.raises(
        ValueError, match=r"find_learning_rate: model must be a compiled .*Received"
    ):
        find_learning_rate(model, *digits)


def test_plot_returns_log_scaled_axes_with_the_suggestion_marked(run):
    pytest.importorskip("matplotlib")
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    _, _, finding = run
    ax = finding.plot()
    assert isinstance(ax, Axes)
    assert ax.get_xscale() == "log"
    assert any(math.isclose(line.get_xdata()[0], finding.suggestion) for line in ax.lines)
    ax.figure.canvas.draw()  # renders on Agg

    figure = Figure()
    FigureCanvasAgg(figure)
    given = figure.subplots()
    assert finding.plot(ax=given) is given


def test_a_first_loss_that_is_not_finite_points_at_the_data_not_the_rate(digits):
    x, y = digits
    huge = np.full_like(x, 3e38)  # the first forward pass overflows float32
    with pytest.raises(ValueError, match=r"first step's loss was not finite.*before any update"):
        find_learning_rate(_digits_model(), huge, y, min_rate=1e-30, steps=5, seed=0)


def test_plot_keeps_the_descent_in_view_when_the_last_loss_is_huge():
    pytest.importorskip("matplotlib")
    from densekit.lr_finder import LearningRateFinding

    losses = np.array([2.0, 1.5, 1.0, 0.8, 0.9, 3.0, 2.0e5])
    rates = np.geomspace(1e-4, 1.0, len(losses))
    finding = LearningRateFinding(rates, losses, losses.copy(), 1e-3)
    bottom, top = finding.plot().get_ylim()
    assert top == pytest.approx(1.1 * 2.0)
    assert 0.7 < bottom < 0.8


def test_plot_without_matplotlib_names_the_plots_extra(run, monkeypatch):
    _, _, finding = run
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "densekit\[plots\]"'):
        finding.plot()


def test_lr_finder_is_public():
    assert "lr_finder" in keras.__all__
    assert keras.lr_finder.find_learning_rate is find_learning_rate
    public = [n for n in dir(keras.lr_finder) if not n.startswith("_")]
    assert sorted(public) == sorted(keras.lr_finder.__all__)
    assert set(public) == {"LearningRateFinding", "find_learning_rate"}
