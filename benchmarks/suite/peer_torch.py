"""PyTorch as a benchmark peer: eager mode on the CPU, the models and loop a PyTorch user writes,
matched to Keras where the defaults differ.

Matching Keras: BatchNorm1d(momentum=0.01, eps=1e-3) is Keras's BatchNormalization (PyTorch's
momentum is the weight of the new batch, Keras's that of the old average); the model ends in a
Softmax and the loss is the negative log of the probabilities clipped to [1e-7, 1 - 1e-7], as
Keras's sparse categorical cross-entropy on probabilities; clipvalue is clip_grad_value_ (the same
per element whether called once or per parameter) and clipnorm is clip_grad_norm_ per parameter,
as Keras clips each variable's gradient by its own norm.

Adam is torch.optim.Adam with Keras's defaults and foreach=True (one multi-tensor kernel per
operation over all parameters); the "torch-fused" peer (peer_torch_fused) runs fused=True instead.
PyTorch adds eps to the bias-corrected sqrt(v), Keras to the uncorrected one; at eps=1e-7 that
changes the update, not the work.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from suite.workloads import ADAM, FEATURES, MODELS

__all__ = ["Predictor", "Trainer", "load", "set_threads"]

_EPSILON = 1e-7
_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "softmax": lambda: nn.Softmax(dim=1)}


def load(threads):
    """Sets the thread count; returns the version string."""
    torch.set_num_threads(threads)
    return torch.__version__


def set_threads(threads):
    torch.set_num_threads(threads)


def build(model):
    modules, width = [nn.Flatten()], FEATURES
    for layer in MODELS[model].layers:
        if layer.kind == "batch_norm":
            modules.append(nn.BatchNorm1d(width, eps=1e-3, momentum=0.01))
        elif layer.kind == "activation":
            modules.append(_ACTIVATIONS[layer.activation]())
        elif layer.kind == "dropout":
            modules.append(nn.Dropout(layer.rate))
        else:
            linear = nn.Linear(width, layer.units, bias=layer.use_bias)
            with torch.no_grad():
                # Keras's initializers; PyTorch keeps w as (units, in), hence fan_in = size(1).
                if layer.initializer == "he_normal":
                    std = math.sqrt(2.0 / width)
                    nn.init.trunc_normal_(linear.weight, std=std, a=-2 * std, b=2 * std)
                else:
                    nn.init.xavier_uniform_(linear.weight)
                if linear.bias is not None:
                    linear.bias.zero_()
            modules.append(linear)
            if layer.activation not in (None, "linear"):
                modules.append(_ACTIVATIONS[layer.activation]())
            width = layer.units
    return nn.Sequential(*modules)


class Trainer:
    """One model and its optimizer ("sgd" or "adam"); each call trains one shuffled epoch."""

    fused = False  # Adam's implementation: foreach=True here, fused=True in peer_torch_fused

    def __init__(self, model, batch, frozen=False, optimizer="sgd"):
        if frozen:
            raise ValueError("torch peer: the frozen comparison is densekit only")
        spec = MODELS[model]
        self.net = build(model).train()
        self.params = [p for p in self.net.parameters() if p.requires_grad]
        if optimizer == "adam":
            self.optimizer = torch.optim.Adam(
                self.params,
                lr=ADAM.learning_rate,
                betas=(ADAM.beta_1, ADAM.beta_2),
                eps=ADAM.epsilon,
                **({"fused": True} if self.fused else {"foreach": True}),
            )
        elif self.fused:
            raise ValueError("torch-fused peer: measures Adam only")
        else:
            self.optimizer = torch.optim.SGD(self.params, lr=spec.learning_rate)
        self.clip = spec.clip
        self.batch = batch

    def epoch(self, x, y, seed):
        """Trains one epoch on numpy (x, y) shuffled by `seed`; returns the epoch's mean loss."""
        xs, ys = torch.from_numpy(x), torch.from_numpy(y)
        order = torch.randperm(len(xs), generator=torch.Generator().manual_seed(seed))
        how, limit = self.clip or (None, None)
        total = torch.zeros(())
        for start in range(0, len(xs), self.batch):
            rows = order[start : start + self.batch]
            probs = self.net(xs[rows])
            loss = F.nll_loss(torch.log(probs.clamp(_EPSILON, 1 - _EPSILON)), ys[rows])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if how == "clipvalue":
                nn.utils.clip_grad_value_(self.params, limit)
            elif how == "clipnorm":
                for param in self.params:
                    nn.utils.clip_grad_norm_(param, limit)
            self.optimizer.step()
            total += loss.detach() * len(rows)
        return float(total) / len(xs)


class Predictor:
    """The model in eval mode under torch.inference_mode(), numpy in and out like Keras."""

    def __init__(self, model):
        self.net = build(model).eval()

    def predict(self, x, batch):
        xs = torch.from_numpy(x)
        with torch.inference_mode():
            return torch.cat(
                [self.net(xs[i : i + batch]) for i in range(0, len(xs), batch)]
            ).numpy()

    def one(self, x):
        with torch.inference_mode():
            return self.net(torch.from_numpy(x)).numpy()
