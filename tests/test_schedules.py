"""Learning-rate schedules: the values of Keras 3's own at every step, the configs both ways,
argument checks, schedules written in Python called back from C++, and 1cycle against NumPy."""

import concurrent.futures
import copy
import json
import math
import pickle
import re

import numpy as np
import pytest
from numpy.testing import assert_allclose

from densekit import _core
from densekit.optimizers import schedules
from densekit.optimizers.schedules import core_schedule

# (class name, arguments): staircase, cycle and warmup on and off, fractional step counts.
KERAS_CASES = [
    ("ExponentialDecay", {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5}),
    (
        "ExponentialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 7, "decay_rate": 0.5, "staircase": True},
    ),
    ("ExponentialDecay", {"initial_learning_rate": 1e-3, "decay_steps": 2.5, "decay_rate": 1.05}),
    ("InverseTimeDecay", {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 0.5}),
    (
        "InverseTimeDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 5, "decay_rate": 2.0, "staircase": True},
    ),
    ("PolynomialDecay", {"initial_learning_rate": 0.1, "decay_steps": 10}),
    (
        "PolynomialDecay",
        {"initial_learning_rate": 0.1, "decay_steps": 10, "end_learning_rate": 0.01, "power": 2.0},
    ),
    (
        "PolynomialDecay",
        {
            "initial_learning_rate": 0.1,
            "decay_steps": 10,
            "end_learning_rate": 0.01,
            "power": 0.5,
            "cycle": True,
        },
    ),
    (
        "PolynomialDecay",
        {"initial_learning_rate": 0.01, "decay_steps": 4, "end_learning_rate": 0.1},
    ),
    ("PiecewiseConstantDecay", {"boundaries": [5, 10, 20], "values": [1.0, 0.5, 0.1, 0.01]}),
    ("PiecewiseConstantDecay", {"boundaries": [0], "values": [0.3, 0.2]}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 20}),
    ("CosineDecay", {"initial_learning_rate": 0.1, "decay_steps": 20, "alpha": 0.1}),
    (
        "CosineDecay",
        {
            "initial_learning_rate": 0.0,
            "decay_steps": 20,
            "alpha": 0.1,
            "warmup_target": 0.2,
            "warmup_steps": 8,
        },
    ),
    (
        "CosineDecay",
        {"initial_learning_rate": 0.05, "decay_steps": 20, "warmup_target": 0.2, "warmup_steps": 0},
    ),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 10}),
    (
        "CosineDecayRestarts",
        {
            "initial_learning_rate": 0.1,
            "first_decay_steps": 10,
            "t_mul": 1.0,
            "m_mul": 0.5,
            "alpha": 0.1,
        },
    ),
    (
        "CosineDecayRestarts",
        {
            "initial_learning_rate": 0.1,
            "first_decay_steps": 5,
            "t_mul": 3.0,
            "m_mul": 0.8,
            "alpha": 0.05,
        },
    ),
    ("CosineDecayRestarts", {"initial_learning_rate": 0.1, "first_decay_steps": 4, "t_mul": 1.5}),
]
CASE_IDS = [f"{name}-{i}" for i, (name, _) in enumerate(KERAS_CASES)]
# Every step up to past the decays, boundaries and restarts above (e.g. 5 + 15 + 45 = 65).
STEPS = range(0, 91)


@pytest.fixture(scope="module")
def keras_schedules():
    return pytest.importorskip("keras").optimizers.schedules


@pytest.fixture
def keras_float64(keras_schedules):
    """Keras's schedules computing in float64, as our core does: in its default float32 a
    cosine near the end of its decay is off by about 1e-4 relative."""
    import keras

    previous = keras.config.floatx()
    keras.config.set_floatx("float64")
    yield keras_schedules
    keras.config.set_floatx(previous)


def _ours(name, kwargs):
    return getattr(schedules, name)(**kwargs)


@pytest.mark.parametrize("name, kwargs", KERAS_CASES, ids=CASE_IDS)
def test_schedule_values_equal_keras_at_every_step(keras_float64, name, kwargs):
    ours = _ours(name, kwargs)
    theirs = getattr(keras_float64, name)(**kwargs)
    expected = np.array([float(theirs(step)) for step in STEPS])
    values = np.array([ours(step) for step in STEPS])
    assert values.dtype == np.float32
    assert_allclose(values, expected, rtol=1e-6)
    # The core computes in double: much closer than float32.
    core = core_schedule(ours)
    assert_allclose([core.learning_rate(step) for step in STEPS], expected, rtol=1e-12)


