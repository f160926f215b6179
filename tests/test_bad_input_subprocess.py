"""Bad input never crashes the process: it raises the expected exception with a clear message.

tests/test_bad_input.py checks the messages of the public API in-process; a segfault or an abort
there would take pytest down with it. Here every case runs in a child interpreter, so a crash
shows up as a negative return code instead. One child runs the whole table, each case in a
try/except, and prints one JSON line per case ("start" before it, the outcome after); if the
child dies or hangs, every case it did not finish is rerun in a child of its own, which names the
crashing case. A case: (id, call, expected exception type, regex its message must match).

Besides the public API the table feeds bad arrays straight to `densekit._core.kernels`, the C++
layers and `_core.Network`, whose checks are the last line before Eigen touches memory.
"""

import json
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pytest

import densekit
from densekit import _core

K = _core.kernels
L = densekit.layers
OPT = densekit.optimizers
NAN, INF = float("nan"), float("inf")
F32 = np.float32

_BATCH_TIMEOUT = 240  # seconds for the child that runs the whole table (the machine is loaded)
_CASE_TIMEOUT = 60


# -- builders used by the cases ----------------------------------------------------------------


def _x(rows=6, cols=3):
    return np.random.default_rng(0).normal(size=(rows, cols)).astype(F32)


def _y(rows=6, classes=3):
    return np.arange(rows) % classes


def _model(loss="sparse_categorical_crossentropy", out=3, compiled=True, features=3):
    model = densekit.Sequential(
        [
            L.Dense(4, activation="relu", input_shape=(features,)),
            L.Dense(out, activation="softmax" if "categorical" in loss else None),
        ]
    )
    if compiled:
        model.compile(optimizer="sgd", loss=loss)
    return model


