"""`densekit experiment activations` and `optimizers`, and the PNG figures of `densekit.plots`.

The command runs in-process on a small network; the figures must exist and be real images
(read back with matplotlib: a sensible size and more than one colour).
"""

import sys

import numpy as np
import pytest

import densekit
from densekit import diagnostics, initializers, layers, plots
from densekit.__main__ import main
from densekit.callbacks import GradientMonitor
from densekit.experiments import activations as experiment
from densekit.experiments import optimizers as optimizers_experiment
from densekit.experiments import regularization as regularization_experiment

pytest.importorskip("matplotlib")
from matplotlib import image  # noqa: E402

PNGS = (
    "activations.png",
    "gradient_flow_init.png",
    "gradient_flow_init_bn.png",
    "training_curves.png",
    "training_curves_bn.png",
    "gradient_norms.png",
)


@pytest.fixture(autouse=True, scope="module")
def forget_on_demand_modules():
    # Importing densekit.plots and densekit.experiments binds them on the package, and
    # test_model_api checks that dir(densekit) is exactly __all__ (the eagerly imported modules):
    # leave the package as this module found it.
    yield
    forget_modules("experiments", "plots")


def forget_modules(*names):
    """Unbinds on-demand modules (and their submodules) from densekit and sys.modules."""
    for name in names:
        if name not in densekit.__all__:
            vars(densekit).pop(name, None)
            prefix = f"densekit.{name}"
            for module in [m for m in sys.modules if m == prefix or m.startswith(prefix + ".")]:
                sys.modules.pop(module)


# As in test_diagnostics: small layers run faster on one thread on a busy machine.
pytestmark = pytest.mark.usefixtures("one_thread")


def assert_real_png(path, min_height=200, min_width=300):
    pixels = image.imread(str(path))
    assert pixels.ndim == 3 and pixels.shape[0] >= min_height and pixels.shape[1] >= min_width
    colours = np.unique(pixels.reshape(-1, pixels.shape[2]), axis=0)
    assert len(colours) > 10, f"{path} is nearly blank"


def test_experiment_activations_prints_the_table_and_writes_the_pngs(tmp_path, capsys):
    out = tmp_path / "figures"
    assert (
        main(["experiment", "activations", "--depth", "5", "--epochs", "2", "--out", str(out)]) == 0
    )
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("model"))
    for column in ("test acc", "test loss", "epochs to 90%", "grad ratio at init", "time (s)"):
        assert column in lines[header]
    rows = lines[header + 2 : header + 16]
    labels = [label for label, *_ in experiment.CONFIGS]
    assert [row[: len(label)] for row, label in zip(rows, labels * 2)] == labels * 2
    assert all(("+ BN" in row) == (i >= 7) for i, row in enumerate(rows))
    # A progress line per configuration, before the table.
    assert sum(line.startswith("[") for line in lines[:header]) == 14
    for name in PNGS:
        assert_real_png(out / name)


def test_build_model_uses_the_same_seeds_across_configurations():
    a = experiment.build_model("tanh", (initializers.GlorotUniform, {}), 3, 8, False, seed=4)
    b = experiment.build_model("relu", (initializers.GlorotUniform, {}), 3, 8, False, seed=4)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    kernels = [w for w in a.get_weights() if w.shape == (8, 8)]
    assert not np.array_equal(kernels[0], kernels[1])  # but distinct per layer
    with_bn = experiment.build_model("leaky_relu", (initializers.HeNormal, {}), 2, 8, True, seed=4)
    assert [type(l).__name__ for l in with_bn.layers] == [
        "Flatten",
        "Dense",
        "BatchNormalization",
        "LeakyReLU",
        "Dense",
        "BatchNormalization",
        "LeakyReLU",
        "Dense",
    ]
    assert not with_bn.layers[1].use_bias


