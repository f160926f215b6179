"""TensorBoard: event files read back with TensorBoard's own reader, against the History, the
per-batch logs, the weights and a GradientMonitor's records."""

import json
import sys

import numpy as np
import pytest

import densekit
from densekit.callbacks import CallbackList, GradientMonitor, LambdaCallback, TensorBoard

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing import event_accumulator  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


def _read(directory):
    # Keep every event: the reader samples large series by default.
    reader = event_accumulator.EventAccumulator(
        str(directory), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0}
    )
    reader.Reload()
    return reader


def _scalars(reader, tag):
    return [(e.step, e.value) for e in reader.Scalars(tag)]


def _as_float32(values):
    return [float(np.float32(v)) for v in values]


def test_epoch_scalars_are_the_history(tmp_path, digits, digits_model):
    (x, y), _ = digits
    model = digits_model(optimizer=densekit.optimizers.Adam(0.002))
    history = model.fit(
        x,
        y,
        epochs=3,
        batch_size=100,
        validation_split=0.2,
        verbose=0,
        callbacks=[TensorBoard(tmp_path)],
    )
    h = history.history
    train, validation = _read(tmp_path / "train"), _read(tmp_path / "validation")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    for tag, key in (("epoch_loss", "loss"), ("epoch_accuracy", "accuracy")):
        assert _scalars(train, tag) == list(zip(range(3), _as_float32(h[key])))
        assert _scalars(validation, tag) == list(zip(range(3), _as_float32(h[f"val_{key}"])))
    assert _scalars(train, "epoch_learning_rate") == [(e, np.float32(0.002)) for e in range(3)]
    # After each validation, at the optimizer's iterations: 1437 * 0.8 -> 1149 samples, 12 steps.
    evaluation = _scalars(validation, "evaluation_loss_vs_iterations")
    assert evaluation == list(zip([12, 24, 36], _as_float32(h["val_loss"])))
    assert train.Tags()["histograms"] == []  # histogram_freq=0


def test_batch_scalars_are_the_running_means_every_update_freq_batches(
    tmp_path, digits, digits_model
):
    (x, y), _ = digits
    x, y = x[:500], y[:500]  # 5 batches of 100 per epoch
    batch_logs = []
    callbacks = [
        TensorBoard(tmp_path, update_freq=3),
        LambdaCallback(on_train_batch_end=lambda batch, logs: batch_logs.append(dict(logs))),
    ]
    digits_model().fit(x, y, epochs=2, batch_size=100, verbose=0, callbacks=callbacks)
    assert len(batch_logs) == 10  # every batch was seen, not chunks
    train = _read(tmp_path / "train")
    # Batches counted from 1 over the fit: 3, 6 and 9 are written.
    expected = [(s, float(np.float32(batch_logs[s - 1]["loss"]))) for s in (3, 6, 9)]
    assert _scalars(train, "batch_loss") == expected
    assert [s for s, _ in _scalars(train, "batch_accuracy")] == [3, 6, 9]


def test_update_freq_batch_writes_every_batch(tmp_path, digits, digits_model):
    (x, y), _ = digits
    digits_model().fit(
        x[:300],
        y[:300],
        batch_size=100,
        verbose=0,
        callbacks=[TensorBoard(tmp_path, update_freq="batch")],
    )
    assert [s for s, _ in _scalars(_read(tmp_path / "train"), "batch_loss")] == [1, 2, 3]


def test_evaluate_alone_writes_its_results_at_the_iterations(tmp_path, digits, digits_model):
    (x, y), (x_test, y_test) = digits
    model = digits_model()
    model.fit(x[:200], y[:200], batch_size=50, epochs=2, verbose=0)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0, callbacks=[TensorBoard(tmp_path)])
    validation = _read(tmp_path / "validation")
    assert _scalars(validation, "evaluation_loss_vs_iterations") == [(8, np.float32(loss))]
    assert _scalars(validation, "evaluation_accuracy_vs_iterations") == [(8, np.float32(accuracy))]


def test_update_freq_epoch_keeps_fit_in_one_call_per_epoch():
    assert not CallbackList([TensorBoard()]).needs_batch_hooks("train")
    assert CallbackList([TensorBoard(update_freq="batch")]).needs_batch_hooks("train")
    assert CallbackList([TensorBoard(update_freq=10)]).needs_batch_hooks("train")


