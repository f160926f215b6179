"""The base optimizer: Keras 3's arguments around every update rule (private module).

Python holds the configuration and the names; the C++ optimizer (`_core.Optimizer`) holds the
learning rate, the step count and the slots, and runs the whole update inside the training call:
clipping, decoupled weight decay, gradient accumulation, the moving averages of EMA and the
learning-rate schedule (a built-in schedule is evaluated in C++; a Python one costs a call per
step).
"""

import math
import re
import warnings

import numpy as np

from densekit import _core, _naming
from densekit._numbers import as_float32, is_real
from densekit.optimizers.variables import ScalarVariable, SlotVariable

__all__ = ["Optimizer"]

_FLOAT32_TINY = 1.4e-45  # the smallest positive (subnormal) float32


def _schedules():
    from densekit.optimizers import schedules  # the schedules import the optimizers' core

    return schedules


def _positive_or_none(owner, name, value):
    """0 for None (the core's "not set"); a value float32 keeps positive and finite otherwise."""
    if value is None:
        return 0.0
    if not is_real(value) or not 0 < as_float32(value) < math.inf:
        raise ValueError(
            f"{owner}: {name} must be a positive finite number or None (as float32, between "
            f"{_FLOAT32_TINY:.1e} and 3.4e+38). Received: {name}={value!r}"
        )
    return float(value)


# The base optimizer's arguments in Keras's order: after a rule's own, a call may pass them by
# position, as it may to Keras's optimizers.
_BASE_ARGUMENTS = (
    "weight_decay",
    "clipnorm",
    "clipvalue",
    "global_clipnorm",
    "use_ema",
    "ema_momentum",
    "ema_overwrite_frequency",
    "loss_scale_factor",
    "gradient_accumulation_steps",
    "name",
)


def base_arguments(owner, args, kwargs, own=()):
    """kwargs with the positional arguments that follow a rule's own named in Keras's order;
    `own`: base arguments the rule already takes among its own (AdamW's weight_decay)."""
    names = [name for name in _BASE_ARGUMENTS if name not in own]
    if len(args) > len(names):
        raise TypeError(
            f"{owner}: too many positional arguments ({len(args)} after the rule's own; the base "
            f"optimizer takes at most {len(names)}: {', '.join(names)})"
        )
    kwargs = dict(kwargs)
    for name, value in zip(names, args):
        if name in kwargs:
            raise TypeError(f"{owner}: got multiple values for argument '{name}'")
        kwargs[name] = value
    return kwargs


def check_learning_rate(owner, value):
    """0 is allowed, as in Keras: it pauses training without recompiling."""
    if not is_real(value) or not 0 <= as_float32(value) < math.inf:
        raise ValueError(
            f"{owner}: learning_rate must be a number >= 0 that is finite in float32, or a "
            f"LearningRateSchedule. Received: learning_rate={value!r}"
        )
    return float(value)


def check_fraction(owner, name, value, low_open=False):
    """A hyperparameter in [0, 1] (in (0, 1] with low_open)."""
    ok = is_real(value) and (0 < value <= 1 if low_open else 0 <= value <= 1)
    if not ok:
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{owner}: `{name}` must be in {interval}. Received: {name}={value!r}")
    return float(value)


def check_non_negative(owner, name, value):
    if not is_real(value) or not 0 <= as_float32(value) < math.inf:
        raise ValueError(
            f"{owner}: `{name}` must be a finite number >= 0. Received: {name}={value!r}"
        )
    return float(value)


