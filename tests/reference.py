"""Float64 NumPy oracles for densekit's kernels and training step.

Written from the Keras 3 definitions (keras/src/activations/activations.py, the torch backend's
nn.py, keras/src/optimizers/{sgd,base_optimizer}.py), not from the C++ sources, so a test that
compares the two checks the C++ against an independent implementation. Everything here takes and
returns float64 arrays; inputs are cast with `np.asarray(..., dtype=np.float64)`.

Conventions:
  * activations take the parameters of `_core.kernels.ActivationSpec` by keyword; `max_value`
    None or < 0 means "no upper bound" (the C++ spelling of Keras's None).
  * `activation_backward(name, x, dy, ...)` returns dx = dy ⊙ f'(x) (softmax: the row-wise
    Jacobian product), the same contract as the kernel.
  * losses return the batch mean ("sum_over_batch_size") and their gradient w.r.t. `pred`.
"""

import math

import numpy as np

EPSILON = 1e-7  # keras.backend.epsilon()

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_GELU_CUBIC = 0.044715

ACTIVATIONS = (
    "linear",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "selu",
    "gelu",
    "swish",
    "softplus",
    "softsign",
    "hard_sigmoid",
    "exponential",
    "thresholded_relu",
    "softmax",
)


def _f64(a):
    return np.asarray(a, dtype=np.float64)


_erf = np.vectorize(math.erf, otypes=[np.float64])


# -- activations ------------------------------------------------------------------------------
def sigmoid(x):
    x = _f64(x)
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x):
    # log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|))
    x = _f64(x)
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def softmax(x):
    x = _f64(x)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _no_max(max_value):
    return max_value is None or max_value < 0


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """keras.activations.relu (ReLU.static_call), step by step."""
    x = _f64(x)
    if negative_slope != 0 and _no_max(max_value) and threshold == 0:
        return np.where(x >= 0, x, negative_slope * x)  # backend leaky_relu
    negative_part = np.maximum(threshold - x, 0.0) if negative_slope != 0 else 0.0
    if threshold != 0:
        positive = np.where(x > threshold, x, 0.0)
    else:
        positive = np.maximum(x, 0.0)
    if not _no_max(max_value):
        positive = np.clip(positive, 0.0, max_value)
    return positive - negative_slope * negative_part


def relu_derivative(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """f'(x) of `relu` away from its kinks (x = threshold, 0 and max_value)."""
    x = _f64(x)
    if threshold != 0:
        passes = x > threshold
    else:
        passes = x > 0
    if not _no_max(max_value):
        passes = passes & (x > 0) & (x < max_value)  # the clip to [0, max_value]
    slope = np.where(x < threshold, negative_slope, 0.0) if negative_slope != 0 else 0.0
    return passes.astype(np.float64) + slope


def gelu(x, approximate=False):
    x = _f64(x)
    if approximate:
        return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_derivative(x, approximate=False):
    x = _f64(x)
    if approximate:
        t = np.tanh(_SQRT_2_OVER_PI * (x + _GELU_CUBIC * x**3))
        return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * _SQRT_2_OVER_PI * (
            1.0 + 3.0 * _GELU_CUBIC * x * x
        )
    # d/dx x·Φ(x) = Φ(x) + x·φ(x)
    cdf = 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    return cdf + x * pdf


def activation(
    name, x, negative_slope=0.0, max_value=None, threshold=0.0, alpha=1.0, approximate=False
):
    """y = f(x) for one of ACTIVATIONS, Keras 3 definitions."""
    x = _f64(x)
    if name == "linear":
        return x.copy()
    if name == "sigmoid":
        return sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "relu":
        return relu(x, negative_slope, max_value, threshold)
    if name == "leaky_relu":
        return np.where(x >= 0, x, negative_slope * x)
    if name == "elu":
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))
    if name == "selu":
        return SELU_SCALE * np.where(x > 0, x, SELU_ALPHA * np.expm1(np.minimum(x, 0.0)))
    if name == "gelu":
        return gelu(x, approximate)
    if name == "swish":
        return x * sigmoid(x)
    if name == "softplus":
        return softplus(x)
    if name == "softsign":
        return x / (1.0 + np.abs(x))
    if name == "hard_sigmoid":
        return np.clip(x + 3.0, 0.0, 6.0) / 6.0  # relu6(x + 3) / 6
    if name == "exponential":
        return np.exp(x)
    if name == "thresholded_relu":
        return np.where(x > threshold, x, 0.0)
    if name == "softmax":
        return softmax(x)
    raise ValueError(f"unknown activation {name!r}")


