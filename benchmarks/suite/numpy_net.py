"""The hand-written NumPy baseline: float32 forward, backward and clipped SGD or Adam of a
`ModelSpec`.

What a careful NumPy user would write: whole-batch matrix products through NumPy's BLAS,
element-wise work vectorized, no Python loop over samples or units. Shapes: x (batch, in),
w (in, units) as in Keras, y (batch, units).
"""

import math

import numpy as np

from suite.workloads import ADAM

__all__ = ["Network"]

_EPSILON = 1e-7  # Keras's backend epsilon: probabilities are clipped to [eps, 1 - eps]


class _Dense:
    """y = x @ w + b.  Backward: dw = x^T dy, db = sum_rows dy, dx = dy w^T."""

    def __init__(self, units_in, spec, rng):
        if spec.initializer == "he_normal":
            # Keras's he_normal is a truncated normal; the truncation does not matter for speed.
            w = rng.standard_normal((units_in, spec.units), dtype=np.float32)
            w *= np.float32(np.sqrt(2.0 / units_in))
        else:  # glorot_uniform
            limit = np.sqrt(6.0 / (units_in + spec.units))
            w = rng.uniform(-limit, limit, (units_in, spec.units)).astype(np.float32)
        self.params = [w] + ([np.zeros(spec.units, np.float32)] if spec.use_bias else [])
        self.x = None

    def forward(self, x, training):
        self.x = x
        y = x @ self.params[0]
        if len(self.params) == 2:
            y += self.params[1]
        return y

    def backward(self, dy, need_dx):
        grads = [self.x.T @ dy] + ([dy.sum(axis=0)] if len(self.params) == 2 else [])
        return (dy @ self.params[0].T if need_dx else None), grads


class _BatchNorm:
    """Keras's BatchNormalization (momentum 0.99, epsilon 1e-3), over the batch axis.

    Training: xhat = (x - mean) * inv_std, inv_std = 1 / sqrt(var + eps), y = gamma * xhat + beta.
    Backward: dgamma = sum_rows dy * xhat, dbeta = sum_rows dy,
              dx = gamma * inv_std * (dy - dbeta / n - xhat * dgamma / n).
    """

    def __init__(self, units, momentum=0.99, epsilon=1e-3):
        self.params = [np.ones(units, np.float32), np.zeros(units, np.float32)]
        self.moving_mean = np.zeros(units, np.float32)
        self.moving_var = np.ones(units, np.float32)
        self.momentum, self.epsilon = np.float32(momentum), np.float32(epsilon)

    def forward(self, x, training):
        gamma, beta = self.params
        if not training:
            scale = gamma / np.sqrt(self.moving_var + self.epsilon)
            return x * scale + (beta - self.moving_mean * scale)
        mean = x.mean(axis=0)
        var = x.var(axis=0)
        self.inv_std = 1 / np.sqrt(var + self.epsilon)
        self.xhat = (x - mean) * self.inv_std
        keep = self.momentum
        self.moving_mean = self.moving_mean * keep + mean * (1 - keep)
        self.moving_var = self.moving_var * keep + var * (1 - keep)
        return self.xhat * gamma + beta

    def backward(self, dy, need_dx):
        n = np.float32(dy.shape[0])
        dgamma = (dy * self.xhat).sum(axis=0)
        dbeta = dy.sum(axis=0)
        dx = None
        if need_dx:
            dx = (self.params[0] * self.inv_std) * (dy - dbeta / n - self.xhat * (dgamma / n))
        return dx, [dgamma, dbeta]


class _Activation:
    """relu or elu (softmax is fused with the loss in `Network`).

    relu' = [x > 0]; elu(x) = x if x > 0 else exp(x) - 1, so elu' = 1 if y > 0 else y + 1.
    """

    def __init__(self, name):
        if name not in ("relu", "elu"):
            raise ValueError(f"numpy baseline: unsupported activation. Received: activation={name}")
        self.name = name
        self.params = []

    def forward(self, x, training):
        if self.name == "relu":
            self.y = np.maximum(x, 0)
        else:  # np.minimum keeps expm1 from overflowing on the positive side it does not use
            self.y = np.where(x > 0, x, np.expm1(np.minimum(x, 0)))
        return self.y

    def backward(self, dy, need_dx):
        if self.name == "relu":
            return np.where(self.y > 0, dy, 0), []
        return np.where(self.y > 0, dy, dy * (self.y + 1)), []