def test_plot_functions_write_pngs(tmp_path, rng):
    model = densekit.Sequential(
        [
            layers.Dense(12, activation="tanh", input_shape=[5]),
            layers.Dense(12, activation="relu"),
            layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
    x, y = rng.normal(size=(64, 5)), rng.integers(0, 3, size=64)
    monitor = GradientMonitor(every=2)
    history = model.fit(
        x, y, batch_size=16, epochs=3, validation_split=0.25, callbacks=[monitor], verbose=0
    )
    flow = diagnostics.gradient_flow(model, x[:32], y[:32])
    # One figure per function, single runs (the experiment above draws dicts of runs); few, as
    # matplotlib is slow on a busy machine.
    written = [
        plots.plot_activations(tmp_path / "activations.png", names=("sigmoid", "relu", "softsign")),
        plots.plot_history(history, tmp_path / "history.png"),
        plots.plot_gradient_norms(monitor, tmp_path / "norms.png"),
        plots.plot_gradient_flow(flow, tmp_path / "flow.png"),
    ]
    for path in written:
        assert_real_png(path)


def test_plot_activations_rejects_an_unknown_name(tmp_path):
    with pytest.raises(ValueError, match="Unknown activation"):
        plots.plot_activations(tmp_path / "a.png", names=("sigmoid", "nope"))


# -- densekit experiment optimizers ------------------------------------------------------------

QUICK = ["--depth", "3", "--units", "32", "--epochs", "3", "--repeats", "1"]


def test_experiment_optimizers_prints_the_table_and_writes_the_pngs(tmp_path, capsys):
    out = tmp_path / "figures"
    chosen = "sgd,adam,momentum,momentum-1cycle"
    args = ["experiment", "optimizers", *QUICK, "--configs", chosen, "--out", str(out)]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("optimizer"))
    for column in ("learning rate", "test acc", "test loss", "train loss", "epochs to 90%"):
        assert column in lines[header]
    rows = lines[header + 2 : header + 6]
    labels = ["SGD", "Adam", "SGD momentum 0.9", "SGD momentum, 1cycle"]
    assert [row[: len(label) + 2] for row, label in zip(rows, labels)] == [
        label + "  " for label in labels
    ]
    assert sum(line.startswith("[") for line in lines[:header]) == 4
    end = lines[header].index("test acc") + len("test acc")  # the column is right-aligned
    accuracies = [float(row[:end].split()[-1]) for row in rows]
    assert all(0.0 <= a <= 1.0 for a in accuracies), accuracies
    # The schedule is drawn with its constant-rate baseline, apart from the optimizers.
    for name in ("optimizers.png", "lr_schedules.png"):
        assert_real_png(out / name, min_height=250, min_width=600)


def test_experiment_optimizers_rejects_an_unknown_configuration(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["experiment", "optimizers", "--configs", "adam,adamz"])
    assert raised.value.code == 2
    assert "unknown configuration adamz; the keys are: sgd, momentum" in capsys.readouterr().err
    with pytest.raises(ValueError, match="Unknown optimizer configuration: 'adamz'"):
        optimizers_experiment.run_optimizers(configs=["adamz"])


def test_optimizers_runs_repeat_exactly_and_adam_beats_sgd_at_a_tiny_rate(tmp_path, capsys):
    tiny = optimizers_experiment.Config(
        "tiny", "SGD 1e-4", "1e-4", lambda n: densekit.optimizers.SGD(learning_rate=1e-4)
    )

    def run():
        return optimizers_experiment.run_optimizers(
            depth=3, units=32, epochs=3, repeats=2, out=str(tmp_path), configs=[tiny, "adam"]
        )

    first, second = run(), run()
    for a, b in zip(first, second):
        assert a["accuracies"] == b["accuracies"]
        assert [h.history for h in a["histories"]] == [h.history for h in b["histories"]]
    sgd, adam = first
    assert all(0.0 <= x <= 1.0 for r in first for x in r["accuracies"])
    # 3 epochs of 45 steps at 1e-4 barely move the weights: SGD stays far from Adam's accuracy.
    assert min(adam["accuracies"]) > max(sgd["accuracies"]) + 0.3, (adam, sgd)
    assert sgd["epochs_to_target"] == [None, None]
    assert "SGD 1e-4" in capsys.readouterr().out


def test_optimizers_schedules_span_every_step_of_the_run(tmp_path):
    seen = []

    def make(total_steps):
        seen.append(total_steps)
        return densekit.optimizers.SGD()

    config = optimizers_experiment.Config("probe", "probe", "0.01", make)
    optimizers_experiment.run_optimizers(
        depth=1, units=8, epochs=2, batch_size=100, repeats=1, out=str(tmp_path), configs=[config]
    )
    assert seen == [2 * 15]  # 2 epochs of ceil(1437 / 100) = 15 batches


# -- densekit experiment regularization --------------------------------------------------------


def test_experiment_regularization_prints_both_tables_and_writes_the_png(tmp_path, capsys):
    out = tmp_path / "figures"
    args = ["experiment", "regularization", "--train-samples", "200", "--epochs", "3"]
    args += ["--repeats", "1", "--samples", "5", "--configs", "none,dropout", "--out", str(out)]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("regularization"))
    assert lines[header + 2].startswith("no regularization")
    assert lines[header + 3].startswith("Dropout(0.3)")
    mc = next(i for i, line in enumerate(lines) if line.startswith("model"))
    assert [line.split()[1] for line in lines[mc + 2 : mc + 4]] == ["predict", "MC"]
    assert_real_png(out / "regularization.png", min_height=250, min_width=600)


def test_regularization_runs_repeat_exactly_and_mc_dropout_samples_vary(tmp_path, capsys):
    def run():
        return regularization_experiment.run_regularization(
            train_samples=150,
            epochs=2,
            repeats=1,
            samples=4,
            out=str(tmp_path),
            configs=["dropout", "alpha-dropout"],
        )

    first, again = run(), run()
    for a, b in zip(first, again):
        assert a["runs"][0]["history"].history == b["runs"][0]["history"].history
        plain, mc = a["runs"][0]["mc"]
        assert plain["spread"] == 0 and mc["spread"] > 0  # new masks for every sample


def test_calibration_figures_against_a_hand_computed_case():
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.8, 0.2]])
    labels = np.array([0, 1, 1, 0])
    figures = regularization_experiment.calibration(probabilities, labels, bins=2)
    assert figures["accuracy"] == 0.75
    assert np.isclose(figures["p_true"], (0.9 + 0.4 + 0.7 + 0.8) / 4)
    assert np.isclose(figures["log_loss"], -np.mean(np.log([0.9, 0.4, 0.7, 0.8])))
    # Every confidence is in the upper bin: |accuracy 0.75 - mean confidence 0.75| = 0.
    assert np.isclose(figures["ece"], 0.0)
    skewed = regularization_experiment.calibration(np.array([[1.0, 0.0], [0.0, 1.0]]), [1, 1])
    assert np.isclose(skewed["ece"], 0.5)  # one sure and wrong, one sure and right