def activation_derivative(
    name, x, negative_slope=0.0, max_value=None, threshold=0.0, alpha=1.0, approximate=False
):
    """f'(x) element-wise (not for softmax), away from kinks."""
    x = _f64(x)
    if name == "linear":
        return np.ones_like(x)
    if name == "sigmoid":
        s = sigmoid(x)
        return s * (1.0 - s)
    if name == "tanh":
        return 1.0 - np.tanh(x) ** 2
    if name == "relu":
        return relu_derivative(x, negative_slope, max_value, threshold)
    if name == "leaky_relu":
        return np.where(x > 0, 1.0, negative_slope)
    if name == "elu":
        return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))
    if name == "selu":
        return SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0.0)))
    if name == "gelu":
        return gelu_derivative(x, approximate)
    if name == "swish":
        s = sigmoid(x)
        return s * (1.0 + x * (1.0 - s))
    if name == "softplus":
        return sigmoid(x)
    if name == "softsign":
        return 1.0 / (1.0 + np.abs(x)) ** 2
    if name == "hard_sigmoid":
        return np.where((x > -3.0) & (x < 3.0), 1.0 / 6.0, 0.0)
    if name == "exponential":
        return np.exp(x)
    if name == "thresholded_relu":
        return np.where(x > threshold, 1.0, 0.0)
    raise ValueError(f"no element-wise derivative for {name!r}")


def activation_backward(name, x, dy, **params):
    """dx = dy ⊙ f'(x); softmax: dx = y ⊙ (dy - Σ_j dy_j y_j) per row."""
    dy = _f64(dy)
    if name == "softmax":
        y = softmax(x)
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    return dy * activation_derivative(name, x, **params)


def prelu(x, alpha):
    x, alpha = _f64(x), _f64(alpha)
    return np.maximum(x, 0.0) + alpha * np.minimum(x, 0.0)


def prelu_backward(x, alpha, dy):
    """(dx, dalpha): dx = dy where x > 0, alpha·dy where x < 0, 0 at x == 0 (TF's gradient of
    Keras's relu(x) - alpha·relu(-x), relu'(0) = 0); dalpha = Σ_rows dy ⊙ min(0, x)."""
    x, alpha, dy = _f64(x), _f64(alpha), _f64(dy)
    dx = np.where(x > 0, dy, np.where(x < 0, alpha * dy, 0.0))
    return dx, (dy * np.minimum(x, 0.0)).sum(axis=0)


def rrelu(x, slopes):
    """Leaky ReLU with one given slope per element: x where x >= 0 else slope·x."""
    x = _f64(x)
    return np.where(x >= 0, x, _f64(slopes) * x)


def rrelu_backward(x, slopes, dy):
    x, dy = _f64(x), _f64(dy)
    return np.where(x >= 0, dy, _f64(slopes) * dy)


# -- dense ------------------------------------------------------------------------------------
def dense_forward(x, w, b=None):
    y = _f64(x) @ _f64(w)
    return y if b is None or np.size(b) == 0 else y + _f64(b)


def dense_backward(x, w, dy):
    """(dx, dw, db) of y = x w + b."""
    x, w, dy = _f64(x), _f64(w), _f64(dy)
    return dy @ w.T, x.T @ dy, dy.sum(axis=0)


# -- losses -----------------------------------------------------------------------------------
LOSSES = (
    "sparse_categorical_crossentropy",
    "categorical_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
)


def one_hot(labels, classes):
    labels = np.asarray(labels).reshape(-1).astype(np.int64)
    return np.eye(classes)[labels]


