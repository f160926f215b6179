"""Property tests over random layer stacks, batch and feature sizes and input magnitudes.

Hypothesis draws a stack of Dense (every Keras activation), Activation, the activation layers
(ReLU, LeakyReLU, ELU, ThresholdedReLU, Softmax), BatchNormalization, PReLU and RReLU layers, a batch size and a feature count (1 included) and inputs whose magnitudes
range from 1e-30 to 1e30 (all within float32). The properties:

- nothing crashes, and `model.predict` equals the layers' own forwards chained, bit for bit;
- finite inputs up to 1e3 with weights bounded by 1 give finite outputs (no `exponential`);
- one training step never leaves a non-finite weight: it is applied with finite results, or it is
  not applied and every weight is as it was.

Each test counts the examples it ran, prints the count and records it as a junit property
("hypothesis_examples"); run with -s (or -rP) to see them.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_array_equal

import densekit
from densekit import layers as L

ACTIVATIONS = [
    "elu",
    "exponential",
    "gelu",
    "hard_sigmoid",
    "leaky_relu",
    "linear",
    "relu",
    "selu",
    "sigmoid",
    "silu",
    "softmax",
    "softplus",
    "softsign",
    "swish",
    "tanh",
]
BOUNDED_ACTIVATIONS = [a for a in ACTIVATIONS if a != "exponential"]
ACTIVATION_LAYERS = [  # the activation layer classes, with their arguments
    ("ReLU", {}),
    ("ReLU", {"max_value": 6.0}),
    ("ReLU", {"negative_slope": 0.1, "threshold": 0.5}),
    ("ReLU", {"max_value": 2.0, "negative_slope": 0.2}),
    ("LeakyReLU", {}),
    ("LeakyReLU", {"negative_slope": 0.01}),
    ("ELU", {"alpha": 0.5}),
    ("ThresholdedReLU", {"theta": 0.3}),
    ("Softmax", {}),
]

# 4 properties x EXAMPLES examples take about 5 s on the loaded 2-core machine when they pass;
# a failure adds its shrinking (one bug reported per test keeps that to seconds).
EXAMPLES = 150
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow],
)


pytestmark = pytest.mark.usefixtures("one_thread")


# -- strategies ------------------------------------------------------------------------------------


def layer_specs(activations):
    """A layer as (kind, argument), built fresh per example by `make_layer`."""
    return st.one_of(
        st.tuples(st.just("dense"), st.tuples(st.integers(1, 8), st.sampled_from(activations))),
        st.tuples(st.just("activation"), st.sampled_from(activations)),
        st.tuples(st.just("activation_layer"), st.sampled_from(ACTIVATION_LAYERS)),
        st.tuples(st.just("batch_norm"), st.sampled_from([0.0, 0.5, 0.99])),
        st.tuples(st.just("prelu"), st.none()),
        st.tuples(st.just("rrelu"), st.integers(0, 2**32)),
    )


def make_layer(spec):
    kind, arg = spec
    if kind == "dense":
        return L.Dense(arg[0], activation=arg[1])
    if kind == "activation":
        return L.Activation(arg)
    if kind == "activation_layer":
        name, kwargs = arg
        return getattr(L, name)(**kwargs)
    if kind == "batch_norm":
        return L.BatchNormalization(momentum=arg)
    if kind == "prelu":
        return L.PReLU()
    return L.RReLU(seed=arg)


@st.composite
def inputs(draw, max_exponent=30, rows=None, features=None):
    """(batch, features) float32 with |x| log-uniform in [10^lo, 10^hi] ⊆ [1e-30, 1e30], random
    signs, and some exact zeros; sometimes constant columns (zero batch variance)."""
    rows = rows or draw(st.sampled_from([1, 1, 2, 3, 7, 16]))
    features = features or draw(st.sampled_from([1, 1, 2, 5, 8]))
    lo = draw(st.integers(-30, max_exponent))
    hi = draw(st.integers(lo, max_exponent))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = np.sign(rng.normal(size=(rows, features))) * 10.0 ** rng.uniform(
        lo, hi, size=(rows, features)
    )
    x[rng.random((rows, features)) < 0.1] = 0.0
    if draw(st.booleans()):
        x[:] = x[:1]  # every sample the same
    return x.astype(np.float32)


def build(specs, features, weight_seed=None):
    """A Sequential of `specs` for `features` inputs; trainable weights uniform in [-1, 1]."""
    model = densekit.Sequential(
        [L.InputLayer(input_shape=(features,))] + [make_layer(s) for s in specs]
    )
    if weight_seed is not None:
        rng = np.random.default_rng(weight_seed)
        for v in model.trainable_variables:
            v.assign(rng.uniform(-1, 1, size=v.shape))
    return model


def run_and_report(prop, record_property, name, count):
    """Runs the hypothesis property and records how many examples it ran, pass or fail."""
    try:
        prop()
    finally:
        record_property("hypothesis_examples", len(count))
        print(f"\n{name}: {len(count)} hypothesis examples")
    assert len(count) >= EXAMPLES // 2  # hypothesis did run the examples


# -- properties ------------------------------------------------------------------------------------


def test_predict_equals_the_chained_layer_forwards(record_property):
    count = []

    @SETTINGS
    @given(
        specs=st.lists(layer_specs(ACTIVATIONS), min_size=1, max_size=5),
        x=inputs(),
        weight_seed=st.one_of(st.none(), st.integers(0, 2**32 - 1)),
    )
    def prop(specs, x, weight_seed):
        count.append(1)
        model = build(specs, x.shape[1], weight_seed)
        got = model.predict(x, verbose=0)
        want = x
        for layer in model.layers:
            want = layer(want)
        assert got.shape == (x.shape[0], model.output_shape[-1])
        assert_array_equal(got, want)  # NaN where NaN: overflow is allowed here, not disagreement

    run_and_report(prop, record_property, "predict == chained forwards", count)


def test_bounded_weights_and_moderate_inputs_give_finite_outputs(record_property):
    count = []

    @SETTINGS
    @given(
        specs=st.lists(layer_specs(BOUNDED_ACTIVATIONS), min_size=1, max_size=5),
        x=inputs(max_exponent=3),
        weight_seed=st.integers(0, 2**32 - 1),
        training=st.booleans(),
    )
    def prop(specs, x, weight_seed, training):
        count.append(1)
        model = build(specs, x.shape[1], weight_seed)
        out = model(x, training=training)
        assert np.isfinite(out).all(), f"non-finite output for max |x| = {np.abs(x).max():g}"

    run_and_report(prop, record_property, "finite in, finite out", count)


def _compile_and_target(model, loss, rows, rng, learning_rate, clip):
    units = model.output_shape[-1]
    optimizer = densekit.optimizers.SGD(learning_rate=learning_rate, **clip)
    model.compile(optimizer=optimizer, loss=loss)
    if loss == "categorical_crossentropy":
        return np.eye(units, dtype=np.float32)[rng.integers(0, units, rows)]
    if loss == "binary_crossentropy":
        return rng.integers(0, 2, (rows, units)).astype(np.float32)
    return rng.normal(size=(rows, units)).astype(np.float32)


def test_one_training_step_never_leaves_nonfinite_weights(record_property):
    count = []

    @SETTINGS
    @given(
        specs=st.lists(layer_specs(ACTIVATIONS), min_size=1, max_size=4),
        x=inputs(),
        loss=st.sampled_from(["mse", "categorical_crossentropy", "binary_crossentropy"]),
        learning_rate=st.sampled_from([0.0, 0.01, 1.0, 1e6, 1e30]),
        clip=st.sampled_from([{}, {"clipnorm": 1.0}, {"clipvalue": 0.5}, {"global_clipnorm": 1.0}]),
        target_seed=st.integers(0, 2**32 - 1),
    )
    def prop(specs, x, loss, learning_rate, clip, target_seed):
        count.append(1)
        model = build(specs, x.shape[1])
        y = _compile_and_target(
            model, loss, x.shape[0], np.random.default_rng(target_seed), learning_rate, clip
        )
        before = model.get_weights()
        history = model.fit(x, y, batch_size=x.shape[0], epochs=1, verbose=0, shuffle=False)
        after = model.get_weights()
        names = [v.path for v in model.variables]
        if history.stopped_on_nonfinite is not None:
            assert history.stopped_on_nonfinite == {"epoch": 0, "step": 0}
            for name, a, b in zip(names, after, before):
                assert_array_equal(a, b, err_msg=f"{name} changed by a step that was not applied")
        else:
            for name, a in zip(names, after):
                assert np.isfinite(a).all(), f"{name} is not finite after an applied step"

    run_and_report(prop, record_property, "one step keeps weights finite", count)


def test_training_mode_forward_matches_between_predict_and_call(record_property):
    # training=True through the network and through the Python call: the same batch statistics
    # and the same RReLU draws (their generator advances per call, so compare two fresh copies).
    count = []

    @SETTINGS
    @given(
        specs=st.lists(layer_specs(ACTIVATIONS), min_size=1, max_size=4),
        x=inputs(max_exponent=6),
        weight_seed=st.integers(0, 2**32 - 1),
    )
    def prop(specs, x, weight_seed):
        count.append(1)
        first = build(specs, x.shape[1], weight_seed)
        second = build(specs, x.shape[1], weight_seed)
        second.set_weights(first.get_weights())
        got = first(x, training=True)
        want = x
        for layer in second.layers:
            want = layer(want, training=True)
        assert_array_equal(got, want)

    run_and_report(prop, record_property, "training forward: model == chained layers", count)
