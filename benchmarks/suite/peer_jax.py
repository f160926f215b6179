"""JAX (CPU, XLA) as a benchmark peer: the models and Keras's SGD and Adam written by hand in
jax.numpy, in the two forms a JAX user writes.

- "jax": the training step is one `jax.jit`-compiled function with the parameters, the batch
  norms' moving statistics and the optimizer state donated (`donate_argnums`), called once per
  batch from Python; the batch is gathered by index inside the step from the data set, which is
  put on the device once.
- "jax-scan" (peer_jax_scan): the whole epoch is one compiled function, a `jax.lax.scan` of the
  same step over the shuffled batches (plus one step for a last, smaller batch).

Both compile every shape an epoch needs before it is timed (`Trainer.compile`). Matching Keras:
BatchNormalization's momentum 0.99 and epsilon 1e-3 with the biased batch variance; inverted
dropout; the negative log of the probabilities clipped to [1e-7, 1 - 1e-7]; clipvalue per
element and clipnorm per variable (g * c / max(||g||, c)); Adam's update
alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), w -= alpha * m / (sqrt(v) + eps).
"""

import os


def _one_thread_if_asked():
    # XLA reads its flags when JAX loads; the runner sets OMP_NUM_THREADS before this process
    # starts. With more threads XLA's pool takes the machine's cores (2 here).
    if os.environ.get("OMP_NUM_THREADS") == "1":
        flags = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flags}".strip()


_one_thread_if_asked()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from suite.workloads import ADAM, FEATURES, MODELS  # noqa: E402

__all__ = ["Predictor", "Trainer", "apply", "init", "load", "set_threads"]

_EPSILON = 1e-7
_ACTIVATIONS = {
    None: lambda x: x,
    "linear": lambda x: x,
    "relu": jax.nn.relu,
    "elu": jax.nn.elu,
    "softmax": lambda x: jax.nn.softmax(x, axis=-1),
}
_HE_TRUNCATION = 0.87962566103423978  # std of a unit normal truncated to [-2, 2], as Keras


def load(threads):
    """Returns the version string; the thread count was fixed at import."""
    return jax.__version__


def set_threads(threads):
    raise ValueError("jax peer: XLA's thread count is fixed when the process starts")


def init(model, key):
    """Parameters and batch-norm state of `model`, a tuple of dicts each (one per layer), with
    Keras's initializers: glorot_uniform, or he_normal's truncated normal."""
    params, state, width = [], [], FEATURES
    for layer in MODELS[model].layers:
        p, s = {}, {}
        if layer.kind == "batch_norm":
            p = {"gamma": jnp.ones(width), "beta": jnp.zeros(width)}
            s = {"mean": jnp.zeros(width), "var": jnp.ones(width)}
        elif layer.kind == "dense":
            key, sub = jax.random.split(key)
            shape = (width, layer.units)
            if layer.initializer == "he_normal":
                std = np.sqrt(2.0 / width) / _HE_TRUNCATION
                w = jax.random.truncated_normal(sub, -2.0, 2.0, shape, jnp.float32) * std
            else:
                limit = np.sqrt(6.0 / (width + layer.units))
                w = jax.random.uniform(sub, shape, jnp.float32, -limit, limit)
            p = {"w": w, **({"b": jnp.zeros(layer.units)} if layer.use_bias else {})}
            width = layer.units
        params.append(p)
        state.append(s)
    return tuple(params), tuple(state)


def apply(model, params, state, x, training, key=None):
    """The model's probabilities on x (batch, 784) and the batch norms' updated state."""
    new_state = []
    for i, (layer, p, s) in enumerate(zip(MODELS[model].layers, params, state)):
        if layer.kind == "batch_norm":
            if training:
                mean, var = jnp.mean(x, axis=0), jnp.var(x, axis=0)
                s = {"mean": s["mean"] * 0.99 + mean * 0.01, "var": s["var"] * 0.99 + var * 0.01}
            else:
                mean, var = s["mean"], s["var"]
            x = (x - mean) * jax.lax.rsqrt(var + 1e-3) * p["gamma"] + p["beta"]
        elif layer.kind == "dense":
            x = x @ p["w"]
            if "b" in p:
                x = x + p["b"]
            x = _ACTIVATIONS[layer.activation](x)
        elif layer.kind == "activation":
            x = _ACTIVATIONS[layer.activation](x)
        elif layer.kind == "dropout" and training:
            keep = jax.random.bernoulli(jax.random.fold_in(key, i), 1.0 - layer.rate, x.shape)
            x = jnp.where(keep, x / (1.0 - layer.rate), 0.0)
        new_state.append(s)
    return x, tuple(new_state)


