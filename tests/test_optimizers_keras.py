"""Every optimizer against Keras 3 (torch backend), step for step.

The same model, initial weights and batches go through densekit and Keras's `train_on_batch`;
after tens of steps the weights (and the optimizer's variables) agree to 1e-5 relative.
"""

import numpy as np
import pytest
from user_objects import HalvingSchedule

import densekit

keras = pytest.importorskip("keras")

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    # Keras reads its own variables through np.array(copy=False), which NumPy 2 warns about.
    pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning"),
]

STEPS = 30


def _models(rng, activation="tanh"):
    init = [
        rng.normal(0, 0.5, (6, 8)).astype(np.float32),
        rng.normal(0, 0.1, 8).astype(np.float32),
        rng.normal(0, 0.5, (8, 3)).astype(np.float32),
        rng.normal(0, 0.1, 3).astype(np.float32),
    ]
    ours = densekit.Sequential(
        [
            densekit.Input((6,)),
            densekit.layers.Dense(8, activation=activation),
            densekit.layers.Dense(3, activation="softmax"),
        ]
    )
    theirs = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation=activation),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    ours.set_weights(init)
    theirs.set_weights(init)
    return ours, theirs


def _batches(rng, steps=STEPS, batch=16):
    x = rng.normal(0, 1, (steps, batch, 6)).astype(np.float32)
    y = rng.integers(0, 3, (steps, batch))
    return x, y


def _train_both(rng, ours_optimizer, theirs_optimizer, steps=STEPS):
    ours, theirs = _models(rng)
    ours.compile(optimizer=ours_optimizer, loss="sparse_categorical_crossentropy")
    theirs.compile(optimizer=theirs_optimizer, loss="sparse_categorical_crossentropy")
    x, y = _batches(rng, steps)
    for xb, yb in zip(x, y):
        ours.train_on_batch(xb, yb)
        theirs.train_on_batch(xb, yb)
    return ours, theirs


def _keras_value(variable):
    value = variable.value
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def _assert_same_weights(ours, theirs, rtol=1e-5, atol=1e-6):
    for a, b in zip(ours.get_weights(), [_keras_value(v) for v in theirs.weights]):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _assert_same_variables(ours_optimizer, theirs_optimizer, rtol=1e-5, atol=1e-6):
    ours_vars, theirs_vars = ours_optimizer.variables, theirs_optimizer.variables
    assert len(ours_vars) == len(theirs_vars)
    for a, b in zip(ours_vars, theirs_vars):
        np.testing.assert_allclose(
            np.ravel(a.numpy()),
            np.ravel(_keras_value(b)),
            rtol=rtol,
            atol=atol,
            err_msg=a.path,
        )


CASES = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adagrad", {"learning_rate": 0.05}),
    ("Adagrad", {"learning_rate": 0.05, "initial_accumulator_value": 0.5, "epsilon": 1e-4}),
    ("RMSprop", {"learning_rate": 0.005}),
    ("RMSprop", {"learning_rate": 0.005, "momentum": 0.5}),
    ("RMSprop", {"learning_rate": 0.005, "centered": True, "rho": 0.8}),
    ("RMSprop", {"learning_rate": 0.005, "momentum": 0.3, "centered": True}),
    ("Adam", {"learning_rate": 0.01}),
    ("Adam", {"learning_rate": 0.01, "amsgrad": True, "beta_1": 0.8, "beta_2": 0.99}),
    ("AdamW", {"learning_rate": 0.01}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("Adamax", {"learning_rate": 0.01}),
    ("Nadam", {"learning_rate": 0.01}),
    ("Nadam", {"learning_rate": 0.01, "beta_1": 0.95}),
    ("Lion", {"learning_rate": 0.001}),
    ("Lion", {"learning_rate": 0.001, "beta_1": 0.95, "beta_2": 0.98}),
]


