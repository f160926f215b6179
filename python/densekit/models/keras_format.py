"""Keras 3's formats for a Sequential, both ways (private; used by densekit.models.saving).

Two parts: the model config (config.json, `to_json`) and the weights HDF5 layout
(model.weights.h5, `.weights.h5`). Writing follows what Keras 3.15 writes, so Keras loads our
files; reading is lenient about what Keras adds (`build_config`, DTypePolicy dicts,
`quantization_config`, loss keys at their defaults) and strict about anything densekit cannot
reproduce, which raises ValueError naming the part that is wrong. Nothing in a file is imported
or executed: class names are looked up in densekit's registries, datasets must be numeric.
"""

import io
import warnings

import numpy as np

from densekit import _naming, losses, optimizers
from densekit._optional import require
from densekit.layers.base import assign_variables, copy_variables, float32_weight
from densekit.models import _file_guards

__all__ = []

# Keras-only loss arguments that we accept at their default value.
_LOSS_DEFAULTS = {"label_smoothing": 0.0, "axis": -1, "ignore_class": None, "dtype": None}


def _h5py():
    return require(
        "h5py", extra="io", feature="Saving and loading Keras files (.keras, .weights.h5)"
    )


def model_config(model, include_compile=True):
    """The dict Keras 3 writes for a Sequential: class, config, build and compile configs."""
    data = {
        "module": "keras",
        "class_name": "Sequential",
        "config": model.get_config(),
        "registered_name": None,
    }
    if model.built:
        data["build_config"] = {"input_shape": list(model.input_shape)}
    if include_compile and model.compiled:
        data["compile_config"] = compile_config(model)
    return data


def model_from_config(data, compile=True, where="config", compile_hint="", custom_objects=None):
    """A new Sequential from `model_config`'s dict (densekit's or Keras's), compiled when the
    dict has a compile config and `compile` is true; `compile_hint` ends compile errors;
    `custom_objects` ({name: class}) holds the user's optimizer and schedule classes."""
    from densekit.models.sequential import Sequential

    if not isinstance(data, dict):
        raise ValueError(
            f"{where}: expected a JSON object describing a model; got {type(data).__name__}"
        )
    class_name = data.get("class_name")
    if class_name != "Sequential":
        raise ValueError(
            f"{where}: densekit loads Sequential models only; this model is a {class_name!r}"
        )
    config = data.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"{where}: the model config has no 'layers' list")
    try:
        model = Sequential.from_config(config)
        if not model.built:
            shape = (data.get("build_config") or {}).get("input_shape")
            if shape:
                model.build(tuple(shape))
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"{where}: {e}") from e
    if compile and data.get("compile_config"):
        compile_from_config(
            model,
            data["compile_config"],
            f"{where}: compile_config",
            compile_hint,
            custom_objects=custom_objects,
        )
    return model


# -- compile ---------------------------------------------------------------------------------------
def compile_config(model):
    """Keras 3's compile_config of a compiled model."""
    state = model._compile_state
    loss = state.loss_arg
    metrics = state.metrics_arg
    if metrics is not None:
        metrics = [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics)
        metrics = [m if isinstance(m, str) else m.__name__ for m in metrics]
    return {
        "optimizer": optimizers.serialize(state.optimizer),
        "loss": loss if isinstance(loss, str) else losses.serialize(state.loss),
        "loss_weights": None,
        "metrics": metrics,
        "weighted_metrics": None,
        "run_eagerly": False,
        "steps_per_execution": 1,
        "jit_compile": False,
    }


def compile_from_config(model, config, where, hint="", custom_objects=None):
    """Compiles `model` as `compile_config` says; ValueError for what densekit lacks."""
    try:
        if not isinstance(config, dict):
            raise ValueError(f"expected a dict; got {type(config).__name__}")
        for key in ("loss_weights", "weighted_metrics"):
            if config.get(key) is not None:
                raise ValueError(f"{key} is not supported")
        model.compile(
            optimizer=_optimizer(config.get("optimizer", "sgd"), custom_objects),
            loss=_loss(config.get("loss")),
            metrics=_metrics(config.get("metrics")),
        )
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"{where}: {e}{hint}") from e


