"""Type stub of densekit's private C++ module (see cpp/bindings/)."""

from typing import Callable, Optional, overload

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]

def set_num_threads(n: int) -> None: ...
def get_num_threads() -> int: ...

# Keys: version, eigen_version, openmp (False: densekit runs its own thread team),
# thread_team_workers, simd, num_threads, contention_back_offs, gemm ("eigen" or "openblas"),
# gemm_library, gemm_config.
def build_info() -> dict: ...
def gemm_use_openblas(path: str) -> None: ...
def gemm_use_eigen() -> None: ...

class kernels:
    class ActivationKind: ...

    class ActivationSpec:
        def __init__(
            self,
            name: str = ...,
            negative_slope: float = ...,
            max_value: float = ...,
            threshold: float = ...,
            alpha: float = ...,
            approximate: bool = ...,
        ) -> None: ...
        kind: "kernels.ActivationKind"
        negative_slope: float
        max_value: float
        threshold: float
        alpha: float
        approximate: bool

    class LossKind: ...

    class LossSpec:
        def __init__(self, name: str, from_logits: bool = ...) -> None: ...
        kind: "kernels.LossKind"
        from_logits: bool

    class PenaltyKind:
        none: "kernels.PenaltyKind"
        l1_l2: "kernels.PenaltyKind"
        orthogonal: "kernels.PenaltyKind"

    class PenaltySpec:
        def __init__(self) -> None: ...
        kind: "kernels.PenaltyKind"
        l1: float
        l2: float
        factor: float
        columns: bool

    class ConstraintKind:
        none: "kernels.ConstraintKind"
        max_norm: "kernels.ConstraintKind"
        min_max_norm: "kernels.ConstraintKind"
        non_neg: "kernels.ConstraintKind"
        unit_norm: "kernels.ConstraintKind"

    class NormAxis:
        over_rows: "kernels.NormAxis"
        over_columns: "kernels.NormAxis"
        over_all: "kernels.NormAxis"

    class ConstraintSpec:
        def __init__(self) -> None: ...
        kind: "kernels.ConstraintKind"
        min_value: float
        max_value: float
        rate: float
        axis: "kernels.NormAxis"

    @staticmethod
    def penalty_value(spec: "kernels.PenaltySpec", w: Array) -> float: ...
    @staticmethod
    def penalty_gradient(spec: "kernels.PenaltySpec", w: Array) -> tuple[float, Array]: ...
    @staticmethod
    def apply_constraint(spec: "kernels.ConstraintSpec", w: Array) -> Array: ...
    @staticmethod
    def activation_kind_from_name(name: str) -> "kernels.ActivationKind": ...
    @staticmethod
    def dense_forward(x: Array, w: Array, b: Array) -> Array: ...
    @staticmethod
    def dense_backward_data(dy: Array, w: Array) -> Array: ...
    @staticmethod
    def dense_backward_weights(
        x: Array, dy: Array, use_bias: bool = ...
    ) -> tuple[Array, Array]: ...
    @staticmethod
    def activation_forward(spec: "kernels.ActivationSpec", x: Array) -> Array: ...
    @staticmethod
    def activation_backward(
        spec: "kernels.ActivationSpec", x: Array, y: Array, dy: Array
    ) -> Array: ...
    @staticmethod
    def prelu_forward(x: Array, alpha: Array) -> Array: ...
    @staticmethod
    def prelu_backward(x: Array, alpha: Array, dy: Array) -> tuple[Array, Array]: ...
    @staticmethod
    def rrelu_forward(
        x: Array, lower: float, upper: float, training: bool, seed: int = ..., step: int = ...
    ) -> tuple[Array, Array]: ...
    @staticmethod
    def rrelu_backward(x: Array, slopes: Array, dy: Array) -> Array: ...
    @staticmethod
    def batch_norm_forward_training(
        x: Array, gamma: Array, beta: Array, epsilon: float
    ) -> tuple[Array, Array, Array, Array, Array]: ...
    @staticmethod
    def batch_norm_update_moving(
        moving_mean: Array, moving_var: Array, mean: Array, var: Array, momentum: float
    ) -> None: ...
    @staticmethod
    def batch_norm_forward_inference(
        x: Array, gamma: Array, beta: Array, moving_mean: Array, moving_var: Array, epsilon: float
    ) -> Array: ...
    @staticmethod
    def batch_norm_backward_training(
        x_hat: Array, dy: Array, gamma: Array, inv_std: Array
    ) -> tuple[Array, Array, Array]: ...
    @staticmethod
    def batch_norm_backward_inference(
        x: Array, dy: Array, gamma: Array, moving_mean: Array, moving_var: Array, epsilon: float
    ) -> tuple[Array, Array, Array]: ...
    @staticmethod
    def loss_value(
        spec: "kernels.LossSpec",
        pred: Array,
        target: Array,
        sample_weight: Optional[Array] = ...,
    ) -> float: ...
    @staticmethod
    def loss_value_and_gradient(
        spec: "kernels.LossSpec",
        pred: Array,
        target: Array,
        fused: bool = ...,
        sample_weight: Optional[Array] = ...,
    ) -> tuple[float, Array]: ...
    @staticmethod
    def accuracy_sum(spec: "kernels.LossSpec", pred: Array, target: Array) -> float: ...
    @staticmethod
    def check_sparse_labels(target: Array, classes: int) -> None: ...
    @staticmethod
    def clip_by_value(g: Array, clip_value: float) -> None: ...
    @staticmethod
    def clip_by_norm(g: Array, clip_norm: float) -> None: ...
    @staticmethod
    def clip_by_global_norm(grads: list[Array], clip_norm: float) -> None: ...
    @staticmethod
    def sgd_update(
        w: Array,
        g: Array,
        m: Array,
        learning_rate: float,
        momentum: float = ...,
        nesterov: bool = ...,
    ) -> None: ...