def test_weight_histograms_every_histogram_freq_epochs(tmp_path, digits, digits_model):
    (x, y), _ = digits
    model = digits_model()
    weights = []
    callbacks = [
        LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append(model.get_weights())),
        TensorBoard(tmp_path, histogram_freq=2),
    ]
    model.fit(x[:300], y[:300], epochs=4, verbose=0, callbacks=callbacks)
    train = _read(tmp_path / "train")
    # Keras 3's tags: <model>/<layer>/<weight>/histogram, in the order of get_weights().
    tags = [
        f"{model.name}/{layer.name}/{weight}/histogram"
        for layer in model.layers[1:]
        for weight in ("kernel", "bias")
    ]
    assert sorted(train.Tags()["histograms"]) == sorted(tags)
    for index, tag in enumerate(tags):
        events = train.Histograms(tag)
        assert [e.step for e in events] == [0, 2]
        for event in events:
            w = weights[event.step][index].astype(np.float64)
            h = event.histogram_value
            assert h.num == w.size and sum(h.bucket) == w.size
            assert h.min == w.min() and h.max == w.max()
            np.testing.assert_allclose([h.sum, h.sum_squares], [w.sum(), (w * w).sum()])


def test_the_graph_is_the_model_config(tmp_path, digits, digits_model):
    (x, y), _ = digits
    model = digits_model()
    model.fit(x[:100], y[:100], verbose=0, callbacks=[TensorBoard(tmp_path / "with")])
    model.fit(
        x[:100],
        y[:100],
        verbose=0,
        callbacks=[TensorBoard(tmp_path / "without", write_graph=False)],
    )
    (event,) = _read(tmp_path / "with" / "train").Tensors("keras")
    assert json.loads(event.tensor_proto.string_val[0]) == json.loads(model.to_json())
    assert _read(tmp_path / "without" / "train").Tags()["tensors"] == []


@pytest.mark.parametrize("monitor_first", [True, False])
def test_gradient_monitor_figures_are_written_as_scalars(
    tmp_path, digits, digits_model, monitor_first
):
    (x, y), _ = digits
    monitor = GradientMonitor(every=4, warn=False)
    board = TensorBoard(tmp_path)
    callbacks = [monitor, board] if monitor_first else [board, monitor]
    model = digits_model()
    model.fit(x[:400], y[:400], epochs=2, batch_size=50, verbose=0, callbacks=callbacks)
    assert len(monitor.records) == 4  # steps 0, 4, 8, 12 of 16
    train = _read(tmp_path / "train")
    hidden, top = (layer.name for layer in model.layers[1:])
    for layer in (hidden, top):
        for figure in ("weight_grad_norm", "input_grad_norm", "output_std"):
            expected = [
                (
                    r["step"],
                    float(np.float32(next(d for d in r["layers"] if d["layer"] == layer)[figure])),
                )
                for r in monitor.records
            ]
            assert _scalars(train, f"gradients/{layer}/{figure}") == expected
    # Dead units are counted for the ReLU layer only, saturation for no layer here.
    tags = train.Tags()["scalars"]
    assert f"gradients/{hidden}/dead_fraction" in tags
    assert f"gradients/{top}/dead_fraction" not in tags
    assert not any("saturated_fraction" in tag for tag in tags)


def test_steps_per_second_are_written_when_asked(tmp_path, digits, digits_model):
    (x, y), _ = digits
    board = TensorBoard(tmp_path, write_steps_per_second=True, update_freq="batch")
    digits_model().fit(x[:300], y[:300], batch_size=100, epochs=2, verbose=0, callbacks=[board])
    train = _read(tmp_path / "train")
    assert [s for s, _ in _scalars(train, "epoch_steps_per_second")] == [0, 1]
    assert [s for s, _ in _scalars(train, "batch_steps_per_second")] == [1, 2, 3, 4, 5, 6]
    assert all(v > 0 for _, v in _scalars(train, "epoch_steps_per_second"))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"write_images": True}, NotImplementedError, "write_images is not implemented"),
        ({"profile_batch": 2}, NotImplementedError, "profile_batch is not implemented"),
        ({"profile_batch": "2,4"}, NotImplementedError, "profile_batch is not implemented"),
        ({"embeddings_freq": 1}, NotImplementedError, "embeddings_freq is not implemented"),
        ({"embeddings_metadata": "m.tsv"}, NotImplementedError, "embeddings_metadata"),
        ({"update_freq": "sometimes"}, ValueError, "update_freq must be 'epoch', 'batch' or"),
        ({"update_freq": 0}, ValueError, "update_freq=0"),
        ({"histogram_freq": -1}, ValueError, "histogram_freq=-1"),
        ({"histogram_freq": 1.5}, ValueError, "histogram_freq=1.5"),
    ],
)
def test_tensorboard_refuses_what_it_does_not_do(kwargs, error, match):
    with pytest.raises(error, match=f"TensorBoard: .*{match}"):
        TensorBoard(**kwargs)


def test_tensorboard_without_the_package_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match=r'pip install "densekit\[tensorboard\]"'):
        TensorBoard()