def log_softmax(z):
    z = _f64(z)
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def loss_and_gradient(name, pred, target, from_logits=False):
    """(mean loss, ∂loss/∂pred), Keras 3 definitions, averaged over the batch.

    sparse targets are (n, 1) (or (n,)) class indices; the others have pred's shape.
    """
    pred = _f64(pred)
    n, classes = pred.shape
    if name == "sparse_categorical_crossentropy":
        name, target = "categorical_crossentropy", one_hot(target, classes)
    t = _f64(target)
    if name == "categorical_crossentropy":
        if from_logits:
            loss = -(t * log_softmax(pred)).sum(axis=-1)
            # ∂/∂z_j of -Σ t_i log softmax_i(z) = softmax_j(z) Σ_i t_i - t_j
            grad = softmax(pred) * t.sum(axis=-1, keepdims=True) - t
        else:
            # Keras normalizes, then clips:  q = clip(p / S, eps, 1 - eps), S = Σ_j p_j.
            s = pred.sum(axis=-1, keepdims=True)
            q_raw = pred / s
            q = np.clip(q_raw, EPSILON, 1.0 - EPSILON)
            active = (q_raw >= EPSILON) & (q_raw <= 1.0 - EPSILON)  # clip passes the gradient
            loss = -(t * np.log(q)).sum(axis=-1)
            # ∂q_i/∂p_j = (δ_ij - q_i) / S, so with u_i = t_i·active_i / q_i:
            #   ∂loss/∂p_j = (-u_j + Σ_i u_i q_i) / S = (-u_j + Σ_i t_i active_i) / S
            u = t * active / q
            grad = (-u + (t * active).sum(axis=-1, keepdims=True)) / s
        return loss.mean(), grad / n
    if name == "binary_crossentropy":
        if from_logits:
            # max(z, 0) - z t + log(1 + exp(-|z|)), mean over the last axis
            values = np.maximum(pred, 0.0) - pred * t + np.log1p(np.exp(-np.abs(pred)))
            grad = sigmoid(pred) - t
        else:
            p = np.clip(pred, EPSILON, 1.0 - EPSILON)
            active = (pred >= EPSILON) & (pred <= 1.0 - EPSILON)
            values = -(t * np.log(p) + (1.0 - t) * np.log(1.0 - p))
            grad = active * (-(t / p) + (1.0 - t) / (1.0 - p))
        return values.mean(axis=-1).mean(), grad / (n * classes)
    if name == "mean_squared_error":
        diff = pred - t
        return (diff**2).mean(axis=-1).mean(), 2.0 * diff / (n * classes)
    raise ValueError(f"unknown loss {name!r}")


def loss(name, pred, target, from_logits=False):
    return loss_and_gradient(name, pred, target, from_logits)[0]


def accuracy_sum(name, pred, target):
    """Σ over rows of the accuracy Keras picks for the loss (ties excluded by the caller)."""
    pred = _f64(pred)
    if name == "sparse_categorical_crossentropy":
        return float((pred.argmax(axis=-1) == np.asarray(target).reshape(-1)).sum())
    if name == "categorical_crossentropy":
        return float((pred.argmax(axis=-1) == _f64(target).argmax(axis=-1)).sum())
    if name == "binary_crossentropy":
        return float(((pred > 0.5) == (_f64(target) > 0.5)).mean(axis=-1).sum())
    raise ValueError(f"no accuracy for {name!r}")


# -- optimizer --------------------------------------------------------------------------------
def global_norm(grads):
    return math.sqrt(sum(float((_f64(g) ** 2).sum()) for g in grads))


def clip_gradients(grads, clipvalue=None, clipnorm=None, global_clipnorm=None):
    """Keras 3 BaseOptimizer._clip_gradients: at most one of the three is set."""
    grads = [_f64(g).copy() for g in grads]
    if clipnorm:
        # g · c / max(‖g‖, c), each variable by its own norm
        return [g * clipnorm / max(math.sqrt(float((g**2).sum())), clipnorm) for g in grads]
    if global_clipnorm:
        # c · min(1 / ‖G‖, 1 / c), all variables by their joint norm
        scale = global_clipnorm * min(1.0 / global_norm(grads), 1.0 / global_clipnorm)
        return [g * scale for g in grads]
    if clipvalue:
        return [np.clip(g, -clipvalue, clipvalue) for g in grads]
    return grads


def sgd_update(w, g, m, learning_rate, momentum=0.0, nesterov=False):
    """One Keras 3 SGD.update_step; returns (new w, new m) (m is None when momentum == 0)."""
    w, g = _f64(w), _f64(g)
    if momentum == 0:
        return w - learning_rate * g, None
    m = momentum * _f64(m) - learning_rate * g
    if nesterov:
        return w + momentum * m - learning_rate * g, m
    return w + m, m