class layers:
    class Parameter:
        name: str
        trainable: bool
        is_vector: bool
        value: Array
        grad: Array
        def assign(self, value: Array) -> None: ...
        def copy(self) -> Array: ...
        def set_penalty(self, spec: "kernels.PenaltySpec") -> None: ...
        def set_constraint(self, spec: "kernels.ConstraintSpec") -> None: ...
        def penalty(self) -> float: ...

    @staticmethod
    def assign_parameters(parameters: list["layers.Parameter"], values: list[Array]) -> None: ...
    @staticmethod
    def copy_parameters(parameters: list["layers.Parameter"]) -> list[Array]: ...
    class Layer:
        kind: str
        input_units: int
        output_units: int
        trainable: bool
        parameters: list["layers.Parameter"]
        random_step: int
        def forward(self, x: Array, training: bool = ...) -> Array: ...
        def set_activity_penalty(self, spec: "kernels.PenaltySpec") -> None: ...

    class Dense(Layer):
        def __init__(
            self, input_units: int, units: int, activation: "kernels.ActivationSpec", use_bias: bool
        ) -> None: ...

    class Activation(Layer):
        def __init__(
            self, units: int, activation: "kernels.ActivationSpec", kind_name: str
        ) -> None: ...

    class PReLU(Layer):
        def __init__(self, units: int) -> None: ...

    class RReLU(Layer):
        def __init__(self, units: int, lower: float, upper: float, seed: int) -> None: ...

    class BatchNormalization(Layer):
        def __init__(
            self, features: int, momentum: float, epsilon: float, center: bool, scale: bool
        ) -> None: ...

    class Normalization(Layer):
        def __init__(
            self, stat_of_feature: list[int], statistics: int, invert: bool, epsilon: float
        ) -> None: ...

    class NoiseKind:
        dropout: "layers.NoiseKind"
        alpha_dropout: "layers.NoiseKind"
        gaussian_noise: "layers.NoiseKind"
        gaussian_dropout: "layers.NoiseKind"

    class NoiseTraining:
        follow: "layers.NoiseTraining"
        always: "layers.NoiseTraining"
        never: "layers.NoiseTraining"

    class NoisePattern:
        @overload
        def __init__(self, units: int) -> None: ...
        @overload
        def __init__(self, sample_shape: list[int], noise_shape: list[int]) -> None: ...
        share_rows: bool
        units: int

    class Noise(Layer):
        def __init__(
            self, kind: "layers.NoiseKind", amount: float, seed: int, pattern: "layers.NoisePattern"
        ) -> None: ...
        training_mode: "layers.NoiseTraining"

class ClipSpec:
    def __init__(
        self, clipvalue: float = ..., clipnorm: float = ..., global_clipnorm: float = ...
    ) -> None: ...
    clipvalue: float
    clipnorm: float
    global_clipnorm: float

class UpdateRule:
    sgd: "UpdateRule"
    adagrad: "UpdateRule"
    rmsprop: "UpdateRule"
    adam: "UpdateRule"
    adamax: "UpdateRule"
    nadam: "UpdateRule"
    lion: "UpdateRule"

class RuleSettings:
    def __init__(self) -> None: ...
    rule: UpdateRule
    momentum: float
    nesterov: bool
    beta_1: float
    beta_2: float
    epsilon: float
    amsgrad: bool
    rho: float
    centered: bool
    initial_accumulator_value: float