@pytest.mark.parametrize("name,config", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_update_rule_matches_keras_step_for_step(rng, name, config):
    ours_opt = getattr(densekit.optimizers, name)(**config)
    theirs_opt = getattr(keras.optimizers, name)(**config)
    ours, theirs = _train_both(rng, ours_opt, theirs_opt)
    _assert_same_weights(ours, theirs)
    _assert_same_variables(ours_opt, theirs_opt)
    assert int(ours_opt.iterations) == int(theirs_opt.iterations) == STEPS


OPTIONS = [
    ("Adam", {"learning_rate": 0.01, "weight_decay": 0.05}),
    ("SGD", {"learning_rate": 0.1, "weight_decay": 0.01}),
    ("RMSprop", {"learning_rate": 0.005, "clipnorm": 0.05}),
    ("Adam", {"learning_rate": 0.01, "clipvalue": 0.01}),
    ("Nadam", {"learning_rate": 0.01, "global_clipnorm": 0.05}),
    ("Adam", {"learning_rate": 0.01, "use_ema": True}),
    (
        "SGD",
        {
            "learning_rate": 0.1,
            "momentum": 0.9,
            "use_ema": True,
            "ema_momentum": 0.9,
            "ema_overwrite_frequency": 4,
        },
    ),
    ("Adam", {"learning_rate": 0.01, "gradient_accumulation_steps": 3}),
    ("Adamax", {"learning_rate": 0.01, "gradient_accumulation_steps": 2, "clipnorm": 0.1}),
    (
        "Lion",
        {
            "learning_rate": 0.001,
            "weight_decay": 0.5,
            "use_ema": True,
            "gradient_accumulation_steps": 2,
            "ema_overwrite_frequency": 3,
        },
    ),
    ("Adagrad", {"learning_rate": 0.05, "loss_scale_factor": 128.0}),
]


@pytest.mark.parametrize(
    "name,config", OPTIONS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(OPTIONS)]
)
def test_base_options_match_keras_step_for_step(rng, name, config):
    ours_opt = getattr(densekit.optimizers, name)(**config)
    theirs_opt = getattr(keras.optimizers, name)(**config)
    ours, theirs = _train_both(rng, ours_opt, theirs_opt)
    _assert_same_weights(ours, theirs)
    _assert_same_variables(ours_opt, theirs_opt)
    assert int(ours_opt.iterations) == int(theirs_opt.iterations)


def test_ema_replaces_the_weights_at_the_end_of_fit_as_keras(rng):
    ours, theirs = _models(rng)
    ours.compile(optimizer=densekit.optimizers.Adam(0.01, use_ema=True), loss="mse")
    theirs.compile(optimizer=keras.optimizers.Adam(0.01, use_ema=True), loss="mse")
    x = rng.normal(0, 1, (64, 6)).astype(np.float32)
    y = rng.uniform(0, 1, (64, 3)).astype(np.float32)
    ours.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    _assert_same_weights(ours, theirs)


@pytest.mark.parametrize(
    "name", ["sgd", "adam", "rmsprop", "adagrad", "adamax", "nadam", "adamw", "lion"]
)
def test_string_names_give_keras_defaults(name):
    ours = densekit.optimizers.get(name).get_config()
    theirs = keras.optimizers.get(name).get_config()
    ours.pop("name"), theirs.pop("name")
    assert ours == theirs


# Each rule's own arguments by position, then the base optimizer's (weight_decay, clipnorm, ...),
# as Keras's signatures order them.
POSITIONAL = [
    ("SGD", (0.05, 0.9, True)),
    ("Adagrad", (0.05, 0.2, 1e-6)),
    ("RMSprop", (0.05, 0.8, 0.5, 1e-6, True)),
    ("Adam", (0.05, 0.8, 0.99, 1e-6, True)),
    ("AdamW", (0.05, 0.01, 0.8, 0.99, 1e-6, True)),
    ("Adamax", (0.05, 0.8, 0.99, 1e-6)),
    ("Nadam", (0.05, 0.8, 0.99, 1e-6)),
    ("Lion", (0.05, 0.8, 0.95)),
]


@pytest.mark.parametrize("name, own", POSITIONAL, ids=[name for name, _ in POSITIONAL])
def test_arguments_by_position_mean_what_they_mean_in_keras(name, own):
    base = (2.0, None) if name == "AdamW" else (0.001, 2.0, None)  # AdamW: no weight_decay here
    args = own + base + (None, False, 0.9, None, None, 3, f"{name.lower()}_by_position")
    ours = getattr(densekit.optimizers, name)(*args).get_config()
    theirs = getattr(keras.optimizers, name)(*args).get_config()
    assert ours == theirs
    assert ours["gradient_accumulation_steps"] == 3