def _unbuilt_compiled():
    model = densekit.Sequential([L.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _sgd_settings(momentum=0.0, clip=None):
    settings = _core.OptimizerSettings()
    settings.rule.momentum = momentum
    if clip is not None:
        settings.clip = clip
    return settings


def _spec(name="relu"):
    return K.ActivationSpec(name)


def _core_dense(inputs=3, units=2, activation="relu"):
    return _core.layers.Dense(inputs, units, _spec(activation), True)


def _network(compiled=True, loss="mean_squared_error", out=2):
    net = _core.Network([_core_dense(3, 4), _core_dense(4, out, "linear")], 3)
    if compiled:
        net.compile(
            K.LossSpec(loss),
            _core.Optimizer(_core.OptimizerSettings(), 0.01),
            _core.AccuracyKind.none,
        )
    return net


def _order(n=6):
    return np.arange(n, dtype=np.int64)


def _read_only(shape=(2, 3)):
    a = np.zeros(shape, F32)
    a.flags.writeable = False
    return a


def _fit(model, x, y, **kwargs):
    return model.fit(x, y, verbose=0, **kwargs)


def _layer_built_for(features):
    layer = L.Dense(2)
    layer(np.ones((1, features), F32))
    return layer


def _raise_zero_division(totals):
    raise ZeroDivisionError("progress callback failed")


def _epoch_with_progress(progress):
    net = _network()
    # batch_size 1 and progress_seconds 0: the callback runs after the first step
    return net.train_epoch(_x(), np.zeros((6, 2), F32), _order(), 1, progress, 0.0)


STRINGS = np.array([["a", "b", "c"]] * 6)
OBJECTS = np.array([[1.0, None, 3.0]] * 6, dtype=object)

CASES = [
    # -- public API: ranks and shapes ---------------------------------------------------------
    (
        "fit x rank 1 on an unbuilt model",
        lambda: _fit(_unbuilt_compiled(), np.ones(3), np.ones(3)),
        ValueError,
        r"x must have shape \(samples, features\.\.\.\); got \(3,\)",
    ),
    (
        "predict x rank 1 unbuilt",
        lambda: densekit.Sequential([L.Dense(2)]).predict(np.ones(4), verbose=0),
        ValueError,
        r"built model or x of shape \(samples, features",
    ),
    (
        "x rank 3 into Dense without Flatten",
        lambda: densekit.Sequential([L.Dense(2)]).predict(np.ones((2, 3, 4), F32), verbose=0),
        ValueError,
        r"Flatten",
    ),
    (
        "x rank 4 with the wrong sample size",
        lambda: _model().predict(np.ones((2, 2, 2, 2)), verbose=0),
        ValueError,
        r"sample shape \(2, 2, 2\).*expects \(3,\)",
    ),
    (
        "x with zero features on an unbuilt model",
        lambda: densekit.Sequential([L.Dense(2)]).predict(np.ones((5, 0), F32), verbose=0),
        ValueError,
        r"units must be >= 1",
    ),
    (
        "y with fewer samples than x",
        lambda: _fit(_model(), _x(6), _y(5)),
        ValueError,
        r"x has 6, y has 5",
    ),
    ("y empty", lambda: _fit(_model(), _x(6), np.zeros(0)), ValueError, r"x has 6, y has 0"),
    (
        "x and y empty",
        lambda: _fit(_model(), np.zeros((0, 3), F32), np.zeros(0)),
        ValueError,
        r"x is empty",
    ),
    (
        "y rank 3 for mse",
        lambda: _fit(_model("mse"), _x(), np.zeros((6, 2, 2))),
        ValueError,
        r"y has 4 values per sample.*outputs 3",
    ),
    # -- batch_size, epochs -------------------------------------------------------------------
    (
        "fit batch_size 0",
        lambda: _fit(_model(), _x(), _y(), batch_size=0),
        ValueError,
        r"batch_size must be a positive integer",
    ),
    (
        "predict batch_size negative",
        lambda: _model().predict(_x(), batch_size=-3, verbose=0),
        ValueError,
        r"batch_size=-3",
    ),
    (
        "evaluate batch_size bool",
        lambda: _model().evaluate(_x(), _y(), batch_size=True, verbose=0),
        ValueError,
        r"batch_size=True",
    ),
    (
        "fit batch_size numpy float",
        lambda: _fit(_model(), _x(), _y(), batch_size=np.float32(4)),
        ValueError,
        r"batch_size must be a positive integer",
    ),
    ("epochs negative", lambda: _fit(_model(), _x(), _y(), epochs=-2), ValueError, r"epochs=-2"),
    (
        "initial_epoch negative",
        lambda: _fit(_model(), _x(), _y(), initial_epoch=-1),
        ValueError,
        r"initial_epoch=-1",
    ),
    # -- labels -------------------------------------------------------------------------------
    (
        "label 2**40",
        lambda: _fit(_model(), _x(), np.array([0, 1, 2, 2**40, 0, 1])),
        ValueError,
        r"\[0, 3\).*1099511627776",
    ),
    (
        "negative int8 label",
        lambda: _fit(_model(), _x(), np.array([0, 1, -5, 0, 1, 2], np.int8)),
        ValueError,
        r"found label -5",
    ),
    (
        "float label 0.5",
        lambda: _fit(_model(), _x(), np.array([0, 0.5, 1, 2, 0, 1])),
        ValueError,
        r"non-integer",
    ),
    (
        "Inf label",
        lambda: _model().evaluate(_x(), np.array([0, 1, INF, 2, 0, 1]), verbose=0),
        ValueError,
        r"non-integer",
    ),
    # -- dtypes -------------------------------------------------------------------------------
    (
        "string x to evaluate",
        lambda: _model().evaluate(STRINGS, _y(), verbose=0),
        ValueError,
        r"numeric array.*<U1",
    ),
    (
        "object x with None to train_on_batch",
        lambda: _model().train_on_batch(OBJECTS, _y()),
        ValueError,
        r"numeric array.*object",
    ),
    (
        "complex y to evaluate",
        lambda: _model("mse").evaluate(_x(), np.zeros((6, 3), complex), verbose=0),
        ValueError,
        r"real numeric.*complex128",
    ),
    (
        "ragged nested lists",
        lambda: _model().predict([[1.0, 2.0, 3.0], [1.0]], verbose=0),
        ValueError,
        r"inhomogeneous|sequence",
    ),
    # -- non-finite data ----------------------------------------------------------------------
    (
        "NaN in x for evaluate",
        lambda: _model().evaluate(np.where(np.eye(6, 3) > 0, NAN, _x()), _y(), verbose=0),
        ValueError,
        r"x contains NaN or Inf.*sample 0",
    ),
    (
        "Inf in y for evaluate",
        lambda: _model("mse").evaluate(_x(), np.full((6, 3), INF), verbose=0),
        ValueError,
        r"y contains NaN or Inf",
    ),
    (
        "-Inf in x for test_on_batch",
        lambda: _model().test_on_batch(np.full((6, 3), -INF, F32), _y()),
        ValueError,
        r"NaN or Inf",
    ),
    # -- unknown names ------------------------------------------------------------------------
    (
        "unknown activation",
        lambda: L.Dense(2, activation="rleu"),
        ValueError,
        r"Unknown activation.*rleu",
    ),
    ("unknown loss", lambda: _model().compile(loss="hinge_loss"), ValueError, r"hinge_loss"),
    (
        "unknown optimizer",
        lambda: _model().compile(optimizer="ftrl", loss="mse"),
        ValueError,
        r"optimizer.*ftrl",
    ),
    ("unknown initializer", lambda: L.Dense(2, bias_initializer="zeroes"), ValueError, r"zeroes"),
    (
        "unknown layer class",
        lambda: L.deserialize({"class_name": "Conv2D", "config": {}}),
        ValueError,
        r"Unknown layer type.*Conv2D",
    ),
    # -- layer stacks -------------------------------------------------------------------------
    (
        "layer built for 4 inputs after Dense(5)",
        lambda: densekit.Sequential([L.Dense(5, input_shape=(3,)), _layer_built_for(4)]),
        ValueError,
        r"built for inputs of shape \(None, 4\).*\(None, 5\)",
    ),
    (
        "InputLayer after a layer",
        lambda: densekit.Sequential([L.Dense(2), L.InputLayer(input_shape=(3,))]),
        ValueError,
        r"InputLayer must come first",
    ),
    (
        "BatchNormalization on 3-D input",
        lambda: densekit.Sequential([L.BatchNormalization(input_shape=(2, 3))]),
        ValueError,
        r"Flatten",
    ),
    ("Dense(-1)", lambda: L.Dense(-1), ValueError, r"units=-1"),
    ("Dense(np.int64(0))", lambda: L.Dense(np.int64(0)), ValueError, r"units=(np\.int64\()?0"),
    ("input_shape negative", lambda: L.Dense(2, input_shape=(-3,)), ValueError, r"input_shape"),
    # -- optimizer and layer hyperparameters --------------------------------------------------
    ("momentum -0.5", lambda: OPT.SGD(momentum=-0.5), ValueError, r"momentum=-0.5"),
    ("momentum Inf", lambda: OPT.SGD(momentum=INF), ValueError, r"momentum=inf"),
    (
        "learning rate -1e-3",
        lambda: OPT.SGD(learning_rate=-1e-3),
        ValueError,
        r"learning_rate=-0.001",
    ),
    ("learning rate None", lambda: OPT.SGD(learning_rate=None), ValueError, r"learning_rate=None"),
    ("clipnorm 0", lambda: OPT.SGD(clipnorm=0.0), ValueError, r"clipnorm=0.0"),
    ("clipvalue NaN", lambda: OPT.SGD(clipvalue=NAN), ValueError, r"clipvalue=nan"),
    (
        "BatchNormalization momentum negative",
        lambda: L.BatchNormalization(momentum=-0.1),
        ValueError,
        r"momentum=-0.1",
    ),
    (
        "BatchNormalization epsilon negative",
        lambda: L.BatchNormalization(epsilon=-1e-3),
        ValueError,
        r"epsilon",
    ),
    ("RReLU lower > upper", lambda: L.RReLU(lower=0.5, upper=0.1), ValueError, r"upper"),
    ("RReLU negative seed", lambda: L.RReLU(seed=-1), ValueError, r"seed=-1"),
    ("LeakyReLU slope NaN", lambda: L.LeakyReLU(negative_slope=NAN), ValueError, r"negative_slope"),
    ("PReLU shared_axes", lambda: L.PReLU(shared_axes=[1]), ValueError, r"shared_axes"),
    # -- calls out of order -------------------------------------------------------------------
    (
        "fit before compile",
        lambda: _fit(_model(compiled=False), _x(), _y()),
        ValueError,
        r"compile\(\) before fit",
    ),
    (
        "evaluate before compile",
        lambda: _model(compiled=False).evaluate(_x(), _y(), verbose=0),
        ValueError,
        r"compile\(\) before evaluate",
    ),
    (
        "count_params before build",
        lambda: densekit.Sequential([L.Dense(2)]).count_params(),
        ValueError,
        r"built",
    ),
    (
        "layer count_params before build",
        lambda: L.Dense(2).count_params(),
        ValueError,
        r"isn't built",
    ),
    (
        "layer output_shape before build",
        lambda: L.Dense(2).output_shape,
        AttributeError,
        r"not built",
    ),
    (
        "get_layer of an unknown name",
        lambda: _model().get_layer("dense_99"),
        ValueError,
        r"No such layer: dense_99",
    ),
    # -- _core.kernels ------------------------------------------------------------------------
    (
        "kernel dense_forward x 3-D",
        lambda: K.dense_forward(np.ones((2, 3, 1), F32), np.ones((3, 2), F32), np.zeros(2, F32)),
        ValueError,
        r"dense_forward: x must be a 2-D array.*3-D",
    ),
    (
        "kernel dense_forward x/w mismatch",
        lambda: K.dense_forward(np.ones((2, 4), F32), np.ones((3, 2), F32), np.zeros(2, F32)),
        ValueError,
        r"dense_forward: w must have shape \(4, any\); got \(3, 2\)",
    ),
    (
        "kernel dense_forward b 2-D",
        lambda: K.dense_forward(np.ones((2, 3), F32), np.ones((3, 2), F32), np.zeros((1, 2), F32)),
        ValueError,
        r"b must be a 1-D array",
    ),
    (
        "kernel dense_forward b too long",
        lambda: K.dense_forward(np.ones((2, 3), F32), np.ones((3, 2), F32), np.zeros(5, F32)),
        ValueError,
        r"b must have shape \(1, 2\); got \(1, 5\)",
    ),
    (
        "kernel dense_backward_data mismatch",
        lambda: K.dense_backward_data(np.ones((2, 5), F32), np.ones((3, 2), F32)),
        ValueError,
        r"dense_backward_data: w must have shape \(any, 5\)",
    ),
    (
        "kernel dense_backward_weights rows",
        lambda: K.dense_backward_weights(np.ones((2, 3), F32), np.ones((4, 2), F32)),
        ValueError,
        r"dense_backward_weights: dy must have shape \(2, any\)",
    ),
    (
        "kernel unknown activation",
        lambda: K.ActivationSpec("relu6"),
        ValueError,
        r"unknown activation.*relu6",
    ),
    (
        "kernel activation_backward y shape",
        lambda: K.activation_backward(
            _spec("tanh"), np.ones((2, 3), F32), np.ones((2, 4), F32), np.ones((2, 3), F32)
        ),
        ValueError,
        r"activation_backward: y must have shape \(2, 3\)",
    ),
    (
        "kernel softmax backward dy shape",
        lambda: K.activation_backward(
            _spec("softmax"), np.ones((2, 3), F32), np.ones((2, 3), F32), np.ones((3, 3), F32)
        ),
        ValueError,
        r"dy must have shape \(2, 3\)",
    ),
    (
        "kernel prelu_forward alpha length",
        lambda: K.prelu_forward(np.ones((2, 3), F32), np.ones(4, F32)),
        ValueError,
        r"prelu_forward: alpha must have shape \(1, 3\)",
    ),
    (
        "kernel prelu_backward dy shape",
        lambda: K.prelu_backward(np.ones((2, 3), F32), np.ones(3, F32), np.ones((5, 3), F32)),
        ValueError,
        r"prelu_backward: dy must have shape \(2, 3\)",
    ),
    (
        "kernel rrelu_forward lower > upper",
        lambda: K.rrelu_forward(np.ones((2, 3), F32), 0.5, 0.1, True),
        ValueError,
        r"lower <= upper",
    ),
    (
        "kernel rrelu_forward NaN bound in inference",
        lambda: K.rrelu_forward(np.ones((2, 3), F32), NAN, 0.1, False),
        ValueError,
        r"finite",
    ),
    (
        "kernel rrelu_forward negative seed",
        lambda: K.rrelu_forward(np.ones((2, 3), F32), 0.1, 0.3, True, -1),
        TypeError,
        r"incompatible function arguments",
    ),
    (
        "kernel rrelu_backward slopes shape",
        lambda: K.rrelu_backward(np.ones((2, 3), F32), np.ones((2, 2), F32), np.ones((2, 3), F32)),
        ValueError,
        r"rrelu_backward: slopes must have shape \(2, 3\)",
    ),
    (
        "kernel batch norm training on 0 rows",
        lambda: K.batch_norm_forward_training(
            np.zeros((0, 3), F32), np.ones(3, F32), np.zeros(3, F32), 1e-3
        ),
        ValueError,
        r"batch_norm_forward_training: x must have at least one row",
    ),
    (
        "kernel batch norm training gamma length",
        lambda: K.batch_norm_forward_training(
            np.ones((2, 3), F32), np.ones(2, F32), np.zeros(3, F32), 1e-3
        ),
        ValueError,
        r"gamma must have shape \(1, 3\); got \(1, 2\)",
    ),
    (
        "kernel batch norm update moving float64",
        lambda: K.batch_norm_update_moving(
            np.zeros(3), np.ones(3), np.zeros(3, F32), np.ones(3, F32), 0.9
        ),
        ValueError,
        r"moving_mean must be a writable C-contiguous float32 array",
    ),
    (
        "kernel batch norm update moving read-only",
        lambda: K.batch_norm_update_moving(
            _read_only((3,)), np.ones(3, F32), np.zeros(3, F32), np.ones(3, F32), 0.9
        ),
        ValueError,
        r"writable",
    ),
    (
        "kernel batch norm update moving lengths",
        lambda: K.batch_norm_update_moving(
            np.zeros(3, F32), np.ones(4, F32), np.zeros(3, F32), np.ones(3, F32), 0.9
        ),
        ValueError,
        r"moving_var must have shape \(1, 3\); got \(1, 4\)",
    ),
    (
        "kernel batch norm update moving 2-D",
        lambda: K.batch_norm_update_moving(
            np.zeros((2, 3), F32), np.ones((2, 3), F32), np.zeros(3, F32), np.ones(3, F32), 0.9
        ),
        ValueError,
        r"moving statistics must be 1-D",
    ),
    (
        "kernel batch norm inference moving_var length",
        lambda: K.batch_norm_forward_inference(
            np.ones((2, 3), F32),
            np.ones(3, F32),
            np.zeros(3, F32),
            np.zeros(3, F32),
            np.ones(7, F32),
            1e-3,
        ),
        ValueError,
        r"moving_var must have shape \(1, 3\)",
    ),
    (
        "kernel batch norm backward training dy",
        lambda: K.batch_norm_backward_training(
            np.ones((2, 3), F32), np.ones((3, 3), F32), np.ones(3, F32), np.ones(3, F32)
        ),
        ValueError,
        r"dy must have shape \(2, 3\)",
    ),
    (
        "kernel batch norm backward inference dy",
        lambda: K.batch_norm_backward_inference(
            np.ones((2, 3), F32),
            np.ones((2, 4), F32),
            np.ones(3, F32),
            np.zeros(3, F32),
            np.ones(3, F32),
            1e-3,
        ),
        ValueError,
        r"dy must have shape \(2, 3\)",
    ),
    ("kernel unknown loss", lambda: K.LossSpec("hinge"), ValueError, r"Unknown loss.*hinge"),
    (
        "kernel loss target shape",
        lambda: K.loss_value(K.LossSpec("mse"), np.ones((2, 3), F32), np.ones((2, 2), F32)),
        ValueError,
        r"loss_value: target must have shape \(2, 3\)",
    ),
    (
        "kernel loss on an empty batch",
        lambda: K.loss_value(K.LossSpec("mse"), np.ones((0, 3), F32), np.ones((0, 3), F32)),
        ValueError,
        r"the batch is empty",
    ),
    (
        "kernel sparse loss with zero classes",
        lambda: K.loss_value(
            K.LossSpec("sparse_categorical_crossentropy", from_logits=True),
            np.ones((2, 0), F32),
            np.zeros((2, 1), F32),
        ),
        ValueError,
        r"loss_value",
    ),
    (
        "kernel accuracy with zero classes",
        lambda: K.accuracy_sum(
            K.LossSpec("sparse_categorical_crossentropy"),
            np.ones((2, 0), F32),
            np.zeros((2, 1), F32),
        ),
        ValueError,
        r"accuracy_sum",
    ),
    (
        "kernel sparse labels out of range",
        lambda: K.check_sparse_labels(np.array([[0], [3]], F32), 3),
        ValueError,
        r"integers in \[0, 3\); row 1",
    ),
    (
        "kernel sparse labels NaN",
        lambda: K.check_sparse_labels(np.array([[NAN]], F32), 3),
        ValueError,
        r"row 0",
    ),
    (
        "kernel clip_by_value negative",
        lambda: K.clip_by_value(np.ones((2, 2), F32), -1.0),
        ValueError,
        r"clip_value must be >= 0",
    ),
    (
        "kernel clip_by_value float64 in place",
        lambda: K.clip_by_value(np.ones((2, 2)), 1.0),
        ValueError,
        r"g must be a writable C-contiguous float32 array",
    ),
    (
        "kernel clip_by_norm non-contiguous",
        lambda: K.clip_by_norm(np.ones((4, 4), F32)[:, ::2], 1.0),
        ValueError,
        r"C-contiguous",
    ),
    (
        "kernel clip_by_norm NaN",
        lambda: K.clip_by_norm(np.ones((2, 2), F32), NAN),
        ValueError,
        r"clip_norm must be > 0",
    ),
    (
        "kernel clip_by_global_norm 3-D",
        lambda: K.clip_by_global_norm([np.ones((2, 2, 2), F32)], 1.0),
        ValueError,
        r"must be 1-D or 2-D; got 3-D",
    ),
    (
        "kernel clip_by_global_norm int array",
        lambda: K.clip_by_global_norm([np.ones(3, np.int32)], 1.0),
        ValueError,
        r"float32",
    ),
    (
        "kernel sgd_update g shape",
        lambda: K.sgd_update(
            np.ones((2, 3), F32), np.ones((3, 2), F32), np.zeros((2, 3), F32), 0.1
        ),
        ValueError,
        r"sgd_update: g must have shape \(2, 3\)",
    ),
    (
        "kernel sgd_update momentum slot shape",
        lambda: K.sgd_update(
            np.ones((2, 3), F32), np.ones((2, 3), F32), np.zeros((1, 1), F32), 0.1, 0.9
        ),
        ValueError,
        r"sgd_update: m must have shape \(2, 3\)",
    ),
    (
        "kernel sgd_update w read-only",
        lambda: K.sgd_update(_read_only(), np.ones((2, 3), F32), np.zeros((2, 3), F32), 0.1),
        ValueError,
        r"writable",
    ),
    (
        "kernel strings",
        lambda: K.activation_forward(_spec(), np.array([["a", "b"]])),
        ValueError,
        r"arrays of real numbers; got dtype <U1",
    ),
    (
        "kernel object array with None",
        lambda: K.dense_forward(
            np.array([[1.0, None, 3.0]], dtype=object), np.ones((3, 2), F32), np.zeros(2, F32)
        ),
        ValueError,
        r"arrays of real numbers; got dtype object",
    ),
    (
        "kernel complex array",
        lambda: K.activation_forward(_spec(), np.ones((2, 3), np.complex64)),
        ValueError,
        r"arrays of real numbers; got dtype complex64",
    ),
    ("set_num_threads 0", lambda: densekit.set_num_threads(0), ValueError, r"n must be >= 1"),
    ("set_num_threads negative", lambda: densekit.set_num_threads(-2), ValueError, r"n=-2"),
    # -- _core layers and Network -------------------------------------------------------------
    (
        "core Dense 0 inputs",
        lambda: _core_dense(0, 3),
        ValueError,
        r"units must be >= 1; got input 0",
    ),
    ("core Dense negative units", lambda: _core_dense(3, -4), ValueError, r"output -4"),
    (
        "core BatchNormalization epsilon",
        lambda: _core.layers.BatchNormalization(3, 0.9, -1.0, True, True),
        ValueError,
        r"epsilon must be >= 0",
    ),
    (
        "core RReLU bounds",
        lambda: _core.layers.RReLU(3, 0.5, 0.1, 0),
        ValueError,
        r"lower must be <= upper",
    ),
    (
        "core SGD momentum 2",
        lambda: _core.Optimizer(_sgd_settings(momentum=2.0), 0.1),
        ValueError,
        r"momentum must be in \[0, 1\]",
    ),
    (
        "core SGD two clips",
        lambda: _core.Optimizer(_sgd_settings(clip=_core.ClipSpec(clipvalue=1, clipnorm=1)), 0.1),
        ValueError,
        r"only one of",
    ),
    (
        "core Layer.forward wrong width",
        lambda: _core_dense(3, 2).forward(np.ones((2, 5), F32)),
        ValueError,
        r"dense_forward: w must have shape \(5, any\)",
    ),
    (
        "core PReLU forward wrong width",
        lambda: _core.layers.PReLU(3).forward(np.ones((2, 4), F32)),
        ValueError,
        r"alpha must have shape \(1, 4\)",
    ),
    (
        "core BatchNormalization forward 3-D",
        lambda: _core.layers.BatchNormalization(3, 0.9, 1e-3, True, True).forward(
            np.ones((2, 3, 1), F32)
        ),
        ValueError,
        r"2-D",
    ),
    (
        "core Network layer chain mismatch",
        lambda: _core.Network([_core_dense(3, 4), _core_dense(5, 2)], 3),
        ValueError,
        r"layer 1 \(.*\) expects 5 input units but receives 4",
    ),
    (
        "core Network input_units mismatch",
        lambda: _core.Network([_core_dense(3, 4)], 7),
        ValueError,
        r"layer 0 .* expects 3 input units but receives 7",
    ),
    ("core Network None layer", lambda: _core.Network([None], 3), ValueError, r"layer 0 is null"),
    (
        "core Network non-layer",
        lambda: _core.Network(["dense"], 3),
        TypeError,
        r"incompatible constructor arguments",
    ),
    (
        "core Network negative input_units",
        lambda: _core.Network([], -1),
        ValueError,
        r"input_units",
    ),
    (
        "core Network compile without optimizer",
        lambda: _network(compiled=False).compile(K.LossSpec("mse"), None, _core.AccuracyKind.none),
        ValueError,
        r"optimizer is null",
    ),
    (
        "core train_step before compile",
        lambda: _network(compiled=False).train_step(_x(), np.zeros((6, 2), F32)),
        ValueError,
        r"train_step: the model must be compiled first",
    ),
    (
        "core train_epoch before compile",
        lambda: _network(compiled=False).train_epoch(_x(), np.zeros((6, 2), F32), _order(), 2),
        ValueError,
        r"train_epoch: the model must be compiled first",
    ),
    (
        "core evaluate before compile",
        lambda: _network(compiled=False).evaluate(_x(), np.zeros((6, 2), F32), 2),
        ValueError,
        r"evaluate: the model must be compiled first",
    ),
    (
        "core gradient_flow before compile",
        lambda: _network(compiled=False).gradient_flow(_x(), np.zeros((6, 2), F32)),
        ValueError,
        r"gradient_flow: the model must be compiled first",
    ),
    (
        "core predict wrong width",
        lambda: _network().predict(_x(6, 4), 2),
        ValueError,
        r"predict: x must have shape \(any, 3\); got \(6, 4\)",
    ),
    ("core predict 1-D", lambda: _network().predict(np.ones(3, F32), 2), ValueError, r"2-D array"),
    (
        "core predict batch_size 0",
        lambda: _network().predict(_x(), 0),
        ValueError,
        r"batch_size must be >= 1",
    ),
    (
        "core predict batch_size negative",
        lambda: _network().predict(_x(), -5),
        ValueError,
        r"batch_size must be >= 1",
    ),
    (
        "core train_step rows mismatch",
        lambda: _network().train_step(_x(6), np.zeros((5, 2), F32)),
        ValueError,
        r"train_step: y must have shape \(6, 2\); got \(5, 2\)",
    ),
    (
        "core train_step y too wide",
        lambda: _network().train_step(_x(), np.zeros((6, 9), F32)),
        ValueError,
        r"train_step: y must have shape \(6, 2\); got \(6, 9\)",
    ),
    # train_epoch gathers each batch's targets into a buffer as wide as the output before the loss
    # checks the width: y must be refused before that copy.
    (
        "core train_epoch y too wide",
        lambda: _network().train_epoch(_x(64), np.zeros((64, 500), F32), _order(64), 64),
        ValueError,
        r"train_epoch: y must have shape \(64, 2\)",
    ),
    (
        "core train_epoch y one column too wide",
        lambda: _network().train_epoch(_x(8), np.zeros((8, 3), F32), _order(8), 8),
        ValueError,
        r"train_epoch: y must have shape \(8, 2\)",
    ),
    (
        "core train_epoch order out of range",
        lambda: _network().train_epoch(_x(), np.zeros((6, 2), F32), np.array([0, 6]), 2),
        ValueError,
        r"row index out of range",
    ),
    (
        "core train_epoch negative row",
        lambda: _network().train_epoch(_x(), np.zeros((6, 2), F32), np.array([-1, 0]), 2),
        ValueError,
        r"row index out of range",
    ),
    (
        "core train_epoch batch_size 0",
        lambda: _network().train_epoch(_x(), np.zeros((6, 2), F32), _order(), 0),
        ValueError,
        r"batch_size must be >= 1",
    ),
    (
        "core evaluate y too narrow",
        lambda: _network().evaluate(_x(), np.zeros((6, 1), F32), 2),
        ValueError,
        r"evaluate: y must have shape \(6, 2\); got \(6, 1\)",
    ),
    (
        "core evaluate batch_size 0",
        lambda: _network().evaluate(_x(), np.zeros((6, 2), F32), 0),
        ValueError,
        r"batch_size must be >= 1",
    ),
    (
        "core set_monitor_every negative",
        lambda: _network().set_monitor_every(-1),
        ValueError,
        r"every must be >= 0",
    ),
    (
        "core progress callback raises",
        lambda: _epoch_with_progress(_raise_zero_division),
        ZeroDivisionError,
        r"progress callback failed",
    ),
    (
        "core progress callback returns a string",
        lambda: _epoch_with_progress(lambda totals: "yes"),
        RuntimeError,
        r"cast",
    ),
]


# -- the child process ----------------------------------------------------------------------------


def _outcome(call, error, pattern):
    """Runs one case: "ok", or what went wrong. Warnings count as failures (pytest's policy)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = call()
        except Exception as e:  # noqa: BLE001 - every exception is an outcome to report
            got = f"{type(e).__name__}: {e}"
            if not isinstance(e, error):
                return f"expected {error.__name__}, got {got}"
            if not re.search(pattern, str(e)):
                return f"message does not match {pattern!r}: {got}"
            if caught:
                return f"warned {[str(w.message) for w in caught]} before raising {got}"
            return "ok"
    returned = " ".join(repr(result).split())[:200]
    return f"expected {error.__name__}, but the call returned {returned}" + (
        f" with warnings {[str(w.message) for w in caught]}" if caught else ""
    )


def _worker(ids):
    densekit.set_num_threads(1)
    table = {case[0]: case[1:] for case in CASES}
    for case_id in ids:
        print(json.dumps({"id": case_id, "phase": "start"}), flush=True)
        outcome = _outcome(*table[case_id])
        print(json.dumps({"id": case_id, "phase": "done", "outcome": outcome}), flush=True)


def _run_child(ids, timeout, table_source=None):
    """(outcomes by id, return code or None after a timeout, stderr) of one child on `ids`.

    table_source: Python source defining CASES to use instead of this module's (for testing the
    crash detector itself).
    """
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_bad_input_subprocess as t\n"
        "if sys.argv[2]:\n"
        "    ns = {}; exec(sys.argv[2], ns); t.CASES = ns['CASES']\n"
        "t._worker(sys.argv[3:])"
    )
    args = [
        sys.executable,
        "-c",
        code,
        os.path.dirname(os.path.abspath(__file__)),
        table_source or "",
        *ids,
    ]
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=os.environ)
        stdout, stderr, returncode = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as e:
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        stderr = e.stderr.decode() if isinstance(e.stderr, bytes) else (e.stderr or "")
        returncode = None
    outcomes = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record["phase"] == "done":
                outcomes[record["id"]] = record["outcome"]
    return outcomes, returncode, stderr


def _describe_death(returncode, stderr):
    if returncode is None:
        return "the child hung (timeout)"
    tail = stderr.strip().splitlines()[-3:]
    return f"the child died with return code {returncode}; stderr: {' | '.join(tail)}"


def _run_table(ids, table_source=None):
    """Runs the cases in one child; the cases it did not finish run again one child each."""
    results, returncode, _ = _run_child(ids, _BATCH_TIMEOUT, table_source)
    if returncode == 0 and len(results) == len(ids):
        return results
    unfinished = [i for i in ids if i not in results]
    for case_id in unfinished:
        alone, code, err = _run_child([case_id], _CASE_TIMEOUT, table_source)
        if code == 0 and case_id in alone:
            results[case_id] = alone[case_id]
        else:
            results[case_id] = f"CRASH: {_describe_death(code, err)}"
    if not any(results[i].startswith("CRASH") for i in unfinished):
        # The batch died but no unfinished case crashes alone: an earlier case corrupted memory
        # and the damage surfaced later. Run the finished ones alone too to name it.
        for case_id in ids:
            if case_id in unfinished:
                continue
            alone, code, err = _run_child([case_id], _CASE_TIMEOUT, table_source)
            if code != 0:
                results[case_id] = f"CRASH: {_describe_death(code, err)}"
    return results


@pytest.fixture(scope="module")
def outcomes():
    return _run_table([case[0] for case in CASES])


@pytest.mark.parametrize("case_id", [case[0] for case in CASES])
def test_bad_input_raises_without_crashing(outcomes, case_id):
    assert outcomes[case_id] == "ok", f"{case_id}: {outcomes[case_id]}"


def test_the_table_is_large_and_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40


def test_the_crash_detector_names_the_case_that_kills_the_child():
    # A case that kills its process with SIGSEGV comes out as a crash with the negative return
    # code, and the cases before and after it still get their own outcomes.
    table = (
        "import os, signal\n"
        "CASES = [('before', lambda: int('x'), ValueError, r'invalid literal'),\n"
        "         ('dies', lambda: os.kill(os.getpid(), signal.SIGSEGV), ValueError, r'.'),\n"
        "         ('after', lambda: [][1], IndexError, r'out of range'),\n"
        "         ('wrong type', lambda: [][1], KeyError, r'.')]\n"
    )
    results = _run_table(["before", "dies", "after", "wrong type"], table)
    assert results["before"] == "ok" and results["after"] == "ok"
    assert results["dies"].startswith("CRASH: the child died with return code -11"), results["dies"]
    assert results["wrong type"].startswith("expected KeyError, got IndexError"), results[
        "wrong type"
    ]