def _optimizer(spec, custom_objects=None):
    if isinstance(spec, str):
        return optimizers.get(spec)
    if not isinstance(spec, dict):
        raise ValueError(f"optimizer: cannot interpret {spec!r}")
    return optimizers.deserialize(spec, custom_objects=custom_objects)


def _loss(spec):
    if isinstance(spec, str) or spec is None:
        return spec
    if not isinstance(spec, dict):
        raise ValueError(f"loss: cannot interpret {spec!r} (densekit models have one output)")
    if spec.get("class_name") == "function":  # Keras's form of a loss function
        return spec.get("config")
    config = dict(spec.get("config") or {})
    for key, default in _LOSS_DEFAULTS.items():
        value = config.pop(key, default)
        if value != default:
            raise ValueError(f"loss {spec.get('class_name')!r}: {key}={value!r} is not supported")
    return losses.deserialize({"class_name": spec.get("class_name"), "config": config})


def _metrics(spec):
    if spec is None:
        return None
    if isinstance(spec, (str, dict)):
        spec = [spec]
    names = []
    for metric in spec:
        if isinstance(metric, dict):
            metric = (
                metric.get("config")
                if metric.get("class_name") == "function"
                else _metric_object_name(metric)
            )
        if not isinstance(metric, str):
            raise ValueError(f"metrics: cannot interpret {metric!r}")
        names.append(metric)
    return names


def _metric_object_name(spec):
    """The name of a Keras metric object densekit counts the same way; ValueError for a setting
    densekit would not honour (its history key, a threshold), rather than count it otherwise."""
    class_name = str(spec.get("class_name"))
    name = _naming.to_snake_case(class_name)
    if class_name == "Accuracy":  # exact matches of y_pred and y_true, not the string "accuracy"
        raise ValueError(
            "metric Accuracy (exact match) is not supported; densekit counts 'accuracy' and the "
            "*Accuracy classes"
        )
    for key, value in (spec.get("config") or {}).items():
        default = {"name": name, "threshold": 0.5}.get(key)
        if key != "dtype" and value != default:
            raise ValueError(f"metric {class_name!r}: {key}={value!r} is not supported")
    return name


# -- model.weights.h5 / .weights.h5 ---------------------------------------------------------------
def _layer_paths(model):
    """Keras's HDF5 group of each layer: snake-case class name, then _1, _2 ... per class."""
    used, paths = {}, []
    for layer in model.layers:
        base = _naming.to_snake_case(type(layer).__name__)
        used[base] = used.get(base, -1) + 1
        paths.append((layer, f"layers/{base}" + (f"_{used[base]}" if used[base] else "")))
    return paths


def _keras_shape(layer, variable):
    """Keras's shape of a variable: PReLU keeps one alpha per input element in the input's shape,
    where densekit keeps them flat."""
    if type(layer).__name__ == "PReLU":
        return tuple(layer.input_shape[1:])
    return variable.shape


def weights_bytes(model, include_optimizer):
    """The HDF5 file of the weights (and optimizer state), in Keras 3's layout, as bytes."""
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_group("layers")
        values = iter(copy_variables(model.variables))  # one snapshot, even while fit runs
        for layer, path in _layer_paths(model):
            group = h5.create_group(path).create_group("vars")
            group.attrs["name"] = layer.name
            for i, variable in enumerate(layer.variables):
                value = np.reshape(next(values), _keras_shape(layer, variable))
                value = value.astype(variable._file_dtype, copy=False)
                group.create_dataset(str(i), data=value)
        h5.create_group("vars").attrs["name"] = model.name
        optimizer = model.optimizer
        if include_optimizer and optimizer is not None:
            group = h5.create_group("optimizer").create_group("vars")
            group.attrs["name"] = optimizer.name
            for i, variable in enumerate(optimizer.variables):
                group.create_dataset(str(i), data=_optimizer_value(variable))
    return buffer.getvalue()