class Network:
    """A `ModelSpec` in NumPy; `train_step` runs forward, backward, clipping and the optimizer
    ("sgd" or "adam") on a batch."""

    def __init__(self, spec, features, seed=0, optimizer="sgd"):
        rng = np.random.default_rng(seed)
        self.spec = spec
        self.update = {"sgd": self._sgd, "adam": self._adam}[optimizer]
        self.slots, self.iterations = None, 0
        self.layers = []
        width = features
        for i, layer in enumerate(spec.layers):
            if layer.kind == "batch_norm":
                self.layers.append(_BatchNorm(width))
            elif layer.kind == "activation":
                self.layers.append(_Activation(layer.activation))
            else:
                self.layers.append(_Dense(width, layer, rng))
                width = layer.units
                if layer.activation == "softmax" and i != len(spec.layers) - 1:
                    raise ValueError("numpy baseline: softmax only as the last activation")
                if layer.activation not in (None, "linear", "softmax"):
                    self.layers.append(_Activation(layer.activation))

    def _logits(self, x, training):
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

    def predict(self, x):
        """Softmax probabilities in inference mode (moving statistics in batch norm)."""
        return _softmax(self._logits(x, training=False))

    def train_step(self, x, labels):
        """One optimizer step on a batch; returns the batch's mean loss.

        Sparse categorical cross-entropy on softmax probabilities: loss = -mean log p[label], and
        d loss / d logits = (p - onehot(label)) / batch (the softmax and the log cancel).
        """
        rows = x.shape[0]
        probs = _softmax(self._logits(x, training=True))
        picked = probs[np.arange(rows), labels]
        loss = -np.log(np.clip(picked, _EPSILON, 1 - _EPSILON)).mean()
        dy = probs
        dy[np.arange(rows), labels] -= 1
        dy /= np.float32(rows)
        updates = []
        for i in range(len(self.layers) - 1, -1, -1):  # the input needs no gradient
            layer = self.layers[i]
            dy, grads = layer.backward(dy, need_dx=i > 0)
            updates += zip(layer.params, grads)
        self.update(updates)
        return float(loss)

    def _clip(self, grad):
        """Keras's per-variable clipping, in place."""
        how, limit = self.spec.clip
        if how == "clipvalue":
            np.clip(grad, -limit, limit, out=grad)
        else:  # clipnorm: g *= limit / ||g|| where ||g|| > limit
            norm = np.sqrt(np.dot(grad.ravel(), grad.ravel()))
            if norm > limit:
                grad *= np.float32(limit / norm)

    def _sgd(self, updates):
        """Clipping, then w -= learning_rate * g."""
        rate = np.float32(self.spec.learning_rate)
        for param, grad in updates:
            self._clip(grad)
            grad *= rate
            param -= grad

    def _adam(self, updates):
        """Clipping, then Keras's Adam: m += (g - m)(1 - beta_1), v += (g^2 - v)(1 - beta_2),
        w -= alpha m / (sqrt(v) + epsilon), alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t).
        In place, the gradient's buffer reused for the temporaries."""
        if self.slots is None:  # `updates` lists the parameters in the same order every step
            self.slots = [(np.zeros_like(p), np.zeros_like(p)) for p, _ in updates]
        self.iterations += 1
        t = self.iterations
        alpha = np.float32(
            ADAM.learning_rate * math.sqrt(1 - ADAM.beta_2**t) / (1 - ADAM.beta_1**t)
        )
        b1, b2 = np.float32(ADAM.beta_1), np.float32(ADAM.beta_2)
        one_b1, one_b2, eps = (
            np.float32(1 - ADAM.beta_1),
            np.float32(1 - ADAM.beta_2),
            np.float32(ADAM.epsilon),
        )
        for (param, grad), (m, v) in zip(updates, self.slots):
            self._clip(grad)
            m *= b1
            m += one_b1 * grad
            v *= b2
            np.square(grad, out=grad)
            grad *= one_b2
            v += grad
            np.sqrt(v, out=grad)
            grad += eps
            np.divide(m, grad, out=grad)
            grad *= alpha
            param -= grad


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z
