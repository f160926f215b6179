"""Optimizer state in `.keras` files: densekit to densekit, densekit to Keras 3 and back, a
different optimizer's state skipped with a warning, bad state refused before anything changes,
and learning-rate schedules.

The state is `optimizer.variables` in Keras's order under `optimizer/vars/0..N` of
model.weights.h5. A round trip is checked where it matters: the loaded model's next steps are the
original's (exactly in densekit, to 1e-5 in Keras).
"""

import io
import json
import os
import re
import zipfile

import h5py
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import densekit

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    # Keras reads its own variables through np.array(copy=False), which NumPy 2 warns about.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

IN, HIDDEN, OUT, BATCH = 4, 6, 2, 8
TRAINED, NEXT = 4, 2  # steps before saving, steps after loading


@pytest.fixture(scope="module")
def real_keras():
    os.environ["KERAS_BACKEND"] = "torch"
    return pytest.importorskip("keras")


@pytest.fixture
def data(rng):
    init = [
        rng.normal(0, 0.5, (IN, HIDDEN)).astype(np.float32),
        rng.normal(0, 0.1, HIDDEN).astype(np.float32),
        rng.normal(0, 0.5, (HIDDEN, OUT)).astype(np.float32),
        rng.normal(0, 0.1, OUT).astype(np.float32),
    ]
    x = rng.normal(0, 1, (TRAINED + NEXT, BATCH, IN)).astype(np.float32)
    y = rng.normal(0, 1, (TRAINED + NEXT, BATCH, OUT)).astype(np.float32)
    return init, x, y


def _model(lib, init, optimizer):
    """The same two Dense layers in densekit or Keras, compiled with mean squared error."""
    model = lib.Sequential(
        [
            lib.Input((IN,)),
            lib.layers.Dense(HIDDEN, activation="tanh"),
            lib.layers.Dense(OUT),
        ]
    )
    model.set_weights(init)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _train(model, x, y, steps):
    for xb, yb in zip(x[steps], y[steps]):
        model.train_on_batch(xb, yb)
    return model


def _value(variable):
    """A densekit or Keras variable's array (Keras's: through torch, without NumPy's copy=False)."""
    value = variable.value
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _state(model):
    return [_value(v) for v in model.weights], [_value(v) for v in model.optimizer.variables]


def _assert_state_equal(a, b):
    for x, y in zip(a[0] + a[1], b[0] + b[1], strict=True):
        assert_array_equal(x, y)


CASES = [
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.5}),
    ("Nadam", {"learning_rate": 0.01}),
    ("Adagrad", {"learning_rate": 0.05}),
    ("Adamax", {"learning_rate": 0.01}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1}),
    ("Lion", {"learning_rate": 0.003}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("Adam", {"learning_rate": 0.01, "use_ema": True, "ema_overwrite_frequency": 3}),
    # saved with one gradient accumulated; the second step after loading is an update
    ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 3}),
]
IDS = [f"{name}-{i}" for i, (name, _) in enumerate(CASES)]


@pytest.mark.parametrize("name,config", CASES, ids=IDS)
def test_densekit_round_trip_keeps_the_optimizer_state(tmp_path, data, name, config):
    init, x, y = data
    model = _model(densekit, init, getattr(densekit.optimizers, name)(**config))
    _train(model, x, y, slice(0, TRAINED))
    model.save(tmp_path / "m.keras")
    loaded = densekit.models.load_model(tmp_path / "m.keras")
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert [v.path for v in loaded.optimizer.variables] == [
        v.path for v in model.optimizer.variables
    ]
    _assert_state_equal(_state(loaded), _state(model))
    assert int(loaded.optimizer.iterations) == int(model.optimizer.iterations)
    saved_weights = model.get_weights()
    # The next steps on both are the same, to the bit ...
    _train(model, x, y, slice(TRAINED, None))
    _train(loaded, x, y, slice(TRAINED, None))
    _assert_state_equal(_state(loaded), _state(model))
    # ... and not those of the same weights with a fresh optimizer: the state matters.
    fresh = _model(densekit, saved_weights, getattr(densekit.optimizers, name)(**config))
    _train(fresh, x, y, slice(TRAINED, None))
    assert not all(
        np.allclose(a, b, rtol=1e-3) for a, b in zip(fresh.get_weights(), model.get_weights())
    )