def load_h5(model, source, where, load_optimizer, skip_mismatch=False):
    """Reads and checks every array of the HDF5 `source`, then assigns them all (or raises).
    skip_mismatch: a layer (or the optimizer) whose weights do not fit is left as it is, with a
    warning, as Keras's `skip_mismatch`; a corrupt file still raises."""
    h5py = _h5py()
    try:
        h5 = h5py.File(source, "r")
    except (OSError, OverflowError) as e:  # h5py's file-object reader overflows on huge offsets
        raise ValueError(
            f"{where}: not a readable HDF5 file; it may be truncated or corrupt ({e})"
        ) from e
    with h5:
        try:
            assignments = _layer_plan(model, h5, where, skip_mismatch)
            optimizer_update = None
            if load_optimizer:
                try:
                    optimizer_update = _optimizer_plan(model, h5, where)
                except ValueError as e:
                    if not skip_mismatch:
                        raise
                    warnings.warn(
                        f"skip_mismatch: the optimizer's state is not loaded: {e}", stacklevel=4
                    )
        except (OSError, KeyError, RuntimeError, OverflowError) as e:  # h5py on a broken file
            raise ValueError(f"{where}: cannot be read; the file may be corrupt ({e})") from e
    # everything was read and checked: now write, all together under the compute lock
    assign_variables([variable for variable, _ in assignments], [value for _, value in assignments])
    if optimizer_update is not None:
        optimizer_update()


def _vars(h5, path, where):
    """The datasets of the group `path/vars` as {index: unread h5py.Dataset}, or None when
    there is none; soft and external links on the way are refused."""
    h5py = _h5py()
    corrupt = f"{where}: cannot read {path}/vars; the file may be corrupt"
    try:
        group, walked = h5, []
        for part in f"{path}/vars".split("/"):
            walked.append(part)
            group = _file_guards.hard_child(h5py, group, part, where, "/".join(walked))
            if group is None:
                return None
        if not isinstance(group, h5py.Group):
            raise ValueError(f"{corrupt} (it is not a group)")
        datasets = {}
        for key in group:
            entry = _file_guards.hard_child(h5py, group, key, where, f"{path}/vars/{key}")
            if not key.isdigit() or not isinstance(entry, h5py.Dataset):
                raise ValueError(f"{corrupt} (unexpected entry {key!r})")
            datasets[int(key)] = entry
    except (OSError, KeyError, RuntimeError, TypeError, OverflowError) as e:
        raise ValueError(f"{corrupt} ({e})") from e
    if sorted(datasets) != list(range(len(datasets))):
        raise ValueError(
            f"{where}: {path}/vars holds datasets {sorted(datasets)}; expected 0, 1, ..."
        )
    return datasets


def _read(dataset, what, shapes):
    """A dataset's array once `_file_guards.checked_dataset` has let it through."""
    try:
        return _file_guards.checked_dataset(_h5py(), dataset, what, shapes)
    except (OSError, KeyError, RuntimeError, TypeError, OverflowError) as e:
        raise ValueError(f"{what}: cannot be read; the file may be corrupt ({e})") from e


def _layer_plan(model, h5, where, skip_mismatch=False):
    plan, read = [], set()
    for layer, path in _layer_paths(model):
        variables = layer.variables
        datasets = _vars(h5, path, where)
        read.add(path.split("/", 1)[1])
        mismatch = _layer_mismatch(layer, variables, datasets, path, where)
        if mismatch is not None:
            if not skip_mismatch:
                raise ValueError(mismatch)
            warnings.warn(
                f"skip_mismatch: layer '{layer.name}' keeps its weights: {mismatch}", stacklevel=5
            )
            continue
        for i, variable in enumerate(variables):
            value = _read(datasets[i], f"{where}: {path}/vars/{i}", _file_shapes(layer, variable))
            what = f"{where}: layer '{layer.name}': weight {variable.path} ({path}/vars/{i})"
            value = float32_weight(value.reshape(variable.shape), variable.shape, what)
            plan.append((variable, value))
    layers = _file_guards.hard_child(_h5py(), h5, "layers", where, "layers")
    extra = sorted(
        key for key in (layers or {}) if key not in read and _vars(h5, f"layers/{key}", where)
    )
    if extra:
        message = (
            f"{where}: the file holds weights for layers the model does not have: "
            f"{', '.join('layers/' + key for key in extra)}"
        )
        if not skip_mismatch:
            raise ValueError(message)
        warnings.warn(f"skip_mismatch: {message}", stacklevel=5)
    return plan