class OptimizerSettings:
    def __init__(self) -> None: ...
    rule: RuleSettings
    clip: ClipSpec
    weight_decay: float
    use_ema: bool
    ema_momentum: float
    ema_overwrite_frequency: int
    gradient_accumulation_steps: int

class Optimizer:
    def __init__(self, settings: OptimizerSettings, learning_rate: float) -> None: ...
    settings: OptimizerSettings
    learning_rate: float
    schedule: Optional[schedules.LearningRateSchedule]
    steps: int
    u_product: float
    iterations: int
    def current_learning_rate(self) -> float: ...
    def slot(self, parameter: layers.Parameter, position: int) -> Optional[Array]: ...
    def average(self, parameter: layers.Parameter) -> Optional[Array]: ...
    def accumulator(self, parameter: layers.Parameter) -> Optional[Array]: ...
    def set_decays(self, parameter: layers.Parameter, decays: bool) -> None: ...
    def refresh_bounds(self) -> None: ...
    def finalize_variable_values(self, parameters: list[layers.Parameter]) -> None: ...

class AccuracyKind:
    none: "AccuracyKind"
    binary: "AccuracyKind"
    sparse_categorical: "AccuracyKind"
    categorical: "AccuracyKind"

class StepTotals:
    loss_sum: float
    correct_sum: float
    samples: int
    steps: int
    finite: bool

class LayerStats:
    weight_grad_norm: float
    input_grad_norm: float
    output_mean: float
    output_std: float
    saturated_fraction: float
    dead_fraction: float

class MonitorRecord:
    step: int
    layers: list[LayerStats]

class Network:
    def __init__(self, layers: list[layers.Layer], input_units: int) -> None: ...
    input_units: int
    output_units: int
    optimizer: Optional[Optimizer]
    steps_done: int
    def compile(
        self, loss: kernels.LossSpec, optimizer: Optimizer, accuracy: AccuracyKind
    ) -> None: ...
    def train_step(
        self, x: Array, y: Array, sample_weight: Optional[Array] = ...
    ) -> StepTotals: ...
    def train_epoch(
        self,
        x: Array,
        y: Array,
        order: npt.NDArray[np.int64],
        batch_size: int,
        progress: Optional[Callable[[StepTotals], bool]] = ...,
        progress_seconds: float = ...,
        sample_weight: Optional[Array] = ...,
    ) -> StepTotals: ...
    def set_monitor_every(self, every: int) -> None: ...
    def take_monitor_records(self) -> list[MonitorRecord]: ...
    def gradient_flow(self, x: Array, y: Array) -> list[LayerStats]: ...
    def evaluate(
        self, x: Array, y: Array, batch_size: int, sample_weight: Optional[Array] = ...
    ) -> StepTotals: ...
    def predict(self, x: Array, batch_size: int, training: bool = ...) -> Array: ...

class schedules:
    class LearningRateSchedule:
        def learning_rate(self, step: int) -> float: ...
        def momentum(self, step: int) -> float: ...

    class ExponentialDecay(LearningRateSchedule):
        def __init__(
            self,
            initial_learning_rate: float,
            decay_steps: float,
            decay_rate: float,
            staircase: bool,
        ) -> None: ...

    class PiecewiseConstantDecay(LearningRateSchedule):
        def __init__(self, boundaries: list[int], values: list[float]) -> None: ...

    class InverseTimeDecay(LearningRateSchedule):
        def __init__(
            self,
            initial_learning_rate: float,
            decay_steps: float,
            decay_rate: float,
            staircase: bool,
        ) -> None: ...

    class PolynomialDecay(LearningRateSchedule):
        def __init__(
            self,
            initial_learning_rate: float,
            decay_steps: float,
            end_learning_rate: float,
            power: float,
            cycle: bool,
        ) -> None: ...

    class CosineDecay(LearningRateSchedule):
        def __init__(
            self,
            initial_learning_rate: float,
            decay_steps: float,
            alpha: float,
            warmup_target: float = ...,
            warmup_steps: float = ...,
        ) -> None: ...

    class CosineDecayRestarts(LearningRateSchedule):
        def __init__(
            self,
            initial_learning_rate: float,
            first_decay_steps: float,
            t_mul: float,
            m_mul: float,
            alpha: float,
        ) -> None: ...

    class OneCycle(LearningRateSchedule):
        def __init__(
            self,
            max_learning_rate: float,
            total_steps: int,
            start_learning_rate: float = ...,
            last_learning_rate: float = ...,
            max_momentum: float = ...,
            min_momentum: float = ...,
        ) -> None: ...

    class CallbackSchedule(LearningRateSchedule):
        def __init__(self, fn: Callable[[int], float]) -> None: ...