@pytest.mark.parametrize("name, kwargs", KERAS_CASES, ids=CASE_IDS)
def test_an_array_of_steps_gives_keras_rates_in_its_shape(keras_float64, name, kwargs):
    ours = _ours(name, kwargs)
    theirs = getattr(keras_float64, name)(**kwargs)
    steps = np.arange(0, 90).reshape(9, 10)
    values = ours(steps)
    assert values.dtype == np.float32 and values.shape == (9, 10)
    expected = np.array([float(theirs(int(step))) for step in steps.reshape(-1)])
    assert_allclose(values.reshape(-1), expected, rtol=1e-6)
    assert_allclose(ours(list(range(5))), expected[:5], rtol=1e-6)


def test_an_array_of_steps_refuses_a_step_that_is_not_a_whole_number():
    with pytest.raises(ValueError, match="ExponentialDecay: step must be a whole number >= 0"):
        schedules.ExponentialDecay(0.1, 10, 0.5)(np.array([0, 1, -1]))


@pytest.mark.parametrize("name, kwargs", KERAS_CASES, ids=CASE_IDS)
def test_get_config_equals_keras(keras_schedules, name, kwargs):
    assert _ours(name, kwargs).get_config() == getattr(keras_schedules, name)(**kwargs).get_config()


@pytest.mark.parametrize("name, kwargs", KERAS_CASES, ids=CASE_IDS)
def test_serialize_is_keras_format_and_each_side_reads_the_other(keras_schedules, name, kwargs):
    ours = schedules.serialize(_ours(name, kwargs))
    theirs = keras_schedules.serialize(getattr(keras_schedules, name)(**kwargs))
    assert ours == theirs
    from_ours = keras_schedules.deserialize(json.loads(json.dumps(ours)))
    assert type(from_ours).__name__ == name
    assert from_ours.get_config() == ours["config"]
    from_theirs = schedules.deserialize(json.loads(json.dumps(theirs)))
    assert type(from_theirs) is getattr(schedules, name)
    assert from_theirs.get_config() == theirs["config"]


@pytest.mark.parametrize("name, kwargs", KERAS_CASES, ids=CASE_IDS)
def test_serialize_deserialize_round_trip(name, kwargs):
    schedule = _ours(name, kwargs)
    again = schedules.deserialize(schedules.serialize(schedule))
    assert type(again) is type(schedule)
    assert again.get_config() == schedule.get_config()
    assert again(13) == schedule(13)
    assert schedules.get(schedules.serialize(schedule)).get_config() == schedule.get_config()


def test_keras_default_arguments_and_names():
    assert schedules.PolynomialDecay(0.1, 10).get_config() == {
        "initial_learning_rate": 0.1,
        "decay_steps": 10,
        "end_learning_rate": 0.0001,
        "power": 1.0,
        "cycle": False,
        "name": "PolynomialDecay",
    }
    assert schedules.PiecewiseConstantDecay([1], [1.0, 0.5]).name == "PiecewiseConstant"
    assert schedules.CosineDecayRestarts(0.1, 10).name == "SGDRDecay"
    assert schedules.CosineDecay(0.1, 10).warmup_target is None