def adagrad_update(w, g, accumulator, learning_rate, epsilon=1e-7):
    """Keras 3 Adagrad.update_step: a ← a + g²; w ← w − lr·g/√(a + ε). Returns (w, a)."""
    w, g = _f64(w), _f64(g)
    accumulator = _f64(accumulator) + g * g
    return w - learning_rate * g / np.sqrt(accumulator + epsilon), accumulator


def rmsprop_update(
    w,
    g,
    velocity,
    momentum_slot,
    average_gradient,
    learning_rate,
    rho=0.9,
    momentum=0.0,
    epsilon=1e-7,
    centered=False,
):
    """Keras 3 RMSprop.update_step. Returns (w, velocity, momentum slot, average gradient); the
    slots a configuration does not have are None.

      v ← ρv + (1−ρ)g²;  centered: ḡ ← ρḡ + (1−ρ)g, d = v − ḡ² + ε;  else d = v + ε
      δ = lr·g/√d;  momentum > 0: m ← μm + δ, w ← w − m;  else w ← w − δ
    """
    w, g = _f64(w), _f64(g)
    velocity = rho * _f64(velocity) + (1.0 - rho) * g * g
    if centered:
        average_gradient = rho * _f64(average_gradient) + (1.0 - rho) * g
        denominator = velocity - average_gradient**2 + epsilon
    else:
        average_gradient = None
        denominator = velocity + epsilon
    increment = learning_rate * g / np.sqrt(denominator)
    if momentum > 0:
        momentum_slot = momentum * _f64(momentum_slot) + increment
        return w - momentum_slot, velocity, momentum_slot, average_gradient
    return w - increment, velocity, None, average_gradient


def adam_update(
    w, g, m, v, v_hat, learning_rate, t, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False
):
    """Keras 3 Adam.update_step at step t = iterations + 1. Returns (w, m, v, v_hat); v_hat is
    None without amsgrad.

      m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  amsgrad: v̂ ← max(v̂, v), used in place of v
      w ← w − α·m/(√v + ε),  α = lr·√(1−β₂ᵗ)/(1−β₁ᵗ)
    """
    w, g = _f64(w), _f64(g)
    alpha = learning_rate * math.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
    m = beta_1 * _f64(m) + (1.0 - beta_1) * g
    v = beta_2 * _f64(v) + (1.0 - beta_2) * g * g
    denominator_v = v
    if amsgrad:
        v_hat = np.maximum(_f64(v_hat), v)
        denominator_v = v_hat
    else:
        v_hat = None
    return w - alpha * m / (np.sqrt(denominator_v) + epsilon), m, v, v_hat


