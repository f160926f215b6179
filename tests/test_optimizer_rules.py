"""Every optimizer and base option against the float64 oracle of tests/reference.py.

One `Dense(3)` layer with `loss="mse"` has a gradient the oracle computes exactly from its own
float64 weights: with e = x·W + b − y over n rows and u units, dW = 2/(n·u)·xᵀe and db the column
sums of 2/(n·u)·e. densekit (float32) and the oracle (float64) take the same batches; after 20
steps the weights and every optimizer variable (names, order and values) agree to 1e-4 relative.
"""

import math

import numpy as np
import pytest
import reference as ref
from numpy.testing import assert_allclose, assert_array_equal

import densekit

pytestmark = pytest.mark.usefixtures("one_thread")

IN, UNITS, BATCH, BATCHES, STEPS = 5, 3, 8, 4, 20
FLOAT32_MAX = float(np.finfo(np.float32).max)
TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}  # float32 against float64 after 20 steps


@pytest.fixture
def data(rng):
    """Initial weights and BATCHES fixed (x, y) batches, cycled through by the steps."""
    init = [
        rng.normal(0, 0.5, (IN, UNITS)).astype(np.float32),
        rng.normal(0, 0.1, UNITS).astype(np.float32),
    ]
    x = rng.normal(0, 1, (BATCHES, BATCH, IN)).astype(np.float32)
    y = rng.normal(0, 1, (BATCHES, BATCH, UNITS)).astype(np.float32)
    return init, x, y


def _model(init, optimizer):
    model = densekit.Sequential([densekit.Input((IN,)), densekit.layers.Dense(UNITS)])
    model.set_weights(init)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def _gradients(weights, x, y):
    return ref.mlp_loss_and_gradients(weights, ["linear"], x, y, "mean_squared_error")[2]


class Pair:
    """The same optimizer in densekit (on a model) and in the oracle (on float64 weights)."""

    def __init__(self, name, config, init, exclude_names=None):
        self.optimizer = getattr(densekit.optimizers, name)(**config)
        if exclude_names:
            self.optimizer.exclude_from_weight_decay(var_names=exclude_names)
        self.model = _model(init, self.optimizer)
        self.paths = [v.path for v in self.model.trainable_variables]  # "dense_3/kernel", ...
        excluded = [
            p for p in self.paths if any(n in p.split("/")[-1] for n in exclude_names or [])
        ]
        self.oracle = ref.OptimizerOracle(name, self.paths, init, excluded, **config)
        self.weights = [np.asarray(w, dtype=np.float64) for w in init]

    def step(self, x, y):
        self.model.train_on_batch(x, y)
        self.weights = self.oracle.apply(self.weights, _gradients(self.weights, x, y))

    def train(self, x, y, steps=STEPS):
        for s in range(steps):
            self.step(x[s % len(x)], y[s % len(y)])
        return self

    def assert_agree(self):
        for ours, expected, path in zip(
            self.model.get_weights(), self.weights, self.paths, strict=True
        ):
            assert_allclose(ours, expected, err_msg=path, **TOLERANCE)
        self.assert_variables_agree()

    def assert_variables_agree(self):
        ours = self.optimizer.variables
        expected = self.oracle.variables()
        assert [v.name for v in ours] == [name for name, _ in expected]
        for variable, (name, value) in zip(ours, expected):
            assert variable.path == f"{self.optimizer.name}/{name}"
            assert variable.shape == np.shape(value), name
            assert_allclose(variable.numpy(), value, err_msg=name, **TOLERANCE)

    def state(self):
        """A copy of everything a step may change."""
        return (
            self.model.get_weights(),
            [v.numpy() for v in self.optimizer.variables],
            int(self.optimizer.iterations),
        )


def _assert_same_state(before, after):
    weights, variables, iterations = after
    for a, b in zip(weights, before[0], strict=True):
        assert_array_equal(a, b)
    for a, b in zip(variables, before[1], strict=True):
        assert_array_equal(a, b)
    assert iterations == before[2]