# 1cycle from its definition: knots (0, h, 2h, T) with a tail of T // 10 + 1 steps and
# h = (T - tail) // 2; np.interp holds the last value beyond T.
def _one_cycle_reference(steps, max_lr, total, start=None, last=None, max_m=None, min_m=None):
    start = max_lr / 10 if start is None else start
    last = start / 1000 if last is None else last
    half = (total - (total // 10 + 1)) // 2
    knots = np.array([0, half, 2 * half, total], dtype=np.float64)
    s = np.asarray(steps, dtype=np.float64)
    rates = np.interp(s, knots, [start, max_lr, start, last])
    momenta = None if max_m is None else np.interp(s, knots, [max_m, min_m, max_m, max_m])
    return rates, momenta


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_learning_rate": 0.1, "total_steps": 100},
        {"max_learning_rate": 0.5, "total_steps": 37, "max_momentum": 0.9, "min_momentum": 0.8},
        {
            "max_learning_rate": 1.0,
            "total_steps": 1000,
            "start_learning_rate": 0.05,
            "last_learning_rate": 1e-5,
            "max_momentum": 0.95,
            "min_momentum": 0.85,
        },
        {"max_learning_rate": 0.2, "total_steps": 10, "start_learning_rate": 0.2},
    ],
)
def test_one_cycle_matches_its_piecewise_linear_definition(kwargs):
    schedule = schedules.OneCycle(**kwargs)
    total = kwargs["total_steps"]
    steps = sorted(set(range(0, total + 30, max(1, total // 100))) | {total - 1, total})
    rates, momenta = _one_cycle_reference(
        steps,
        kwargs["max_learning_rate"],
        total,
        kwargs.get("start_learning_rate"),
        kwargs.get("last_learning_rate"),
        kwargs.get("max_momentum"),
        kwargs.get("min_momentum"),
    )
    assert_allclose([schedule(s) for s in steps], rates, rtol=1e-6)
    if momenta is None:
        assert schedule.momentum(5) is None
        assert math.isnan(core_schedule(schedule).momentum(5))
    else:
        assert_allclose([schedule.momentum(s) for s in steps], momenta, rtol=1e-6)


# T = 100: tail 11, h = 44; start 0.1, last 1e-4. The peak at 44, back at 0.1 at 88, 1e-4 at
# 100 and after.
def test_one_cycle_peaks_and_ends_where_the_book_puts_them():
    schedule = schedules.OneCycle(1.0, 100, max_momentum=0.95, min_momentum=0.85)
    assert [float(schedule(s)) for s in (0, 44, 88, 100, 500)] == pytest.approx(
        [0.1, 1.0, 0.1, 1e-4, 1e-4]
    )
    assert [float(schedule.momentum(s)) for s in (0, 44, 88, 100)] == pytest.approx(
        [0.95, 0.85, 0.95, 0.95]
    )


# T = 2: tail 1, h = 0, only the tail: 0.1 → 1e-4 over two steps, (0.1 + 1e-4) / 2 between.
def test_one_cycle_of_two_steps_is_only_the_tail():
    schedule = schedules.OneCycle(1.0, 2)
    assert [float(schedule(s)) for s in (0, 1, 2)] == pytest.approx([0.1, 0.05005, 1e-4])


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        (
            "ExponentialDecay",
            {"decay_steps": 0},
            "decay_steps must be > 0. Received: decay_steps=0",
        ),
        ("ExponentialDecay", {"decay_steps": -3}, "decay_steps must be > 0"),
        ("ExponentialDecay", {"initial_learning_rate": math.nan}, "initial_learning_rate must be"),
        ("ExponentialDecay", {"initial_learning_rate": -0.1}, "initial_learning_rate must be >= 0"),
        ("ExponentialDecay", {"decay_rate": math.inf}, "decay_rate must be a finite number"),
        ("ExponentialDecay", {"decay_rate": True}, "decay_rate must be a finite number"),
        ("ExponentialDecay", {"staircase": "yes"}, "staircase must be True or False"),
        ("ExponentialDecay", {"name": 3}, "name must be a string"),
        ("InverseTimeDecay", {"decay_rate": -1.0}, "decay_rate must be >= 0"),
        ("InverseTimeDecay", {"decay_steps": 10**400}, "decay_steps must be a finite number"),
        ("PolynomialDecay", {"power": -1.0}, "power must be >= 0"),
        ("PolynomialDecay", {"cycle": 1}, "cycle must be True or False"),
        ("PolynomialDecay", {"end_learning_rate": -0.01}, "end_learning_rate must be >= 0"),
        ("PiecewiseConstantDecay", {"values": [1.0, 0.5]}, "values must have one more entry"),
        ("PiecewiseConstantDecay", {"boundaries": [20, 10]}, "boundaries must be strictly"),
        ("PiecewiseConstantDecay", {"boundaries": [1.5, 10]}, r"boundaries\[0\] must be a whole"),
        ("PiecewiseConstantDecay", {"values": [1.0, math.nan, 0.1]}, r"values\[1\] must be"),
        ("PiecewiseConstantDecay", {"boundaries": "10"}, "boundaries must be a list"),
        ("PiecewiseConstantDecay", {"boundaries": []}, "boundaries must have at least one"),
        ("CosineDecay", {"alpha": 2.0}, "alpha must be between 0 and 1"),
        ("CosineDecay", {"decay_steps": 0}, "decay_steps must be > 0"),
        ("CosineDecay", {"warmup_steps": -1}, "warmup_steps must be >= 0"),
        ("CosineDecay", {"warmup_target": math.nan}, "warmup_target must be a finite number"),
        ("CosineDecayRestarts", {"first_decay_steps": 0}, "first_decay_steps must be > 0"),
        ("CosineDecayRestarts", {"t_mul": 0.5}, "t_mul must be >= 1"),
        ("CosineDecayRestarts", {"m_mul": -1.0}, "m_mul must be >= 0"),
        ("OneCycle", {"total_steps": 0}, "total_steps must be >= 1"),
        ("OneCycle", {"total_steps": 10.5}, "total_steps must be a whole number"),
        ("OneCycle", {"max_learning_rate": math.inf}, "max_learning_rate must be a finite"),
        ("OneCycle", {"max_momentum": 0.9}, "max_momentum and min_momentum are given together"),
        ("OneCycle", {"start_learning_rate": 0.2}, "start_learning_rate must be <= max_learning"),
        (
            "OneCycle",
            {"max_momentum": 0.85, "min_momentum": 0.95},
            "min_momentum must be <= max_momentum",
        ),
        ("OneCycle", {"max_momentum": 1.5, "min_momentum": 0.5}, "max_momentum must be between"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_schedule_and_argument(name, kwargs, message):
    valid = {
        "ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
        "InverseTimeDecay": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5},
        "PolynomialDecay": {"initial_learning_rate": 0.1, "decay_steps": 10},
        "PiecewiseConstantDecay": {"boundaries": [10, 20], "values": [1.0, 0.5, 0.1]},
        "CosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 10},
        "CosineDecayRestarts": {"initial_learning_rate": 0.1, "first_decay_steps": 10},
        "OneCycle": {"max_learning_rate": 0.1, "total_steps": 100},
    }[name]
    with pytest.raises(ValueError, match=f"{name}: {message}"):
        getattr(schedules, name)(**{**valid, **kwargs})


@pytest.mark.parametrize("step", [-1, 2.5, True, math.nan, "3", 2**63])
def test_a_step_that_is_not_a_whole_number_from_0_is_refused(step):
    with pytest.raises(ValueError, match="ExponentialDecay: step must be a whole number >= 0"):
        schedules.ExponentialDecay(0.1, 10, 0.5)(step)


def test_whole_steps_of_any_integer_type_are_accepted():
    schedule = schedules.ExponentialDecay(0.1, 10, 0.5)
    assert schedule(np.int64(20)) == schedule(20.0) == schedule(np.array(20)) == np.float32(0.025)


def test_arguments_read_as_attributes_and_cannot_be_changed():
    schedule = schedules.ExponentialDecay(0.1, 10, 0.5)
    assert schedule.initial_learning_rate == 0.1 and schedule.staircase is False
    with pytest.raises(AttributeError, match="initial_learning_rate is fixed"):
        schedule.initial_learning_rate = 0.2
    assert schedule(0) == np.float32(0.1)


def test_the_config_keeps_its_own_copy_of_the_lists():
    boundaries, values = [10, 20], [1.0, 0.5, 0.1]
    schedule = schedules.PiecewiseConstantDecay(boundaries, values)
    boundaries.append(30)
    schedule.get_config()["values"].append(0.01)
    assert schedule.get_config() == {
        "boundaries": [10, 20],
        "values": [1.0, 0.5, 0.1],
        "name": "PiecewiseConstant",
    }


@pytest.mark.parametrize(
    "copy_of", [copy.copy, copy.deepcopy, lambda s: pickle.loads(pickle.dumps(s))]
)
def test_a_schedule_copies_and_pickles_with_its_config(copy_of):
    schedule = schedules.CosineDecay(0.1, 20, alpha=0.1, warmup_target=0.2, warmup_steps=5)
    again = copy_of(schedule)
    assert again is not schedule and again._schedule is not schedule._schedule
    assert again.get_config() == schedule.get_config()
    assert [again(s) for s in range(30)] == [schedule(s) for s in range(30)]


class _Halving(schedules.LearningRateSchedule):
    def __init__(self, initial_learning_rate, every):
        self.initial_learning_rate = initial_learning_rate
        self.every = every

    def __call__(self, step):
        return self.initial_learning_rate * 0.5 ** (step // self.every)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "every": self.every}


class _ScheduleFailed(Exception):
    pass


class _Failing(schedules.LearningRateSchedule):
    def __call__(self, step):
        raise _ScheduleFailed(f"no rate at step {step}")


# 0.1 · 0.5^⌊250/100⌋ = 0.1 · 0.25 = 0.025.
def test_a_user_schedule_is_called_back_by_the_core():
    core = core_schedule(_Halving(0.1, every=100))
    assert isinstance(core, _core.schedules.CallbackSchedule)
    assert core.learning_rate(250) == pytest.approx(0.025)
    assert math.isnan(core.momentum(250))
    assert core_schedule(lambda step: 1.0 / (step + 1)).learning_rate(3) == 0.25


# The core's learning_rate runs without the GIL, as inside a training step; the callback takes
# it back, from several threads at once here.
def test_a_user_schedule_is_called_back_from_threads_without_the_gil():
    core = core_schedule(_Halving(0.1, every=10))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        rates = list(pool.map(core.learning_rate, range(400)))
    assert rates == [0.1 * 0.5 ** (step // 10) for step in range(400)]


def test_an_exception_in_a_user_schedule_surfaces_from_the_core():
    core = core_schedule(_Failing())
    with pytest.raises(_ScheduleFailed, match="no rate at step 7"):
        core.learning_rate(7)


def test_a_user_schedule_returning_nan_or_a_negative_rate_is_refused_by_the_core():
    with pytest.raises(ValueError, match="CallbackSchedule: the schedule returned nan at step 2"):
        core_schedule(lambda step: math.nan).learning_rate(2)
    with pytest.raises(ValueError, match="returned -0.5 at step 0"):
        core_schedule(lambda step: -0.5).learning_rate(0)


def test_a_builtin_gives_the_core_its_own_twin_unless_a_subclass_overrides_call():
    schedule = schedules.ExponentialDecay(0.1, 10, 0.5)
    core = core_schedule(schedule)
    assert isinstance(core, _core.schedules.ExponentialDecay)
    assert core.learning_rate(5) == pytest.approx(0.1 * 0.5**0.5, rel=1e-15)

    class Doubled(schedules.ExponentialDecay):
        def __call__(self, step):
            return 2 * super().__call__(step)

    assert core_schedule(Doubled(0.1, 10, 0.5)).learning_rate(10) == pytest.approx(0.1)
    with pytest.raises(ValueError, match="must be a LearningRateSchedule or a callable"):
        core_schedule(0.1)


def test_a_keras_schedule_is_called_back_too(keras_schedules):
    theirs = keras_schedules.ExponentialDecay(0.1, 10, 0.5)
    assert core_schedule(theirs).learning_rate(20) == pytest.approx(0.025, rel=1e-6)


def test_a_user_schedule_serializes_with_its_class_and_needs_custom_objects():
    config = schedules.serialize(_Halving(0.1, every=100))
    assert config == {
        "module": __name__,
        "class_name": "_Halving",
        "config": {"initial_learning_rate": 0.1, "every": 100},
        "registered_name": "_Halving",
    }
    again = schedules.deserialize(config, custom_objects={"_Halving": _Halving})
    assert again(250) == pytest.approx(0.025)
    with pytest.raises(ValueError, match="Unknown learning rate schedule: '_Halving'"):
        schedules.deserialize(config)


def test_the_base_class_asks_for_call_and_get_config():
    with pytest.raises(NotImplementedError, match="must override `__call__"):
        schedules.LearningRateSchedule()(0)
    with pytest.raises(NotImplementedError, match="must override `get_config"):
        schedules.LearningRateSchedule().get_config()


def test_get_resolves_none_schedules_dicts_and_callables():
    schedule = schedules.CosineDecay(0.1, 10)
    assert schedules.get(None) is None
    assert schedules.get(schedule) is schedule
    assert schedules.get(schedules.serialize(schedule)).get_config() == schedule.get_config()

    def halve(step):
        return 0.1 * 0.5**step

    assert schedules.get(halve) is halve
    with pytest.raises(ValueError, match="Could not interpret learning rate schedule"):
        schedules.get("CosineDecay")
    with pytest.raises(ValueError, match="Unknown learning rate schedule: 'NoSuchDecay'"):
        schedules.deserialize({"class_name": "NoSuchDecay", "config": {}})
    with pytest.raises(ValueError, match="Can only serialize LearningRateSchedule"):
        schedules.serialize(halve)


def test_every_core_schedule_binding_has_a_docstring():
    signature = re.compile(r"^(\d+\. )?\w+\(")  # pybind11's generated signature lines
    for name, cls in vars(_core.schedules).items():
        if name.startswith("_"):
            continue
        assert (cls.__doc__ or "").strip(), name
        for method in ("__init__", "learning_rate", "momentum"):
            if method in vars(cls):
                lines = (getattr(cls, method).__doc__ or "").splitlines()
                described = [line for line in lines if line.strip() and not signature.match(line)]
                assert described, f"{name}.{method} has only its signature"
