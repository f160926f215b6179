"""One training step of a whole Sequential model against a float64 NumPy re-implementation.

The network Dense(7, tanh) -> Dense(5, relu) -> Dense(3, output) on 4 features, batch 6, starts
from fixed weights; after `train_on_batch` (or `fit`) its weights must equal the reference step's
(reference.training_step: forward, loss, chain-rule backward, Keras 3 clipping, Keras 3 SGD).
"""

import numpy as np
import pytest
import reference as ref

import densekit
from densekit import layers, losses, optimizers

BATCH, FEATURES, CLASSES = 6, 4, 3
LEARNING_RATE = 0.1
# Active for every loss below (each test asserts it): the largest unclipped gradient entry of
# the gentlest loss (binary CE) is ~0.24, its largest per-variable norm ~0.31, its joint norm ~0.54.
CLIPVALUE, CLIPNORM, GLOBAL_CLIPNORM = 0.1, 0.2, 0.4
# The problem is drawn from its own seed, not the shared `rng` fixture: the clip values above and
# the distance of the relu pre-activations from 0 were checked for this draw.
PROBLEM_SEED = 20240521

# (id, loss passed to compile, loss name for the reference, from_logits, output activation)
LOSS_CASES = [
    (
        "sparse-softmax",
        "sparse_categorical_crossentropy",
        "sparse_categorical_crossentropy",
        False,
        "softmax",
    ),
    ("categorical-logits", "categorical_from_logits", "categorical_crossentropy", True, "linear"),
    ("binary-sigmoid", "binary_crossentropy", "binary_crossentropy", False, "sigmoid"),
    ("mse-linear", "mse", "mean_squared_error", False, "linear"),
]

# (id, SGD keywords, number of train_on_batch steps)
OPTIMIZER_CASES = [
    ("plain", {}, 1),
    ("momentum", {"momentum": 0.9}, 2),
    ("nesterov", {"momentum": 0.9, "nesterov": True}, 2),
    ("clipvalue", {"clipvalue": CLIPVALUE}, 1),
    ("clipnorm", {"clipnorm": CLIPNORM}, 1),
    ("global_clipnorm", {"global_clipnorm": GLOBAL_CLIPNORM}, 1),
]


def compile_loss(key):
    if key == "categorical_from_logits":
        return losses.CategoricalCrossentropy(from_logits=True)
    return key


def make_problem(loss_name, batch=BATCH):
    """Float32 weights, x and y; the reference works on exactly these values in float64."""
    rng = np.random.default_rng(PROBLEM_SEED)
    weights = []
    for fan_in, units in ((FEATURES, 7), (7, 5), (5, CLASSES)):
        weights.append(rng.normal(0.0, 0.8, size=(fan_in, units)).astype(np.float32))
        weights.append(rng.normal(0.0, 0.3, size=units).astype(np.float32))
    x = rng.normal(size=(batch, FEATURES)).astype(np.float32)
    labels = rng.integers(0, CLASSES, size=batch)
    if loss_name == "sparse_categorical_crossentropy":
        y = labels
    elif loss_name == "categorical_crossentropy":
        y = ref.one_hot(labels, CLASSES).astype(np.float32)
    elif loss_name == "binary_crossentropy":
        y = rng.integers(0, 2, size=(batch, CLASSES)).astype(np.float32)
    else:
        y = rng.normal(size=(batch, CLASSES)).astype(np.float32)
    # The relu layer's pre-activations stay clear of the kink, so float32 and float64 agree on
    # which units are active.
    hidden = np.tanh(x.astype(np.float64) @ weights[0] + weights[1])
    assert np.abs(hidden @ weights[2] + weights[3]).min() > 1e-3
    return weights, x, y


def build_model(weights, output, loss_key, sgd_kwargs):
    model = densekit.Sequential(
        [
            layers.Input(shape=(FEATURES,)),
            layers.Dense(7, activation="tanh"),
            layers.Dense(5, activation="relu"),
            layers.Dense(CLASSES, activation=output),
        ]
    )
    model.set_weights(weights)
    model.compile(
        optimizer=optimizers.SGD(learning_rate=LEARNING_RATE, **sgd_kwargs),
        loss=compile_loss(loss_key),
    )
    return model


