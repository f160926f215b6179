"""Sequential: a stack of layers run by one C++ network."""

import numpy as np

from densekit import _core, _naming
from densekit.layers import InputLayer, Layer
from densekit.layers.base import VariableLists, assign_variables, copy_variables, float32_weight
from densekit.models.inference import Inference
from densekit.models.summary import print_summary
from densekit.models.training import Trainer

__all__ = ["Sequential"]


class Sequential(Trainer, Inference, VariableLists):
    """A linear stack of layers, as Keras's `Sequential`.

    Args:
        layers: the layers, bottom first (an InputLayer first declares the input shape).
        name: the model's name; automatic ("sequential", "sequential_1", ...) when None.

    Example:
        >>> model = densekit.Sequential([
        ...     densekit.layers.Flatten(input_shape=[8, 8]),
        ...     densekit.layers.Dense(100, activation="relu"),
        ...     densekit.layers.Dense(10, activation="softmax")])
    """

    def __init__(self, layers=None, name=None, trainable=True):
        self.name = name or _naming.unique_name("sequential")
        self._layers = []
        self._input_shape = None
        self._core_network = None  # made on first use after add() (see _network)
        self._names = None  # name -> layer, see _has_layer_named
        self.built = False
        self.stop_training = False
        self.stop_evaluating = False
        self.stop_predicting = False
        self.history = None
        self._compile_state = None  # a CompileState once compiled
        self._fit_state = None  # a FitState while fit runs
        for layer in layers or []:
            self.add(layer)
        if not trainable:
            self.trainable = False

    # -- structure --------------------------------------------------------------------------
    def add(self, layer):
        """Appends a layer (an InputLayer only as the first)."""
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Sequential '{self.name}': only densekit layers can be added. "
                f"Received: {layer!r} of type {type(layer).__name__}"
            )
        if isinstance(layer, InputLayer):
            if self._layers or self._input_shape is not None:
                raise ValueError(f"Sequential '{self.name}': an InputLayer must come first")
            self._input_shape = (None,) + layer._input_shape_arg
            return
        if self._has_layer_named(layer.name):
            raise ValueError(
                f"Sequential '{self.name}': all layers must have unique names; "
                f"'{layer.name}' appears twice"
            )
        if self.built:
            self._add_to_built(layer)
            return
        state = self._structure_state(also=layer)
        try:
            if (
                not self._layers
                and self._input_shape is None
                and layer._input_shape_arg is not None
            ):
                self._input_shape = (None,) + layer._input_shape_arg
            self._layers.append(layer)
            self._names = None
            self._invalidate()
            if self._input_shape is not None:
                self.build(self._input_shape)
        except BaseException:
            self._restore_structure(state)
            raise

    def _has_layer_named(self, name):
        """Whether a layer of the model is called `name`, looked up in an index of the names so
        that adding n layers stays linear in n. An entry whose layer was renamed since is not
        taken for a match; the index is remade whole after pop and failed adds."""
        if self._names is None:
            self._names = {layer.name: layer for layer in self._layers}
        other = self._names.get(name)
        return other is not None and other.name == name

    def _add_to_built(self, layer):
        """Builds the new layer alone on the model's output shape; the network is made at its
        first use: adding n layers one by one (as loading a config does) stays linear in n."""
        state = (self._core_network, layer._core, layer.built, layer.input_shape)
        try:
            layer._ensure_built(self._layers[-1].output_shape)
            self._layers.append(layer)
            self._core_network = None
            self._names[layer.name] = layer
        except BaseException:
            if self._layers and self._layers[-1] is layer:
                self._layers.pop()
            self._names = None
            self._core_network, layer._core, layer.built, layer.input_shape = state
            raise

    def pop(self):
        """Removes and returns the top layer; the model is unchanged if it cannot be rebuilt."""
        if not self._layers:
            raise IndexError(f"Sequential '{self.name}' has no layers to pop")
        state = self._structure_state()
        try:
            layer = self._layers.pop()
            self._names = None
            self._invalidate()
            if self._layers and self._input_shape is not None:
                self.build(self._input_shape)
        except BaseException:
            self._restore_structure(state)
            raise
        return layer

    def _invalidate(self):
        self._core_network = None
        self.built = False

    @property
    def _network(self):
        if self._core_network is None and self.built:
            self._make_network()
        return self._core_network

    def _structure_state(self, also=None):
        """What add, pop and build change: the model's network and shapes, and the build state
        of each layer and of `also` (a failed build may leave a new layer half built)."""
        layers = self._layers + ([also] if also is not None else [])
        built = [(layer, layer._core, layer.built, layer.input_shape) for layer in layers]
        return list(self._layers), self._core_network, self.built, self._input_shape, built

    def _restore_structure(self, state):
        layer_list, self._core_network, self.built, self._input_shape, layers = state
        self._layers = list(layer_list)
        self._names = None
        for layer, core, built, input_shape in layers:
            layer._core, layer.built, layer.input_shape = core, built, input_shape

    @property
    def layers(self):
        return list(self._layers)

    def __reduce__(self):  # pickle, copy.deepcopy, joblib
        from densekit.pickling import reduce_model

        return reduce_model(self)

    def build(self, input_shape=None):
        """Builds every layer for inputs of `input_shape` (with the batch axis) and the C++ network."""
        if input_shape is None:
            input_shape = self._input_shape
        if input_shape is None:
            raise ValueError(
                f"Sequential '{self.name}': give build() an input shape such as (None, 784)"
            )
        shape = tuple(input_shape)
        self._input_shape = (None,) + shape[1:]
        if not self._layers:
            raise ValueError(f"Sequential '{self.name}' has no layers")
        shape = self._input_shape
        for layer in self._layers:
            layer._ensure_built(shape)
            shape = layer.compute_output_shape(shape)
        self._make_network()

    def _make_network(self):
        twins = [layer._core for layer in self._computing_layers()]
        self._core_network = _core.Network(twins, int(np.prod(self._input_shape[1:])))
        self.built = True
        if self._compile_state is not None:
            self._compile_network()

    def _computing_layers(self):
        """The layers the network runs, in its order: those with a C++ twin (a Flatten has
        none: it only reshapes)."""
        return [layer for layer in self._layers if layer._core is not None]

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"Sequential '{self.name}': {what} needs a built model; give the first "
                f"layer an input_shape, call build(), or fit() on data first"
            )

    @property
    def input_shape(self):
        self._require_built("input_shape")
        return self._input_shape

    @property
    def output_shape(self):
        self._require_built("output_shape")
        return self._layers[-1].output_shape

    def __call__(self, inputs, training=False):
        """Runs the model on a numpy array; training=True uses batch statistics."""
        return self._run(inputs, batch_size=None, training=bool(training))

    # -- variables --------------------------------------------------------------------------
    @property
    def trainable(self):
        return all(layer.trainable for layer in self._layers) if self._layers else True

    @trainable.setter
    def trainable(self, value):
        for layer in self._layers:
            layer.trainable = value

    @property
    def variables(self):
        return [v for layer in self._layers for v in layer.variables]

    @property
    def losses(self):
        """The layers' weight penalties at the current weights (see `Layer.losses`)."""
        return [loss for layer in self._layers for loss in layer.losses]

    def count_params(self):
        self._require_built("count_params")
        return int(sum(layer.count_params() for layer in self._layers))

    def get_weights(self):
        """Copies of all weights, in Keras's order, read together under the compute lock (a
        consistent snapshot even while `fit` runs in another thread)."""
        return copy_variables(self.variables)

    def set_weights(self, weights):
        """Copies all weights in, all or nothing: every array is checked (real numbers, the
        variable's shape, finite) before the first is written, and all are written together."""
        self._require_built("set_weights")
        weights = list(weights)
        variables = self.variables
        if len(weights) != len(variables):
            raise ValueError(
                f"Sequential '{self.name}' expects {len(variables)} weight arrays; "
                f"received {len(weights)}"
            )
        arrays = [
            float32_weight(w, v.shape, f"Sequential '{self.name}': weight {i} ({v.path})")
            for i, (v, w) in enumerate(zip(variables, weights))
        ]
        assign_variables(variables, arrays)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(
            f"No such layer: {name}. Existing layers are: {[each.name for each in self._layers]}"
        )

    def summary(self, line_length=None, positions=None, print_fn=None):
        """Prints the layers with their output shapes and parameter counts."""
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)

    # -- configuration ----------------------------------------------------------------------
    def get_config(self):
        """Keras 3's Sequential config: an InputLayer entry carries the input shape, so the
        layers' own configs leave out `batch_input_shape` (Keras 3 layers reject it)."""
        from densekit.layers import serialize

        layers = []
        if self._input_shape is not None:
            layers.append(
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {
                        "batch_shape": self._input_shape,
                        "dtype": "float32",
                        "sparse": False,
                        "name": "input_layer",
                    },
                    "registered_name": None,
                }
            )
        for layer in self._layers:
            entry = serialize(layer)
            entry["config"].pop("batch_input_shape", None)
            layers.append(entry)
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": "float32",
            "layers": layers,
        }
        if self._input_shape is not None:
            config["build_input_shape"] = self._input_shape
        return config

    @classmethod
    def from_config(cls, config):
        """A new Sequential from `get_config`'s dict or Keras 3's. Errors name the layer."""
        from densekit.layers import deserialize

        model = cls(name=config.get("name"))
        for i, layer_config in enumerate(config.get("layers", [])):
            entry = layer_config if isinstance(layer_config, dict) else {}
            class_name = entry.get("class_name")
            name = (
                (entry.get("config") or {}).get("name")
                if isinstance(entry.get("config"), dict)
                else None
            )
            try:
                if not isinstance(layer_config, dict):
                    raise ValueError(f"expected a dict; got {type(layer_config).__name__}")
                if class_name == "InputLayer":
                    model.add(InputLayer.from_config(entry.get("config", {})))
                else:
                    model.add(deserialize(entry))
            except (TypeError, ValueError, KeyError) as e:
                raise ValueError(f"layer {i} ({class_name} {name!r}): {e}") from e
        shape = config.get("build_input_shape")
        if not model.built and model._layers and isinstance(shape, (list, tuple)):
            model.build(tuple(shape))
        return model

    # -- saving (delegates to densekit.models.saving) -----------------------------------------
    def save(self, filepath, overwrite=True, **kwargs):
        """Saves the model as a Keras 3 `.keras` file (atomically; see densekit.models.saving)."""
        from densekit.models import saving

        saving.save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        """Saves the weights and optimizer state as a Keras 3 `.weights.h5` file."""
        from densekit.models import saving

        saving.save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, skip_mismatch=False):
        """Loads weights from a `.weights.h5` or `.keras` file; the model is unchanged on error.
        With `skip_mismatch`, a layer whose weights in the file do not fit keeps its own, with a
        warning, and the others load, as in Keras."""
        from densekit.models import saving

        saving.load_weights(self, filepath, skip_mismatch)

    def to_json(self, **kwargs):
        """The model config as JSON, readable by `densekit.models.model_from_json` and Keras 3."""
        from densekit.models import saving

        return saving.model_to_json(self, **kwargs)

    def __repr__(self):
        return f"<Sequential name={self.name}, built={self.built}>"