def test_too_many_positional_arguments_raise_naming_the_optimizer():
    with pytest.raises(TypeError, match=r"Adam: too many positional arguments"):
        densekit.optimizers.Adam(0.001, 0.9, 0.999, 1e-7, False, *([None] * 11))


@pytest.mark.parametrize("identifier", ["ADAM", "RMSProp", "AdamW", "sgd"])
def test_names_are_looked_up_regardless_of_case_as_keras(identifier):
    ours = densekit.optimizers.get(identifier)
    theirs = keras.optimizers.get(identifier)
    assert type(ours).__name__ == type(theirs).__name__
    by_config = densekit.optimizers.get({"class_name": identifier.upper(), "config": {}})
    assert type(by_config) is type(ours)


def test_get_of_none_is_none_as_keras():
    assert densekit.optimizers.get(None) is None is keras.optimizers.get(None)


@pytest.mark.parametrize("name", [3, "a/b"])
def test_a_name_that_is_not_a_string_or_holds_a_slash_raises(name):
    with pytest.raises(ValueError, match=r"Adam: `name` must be a string"):
        densekit.optimizers.Adam(name=name)
    with pytest.raises(ValueError):
        keras.optimizers.Adam(name=name)


def test_the_dropped_decay_argument_warns_as_keras():
    with pytest.warns(UserWarning, match=r"`decay` is no longer supported"):
        optimizer = densekit.optimizers.SGD(decay=0.1)
    assert "decay" not in optimizer.get_config()


class _MyAdam(densekit.optimizers.Adam):
    pass


def test_custom_objects_reach_the_optimizer_and_its_schedule():
    optimizer = _MyAdam(learning_rate=HalvingSchedule(0.2))
    back = densekit.optimizers.deserialize(
        densekit.optimizers.serialize(optimizer),
        custom_objects={"_MyAdam": _MyAdam, "HalvingSchedule": HalvingSchedule},
    )
    assert type(back) is _MyAdam
    assert isinstance(back._learning_rate, HalvingSchedule)
    assert float(back.learning_rate) == pytest.approx(0.2)
    with pytest.raises(ValueError, match=r"_MyAdam.*custom_objects"):
        densekit.optimizers.deserialize(densekit.optimizers.serialize(optimizer))
    config = optimizer.get_config()
    again = densekit.optimizers.Adam.from_config(
        config, custom_objects={"HalvingSchedule": HalvingSchedule}
    )
    assert isinstance(again._learning_rate, HalvingSchedule)


def _schedule_pair(name, **config):
    return (
        getattr(densekit.optimizers.schedules, name)(**config),
        getattr(keras.optimizers.schedules, name)(**config),
    )


SCHEDULES = [
    (
        "Adam",
        "ExponentialDecay",
        {"initial_learning_rate": 0.02, "decay_steps": 5, "decay_rate": 0.5},
    ),
    (
        "SGD",
        "PiecewiseConstantDecay",
        {"boundaries": [5, 12], "values": [0.2, 0.05, 0.01]},
    ),
    (
        "RMSprop",
        "CosineDecay",
        {
            "initial_learning_rate": 0.001,
            "decay_steps": 20,
            "warmup_target": 0.01,
            "warmup_steps": 5,
        },
    ),
    (
        "Nadam",
        "PolynomialDecay",
        {
            "initial_learning_rate": 0.01,
            "decay_steps": 7,
            "end_learning_rate": 0.001,
            "cycle": True,
        },
    ),
    (
        "Lion",
        "InverseTimeDecay",
        {"initial_learning_rate": 0.002, "decay_steps": 3, "decay_rate": 0.7},
    ),
    ("Adamax", "CosineDecayRestarts", {"initial_learning_rate": 0.02, "first_decay_steps": 6}),
]


@pytest.mark.parametrize("name,schedule,config", SCHEDULES, ids=[s for _, s, _ in SCHEDULES])
def test_schedules_drive_the_optimizers_as_in_keras(rng, name, schedule, config):
    ours_schedule, theirs_schedule = _schedule_pair(schedule, **config)
    ours_opt = getattr(densekit.optimizers, name)(learning_rate=ours_schedule)
    theirs_opt = getattr(keras.optimizers, name)(learning_rate=theirs_schedule)
    ours, theirs = _train_both(rng, ours_opt, theirs_opt)
    _assert_same_weights(ours, theirs)
    _assert_same_variables(ours_opt, theirs_opt)
    assert float(ours_opt.learning_rate) == pytest.approx(float(theirs_opt.learning_rate), rel=1e-6)


