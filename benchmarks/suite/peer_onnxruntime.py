"""onnxruntime (CPU provider) as an inference peer: the bn model's inference graph written with
onnx.helper from the weights of a densekit model, run by an InferenceSession with the same thread
count. It measures `predict` and one-sample latency only (workloads.runs_on).

The graph is the model as it is: BatchNormalization (epsilon 1e-3, the moving statistics),
MatMul, Add for a bias, Relu / Elu / Softmax; onnxruntime's own graph optimizations (all levels)
fold what they can. Each Predictor checks that its outputs equal densekit's within 1e-5 before it
is timed.
"""

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from suite import peer_densekit
from suite.workloads import FEATURES, MODELS

__all__ = ["Predictor", "graph", "load", "set_threads"]

_THREADS = [1]
_OPS = {"relu": "Relu", "elu": "Elu", "softmax": "Softmax"}
TOLERANCE = 1e-5


def load(threads):
    """Keeps the thread count for the sessions; returns the version string."""
    _THREADS[0] = threads
    return ort.__version__


def set_threads(threads):
    raise ValueError("onnxruntime peer: measures inference at the run's thread count only")


def graph(model, weights):
    """The ONNX model of `model`'s inference from Keras-ordered `weights` (get_weights())."""
    weights = list(weights)[::-1]
    nodes, initializers, name, width = [], [], "x", FEATURES

    def constant(tag, value):
        initializers.append(numpy_helper.from_array(np.asarray(value, np.float32), tag))
        return tag

    def node(op, inputs, **attributes):
        out = f"{op.lower()}{len(nodes)}"
        nodes.append(helper.make_node(op, inputs, [out], **attributes))
        return out

    for i, layer in enumerate(MODELS[model].layers):
        if layer.kind == "batch_norm":
            gamma, beta, mean, var = (weights.pop() for _ in range(4))
            names = [constant(f"bn{i}_{k}", v) for k, v in zip("gbmv", (gamma, beta, mean, var))]
            name = node("BatchNormalization", [name, *names], epsilon=1e-3)
        elif layer.kind == "dense":
            name = node("MatMul", [name, constant(f"w{i}", weights.pop())])
            if layer.use_bias:
                name = node("Add", [name, constant(f"b{i}", weights.pop())])
            width = layer.units
        if layer.kind in ("dense", "activation") and layer.activation in _OPS:
            attributes = {"axis": -1} if layer.activation == "softmax" else {}
            name = node(_OPS[layer.activation], [name], **attributes)
    nodes[-1].output[0] = "y"
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", FEATURES])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", width])]
    onnx_model = helper.make_model(
        helper.make_graph(nodes, model, inputs, outputs, initializers),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    onnx.checker.check_model(onnx_model)
    return onnx_model


def session(onnx_model, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(
        onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def randomized(keras_model, seed=0):
    """Moves the batch norms' parameters and statistics away from 1 and 0, so that a graph that
    dropped or misordered one of them would not agree with densekit by chance."""
    rng = np.random.default_rng(seed)
    weights = keras_model.get_weights()
    for layer in keras_model.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [
                    rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32),
                    rng.uniform(-0.5, 0.5, beta.shape).astype(np.float32),
                    rng.uniform(-0.5, 0.5, mean.shape).astype(np.float32),
                    rng.uniform(0.5, 2.0, var.shape).astype(np.float32),
                ]
            )
    return weights


class Predictor:
    """The model as an onnxruntime session, built from a densekit model's weights and checked
    against that model's predictions."""

    def __init__(self, model, seed=0):
        reference = peer_densekit.build(model)
        randomized(reference, seed)
        self.session = session(graph(model, reference.get_weights()), _THREADS[0])
        x = np.random.default_rng(seed).random((300, FEATURES), dtype=np.float32)
        expected = reference.predict(x, verbose=0)
        worst = max(
            float(np.max(np.abs(self.predict(x, 32) - expected))),
            float(np.max(np.abs(self.one(x[:1]) - expected[:1]))),
        )
        if worst > TOLERANCE:
            raise ValueError(
                f"onnxruntime peer: the {model} graph's outputs differ from densekit's by "
                f"{worst:.3g}; expected at most {TOLERANCE:g}"
            )

    def predict(self, x, batch):
        run = self.session.run
        return np.concatenate(
            [run(None, {"x": x[i : i + batch]})[0] for i in range(0, len(x), batch)]
        )

    def one(self, x):
        return self.session.run(None, {"x": x})[0]