def adamax_update(w, g, m, u, learning_rate, t, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Keras 3 Adamax.update_step at step t. Returns (w, m, u).

    m ← β₁m + (1−β₁)g;  u ← max(β₂u, |g|);  w ← w − lr·m/((1−β₁ᵗ)(u + ε))
    """
    w, g = _f64(w), _f64(g)
    m = beta_1 * _f64(m) + (1.0 - beta_1) * g
    u = np.maximum(beta_2 * _f64(u), np.abs(g))
    return w - learning_rate * m / ((1.0 - beta_1**t) * (u + epsilon)), m, u


def nadam_momentum(t, beta_1=0.9):
    """Keras 3 Nadam's momentum schedule uₜ = β₁(1 − ½·0.96ᵗ) (Dozat, 2016)."""
    return beta_1 * (1.0 - 0.5 * 0.96**t)


def nadam_update(w, g, m, v, learning_rate, t, u_product, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
    """Keras 3 Nadam.update_step at step t; `u_product` is Πₜ = u₁⋯uₜ (the optimizer's
    variable after this step's factor). Returns (w, m, v).

      m̂ = uₜ₊₁·m/(1 − Πₜuₜ₊₁) + (1−uₜ)·g/(1 − Πₜ);  v̂ = v/(1−β₂ᵗ);  w ← w − lr·m̂/(√v̂ + ε)
    """
    w, g = _f64(w), _f64(g)
    u_t, u_next = nadam_momentum(t, beta_1), nadam_momentum(t + 1, beta_1)
    m = beta_1 * _f64(m) + (1.0 - beta_1) * g
    v = beta_2 * _f64(v) + (1.0 - beta_2) * g * g
    m_hat = u_next * m / (1.0 - u_product * u_next) + (1.0 - u_t) * g / (1.0 - u_product)
    v_hat = v / (1.0 - beta_2**t)
    return w - learning_rate * m_hat / (np.sqrt(v_hat) + epsilon), m, v


def lion_update(w, g, m, learning_rate, beta_1=0.9, beta_2=0.99):
    """Keras 3 Lion.update_step (Chen et al., 2023). Returns (w, m).

    w ← w − lr·sign(β₁m + (1−β₁)g);  m ← β₂m + (1−β₂)g
    """
    w, g, m = _f64(w), _f64(g), _f64(m)
    w = w - learning_rate * np.sign(beta_1 * m + (1.0 - beta_1) * g)
    return w, beta_2 * m + (1.0 - beta_2) * g


# Each optimizer's Keras 3 defaults, and its slots in the order Keras creates them: groups in
# order, each group interleaved per model variable.
OPTIMIZER_DEFAULTS = {
    "SGD": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
    "Adagrad": {"learning_rate": 0.001, "initial_accumulator_value": 0.1, "epsilon": 1e-7},
    "RMSprop": {
        "learning_rate": 0.001,
        "rho": 0.9,
        "momentum": 0.0,
        "epsilon": 1e-7,
        "centered": False,
    },
    "Adam": {
        "learning_rate": 0.001,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
        "amsgrad": False,
    },
    "Adamax": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "Nadam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "Lion": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.99},
}
OPTIMIZER_DEFAULTS["AdamW"] = {**OPTIMIZER_DEFAULTS["Adam"], "weight_decay": 0.004}

BASE_OPTIMIZER_DEFAULTS = {
    "weight_decay": None,
    "clipnorm": None,
    "clipvalue": None,
    "global_clipnorm": None,
    "use_ema": False,
    "ema_momentum": 0.99,
    "ema_overwrite_frequency": None,
    "gradient_accumulation_steps": None,
}


def _slot_groups(rule, c):
    if rule == "SGD":
        return [["momentum"]] if c["momentum"] != 0 else []
    if rule == "Adagrad":
        return [["accumulator"]]
    if rule == "RMSprop":
        groups = [["velocity"]]
        if c["momentum"] > 0:
            groups.append(["momentum"])
        if c["centered"]:
            groups.append(["average_gradient"])
        return groups
    if rule == "Adam":
        return [["momentum", "velocity"]] + ([["velocity_hat"]] if c["amsgrad"] else [])
    if rule == "Adamax":
        return [["momentum", "norm"]]
    if rule == "Nadam":
        return [["momentum", "velocity"]]
    if rule == "Lion":
        return [["momentum"]]
    raise ValueError(f"unknown optimizer {rule!r}")


class OptimizerOracle:
    """A Keras 3 optimizer in float64: the update rule inside the base optimizer's step.

    Written from keras/src/optimizers/base_optimizer.py (`apply`, `_backend_apply_gradients`):
      * with gradient_accumulation_steps k, a step whose raw count s has (s + 1) % k != 0 only
        adds g to the accumulator; otherwise g ← (g + accumulator)/k, and the update runs and the
        accumulator is reset. `iterations` is s // k (s without accumulation), and the rules' step
        t is iterations + 1;
      * an update clips the gradients, then decays every weight, w ← w − w·wd·lr, then runs the
        rule (Nadam first multiplies its Π by uₜ);
      * with use_ema, after every step (updating or not) average ← η·average + (1−η)·w with
        η = 0 while iterations == 0; with ema_overwrite_frequency f, w ← average when
        (iterations + 1) % f == 0;
      * then s ← s + 1.

    Args:
        name: the Keras class name ("SGD", "Adam", "AdamW", ...).
        paths: each model variable's path ("dense/kernel"), for the slots' names.
        weights: the model's initial weights (for the slots' shapes).
        excluded_from_decay: the paths weight decay leaves alone (`exclude_from_weight_decay`).
        **config: the optimizer's constructor arguments (Keras's defaults otherwise).

    `c["learning_rate"]` may be changed between steps, as `optimizer.learning_rate = ...` does.
    """

    def __init__(self, name, paths, weights, excluded_from_decay=(), **config):
        unknown = set(config) - set(OPTIMIZER_DEFAULTS[name]) - set(BASE_OPTIMIZER_DEFAULTS)
        if unknown:
            raise TypeError(f"{name}: unknown arguments {sorted(unknown)}")
        self.c = {**BASE_OPTIMIZER_DEFAULTS, **OPTIMIZER_DEFAULTS[name], **config}
        self.rule = "Adam" if name == "AdamW" else name
        self.paths = list(paths)
        self.decays = [path not in excluded_from_decay for path in self.paths]
        shapes = [np.shape(w) for w in weights]
        self.steps = 0  # Keras's _iterations: every call, accumulating or not
        self.u_product = 1.0  # Nadam's Πₜ
        self.groups = _slot_groups(self.rule, self.c)
        initial = self.c.get("initial_accumulator_value", 0.0) if self.rule == "Adagrad" else 0.0
        self.slots = {
            slot: [np.full(shape, initial, dtype=np.float64) for shape in shapes]
            for group in self.groups
            for slot in group
        }
        self.average = [np.zeros(shape) for shape in shapes] if self.c["use_ema"] else None
        k = self.c["gradient_accumulation_steps"]
        self.accumulator = [np.zeros(shape) for shape in shapes] if k else None

    @property
    def iterations(self):
        k = self.c["gradient_accumulation_steps"]
        return self.steps // k if k else self.steps

    def apply(self, weights, grads):
        """One optimizer call on float64 `weights` with `grads`; returns the new weights."""
        c, k = self.c, self.c["gradient_accumulation_steps"]
        weights, grads = [_f64(w).copy() for w in weights], [_f64(g) for g in grads]
        if k and (self.steps + 1) % k != 0:
            self.accumulator = [a + g for a, g in zip(self.accumulator, grads)]
        else:
            if k:
                grads = [(g + a) / k for g, a in zip(grads, self.accumulator)]
                self.accumulator = [np.zeros_like(a) for a in self.accumulator]
            grads = clip_gradients(grads, c["clipvalue"], c["clipnorm"], c["global_clipnorm"])
            lr = c["learning_rate"]
            if c["weight_decay"]:
                weights = [
                    w - w * c["weight_decay"] * lr if decays else w
                    for w, decays in zip(weights, self.decays)
                ]
            t = self.iterations + 1
            if self.rule == "Nadam":
                self.u_product *= nadam_momentum(t, c["beta_1"])
            weights = [self._update(i, w, g, lr, t) for i, (w, g) in enumerate(zip(weights, grads))]
        if c["use_ema"]:
            eta = c["ema_momentum"] if self.iterations != 0 else 0.0
            self.average = [eta * a + (1.0 - eta) * w for a, w in zip(self.average, weights)]
            f = c["ema_overwrite_frequency"]
            if f and (self.iterations + 1) % f == 0:
                weights = [a.copy() for a in self.average]
        self.steps += 1
        return weights

    def _update(self, i, w, g, lr, t):
        """The rule on model variable i; its slots are replaced by their new values."""
        s = self.slots

        def hyper(*names):
            return {name: self.c[name] for name in names}

        if self.rule == "SGD":
            m = s["momentum"][i] if "momentum" in s else None
            w, m = sgd_update(w, g, m, lr, **hyper("momentum", "nesterov"))
            if m is not None:
                s["momentum"][i] = m
        elif self.rule == "Adagrad":
            w, s["accumulator"][i] = adagrad_update(
                w, g, s["accumulator"][i], lr, self.c["epsilon"]
            )
        elif self.rule == "RMSprop":
            m, average = (
                s[name][i] if name in s else None for name in ("momentum", "average_gradient")
            )
            w, s["velocity"][i], m, average = rmsprop_update(
                w,
                g,
                s["velocity"][i],
                m,
                average,
                lr,
                **hyper("rho", "momentum", "epsilon", "centered"),
            )
            if m is not None:
                s["momentum"][i] = m
            if average is not None:
                s["average_gradient"][i] = average
        elif self.rule == "Adam":
            v_hat = s["velocity_hat"][i] if "velocity_hat" in s else None
            w, s["momentum"][i], s["velocity"][i], v_hat = adam_update(
                w,
                g,
                s["momentum"][i],
                s["velocity"][i],
                v_hat,
                lr,
                t,
                **hyper("beta_1", "beta_2", "epsilon", "amsgrad"),
            )
            if v_hat is not None:
                s["velocity_hat"][i] = v_hat
        elif self.rule == "Adamax":
            w, s["momentum"][i], s["norm"][i] = adamax_update(
                w, g, s["momentum"][i], s["norm"][i], lr, t, **hyper("beta_1", "beta_2", "epsilon")
            )
        elif self.rule == "Nadam":
            w, s["momentum"][i], s["velocity"][i] = nadam_update(
                w,
                g,
                s["momentum"][i],
                s["velocity"][i],
                lr,
                t,
                self.u_product,
                **hyper("beta_1", "beta_2", "epsilon"),
            )
        else:
            w, s["momentum"][i] = lion_update(
                w, g, s["momentum"][i], lr, **hyper("beta_1", "beta_2")
            )
        return w

    def variables(self):
        """[(name, value)] in the order of Keras's `optimizer.variables`: iteration,
        learning_rate, the moving averages, the gradient accumulators, the rule's slot groups
        (interleaved per model variable within a group), then Nadam's Π."""
        found = [
            ("iteration", np.float64(self.steps)),
            ("learning_rate", np.float64(self.c["learning_rate"])),
        ]
        keys = [name.replace("/", "_") for name in self.paths]
        if self.average is not None:
            found += [(f"{key}_average", a) for key, a in zip(keys, self.average)]
        if self.accumulator is not None:
            found += [(f"{key}_gradient_accumulator", a) for key, a in zip(keys, self.accumulator)]
        for group in self.groups:
            for i, key in enumerate(keys):
                found += [(f"{key}_{slot}", self.slots[slot][i]) for slot in group]
        if self.rule == "Nadam":
            found.append(("u_product", np.float64(self.u_product)))
        return found


# -- a sequential stack of dense layers -------------------------------------------------------
def mlp_loss_and_gradients(weights, activations, x, y, loss_name, from_logits=False):
    """Forward and backward of Dense layers (kernel, bias pairs in `weights`, one activation name
    per layer), then the loss. Returns (loss, output, grads in the order of `weights`).

    The backward is the plain chain rule through the loss and the output activation; where no
    probability is clipped it equals the fused softmax/sigmoid gradient (p - t) / n.
    """
    h = _f64(x)
    saved = []
    for layer, name in enumerate(activations):
        w, b = weights[2 * layer], weights[2 * layer + 1]
        z = dense_forward(h, w, b)
        saved.append((h, z))
        h = activation(name, z)
    value, dh = loss_and_gradient(loss_name, h, y, from_logits)
    grads = [None] * len(weights)
    for layer in reversed(range(len(activations))):
        h_in, z = saved[layer]
        dz = activation_backward(activations[layer], z, dh)
        dh, grads[2 * layer], grads[2 * layer + 1] = dense_backward(h_in, weights[2 * layer], dz)
    return value, h, grads


def training_step(
    weights,
    slots,
    activations,
    x,
    y,
    loss_name,
    from_logits=False,
    learning_rate=0.01,
    momentum=0.0,
    nesterov=False,
    clipvalue=None,
    clipnorm=None,
    global_clipnorm=None,
):
    """One train_on_batch: gradients, Keras clipping, SGD. Returns (loss, new weights, new slots).

    `slots` is the list of momentum slots (zeros at the first step), ignored when momentum == 0.
    """
    value, _, grads = mlp_loss_and_gradients(weights, activations, x, y, loss_name, from_logits)
    grads = clip_gradients(grads, clipvalue, clipnorm, global_clipnorm)
    new_weights, new_slots = [], []
    for w, g, m in zip(weights, grads, slots):
        w, m = sgd_update(w, g, m, learning_rate, momentum, nesterov)
        new_weights.append(w)
        new_slots.append(m)
    return value, new_weights, new_slots


def numerical_gradient(f, x, h=1e-6):
    """Central differences of the scalar f at x (float64), one element at a time."""
    x = _f64(x).copy()
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        up = f(x)
        flat[i] = old - h
        down = f(x)
        flat[i] = old
        gflat[i] = (up - down) / (2 * h)
    return grad


# -- batch normalization ----------------------------------------------------------------------
# Keras 3 BatchNormalization.call: in training, (mean, variance) = ops.moments(x, axes=[0]) — the
# biased variance, Σ(x - μ)²/n — then moving = moving·momentum + batch·(1 - momentum); otherwise
# the moving statistics. Then ops.batch_normalization: y = (x - mean)/√(variance + ε)·γ + β.
# γ or β None (or empty) means scale=False / center=False: 1 and 0.


def _bn_scale_offset(gamma, beta, features):
    g = np.ones(features) if gamma is None or np.size(gamma) == 0 else _f64(gamma)
    b = np.zeros(features) if beta is None or np.size(beta) == 0 else _f64(beta)
    return g, b


def batch_norm_moments(x):
    """(mean, biased variance) over the batch axis."""
    x = _f64(x)
    mean = x.mean(axis=0)
    return mean, ((x - mean) ** 2).mean(axis=0)


def batch_norm_normalize(x, mean, variance, gamma, beta, epsilon):
    x = _f64(x)
    g, b = _bn_scale_offset(gamma, beta, x.shape[1])
    return (x - _f64(mean)) / np.sqrt(_f64(variance) + epsilon) * g + b


def batch_norm_forward_training(x, gamma, beta, epsilon):
    """(y, mean, var) with the batch statistics."""
    mean, var = batch_norm_moments(x)
    return batch_norm_normalize(x, mean, var, gamma, beta, epsilon), mean, var


def batch_norm_forward_inference(x, gamma, beta, moving_mean, moving_var, epsilon):
    return batch_norm_normalize(x, moving_mean, moving_var, gamma, beta, epsilon)


def batch_norm_update_moving(moving_mean, moving_var, mean, var, momentum):
    """(new moving_mean, new moving_var)."""
    keep, take = momentum, 1.0 - momentum
    return (
        _f64(moving_mean) * keep + _f64(mean) * take,
        _f64(moving_var) * keep + _f64(var) * take,
    )


def batch_norm_backward_training(x, dy, gamma, epsilon):
    """(dx, dgamma, dbeta) of the training forward, through the batch statistics.

    The staged chain rule (Ioffe & Szegedy 2015, Algorithm 1 differentiated), per feature:
      d x̂ = dy·γ
      dσ² = Σ_i d x̂_i (x_i - μ) · (-½)(σ² + ε)^(-3/2)
      dμ  = Σ_i d x̂_i · (-1/√(σ² + ε)) + dσ² · Σ_i -2(x_i - μ)/n
      dx  = d x̂ /√(σ² + ε) + dσ² · 2(x - μ)/n + dμ/n
    """
    x, dy = _f64(x), _f64(dy)
    n = x.shape[0]
    g, _ = _bn_scale_offset(gamma, None, x.shape[1])
    mean, var = batch_norm_moments(x)
    centered = x - mean
    inv = 1.0 / np.sqrt(var + epsilon)
    x_hat = centered * inv
    dx_hat = dy * g
    dvar = (dx_hat * centered).sum(axis=0) * -0.5 * inv**3
    dmean = (-dx_hat * inv).sum(axis=0) + dvar * (-2.0 * centered).sum(axis=0) / n
    dx = dx_hat * inv + dvar * 2.0 * centered / n + dmean / n
    return dx, (dy * x_hat).sum(axis=0), dy.sum(axis=0)


def batch_norm_backward_inference(x, dy, gamma, moving_mean, moving_var, epsilon):
    """(dx, dgamma, dbeta) with the moving statistics as constants: y is affine in x."""
    x, dy = _f64(x), _f64(dy)
    g, _ = _bn_scale_offset(gamma, None, x.shape[1])
    inv = 1.0 / np.sqrt(_f64(moving_var) + epsilon)
    x_hat = (x - _f64(moving_mean)) * inv
    return dy * g * inv, (dy * x_hat).sum(axis=0), dy.sum(axis=0)


# -- a fresh BatchNormalization called on a small image ----------------------------------------
# Not oracles but recorded values: a 3x3 float32 image and the output tf.keras gives for it from a
# fresh BatchNormalization in inference mode, x / sqrt(1 + 0.001).
# Shared by test_batch_norm.py and test_tf_keras_examples.py.

BN_EXAMPLE_IMAGE = np.array(
    [
        [0.13832426, 0.38750803, 0.09253335],
        [0.7931794, 0.17145753, 0.38980567],
        [0.57801473, 0.13108122, 0.6219201],
    ],
    dtype=np.float32,
)
BN_EXAMPLE_OUTPUT = np.array(
    [
        [0.13825515, 0.38731444, 0.09248712],
        [0.79278314, 0.17137186, 0.38961092],
        [0.57772595, 0.13101573, 0.6216094],
    ],
    dtype=np.float32,
)