class Optimizer:
    """Base class of the optimizers, with Keras 3's arguments.

    Args:
        learning_rate: a float >= 0, a `keras.optimizers.schedules.LearningRateSchedule`, or a
            callable without arguments returning the rate.
        weight_decay: decoupled weight decay: before each update, w ← w·(1 − weight_decay·lr).
        clipnorm: clip each gradient to this L2 norm.
        clipvalue: clip each gradient element to [-clipvalue, clipvalue].
        global_clipnorm: clip all gradients together to this joint L2 norm.
        use_ema: keep an exponential moving average of the weights, which replaces them at the
            end of `fit` (and every `ema_overwrite_frequency` updates when that is set).
        ema_momentum: the average's momentum: average ← m·average + (1 − m)·weight.
        ema_overwrite_frequency: None, or an integer >= 1.
        loss_scale_factor: None, or a factor the loss is multiplied by and the gradients divided
            by. densekit computes in float32 throughout, where the two cancel: it is accepted and
            has no effect on the result.
        gradient_accumulation_steps: None, or an integer >= 2: the weights change every that many
            steps, by the mean of the gradients since the last change.
        name: the optimizer's name; automatic (snake_case class name, then _1, _2, ...) when None.
    """

    # (slot name, position in the C++ state) groups in Keras's order, per subclass; a group's
    # slots are interleaved per variable, as Keras creates them.
    def _slot_groups(self):
        raise NotImplementedError

    def _rule_settings(self):
        raise NotImplementedError

    def _takes_scheduled_momentum(self):
        """Whether a schedule's momentum has something to drive (SGD's or RMSprop's momentum
        slot, the Adam family's and Lion's beta_1)."""
        return getattr(self, "momentum", 0) > 0 or hasattr(self, "beta_1")

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        owner = type(self).__name__
        if kwargs.pop("decay", None) is not None:  # tf.keras's; Keras 3 drops it, as here
            warnings.warn(
                f"{owner}: argument `decay` is no longer supported and will be ignored; pass a "
                "schedule such as keras.optimizers.schedules.InverseTimeDecay as learning_rate",
                stacklevel=3,
            )
        if kwargs:
            raise ValueError(f"{owner}: argument(s) not recognized: {kwargs}")
        clips = [
            k
            for k, v in (
                ("clipnorm", clipnorm),
                ("clipvalue", clipvalue),
                ("global_clipnorm", global_clipnorm),
            )
            if v is not None
        ]
        if len(clips) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}"
            )
        if gradient_accumulation_steps is not None and (
            not isinstance(gradient_accumulation_steps, (int, np.integer))
            or isinstance(gradient_accumulation_steps, bool)
            or gradient_accumulation_steps < 2
        ):
            raise ValueError(
                f"{owner}: `gradient_accumulation_steps` must be an integer >= 2. Received: "
                f"gradient_accumulation_steps={gradient_accumulation_steps!r}"
            )
        if not isinstance(use_ema, (bool, np.bool_)):
            raise ValueError(f"{owner}: `use_ema` must be a bool. Received: use_ema={use_ema!r}")
        check_fraction(owner, "ema_momentum", ema_momentum)
        if ema_overwrite_frequency is not None and (
            not isinstance(ema_overwrite_frequency, (int, np.integer))
            or isinstance(ema_overwrite_frequency, bool)
            or ema_overwrite_frequency < 1
        ):
            raise ValueError(
                f"{owner}: `ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                f"ema_overwrite_frequency={ema_overwrite_frequency!r}"
            )
        if loss_scale_factor is not None and not (
            is_real(loss_scale_factor) and 0 < as_float32(loss_scale_factor) < math.inf
        ):
            raise ValueError(
                f"{owner}: `loss_scale_factor` must be a positive finite number or None. "
                f"Received: loss_scale_factor={loss_scale_factor!r}"
            )
        if weight_decay is not None:
            check_non_negative(owner, "weight_decay", weight_decay)
        if name is not None and (not isinstance(name, str) or "/" in name):
            raise ValueError(
                f"{owner}: `name` must be a string without the character '/'. Received: "
                f"name={name!r}"
            )
        self.name = name if name is not None else _naming.unique_name(_naming.to_snake_case(owner))
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = bool(use_ema)
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self._excluded_ids = set()
        self._excluded_pattern = None
        self._tracked = []  # the model's trainable variables, from compile

        settings = _core.OptimizerSettings()
        settings.rule = self._rule_settings()
        settings.clip = _core.ClipSpec(
            clipvalue=_positive_or_none(owner, "clipvalue", clipvalue),
            clipnorm=_positive_or_none(owner, "clipnorm", clipnorm),
            global_clipnorm=_positive_or_none(owner, "global_clipnorm", global_clipnorm),
        )
        settings.weight_decay = float(weight_decay or 0.0)
        settings.use_ema = self.use_ema
        settings.ema_momentum = float(ema_momentum)
        settings.ema_overwrite_frequency = int(ema_overwrite_frequency or 0)
        settings.gradient_accumulation_steps = int(gradient_accumulation_steps or 0)
        self._core = _core.Optimizer(settings, 0.0)
        self._learning_rate = None  # a schedule or a callable; None: the core's float
        self.learning_rate = learning_rate
        self._iterations_variable = ScalarVariable(
            "iteration", f"{self.name}/iteration", "int64", self._read_steps, self._write_steps
        )
        self._learning_rate_variable = ScalarVariable(
            "learning_rate",
            f"{self.name}/learning_rate",
            "float32",
            lambda: np.float32(self._core.learning_rate),
            self._write_learning_rate,
        )

    # -- the learning rate --------------------------------------------------------------------
    @property
    def learning_rate(self):
        """A variable for a float rate (read with float(), .numpy(), keras.backend.get_value;
        write by assignment or .assign); the current value for a schedule."""
        if self._learning_rate is None:
            return self._learning_rate_variable
        return np.float32(self._core.current_learning_rate())

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, ScalarVariable) or (isinstance(value, np.ndarray) and value.ndim == 0):
            value = value.numpy().item() if isinstance(value, ScalarVariable) else value.item()
        if is_real(value):
            if self._learning_rate is not None:
                raise TypeError(
                    f"{type(self).__name__}: this optimizer was created with a schedule as its "
                    "`learning_rate`, hence its learning rate is not settable. Create it with a "
                    "float `learning_rate` to set the rate."
                )
            self._core.learning_rate = check_learning_rate(type(self).__name__, value)
            return
        if not callable(value):
            check_learning_rate(type(self).__name__, value)  # raises
        schedules = _schedules()
        if isinstance(value, schedules.LearningRateSchedule):
            core = schedules.core_schedule(value)
            if not math.isnan(core.momentum(0)) and not self._takes_scheduled_momentum():
                raise ValueError(
                    f"{type(self).__name__}: the schedule {type(value).__name__} cycles the "
                    "momentum, which this optimizer does not have (SGD and RMSprop need "
                    "momentum > 0; the Adam family and Lion cycle beta_1)."
                )
            self._core.schedule = core
        else:
            self._core.schedule = schedules.core_schedule(lambda step: value())
        self._learning_rate = value

    def _write_learning_rate(self, value):
        self.learning_rate = value

    def _read_steps(self):
        return self._core.steps

    def _write_steps(self, value):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{self.name}/iteration must be an integer >= 0. Received: {value!r}")
        self._core.steps = int(value)

    @property
    def iterations(self):
        """The updates applied so far (Keras: steps over the gradient accumulation)."""
        if self.gradient_accumulation_steps:
            return ScalarVariable(
                "iteration", f"{self.name}/iteration", "int64", lambda: self._core.iterations
            )
        return self._iterations_variable

    # -- building on a model's variables ------------------------------------------------------
    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Variables (or those whose name contains one of var_names) weight decay leaves alone.
        Only before the optimizer is built (before `compile`), as in Keras."""
        if self._tracked:
            raise ValueError(
                "`exclude_from_weight_decay()` can only be configured before the optimizer is "
                "built."
            )
        self._excluded_ids = {id(v) for v in var_list or []}
        self._excluded_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _decays(self, variable):
        if id(variable) in self._excluded_ids:
            return False
        pattern = self._excluded_pattern
        return pattern is None or pattern.search(variable.name) is None

    def _track(self, trainable_variables):
        """Called by compile once the network built the state of these variables."""
        self._tracked = list(trainable_variables)
        for variable in self._tracked:
            self._core.set_decays(variable._parameter, self._decays(variable))

    @property
    def built(self):
        return bool(self._tracked)

    def finalize_variable_values(self, var_list=None):
        """With EMA, the weights take their moving averages (fit does this at its end)."""
        if self.use_ema:
            variables = self._tracked if var_list is None else list(var_list)
            self._core.finalize_variable_values([v._parameter for v in variables])

    @property
    def variables(self):
        """Keras's order: iteration, learning_rate (not with a schedule), the moving averages,
        the gradient accumulators, then the rule's slots."""
        found = [self._iterations_variable]
        if self._learning_rate is None:
            found.append(self._learning_rate_variable)
        groups = []
        if self.use_ema:
            groups.append([("average", self._core.average)])
        if self.gradient_accumulation_steps:
            groups.append([("gradient_accumulator", self._core.accumulator)])
        for group in self._slot_groups():
            groups.append(
                [(name, lambda p, k=position: self._core.slot(p, k)) for name, position in group]
            )
        for group in groups:
            for variable in self._tracked:
                for slot_name, view_of in group:
                    found.append(self._slot_variable(variable, slot_name, view_of))
        return found + self._extra_variables()

    def _extra_variables(self):
        return []

    def _slot_variable(self, variable, slot_name, view_of):
        name = f"{variable.path.replace('/', '_')}_{slot_name}"
        parameter = variable._parameter
        return SlotVariable(
            name,
            f"{self.name}/{name}",
            lambda: view_of(parameter),
            variable,
            self._core.refresh_bounds,
        )

    # -- configuration ------------------------------------------------------------------------
    def get_config(self):
        if self._learning_rate is None:
            learning_rate = float(np.float32(self._core.learning_rate))
        else:
            learning_rate = _schedules().serialize(self._learning_rate)
        return {
            "name": self.name,
            "learning_rate": learning_rate,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = _schedules().deserialize(
                config["learning_rate"], custom_objects=custom_objects
            )
        return cls(**config)

    def __reduce__(self):
        from densekit.pickling import reduce_optimizer

        return reduce_optimizer(self)

    def __repr__(self):
        return f"<densekit.optimizers.{type(self).__name__} name={getattr(self, 'name', None)}>"