def test_a_schedule_counts_accumulating_steps_as_keras(rng):
    config = {"initial_learning_rate": 0.02, "decay_steps": 2, "decay_rate": 0.5}
    ours_schedule, theirs_schedule = _schedule_pair("ExponentialDecay", **config)
    ours_opt = densekit.optimizers.Adam(ours_schedule, gradient_accumulation_steps=3)
    theirs_opt = keras.optimizers.Adam(theirs_schedule, gradient_accumulation_steps=3)
    ours, theirs = _train_both(rng, ours_opt, theirs_opt)
    _assert_same_weights(ours, theirs)


class _Halving(keras.optimizers.schedules.LearningRateSchedule):
    def __call__(self, step):
        return 0.05 * 0.5 ** (step // 10)


class _OurHalving(densekit.optimizers.schedules.LearningRateSchedule):
    def __call__(self, step):
        return 0.05 * 0.5 ** (step // 10)


def test_a_users_schedule_and_a_callable_rate_work_as_in_keras(rng):
    ours, theirs = _train_both(
        rng, densekit.optimizers.SGD(_OurHalving()), keras.optimizers.SGD(_Halving())
    )
    _assert_same_weights(ours, theirs)
    ours, theirs = _train_both(
        rng, densekit.optimizers.Adam(lambda: 0.003), keras.optimizers.Adam(lambda: 0.003)
    )
    _assert_same_weights(ours, theirs)


def test_a_scheduled_rate_cannot_be_assigned_and_reports_its_current_value():
    optimizer = densekit.optimizers.SGD(densekit.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5))
    assert float(optimizer.learning_rate) == pytest.approx(0.1)
    with pytest.raises(TypeError, match="not settable"):
        optimizer.learning_rate = 0.2
    config = densekit.optimizers.serialize(optimizer)
    assert config["config"]["learning_rate"]["class_name"] == "ExponentialDecay"
    again = keras.optimizers.deserialize(config)
    assert isinstance(again._learning_rate, keras.optimizers.schedules.ExponentialDecay)
    back = densekit.optimizers.deserialize(keras.optimizers.serialize(again))
    assert back.get_config() == {**optimizer.get_config(), "name": back.name}


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_one_cycle_drives_rate_and_momentum_as_keras_set_by_hand(rng, name):
    # Keras has no 1cycle: its optimizer gets the schedule's rate and momentum before each step.
    cycle = densekit.optimizers.schedules.OneCycle(
        0.02, total_steps=STEPS, max_momentum=0.95, min_momentum=0.85
    )
    momentum_name = "beta_1" if name == "Adam" else "momentum"
    ours_opt = getattr(densekit.optimizers, name)(learning_rate=cycle, **{momentum_name: 0.9})
    theirs_opt = getattr(keras.optimizers, name)(learning_rate=0.02, **{momentum_name: 0.9})
    ours, theirs = _models(rng)
    ours.compile(optimizer=ours_opt, loss="sparse_categorical_crossentropy")
    theirs.compile(optimizer=theirs_opt, loss="sparse_categorical_crossentropy")
    x, y = _batches(rng)
    for step, (xb, yb) in enumerate(zip(x, y)):
        theirs_opt.learning_rate = float(cycle(step))
        setattr(theirs_opt, momentum_name, float(cycle.momentum(step)))
        ours.train_on_batch(xb, yb)
        theirs.train_on_batch(xb, yb)
    _assert_same_weights(ours, theirs)
    assert len({round(float(cycle.momentum(s)), 6) for s in range(STEPS)}) > 10  # it did cycle


def test_a_momentum_cycle_needs_a_momentum():
    cycle = densekit.optimizers.schedules.OneCycle(0.1, 100, max_momentum=0.95, min_momentum=0.85)
    with pytest.raises(ValueError, match="momentum"):
        densekit.optimizers.SGD(cycle)
    with pytest.raises(ValueError, match="momentum"):
        densekit.optimizers.Adagrad(cycle)
    densekit.optimizers.SGD(cycle, momentum=0.9)