def _file_shapes(layer, variable):
    """The shapes a file may hold a variable in: densekit's, or Keras's where they differ."""
    return {tuple(variable.shape), tuple(_keras_shape(layer, variable))}


def _layer_mismatch(layer, variables, datasets, path, where):
    """Why the file's weights of `layer` do not fit it (checked before anything is read), or
    None."""
    if datasets is None and variables:
        return (
            f"{where}: no weights for layer '{layer.name}' ({type(layer).__name__}); "
            f"the file has no group {path}"
        )
    datasets = datasets or {}
    if len(datasets) != len(variables):
        return (
            f"{where}: layer '{layer.name}' ({type(layer).__name__}) has "
            f"{len(variables)} weights but {path}/vars holds {len(datasets)}"
        )
    for i, variable in enumerate(variables):
        if datasets[i].shape not in _file_shapes(layer, variable):
            return (
                f"{where}: layer '{layer.name}': weight {variable.path} has shape "
                f"{variable.shape} in the model but {datasets[i].shape} in {path}/vars/{i}"
            )
    return None


def _optimizer_value(variable):
    """A variable's array as Keras stores it (a slot in its model variable's Keras shape)."""
    value = variable.numpy()
    reference = getattr(variable, "reference", None)
    if reference is not None:
        value = np.reshape(value, _keras_shape(reference._layer, reference))
    return value


def _optimizer_plan(model, h5, where):
    """Checks the stored optimizer state; returns a function that restores it, or None.

    Keras's layout: optimizer/vars/0, 1, ... hold `optimizer.variables` in order (iteration,
    learning_rate unless it is a schedule, then the slots). A file saved before Keras built the
    optimizer holds those first ones only; like Keras, which builds its optimizer at the first
    step, they load into an optimizer that has not stepped yet, and are skipped otherwise: the
    slots of a trained optimizer do not go with a restarted count."""
    optimizer = model.optimizer
    values = _vars(h5, "optimizer", where) if optimizer is not None else None
    if not values:
        return None
    variables = optimizer.variables
    head = 2 if optimizer._learning_rate is None else 1
    unbuilt = len(values) == head and int(variables[0].numpy()) == 0
    if len(values) != len(variables) and not unbuilt:
        warnings.warn(  # as Keras: a different optimizer's state is skipped
            f"{where}: skipping the optimizer state: it has {len(values)} variables, the "
            f"model's optimizer ({type(optimizer).__name__}) {len(variables)}",
            stacklevel=3,
        )
        return None
    checked = []
    for i, dataset in sorted(values.items()):
        variable = variables[i]
        what = f"{where}: optimizer/vars/{i} ({variable.path})"
        shapes = {tuple(variable.shape)}
        reference = getattr(variable, "reference", None)
        if reference is not None:
            shapes.add(tuple(_keras_shape(reference._layer, reference)))
        if variable.name == "iteration":
            shapes.add((1,))  # refused below as not a whole number, with its value shown
        checked.append(_checked_optimizer_value(variable, _read(dataset, what, shapes), what))

    def restore():
        for variable, value in zip(variables, checked):
            variable.assign(value)

    return restore


def _checked_optimizer_value(variable, value, what):
    if variable.name == "iteration":
        whole = value.shape == () and (
            np.issubdtype(value.dtype, np.integer)
            or (np.isfinite(value) and float(value).is_integer())
        )
        if not whole:
            raise ValueError(f"{what} must be a whole number; found {value!r}")
        if not 0 <= value < 2**62:
            raise ValueError(f"{what} must be in [0, 2**62); found {value!r}")
        return int(value)
    with np.errstate(over="ignore"):  # beyond float32's range becomes inf, refused below
        value = np.asarray(value, dtype=np.float32).reshape(variable.shape)
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{what} holds NaN or Inf, or values beyond float32's range")
    if variable.name == "learning_rate" and not value >= 0:
        raise ValueError(f"{what} must be >= 0; found {value!r}")
    return value