RULES = [
    ("SGD", {"learning_rate": 0.1}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("Adagrad", {"learning_rate": 0.1}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 1e-3}),
    ("RMSprop", {"learning_rate": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5}),
    ("RMSprop", {"learning_rate": 0.01, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.3, "centered": True, "rho": 0.8}),
    ("Adam", {"learning_rate": 0.02}),
    ("Adam", {"learning_rate": 0.02, "amsgrad": True, "beta_1": 0.8, "beta_2": 0.99}),
    ("AdamW", {"learning_rate": 0.02}),
    ("AdamW", {"learning_rate": 0.02, "weight_decay": 0.2, "amsgrad": True}),
    ("Adamax", {"learning_rate": 0.02}),
    ("Adamax", {"learning_rate": 0.02, "beta_1": 0.7, "beta_2": 0.9, "epsilon": 1e-3}),
    ("Nadam", {"learning_rate": 0.02}),
    ("Nadam", {"learning_rate": 0.02, "beta_1": 0.95, "beta_2": 0.99}),
    ("Lion", {"learning_rate": 0.005}),
    ("Lion", {"learning_rate": 0.005, "beta_1": 0.95, "beta_2": 0.98}),
]


def _ids(cases):
    return [f"{name}-{i}" for i, (name, _) in enumerate(cases)]


@pytest.mark.parametrize("name,config", RULES, ids=_ids(RULES))
def test_update_rule_matches_the_float64_oracle(data, name, config):
    pair = Pair(name, config, data[0]).train(*data[1:])
    pair.assert_agree()
    assert int(pair.optimizer.iterations) == STEPS


OPTIONS = [
    ("Adam", {"learning_rate": 0.02, "weight_decay": 0.1}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "weight_decay": 0.5}),
    ("SGD", {"learning_rate": 0.1, "clipnorm": 0.1}),
    ("RMSprop", {"learning_rate": 0.01, "clipvalue": 0.05}),
    ("Adam", {"learning_rate": 0.02, "clipvalue": 0.02}),
    ("Nadam", {"learning_rate": 0.02, "global_clipnorm": 0.1}),
    ("SGD", {"learning_rate": 0.1, "global_clipnorm": 0.2}),
    ("Adam", {"learning_rate": 0.02, "use_ema": True}),
    ("Adagrad", {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.7}),
    (
        "SGD",
        {
            "learning_rate": 0.1,
            "momentum": 0.9,
            "use_ema": True,
            "ema_momentum": 0.8,
            "ema_overwrite_frequency": 3,
        },
    ),
    ("Adam", {"learning_rate": 0.02, "gradient_accumulation_steps": 3}),
    ("Nadam", {"learning_rate": 0.02, "gradient_accumulation_steps": 2}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "gradient_accumulation_steps": 4}),
    # combinations
    ("AdamW", {"learning_rate": 0.02, "weight_decay": 0.1, "clipnorm": 0.05, "use_ema": True}),
    (
        "RMSprop",
        {
            "learning_rate": 0.01,
            "centered": True,
            "momentum": 0.5,
            "clipvalue": 0.1,
            "gradient_accumulation_steps": 2,
        },
    ),
    (
        "Lion",
        {
            "learning_rate": 0.005,
            "weight_decay": 0.5,
            "use_ema": True,
            "gradient_accumulation_steps": 2,
            "ema_overwrite_frequency": 3,
        },
    ),
    (
        "Adagrad",
        {
            "learning_rate": 0.1,
            "gradient_accumulation_steps": 4,
            "global_clipnorm": 0.2,
            "weight_decay": 0.1,
            "use_ema": True,
            "ema_momentum": 0.5,
        },
    ),
    (
        "Adamax",
        {
            "learning_rate": 0.02,
            "clipnorm": 0.1,
            "use_ema": True,
            "ema_overwrite_frequency": 1,
            "ema_momentum": 0.5,
        },
    ),
]


@pytest.mark.parametrize("name,config", OPTIONS, ids=_ids(OPTIONS))
def test_base_options_match_the_float64_oracle(data, name, config):
    pair = Pair(name, config, data[0]).train(*data[1:])
    pair.assert_agree()
    # The options matter on this data: without them the oracle ends elsewhere.
    rule_only = {k: v for k, v in config.items() if k in ref.OPTIMIZER_DEFAULTS[name]}
    if name == "AdamW":
        rule_only["weight_decay"] = 0.0
    plain = Pair(name, rule_only, data[0]).train(*data[1:])
    # EMA without overwrites leaves the weights alone: its averages differ from them instead.
    outcome = pair.weights + (pair.oracle.average or [])
    plain_outcome = plain.weights + (plain.weights if pair.oracle.average else [])
    assert not all(
        np.allclose(a, b, rtol=10 * TOLERANCE["rtol"]) for a, b in zip(outcome, plain_outcome)
    )