def _assert_keras_agrees(ours, theirs, rtol=1e-5, atol=1e-6):
    ours_state, theirs_state = _state(ours), _state(theirs)
    for a, b in zip(ours_state[0], theirs_state[0], strict=True):
        assert_allclose(a, b, rtol=rtol, atol=atol)
    names = [v.path for v in ours.optimizer.variables]
    for a, b, name in zip(ours_state[1], theirs_state[1], names, strict=True):
        assert_allclose(np.ravel(a), np.ravel(b), rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("name,config", CASES, ids=IDS)
def test_densekit_file_trains_on_in_keras(tmp_path, data, real_keras, name, config):
    init, x, y = data
    model = _model(densekit, init, getattr(densekit.optimizers, name)(**config))
    _train(model, x, y, slice(0, TRAINED))
    model.save(tmp_path / "d.keras")
    in_keras = real_keras.saving.load_model(tmp_path / "d.keras")
    assert type(in_keras.optimizer).__name__ == name
    assert int(_value(in_keras.optimizer.variables[0])) == TRAINED
    _assert_keras_agrees(model, in_keras, rtol=0, atol=0)  # the same float32 values
    _train(model, x, y, slice(TRAINED, None))
    _train(in_keras, x, y, slice(TRAINED, None))
    _assert_keras_agrees(model, in_keras)


@pytest.mark.parametrize("name,config", CASES, ids=IDS)
def test_keras_file_trains_on_in_densekit(tmp_path, data, real_keras, name, config):
    init, x, y = data
    source = _model(real_keras, init, getattr(real_keras.optimizers, name)(**config))
    _train(source, x, y, slice(0, TRAINED))
    source.save(tmp_path / "k.keras")
    model = densekit.models.load_model(tmp_path / "k.keras")
    assert type(model.optimizer).__name__ == name
    assert model.optimizer.variables[0].numpy() == TRAINED
    _assert_keras_agrees(model, source, rtol=0, atol=0)
    _train(source, x, y, slice(TRAINED, None))
    _train(model, x, y, slice(TRAINED, None))
    _assert_keras_agrees(model, source)


# -- another optimizer's state ---------------------------------------------------------------------


def _saved_adam(tmp_path, data, name="a.keras"):
    """A densekit model trained with Adam (10 optimizer variables), saved."""
    init, x, y = data
    model = _model(densekit, init, densekit.optimizers.Adam(0.01))
    _train(model, x, y, slice(0, TRAINED))
    model.save(tmp_path / name)
    return model, tmp_path / name


def test_weights_with_another_optimizers_state_load_and_skip_it_with_a_warning(
    tmp_path, data, real_keras
):
    init, x, y = data
    source, path = _saved_adam(tmp_path, data)
    model = _model(densekit, init, densekit.optimizers.RMSprop(0.01))  # 6 variables
    _train(model, x, y, slice(0, 1))
    slots = _state(model)[1]
    with pytest.warns(UserWarning, match="skipping the optimizer state: it has 10 variables"):
        model.load_weights(path)
    for a, b in zip(model.get_weights(), source.get_weights(), strict=True):
        assert_array_equal(a, b)
    for a, b in zip(_state(model)[1], slots, strict=True):
        assert_array_equal(a, b)
    # Keras does the same with the same file.
    theirs = _model(real_keras, init, real_keras.optimizers.RMSprop(0.01))
    _train(theirs, x, y, slice(0, 1))
    with pytest.warns(UserWarning, match="Skipping variable loading for optimizer"):
        theirs.load_weights(path)
    assert int(_value(theirs.optimizer.iterations)) == 1
    for a, b in zip(_state(theirs)[0], source.get_weights(), strict=True):
        assert_array_equal(a, b)


def test_a_never_built_optimizers_state_restarts_only_a_fresh_optimizer(tmp_path, data, real_keras):
    # Keras saves iteration and learning_rate only for an optimizer it has not built (before
    # the first step). Into a trained optimizer they would restart the count beside the trained
    # moments: like Keras, the state is skipped with a warning.
    init, x, y = data
    untrained = _model(real_keras, init, real_keras.optimizers.Adam(0.5))
    untrained.save_weights(tmp_path / "u.weights.h5")
    with h5py.File(tmp_path / "u.weights.h5", "r") as h5:
        assert len(h5["optimizer/vars"]) == 2
    theirs = _model(real_keras, init, real_keras.optimizers.Adam(0.01))
    ours = _model(densekit, init, densekit.optimizers.Adam(0.01))
    for model in (theirs, ours):
        _train(model, x, y, slice(0, 2))
        before = _state(model)
        with pytest.warns(UserWarning, match="(?i)skipping"):
            model.load_weights(tmp_path / "u.weights.h5")
        _assert_state_equal(_state(model), before)
    # A fresh optimizer takes them: a count of 0 and the file's learning rate.
    fresh = _model(densekit, [w + 1 for w in init], densekit.optimizers.Adam(0.01))
    fresh.load_weights(tmp_path / "u.weights.h5")
    assert int(fresh.optimizer.iterations) == 0
    assert float(fresh.optimizer.learning_rate) == pytest.approx(0.5)
    for a, b in zip(fresh.get_weights(), init, strict=True):
        assert_array_equal(a, b)


def _rewrite_member(path, name, edit):
    """Rewrites one member of the .keras archive at `path` with `edit(bytes) -> bytes`."""
    with zipfile.ZipFile(path) as archive:
        contents = {member: archive.read(member) for member in archive.namelist()}
    contents[name] = edit(contents[name])
    with zipfile.ZipFile(path, "w") as archive:
        for member, payload in contents.items():
            archive.writestr(member, payload)


def _edit_weights(path, edit):
    """Applies `edit(h5)` to the model.weights.h5 inside the .keras file at `path`."""

    def rewrite(payload):
        buffer = io.BytesIO(payload)
        with h5py.File(buffer, "r+") as h5:
            edit(h5)
        return buffer.getvalue()

    _rewrite_member(path, "model.weights.h5", rewrite)


def test_a_keras_file_whose_compile_config_names_another_optimizer_skips_the_state(tmp_path, data):
    source, path = _saved_adam(tmp_path, data)

    def to_adagrad(payload):
        config = json.loads(payload)
        config["compile_config"]["optimizer"] = {
            "module": "keras.optimizers",
            "class_name": "Adagrad",
            "config": {"learning_rate": 0.05},
            "registered_name": None,
        }
        return json.dumps(config).encode()

    _rewrite_member(path, "config.json", to_adagrad)
    with pytest.warns(UserWarning, match="skipping the optimizer state"):
        model = densekit.models.load_model(path)
    assert type(model.optimizer).__name__ == "Adagrad"
    assert int(model.optimizer.iterations) == 0
    for variable in model.optimizer.variables[2:]:
        assert_array_equal(variable.numpy(), np.full(variable.shape, 0.1, np.float32))
    for a, b in zip(model.get_weights(), source.get_weights(), strict=True):
        assert_array_equal(a, b)


# -- bad optimizer state: ValueError naming the variable, nothing changed ---------------------------


def _replace(index, value):
    def edit(h5):
        del h5[f"optimizer/vars/{index}"]
        h5[f"optimizer/vars/{index}"] = value

    return edit


# Nadam's variables: 0 iteration, 1 learning_rate, 2..9 momentum/velocity per model variable
# (dense kernel, dense bias, dense_1 kernel, dense_1 bias), 10 u_product.
BAD_STATE = [
    ("slot-nan", 3, "dense_kernel_velocity", np.full((IN, HIDDEN), np.nan), "holds NaN or Inf"),
    ("slot-inf", 8, "dense_1_bias_momentum", np.full(OUT, np.inf, np.float32), "NaN or Inf"),
    ("slot-shape", 2, "dense_kernel_momentum", np.zeros((HIDDEN, IN)), r"shape \(6, 4\)"),
    ("slot-scalar", 4, "dense_bias_momentum", np.float32(0.5), r"has shape \(\)"),
    ("iteration-huge", 0, "iteration", np.float64(1e30), r"must be in \[0, 2\*\*62\)"),
    ("iteration-negative", 0, "iteration", np.int64(-3), r"must be in \[0, 2\*\*62\)"),
    ("iteration-fraction", 0, "iteration", np.float64(2.5), "must be a whole number"),
    ("iteration-nan", 0, "iteration", np.float64(np.nan), "must be a whole number"),
    ("learning-rate-negative", 1, "learning_rate", np.float32(-0.1), "must be >= 0"),
    ("learning-rate-inf", 1, "learning_rate", np.float32(np.inf), "holds NaN or Inf"),
    ("u-product-nan", 10, "u_product", np.float32(np.nan), "holds NaN or Inf"),
]


@pytest.mark.parametrize(
    "index,name,value,message", [c[1:] for c in BAD_STATE], ids=[c[0] for c in BAD_STATE]
)
def test_bad_optimizer_state_raises_naming_the_variable_and_changes_nothing(
    tmp_path, data, index, name, value, message
):
    init, x, y = data
    source = _model(densekit, init, densekit.optimizers.Nadam(0.01))
    _train(source, x, y, slice(0, TRAINED))
    source.save(tmp_path / "n.keras")
    _edit_weights(tmp_path / "n.keras", _replace(index, value))

    def pattern(optimizer):
        # The variable's path, e.g. "nadam_3/dense_7_kernel_velocity" (names count per process).
        path = optimizer.variables[index].path
        assert re.sub(r"_\d+", "", path.split("/", 1)[1]) == re.sub(r"_\d+", "", name)
        return rf"optimizer/vars/{index} \({re.escape(path)}\).*{message}"

    with pytest.raises(ValueError, match=pattern(source.optimizer)):  # the name is restored
        densekit.models.load_model(tmp_path / "n.keras")
    # Into a model with a state of its own: checked before anything is written.
    model = _model(densekit, [w + 1 for w in init], densekit.optimizers.Nadam(0.01))
    _train(model, x, y, slice(0, 1))
    before = _state(model)
    with pytest.raises(ValueError, match=pattern(model.optimizer)):
        model.load_weights(tmp_path / "n.keras")
    _assert_state_equal(_state(model), before)
    assert int(model.optimizer.iterations) == 1


# -- learning-rate schedules -----------------------------------------------------------------------


@pytest.fixture
def schedules():
    """densekit's schedules, or a skip while they are not there."""
    module = pytest.importorskip("densekit.optimizers.schedules")
    if not hasattr(module, "ExponentialDecay"):
        pytest.skip("densekit.optimizers.schedules has no ExponentialDecay")
    return module


SCHEDULE = {"initial_learning_rate": 0.05, "decay_steps": 2, "decay_rate": 0.5}


def test_a_schedule_and_the_state_survive_a_densekit_round_trip(tmp_path, data, schedules):
    init, x, y = data
    optimizer = densekit.optimizers.Adam(schedules.ExponentialDecay(**SCHEDULE))
    model = _model(densekit, init, optimizer)
    _train(model, x, y, slice(0, TRAINED))
    model.save(tmp_path / "s.keras")
    loaded = densekit.models.load_model(tmp_path / "s.keras")
    config = loaded.optimizer.get_config()["learning_rate"]
    assert config["class_name"] == "ExponentialDecay"
    assert {k: config["config"][k] for k in SCHEDULE} == SCHEDULE
    # No learning_rate variable with a schedule, as in Keras: iteration, then the slots.
    names = [v.name for v in loaded.optimizer.variables]
    assert names == [v.name for v in model.optimizer.variables]
    assert names[0] == "iteration" and "learning_rate" not in names and len(names) == 9
    _assert_state_equal(_state(loaded), _state(model))
    # 0.05·0.5^(4/2) after 4 steps
    assert float(loaded.optimizer.learning_rate) == pytest.approx(0.0125, rel=1e-6)
    _train(model, x, y, slice(TRAINED, None))
    _train(loaded, x, y, slice(TRAINED, None))
    _assert_state_equal(_state(loaded), _state(model))


def test_a_schedule_carries_over_to_keras_and_back(tmp_path, data, schedules, real_keras):
    init, x, y = data
    model = _model(densekit, init, densekit.optimizers.Adam(schedules.ExponentialDecay(**SCHEDULE)))
    _train(model, x, y, slice(0, TRAINED))
    model.save(tmp_path / "d.keras")
    in_keras = real_keras.saving.load_model(tmp_path / "d.keras")
    schedule = in_keras.optimizer.get_config()["learning_rate"]
    assert schedule["class_name"] == "ExponentialDecay"
    assert {k: schedule["config"][k] for k in SCHEDULE} == SCHEDULE
    _assert_keras_agrees(model, in_keras, rtol=0, atol=0)
    _train(model, x, y, slice(TRAINED, None))
    _train(in_keras, x, y, slice(TRAINED, None))
    _assert_keras_agrees(model, in_keras)
    # Keras's file of a schedule comes back into densekit and trains on the same way.
    source = _model(
        real_keras,
        init,
        real_keras.optimizers.Adam(real_keras.optimizers.schedules.ExponentialDecay(**SCHEDULE)),
    )
    _train(source, x, y, slice(0, TRAINED))
    source.save(tmp_path / "k.keras")
    back = densekit.models.load_model(tmp_path / "k.keras")
    _assert_keras_agrees(back, source, rtol=0, atol=0)
    _train(source, x, y, slice(TRAINED, None))
    _train(back, x, y, slice(TRAINED, None))
    _assert_keras_agrees(back, source)