def _loss(model, params, state, x, y, key):
    probs, state = apply(model, params, state, x, True, key)
    picked = jnp.take_along_axis(probs, y[:, None], axis=1)[:, 0]
    return -jnp.mean(jnp.log(jnp.clip(picked, _EPSILON, 1.0 - _EPSILON))), state


def _clip(grads, clip):
    if clip is None:
        return grads
    how, limit = clip
    if how == "clipvalue":
        return jax.tree.map(lambda g: jnp.clip(g, -limit, limit), grads)
    return jax.tree.map(lambda g: g * limit / jnp.maximum(jnp.sqrt(jnp.sum(g * g)), limit), grads)


def _make_step(model, optimizer):
    """step(params, state, opt, x, y) -> (params, state, opt, loss): one clipped update."""
    spec = MODELS[model]
    grad = jax.value_and_grad(lambda *args: _loss(model, *args), has_aux=True)

    def step(params, state, opt, x, y):
        t = opt["t"] + 1
        key = jax.random.fold_in(jax.random.PRNGKey(0), t)  # dropout's draws of this step
        (loss, state), grads = grad(params, state, x, y, key)
        grads = _clip(grads, spec.clip)
        if optimizer == "sgd":
            params = jax.tree.map(lambda w, g: w - spec.learning_rate * g, params, grads)
            return params, state, {"t": t}, loss
        b1, b2 = ADAM.beta_1, ADAM.beta_2
        tf = t.astype(jnp.float32)
        alpha = ADAM.learning_rate * jnp.sqrt(1 - b2**tf) / (1 - b1**tf)
        m = jax.tree.map(lambda m, g: m + (g - m) * (1 - b1), opt["m"], grads)
        v = jax.tree.map(lambda v, g: v + (g * g - v) * (1 - b2), opt["v"], grads)
        params = jax.tree.map(
            lambda w, m, v: w - alpha * m / (jnp.sqrt(v) + ADAM.epsilon), params, m, v
        )
        return params, state, {"t": t, "m": m, "v": v}, loss

    return step


# The data sets on the device, by the NumPy array's address and shape: put there once, shared by
# every trainer of this process (the benchmark trains on the same arrays again and again).
_DEVICE_DATA = {}


def _on_device(x, y):
    key = (x.__array_interface__["data"][0], x.shape, y.__array_interface__["data"][0])
    if key not in _DEVICE_DATA:
        _DEVICE_DATA[key] = (jnp.asarray(x), jnp.asarray(y, dtype=jnp.int32))
    return _DEVICE_DATA[key]


def _dense_names(p):
    # Keras's order; a dict that went through jax.tree.map has its keys sorted ("b" first).
    return [name for name in ("w", "b") if name in p]


def _order(samples, seed):
    """The epoch's shuffled row order (seed None: the rows in order)."""
    if seed is None:
        return np.arange(samples, dtype=np.int32)
    return np.random.default_rng(seed).permutation(samples).astype(np.int32)


