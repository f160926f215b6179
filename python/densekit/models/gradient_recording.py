"""GradientRecording: the per-layer gradient figures a model's network records during training,
as `callbacks.GradientMonitor` reads them (private; made by `Sequential._gradient_recording`).

The figures come from C++ per layer that the network runs, bottom first; here each is paired with
its layer, so that readers name layers without knowing which ones the network runs.
"""

__all__ = ["GradientRecording", "pair_with_layers"]


def pair_with_layers(layers, stats, model_name):
    """[(layer, stats of that layer), ...] for the network's `layers` and per-layer `stats`."""
    if len(layers) != len(stats):
        raise RuntimeError(
            f"diagnostics: the network reported {len(stats)} layers but model "
            f"'{model_name}' has {len(layers)} computing layers; rebuild the model"
        )
    return list(zip(layers, stats))


class GradientRecording:
    """Switches the recording of one training step in `every` on and off, and takes the records.

    Bound to the network the model had when it was made: a model rebuilt since (a layer added or
    popped) records into its new network, through a new GradientRecording.

    Args:
        network: the model's `_core.Network`.
        layers: the layers that network runs, in its order.
        model_name: for error messages.
    """

    def __init__(self, network, layers, model_name):
        self._network = network
        self._layers = list(layers)
        self._model_name = model_name

    @property
    def steps_done(self):
        """The training steps the network has run, all fits together."""
        return self._network.steps_done

    def start(self, every):
        """Drops records left over by a fit that raised and records one step in `every` (the
        steps whose count of steps done before them is a multiple of `every`)."""
        self._network.take_monitor_records()
        self._network.set_monitor_every(every)

    def stop(self):
        self._network.set_monitor_every(0)

    def take(self):
        """[(step, [(layer, LayerStats), ...]), ...]: the records since the last take, oldest
        first, `step` being the count of steps done before the recorded one."""
        return [
            (int(record.step), pair_with_layers(self._layers, record.layers, self._model_name))
            for record in self._network.take_monitor_records()
        ]