@pytest.mark.parametrize("accumulation", [None, 2, 3])
def test_iterations_count_the_updates(data, accumulation):
    # 7 calls: 7 updates, or 7 // k with gradient accumulation (Keras's `iterations`); the saved
    # `iteration` variable counts the calls.
    pair = Pair("Adam", {"gradient_accumulation_steps": accumulation}, data[0])
    pair.train(*data[1:], steps=7)
    assert int(pair.optimizer.iterations) == (7 // accumulation if accumulation else 7)
    assert int(pair.optimizer.variables[0].numpy()) == 7
    pair.assert_agree()


ALL = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("Adagrad", {}),
    ("RMSprop", {"momentum": 0.5, "centered": True}),
    ("Adam", {"amsgrad": True}),
    ("AdamW", {}),  # weight_decay 0.004: the decay factor 1 − wd·lr is 1
    ("Adamax", {}),
    ("Nadam", {}),
    ("Lion", {}),
]


@pytest.mark.parametrize("name,config", ALL, ids=_ids(ALL))
def test_zero_learning_rate_leaves_the_weights_unchanged(data, name, config):
    init = data[0]
    pair = Pair(name, {**config, "learning_rate": 0.0}, init).train(*data[1:], steps=5)
    for ours, before in zip(pair.model.get_weights(), init, strict=True):
        assert_array_equal(ours, before)
    # The slots still move, as in Keras (Adam's moments, Adagrad's sums, ...).
    pair.assert_variables_agree()
    assert int(pair.optimizer.iterations) == 5


NONFINITE = ALL + [
    ("Adam", {"gradient_accumulation_steps": 2}),  # the bad step is an update
    ("Lion", {"gradient_accumulation_steps": 3}),  # the bad step only accumulates
    ("SGD", {"momentum": 0.9, "use_ema": True, "ema_overwrite_frequency": 2}),
    ("Nadam", {"weight_decay": 0.1, "clipnorm": 1.0}),
]


@pytest.mark.parametrize("name,config", NONFINITE, ids=_ids(NONFINITE))
def test_a_nonfinite_gradient_changes_nothing(data, name, config):
    init, x, y = data
    pair = Pair(name, {"learning_rate": 0.01, **config}, init).train(x, y, steps=3)
    before = pair.state()
    # A finite input whose gradient overflows float32: e ≈ 1e30·W, dW ≈ xᵀe ≈ 1e60.
    big = x[0].copy()
    big[0, 0] = 1e30
    assert np.max(np.abs(_gradients(pair.weights, big, y[0])[0])) > FLOAT32_MAX
    assert not math.isfinite(pair.model.train_on_batch(big, y[0]))
    _assert_same_state(before, pair.state())
    # An input holding inf, through fit: training stops at that step.
    bad = x[0].copy()
    bad[1, 2] = np.inf
    history = pair.model.fit(bad, y[0], batch_size=BATCH, verbose=0, allow_nonfinite=True)
    assert history.stopped_on_nonfinite == {"epoch": 0, "step": 0}
    if pair.optimizer.use_ema:  # as Keras, the end of fit puts the averages in the weights
        names = [v.name for v in pair.optimizer.variables]
        averages = [before[1][names.index(f"{p.replace('/', '_')}_average")] for p in pair.paths]
        before = (averages, *before[1:])
        pair.weights = [a.copy() for a in pair.oracle.average]
    _assert_same_state(before, pair.state())
    # Nothing hidden moved either: the next steps are the oracle's, which never saw those batches.
    pair.train(x, y, steps=4)
    pair.assert_agree()


OVERFLOW = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("Adagrad", {"initial_accumulator_value": 0.0}),
    ("RMSprop", {"centered": True}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True, "gradient_accumulation_steps": 2}),
    ("AdamW", {}),
    ("Adamax", {}),
    ("Nadam", {}),
    ("Lion", {"use_ema": True}),
]