class Trainer:
    """One model and its optimizer ("sgd" or "adam"); each call trains one shuffled epoch."""

    scan = False  # the whole epoch as one lax.scan (peer_jax_scan) instead of a step per batch

    def __init__(self, model, batch, frozen=False, optimizer="sgd", seed=0):
        if frozen:
            raise ValueError("jax peer: the frozen comparison is densekit only")
        self.model, self.batch, self.optimizer = model, batch, optimizer
        self.params, self.state = init(model, jax.random.PRNGKey(seed))
        self.opt = self._fresh_optimizer_state()
        step = _make_step(model, optimizer)

        def batch_step(params, state, opt, x_all, y_all, order, start, size):
            rows = jax.lax.dynamic_slice_in_dim(order, start, size)
            return step(params, state, opt, x_all[rows], y_all[rows])

        def epoch(params, state, opt, x_all, y_all, order):
            def body(carry, rows):
                *carry, loss = step(*carry, x_all[rows], y_all[rows])
                return tuple(carry), loss

            full = len(order) // batch
            carry, losses = jax.lax.scan(
                body, (params, state, opt), order[: full * batch].reshape(full, batch)
            )
            total = jnp.sum(losses) * batch
            rest = order[full * batch :]
            if len(rest):
                *carry, loss = step(*carry, x_all[rest], y_all[rest])
                total = total + loss * len(rest)
            return (*carry, total / len(order))

        self._batch_step = jax.jit(batch_step, static_argnums=(7,), donate_argnums=(0, 1, 2))
        self._epoch = jax.jit(epoch, donate_argnums=(0, 1, 2))
        self._compiled = {}

    def _fresh_optimizer_state(self):
        t = jnp.zeros((), jnp.int32)
        if self.optimizer == "sgd":
            return {"t": t}
        zeros = jax.tree.map(jnp.zeros_like, self.params)
        return {"t": t, "m": zeros, "v": jax.tree.map(jnp.zeros_like, self.params)}

    def set_weights(self, weights):
        """Takes a Keras model's `get_weights()` (per layer: dense kernel and bias; batch norm
        gamma, beta, moving mean, moving variance) and restarts the optimizer."""
        weights = [jnp.asarray(w, jnp.float32) for w in weights][::-1]
        params, state = [], []
        for layer, p, s in zip(MODELS[self.model].layers, self.params, self.state):
            if layer.kind == "batch_norm":
                p = {"gamma": weights.pop(), "beta": weights.pop()}
                s = {"mean": weights.pop(), "var": weights.pop()}
            elif layer.kind == "dense":
                p = {name: weights.pop() for name in _dense_names(p)}
            params.append(p)
            state.append(s)
        self.params, self.state = tuple(params), tuple(state)
        self.opt = self._fresh_optimizer_state()

    def get_weights(self):
        """The weights in Keras's order, as NumPy arrays."""
        weights = []
        for layer, p, s in zip(MODELS[self.model].layers, self.params, self.state):
            if layer.kind == "batch_norm":
                weights += [p["gamma"], p["beta"], s["mean"], s["var"]]
            else:
                weights += [p[name] for name in _dense_names(p)]
        return [np.asarray(w) for w in weights]

    def _function(self, x_all, y_all, order, size=None):
        """The compiled step (for batches of `size`) or epoch (for `order`'s length)."""
        key = (self.scan, len(x_all), size)  # compiled for the data set's shape too
        if key not in self._compiled:
            head = (self.params, self.state, self.opt, x_all, y_all, order)
            lowered = (
                self._epoch.lower(*head) if self.scan else self._batch_step.lower(*head, 0, size)
            )
            self._compiled[key] = lowered.compile()
        return self._compiled[key]

    def compile(self, x, y):
        """Compiles every shape an epoch on (x, y) needs, without training."""
        x_all, y_all = _on_device(x, y)
        order = jnp.asarray(_order(len(x), None))
        if self.scan:
            self._function(x_all, y_all, order)
        else:
            for size in {min(self.batch, len(x)), len(x) % self.batch} - {0}:
                self._function(x_all, y_all, order, size)

    def epoch(self, x, y, seed):
        """Trains one epoch on numpy (x, y) shuffled by `seed` (None: in order); returns the
        epoch's mean loss."""
        x_all, y_all = _on_device(x, y)
        order = jnp.asarray(_order(len(x), seed))
        state = (self.params, self.state, self.opt)
        if self.scan:
            *state, loss = self._function(x_all, y_all, order)(*state, x_all, y_all, order)
            self.params, self.state, self.opt = state
            return float(loss)
        losses, sizes = [], []
        for start in range(0, len(x), self.batch):
            size = min(self.batch, len(x) - start)
            *state, loss = self._function(x_all, y_all, order, size)(
                *state, x_all, y_all, order, start
            )
            losses.append(loss)
            sizes.append(size)
        self.params, self.state, self.opt = state
        return float(jnp.dot(jnp.stack(losses), jnp.asarray(sizes, jnp.float32))) / len(x)


class Predictor:
    """The model in inference mode, jit-compiled; numpy in and out. A last, smaller batch is
    padded to the batch size, so one compiled shape serves every batch."""

    def __init__(self, model, seed=0):
        self.params, self.state = init(model, jax.random.PRNGKey(seed))
        self._forward = jax.jit(lambda p, s, x: apply(model, p, s, x, False)[0])

    def predict(self, x, batch):
        out = []
        for start in range(0, len(x), batch):
            rows = x[start : start + batch]
            if len(rows) < batch:
                rows = np.concatenate([rows, np.zeros((batch - len(rows), x.shape[1]), x.dtype)])
            out.append(self._forward(self.params, self.state, rows))
        return np.asarray(jnp.concatenate(out)[: len(x)])

    def one(self, x):
        return np.asarray(self._forward(self.params, self.state, x))