def assert_clipping_is_active(grads, sgd_kwargs):
    """The unclipped gradients exceed the clip, so a step that ignored it would differ."""
    if "clipvalue" in sgd_kwargs:
        assert max(np.abs(g).max() for g in grads) > sgd_kwargs["clipvalue"]
    if "clipnorm" in sgd_kwargs:
        assert max(np.sqrt((g**2).sum()) for g in grads) > sgd_kwargs["clipnorm"]
    if "global_clipnorm" in sgd_kwargs:
        assert ref.global_norm(grads) > sgd_kwargs["global_clipnorm"]


def reference_steps(weights, x, y, loss_name, from_logits, output, sgd_kwargs, steps, batches=None):
    """`steps` reference steps (on `batches`, a list of row slices, or the whole batch each time).

    Returns the losses before each step and the final float64 weights.
    """
    activations = ["tanh", "relu", output]
    current = [w.astype(np.float64) for w in weights]
    slots = [np.zeros_like(w) for w in current]
    values = []
    for step in range(steps):
        rows = batches[step] if batches else slice(None)
        value, current, slots = ref.training_step(
            current,
            slots,
            activations,
            x[rows],
            y[rows],
            loss_name,
            from_logits,
            learning_rate=LEARNING_RATE,
            **sgd_kwargs,
        )
        values.append(value)
    return values, current


@pytest.mark.parametrize("opt_case", OPTIMIZER_CASES, ids=[c[0] for c in OPTIMIZER_CASES])
@pytest.mark.parametrize("loss_case", LOSS_CASES, ids=[c[0] for c in LOSS_CASES])
def test_train_on_batch_matches_reference_step(loss_case, opt_case):
    _, loss_key, loss_name, from_logits, output = loss_case
    _, sgd_kwargs, steps = opt_case
    weights, x, y = make_problem(loss_name)
    _, _, grads = ref.mlp_loss_and_gradients(
        [w.astype(np.float64) for w in weights],
        ["tanh", "relu", output],
        x,
        y,
        loss_name,
        from_logits,
    )
    assert_clipping_is_active(grads, sgd_kwargs)

    model = build_model(weights, output, loss_key, sgd_kwargs)
    got_losses = [model.train_on_batch(x, y) for _ in range(steps)]

    want_losses, want = reference_steps(
        weights, x, y, loss_name, from_logits, output, sgd_kwargs, steps
    )
    np.testing.assert_allclose(got_losses, want_losses, rtol=1e-5)
    got = model.get_weights()
    assert [w.shape for w in got] == [w.shape for w in want]
    for i, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7, err_msg=f"weight {i}")
    # The step moved every variable, so matching the reference is not matching the start.
    for g, w0 in zip(got, weights):
        assert not np.allclose(g, w0, rtol=1e-5, atol=1e-7)


def test_layer_variables_hold_the_reference_step_weights():
    # The variables are views of the C++ memory, as get_weights is: compare them with the
    # independent reference step, not with get_weights (the same memory, equal by construction).
    loss_name, sgd_kwargs = "sparse_categorical_crossentropy", {"momentum": 0.9}
    weights, x, y = make_problem(loss_name)
    model = build_model(weights, "softmax", loss_name, sgd_kwargs)
    model.train_on_batch(x, y)
    _, want = reference_steps(weights, x, y, loss_name, False, "softmax", sgd_kwargs, 1)
    variables = [np.asarray(v) for layer in model.layers for v in layer.variables]
    assert [v.shape for v in variables] == [w.shape for w in want]
    for i, (v, w, w0) in enumerate(zip(variables, want, weights)):
        np.testing.assert_allclose(v, w, rtol=1e-5, atol=1e-7, err_msg=f"variable {i}")
        assert not np.allclose(v, w0, rtol=1e-5, atol=1e-7)  # the step moved it


@pytest.mark.parametrize("batch_size", [BATCH, BATCH // 2], ids=["one-batch", "two-batches"])
def test_fit_one_epoch_matches_reference_steps(batch_size):
    loss_name, output = "sparse_categorical_crossentropy", "softmax"
    sgd_kwargs = {"momentum": 0.9, "nesterov": True}
    weights, x, y = make_problem(loss_name)
    model = build_model(weights, output, loss_name, sgd_kwargs)
    model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)

    # shuffle=False: the batches are the rows in order.
    batches = [slice(start, start + batch_size) for start in range(0, BATCH, batch_size)]
    _, want = reference_steps(
        weights, x, y, loss_name, False, output, sgd_kwargs, len(batches), batches
    )
    for i, (g, w) in enumerate(zip(model.get_weights(), want)):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7, err_msg=f"weight {i}")