@pytest.mark.parametrize("name,config", OVERFLOW, ids=_ids(OVERFLOW))
def test_an_update_that_overflows_float32_is_refused(rng, name, config):
    # Finite data, loss and gradients, and a learning rate of 3e38: W[0, 0] = 1e38 sees inputs of
    # 1e-20 and targets of 3e18, so its gradient is about -0.01 and every rule steps it up by
    # about lr (more for SGD, whose other gradients are ~1e18): past float32's 3.4e38.
    init = [rng.normal(0, 0.5, (IN, UNITS)).astype(np.float32), np.zeros(UNITS, np.float32)]
    init[0][0, 0] = 1e38
    x = rng.normal(0, 1, (BATCH, IN)).astype(np.float32)
    x[:, 0] = 1e-20
    y = rng.normal(0, 1, (BATCH, UNITS)).astype(np.float32)
    y[:, 0] = 3e18
    pair = Pair(name, {"learning_rate": 3e38, **config}, init)
    accumulation = config.get("gradient_accumulation_steps") or 1
    for _ in range(accumulation - 1):  # steps that only accumulate are finite and taken
        pair.step(x, y)
    pair.assert_variables_agree()
    before = pair.state()
    loss, _, grads = ref.mlp_loss_and_gradients(
        pair.weights, ["linear"], x, y, "mean_squared_error"
    )
    assert loss < FLOAT32_MAX and max(np.abs(g).max() for g in grads) < FLOAT32_MAX
    expected = pair.oracle.apply(pair.weights, grads)
    assert max(np.abs(w).max() for w in expected) > FLOAT32_MAX  # Keras would store inf
    pair.model.train_on_batch(x, y)
    _assert_same_state(before, pair.state())


CLIPS = [
    ("SGD", {"clipnorm": 1.0}),
    ("SGD", {"momentum": 0.9, "global_clipnorm": 1.0}),
    ("Adam", {"clipnorm": 1.0}),
    ("RMSprop", {"global_clipnorm": 0.5}),
    ("Lion", {"clipvalue": 1.0}),
]


@pytest.mark.parametrize("name,config", CLIPS, ids=_ids(CLIPS))
def test_clipping_a_gradient_whose_squared_norm_overflows_float32_follows_the_formula(
    rng, name, config
):
    # Inputs of 1e20 against weights of 1e-20 in the first column: the loss is ordinary, the
    # first kernel row's gradient is ~1e20, finite in float32, but its square is not. Clipped by
    # its norm it is small, and the step is the float64 oracle's. (Keras's float32 norm is inf
    # there: clipnorm would zero the gradient, global_clipnorm make it NaN.)
    init = [rng.normal(0, 0.5, (IN, UNITS)).astype(np.float32), np.zeros(UNITS, np.float32)]
    init[0][0, :] = 1e-20
    x = rng.normal(0, 1, (BATCH, IN)).astype(np.float32)
    x[:, 0] = 1e20
    y = rng.normal(0, 1, (BATCH, UNITS)).astype(np.float32)
    grads = _gradients(init, x, y)
    assert FLOAT32_MAX > np.abs(grads[0]).max() > math.sqrt(FLOAT32_MAX)
    pair = Pair(name, {"learning_rate": 0.1, **config}, init)
    pair.step(x, y)
    assert int(pair.optimizer.iterations) == 1
    pair.assert_agree()


def test_a_learning_rate_set_between_steps_applies_from_the_next_step(data):
    init, x, y = data
    pair = Pair("AdamW", {"learning_rate": 0.02, "weight_decay": 0.5}, init).train(x, y, steps=5)
    pair.optimizer.learning_rate = 0.005
    pair.oracle.c["learning_rate"] = 0.005
    pair.train(x, y, steps=5)
    pair.optimizer.learning_rate.assign(0.04)
    pair.oracle.c["learning_rate"] = 0.04
    pair.train(x, y, steps=5)
    pair.assert_agree()


def test_weight_decay_leaves_the_excluded_variables_alone(data):
    # var_names match the variable's name ("bias"), as Keras's re.search does.
    init, x, y = data
    pair = Pair("SGD", {"learning_rate": 0.1, "weight_decay": 0.9}, init, exclude_names=["bias"])
    pair.train(x, y, steps=5)
    pair.assert_agree()
    # The bias decayed would have ended elsewhere.
    decayed = Pair("SGD", {"learning_rate": 0.1, "weight_decay": 0.9}, init).train(x, y, steps=5)
    assert not np.allclose(decayed.weights[1], pair.weights[1], rtol=1e-3)


def test_a_fit_whose_first_step_is_refused_keeps_the_weights_under_ema(data):
    # The averages are still their zeros: putting them in the weights would erase the model.
    init, x, y = data
    pair = Pair("Adam", {"learning_rate": 0.01, "use_ema": True}, init)
    before = [w.copy() for w in pair.model.get_weights()]
    bad = x[0].copy()
    bad[0, 0] = np.inf
    history = pair.model.fit(bad, y[0], batch_size=BATCH, verbose=0, allow_nonfinite=True)
    assert history.stopped_on_nonfinite == {"epoch": 0, "step": 0}
    for a, b in zip(pair.model.get_weights(), before):
        np.testing.assert_array_equal(a, b)
