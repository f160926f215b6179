"""Summaries written with the `tensorboard` package's own event writer and protobufs (private).

Scalars are written as `simple_value`s and histograms as `HistogramProto`s, the forms
TensorBoard's readers (`EventAccumulator.Scalars` / `Histograms`) and its web app take without
TensorFlow; the model's config as the `graph_keras_model` summary Keras writes.
"""

import time

import numpy as np

from densekit import _optional

__all__ = []

_HISTOGRAM_BUCKETS = 30  # as tf.summary.histogram


class SummaryWriter:
    """An events file in `logdir`, created at the first write."""

    def __init__(self, logdir):
        self.logdir = logdir
        self._writer = None
        self._modules = _import_tensorboard()

    def _add(self, step, value):
        event_file_writer, summary_pb2, event_pb2, _, _ = self._modules
        if self._writer is None:
            self._writer = event_file_writer.EventFileWriter(self.logdir)
        summary = summary_pb2.Summary(value=[value])
        self._writer.add_event(
            event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary)
        )

    def scalar(self, tag, value, step):
        summary_pb2 = self._modules[1]
        self._add(step, summary_pb2.Summary.Value(tag=tag, simple_value=float(value)))

    def histogram(self, tag, values, step):
        summary_pb2 = self._modules[1]
        values = np.asarray(values, dtype=np.float64).ravel()
        counts, edges = np.histogram(values, bins=_HISTOGRAM_BUCKETS)
        proto = summary_pb2.HistogramProto(
            min=float(values.min()),
            max=float(values.max()),
            num=float(values.size),
            sum=float(values.sum()),
            sum_squares=float(np.dot(values, values)),
            bucket_limit=edges[1:].tolist(),
            bucket=counts.astype(np.float64).tolist(),
        )
        self._add(step, summary_pb2.Summary.Value(tag=tag, histo=proto))

    def keras_model(self, tag, config_json, step):
        """The model's JSON config, which TensorBoard's graph tab draws as Keras's conceptual graph."""
        _, summary_pb2, _, tensor_pb2, types_pb2 = self._modules
        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(
                plugin_name="graph_keras_model", content=b"1"
            )
        )
        tensor = tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING, string_val=[config_json.encode("utf-8")]
        )
        self._add(step, summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor))

    def flush(self):
        if self._writer is not None:
            self._writer.flush()

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _import_tensorboard():
    _optional.require("tensorboard", extra="tensorboard", feature="The TensorBoard callback")
    from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
    from tensorboard.summary.writer import event_file_writer

    return event_file_writer, summary_pb2, event_pb2, tensor_pb2, types_pb2
