"""Keras 3's arguments of fit, evaluate and predict: each one works, or raises NotImplementedError
naming it. Results are checked against computations that do not go through the argument: NumPy
forward passes of the model's weights, evaluate on the sliced arrays, or the epochs themselves.
"""

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose

import densekit as keras

L = keras.layers


def _data(samples=50, features=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, features)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def _model(seed=1):
    model = keras.Sequential(
        [
            L.Dense(
                5,
                activation="relu",
                input_shape=(4,),
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            ),
            L.Dense(
                2,
                activation="softmax",
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 1),
            ),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _numpy_forward(model, x):
    """softmax(relu(x w1 + b1) w2 + b2) in float64."""
    w1, b1, w2, b2 = (np.asarray(w, dtype=np.float64) for w in model.get_weights())
    logits = np.maximum(x.astype(np.float64) @ w1 + b1, 0.0) @ w2 + b2
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _numpy_logs(model, x, y):
    """(mean cross-entropy, accuracy) of the model on (x, y), in float64."""
    p = _numpy_forward(model, x)
    loss = -np.mean(np.log(p[np.arange(len(y)), y]))
    return loss, np.mean(np.argmax(p, axis=1) == y)


class Recorder(keras.callbacks.Callback):
    """Records every test and predict hook it gets, and each batch's outputs."""

    def __init__(self):
        super().__init__()
        self.calls = []
        self.outputs = []

    def on_test_begin(self, logs=None):
        self.calls.append(("test_begin",))

    def on_test_batch_begin(self, batch, logs=None):
        self.calls.append(("test_batch_begin", batch))

    def on_test_batch_end(self, batch, logs=None):
        self.calls.append(("test_batch_end", batch, dict(logs)))

    def on_test_end(self, logs=None):
        self.calls.append(("test_end", dict(logs)))

    def on_predict_begin(self, logs=None):
        self.calls.append(("predict_begin",))

    def on_predict_batch_begin(self, batch, logs=None):
        self.calls.append(("predict_batch_begin", batch))

    def on_predict_batch_end(self, batch, logs=None):
        self.calls.append(("predict_batch_end", batch))
        self.outputs.append(logs["outputs"])

    def on_predict_end(self, logs=None):
        self.calls.append(("predict_end",))


# -- fit -----------------------------------------------------------------------------------------


class ValidationLog(keras.callbacks.Callback):
    """The epochs whose logs hold a validation loss, and that loss recomputed by evaluate."""

    def __init__(self, x_val, y_val):
        super().__init__()
        self.x_val, self.y_val = x_val, y_val
        self.validated, self.recomputed = [], []

    def on_epoch_end(self, epoch, logs=None):
        if "val_loss" in logs:
            self.validated.append(epoch)
            self.recomputed.append(self.model.evaluate(self.x_val, self.y_val, verbose=0)[0])


def test_fit_validation_freq_2_validates_after_epochs_2_and_4_only():
    x, y = _data()
    model = _model()
    log = ValidationLog(x[40:], y[40:])
    history = model.fit(
        x[:40],
        y[:40],
        epochs=5,
        verbose=0,
        validation_data=(x[40:], y[40:]),
        validation_freq=2,
        callbacks=[log],
    )
    assert log.validated == [1, 3]  # 0-based: the 2nd and 4th epochs
    assert len(history.history["loss"]) == 5
    assert_allclose(history.history["val_loss"], log.recomputed, rtol=1e-6)


def test_fit_validation_freq_list_validates_after_the_listed_epochs():
    x, y = _data()
    model = _model()
    log = ValidationLog(x[40:], y[40:])
    history = model.fit(
        x, y, epochs=4, verbose=0, validation_split=0.2, validation_freq=[1, 3], callbacks=[log]
    )
    assert log.validated == [0, 2]
    assert_allclose(history.history["val_loss"], log.recomputed, rtol=1e-6)


@pytest.mark.parametrize("freq", [0, -2, 1.5, True, "2", [0, 2], [1, 2.0], None])
def test_fit_refuses_a_validation_freq_that_is_not_an_epoch_count_or_list(freq):
    x, y = _data()
    model = _model()
    with pytest.raises(ValueError, match=r"fit: validation_freq .*Received: validation_freq="):
        model.fit(x, y, verbose=0, validation_split=0.2, validation_freq=freq)
    assert model.optimizer.iterations == 0


def _trained_batch_by_batch(x, y, batch_size, schedule):
    """A fresh model trained with train_on_batch on the batches of `schedule` (lists of batch
    indices per epoch), and the mean loss of each epoch's batches weighted by their samples."""
    model = _model()
    epoch_losses = []
    for epoch in schedule:
        losses, sizes = [], []
        for b in epoch:
            rows = slice(b * batch_size, (b + 1) * batch_size)
            losses.append(model.train_on_batch(x[rows], y[rows])[0])
            sizes.append(len(x[rows]))
        epoch_losses.append(np.average(losses, weights=sizes))
    return model, epoch_losses


def test_fit_steps_per_epoch_continues_through_the_data_from_epoch_to_epoch():
    x, y = _data()  # 50 samples: 5 batches of 10
    model = _model()
    with pytest.warns(UserWarning, match=r"fit: epoch 3 ran out of data after 1 of its "):
        history = model.fit(
            x, y, batch_size=10, epochs=4, steps_per_epoch=2, shuffle=False, verbose=0
        )
    # As Keras 3 with arrays (checked against it): the epochs run batches [0, 1], [2, 3], [4]
    # (the data ran out: a warning) and then [0, 1] of a new pass.
    oracle, losses = _trained_batch_by_batch(x, y, 10, [[0, 1], [2, 3], [4], [0, 1]])
    for a, b in zip(model.get_weights(), oracle.get_weights()):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert_allclose(history.history["loss"], losses, rtol=1e-5)
    assert model.optimizer.iterations == 7


def test_fit_steps_per_epoch_without_batch_size_splits_the_data_into_that_many_batches():
    x, y = _data()
    model = _model()
    history = model.fit(x, y, epochs=2, steps_per_epoch=5, shuffle=False, verbose=0)
    # Batches of ceil(50 / 5) = 10 samples: every epoch runs the 5 batches of the data.
    oracle, losses = _trained_batch_by_batch(x, y, 10, 2 * [[0, 1, 2, 3, 4]])
    for a, b in zip(model.get_weights(), oracle.get_weights()):
        assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert_allclose(history.history["loss"], losses, rtol=1e-5)


def test_fit_steps_per_epoch_sets_the_progress_bar_target(capsys):
    x, y = _data()
    _model().fit(x, y, batch_size=5, epochs=1, steps_per_epoch=3, verbose=1)
    assert capsys.readouterr().out.startswith("3/3 [")


class NumpyValidation(keras.callbacks.Callback):
    """The validation loss of each epoch, recomputed in NumPy on the given samples."""

    def __init__(self, x_val, y_val):
        super().__init__()
        self.x_val, self.y_val, self.losses = x_val, y_val, []

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(_numpy_logs(self.model, self.x_val, self.y_val)[0])


def test_fit_validation_steps_validates_on_the_first_batches():
    x, y = _data()
    x_val, y_val = x[:13], y[:13]
    oracle = NumpyValidation(x_val[:10], y_val[:10])  # 2 batches of 5
    history = _model().fit(
        x,
        y,
        epochs=2,
        verbose=0,
        validation_data=(x_val, y_val),
        validation_steps=2,
        validation_batch_size=5,
        callbacks=[oracle],
    )
    assert_allclose(history.history["val_loss"], oracle.losses, rtol=1e-5)


def test_fit_validation_steps_without_batch_sizes_splits_the_validation_data():
    x, y = _data()
    x_val, y_val = x[:13], y[:13]
    oracle = NumpyValidation(x_val, y_val)  # 1 batch of ceil(13 / 1) samples: all of them
    history = _model().fit(
        x,
        y,
        epochs=2,
        verbose=0,
        validation_data=(x_val, y_val),
        validation_steps=1,
        callbacks=[oracle],
    )
    assert_allclose(history.history["val_loss"], oracle.losses, rtol=1e-5)


def test_fit_validation_steps_beyond_the_data_warns_and_validates_on_all_of_it():
    x, y = _data()
    x_val, y_val = x[:13], y[:13]
    oracle = NumpyValidation(x_val, y_val)
    with pytest.warns(UserWarning, match=r"fit: validation_steps=5 is more than the 3 batches"):
        history = _model().fit(
            x,
            y,
            epochs=1,
            verbose=0,
            validation_data=(x_val, y_val),
            validation_steps=5,
            validation_batch_size=5,
            callbacks=[oracle],
        )
    assert_allclose(history.history["val_loss"], oracle.losses, rtol=1e-5)


@pytest.mark.parametrize("name", ["steps_per_epoch", "validation_steps"])
def test_fit_steps_must_be_positive_integers(name):
    x, y = _data()
    with pytest.raises(ValueError, match=rf"fit: {name} must be a positive integer.*{name}=0"):
        _model().fit(x, y, verbose=0, validation_split=0.2, **{name: 0})


def test_fit_raises_not_implemented_for_shuffling_within_batches():
    x, y = _data()
    model = _model()
    with pytest.raises(NotImplementedError, match=r"^fit: shuffle .*Received: shuffle='batch'"):
        model.fit(x, y, verbose=0, shuffle="batch")
    assert model.optimizer.iterations == 0


def test_fit_validation_batch_size_must_be_a_positive_integer():
    x, y = _data()
    with pytest.raises(ValueError, match=r"fit: batch_size .*Received: batch_size=0"):
        _model().fit(x, y, verbose=0, validation_split=0.2, validation_batch_size=0)


def test_fit_seed_fixes_the_shuffling():
    x, y = _data()
    weights = []
    for seed in (3, 3, 4):
        model = _model()
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, seed=seed)
        weights.append(model.get_weights()[0])
    assert np.array_equal(weights[0], weights[1])
    assert not np.array_equal(weights[0], weights[2])


# -- evaluate --------------------------------------------------------------------------------------


def test_evaluate_has_keras_3_positional_order():
    x, y = _data()
    model = _model()
    # x, y, batch_size, verbose, sample_weight, steps: the first 2 batches of 10.
    loss, accuracy = model.evaluate(x, y, 10, 0, None, 2)
    assert_allclose((loss, accuracy), _numpy_logs(model, x[:20], y[:20]), rtol=1e-5)


def test_evaluate_steps_uses_the_first_batches():
    x, y = _data()
    model = _model()
    loss, accuracy = model.evaluate(x, y, batch_size=8, steps=3, verbose=0)
    assert_allclose((loss, accuracy), _numpy_logs(model, x[:24], y[:24]), rtol=1e-5)


def test_evaluate_steps_without_batch_size_covers_all_samples_in_that_many_batches():
    x, y = _data()
    model = _model()
    recorder = Recorder()
    loss, accuracy = model.evaluate(x, y, steps=3, verbose=0, callbacks=[recorder])
    # As Keras for arrays: batches of ceil(50 / 3) = 17 samples, so 17 + 17 + 16.
    assert [call[1] for call in recorder.calls if call[0] == "test_batch_end"] == [0, 1, 2]
    assert_allclose((loss, accuracy), _numpy_logs(model, x, y), rtol=1e-5)


def test_evaluate_steps_beyond_the_data_warns_and_uses_all_of_it():
    x, y = _data()
    model = _model()
    with pytest.warns(UserWarning, match=r"evaluate: steps=9 is more than the 5 batches"):
        loss, _ = model.evaluate(x, y, batch_size=10, steps=9, verbose=0)
    assert_allclose(loss, _numpy_logs(model, x, y)[0], rtol=1e-5)


@pytest.mark.parametrize("verbose, line", [(1, r"^5/5 \[=+\] - .*loss: "), (2, r"^5/5 - .*loss: ")])
def test_evaluate_verbose_prints_a_progress_line_with_the_results(capsys, verbose, line):
    x, y = _data()
    model = _model()
    loss, accuracy = model.evaluate(x, y, batch_size=10, verbose=verbose)
    out = capsys.readouterr().out
    assert len(out.splitlines()) == 1
    assert re.search(line, out)
    assert f"loss: {loss:.4f}" in out and f"accuracy: {accuracy:.4f}" in out


def test_evaluate_verbose_0_prints_nothing(capsys):
    x, y = _data()
    _model().evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""


def test_evaluate_calls_the_test_hooks_of_its_callbacks_for_each_batch():
    x, y = _data()
    model = _model()
    recorder = Recorder()
    logs = model.evaluate(x, y, batch_size=20, verbose=0, callbacks=[recorder], return_dict=True)
    names = [call[:2] if "batch" in call[0] else call[:1] for call in recorder.calls]
    assert names == [
        ("test_begin",),
        ("test_batch_begin", 0),
        ("test_batch_end", 0),
        ("test_batch_begin", 1),
        ("test_batch_end", 1),
        ("test_batch_begin", 2),
        ("test_batch_end", 2),
        ("test_end",),
    ]
    # Each batch's logs are the running means: after batch 0 those of its 20 samples.
    assert_allclose(recorder.calls[2][2]["loss"], _numpy_logs(model, x[:20], y[:20])[0], rtol=1e-5)
    assert recorder.calls[-2][2] == recorder.calls[-1][1] == logs
    assert_allclose(logs["loss"], _numpy_logs(model, x, y)[0], rtol=1e-5)


def test_evaluate_stops_when_a_callback_sets_stop_evaluating():
    class StopAfterFirst(keras.callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            self.model.stop_evaluating = True

    x, y = _data()
    model = _model()
    loss, _ = model.evaluate(x, y, batch_size=10, verbose=0, callbacks=[StopAfterFirst()])
    assert_allclose(loss, _numpy_logs(model, x[:10], y[:10])[0], rtol=1e-5)


def test_evaluate_refuses_unknown_keyword_arguments():
    x, y = _data()
    with pytest.raises(ValueError, match=r"evaluate: arguments not recognized: verbos\b.*verbos=0"):
        _model().evaluate(x, y, verbos=0)


@pytest.mark.parametrize("steps", [0, -1, 1.5, "2"])
def test_evaluate_steps_must_be_a_positive_integer(steps):
    x, y = _data()
    with pytest.raises(ValueError, match=r"evaluate: steps must be a positive integer"):
        _model().evaluate(x, y, steps=steps, verbose=0)


# -- predict ---------------------------------------------------------------------------------------


def test_predict_prints_a_progress_line_by_default(capsys):
    x, _ = _data()
    model = _model()
    model.predict(x)  # verbose="auto" is 1, as in Keras
    out = capsys.readouterr().out
    assert re.fullmatch(r"2/2 \[=+\] - \d+s \d+[um]?s/step\n", out)
    model.predict(x, verbose=2)
    assert re.fullmatch(r"2/2 - \d+s - \d+[um]?s/epoch - \d+[um]?s/step\n", capsys.readouterr().out)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""


def test_predict_steps_predicts_the_first_batches():
    x, _ = _data()
    model = _model()
    out = model.predict(x, batch_size=8, steps=3, verbose=0)
    assert out.shape == (24, 2)
    assert_allclose(out, _numpy_forward(model, x[:24]), rtol=1e-5, atol=1e-6)


def test_predict_steps_without_batch_size_covers_all_samples_in_that_many_batches():
    x, _ = _data()
    model = _model()
    recorder = Recorder()
    out = model.predict(x, steps=2, verbose=0, callbacks=[recorder])
    assert [len(batch) for batch in recorder.outputs] == [25, 25]  # ceil(50 / 2)
    assert_allclose(out, _numpy_forward(model, x), rtol=1e-5, atol=1e-6)


def test_predict_calls_the_predict_hooks_with_each_batchs_outputs():
    x, _ = _data()
    model = _model()
    recorder = Recorder()
    out = model.predict(x, batch_size=20, verbose=0, callbacks=[recorder])
    assert recorder.calls == [
        ("predict_begin",),
        ("predict_batch_begin", 0),
        ("predict_batch_end", 0),
        ("predict_batch_begin", 1),
        ("predict_batch_end", 1),
        ("predict_batch_begin", 2),
        ("predict_batch_end", 2),
        ("predict_end",),
    ]
    assert [len(batch) for batch in recorder.outputs] == [20, 20, 10]
    assert_allclose(np.concatenate(recorder.outputs), out)
    assert_allclose(out, _numpy_forward(model, x), rtol=1e-5, atol=1e-6)


def test_predict_stops_when_a_callback_sets_stop_predicting():
    class StopAfterFirst(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch, logs=None):
            self.model.stop_predicting = True

    x, _ = _data()
    model = _model()
    out = model.predict(x, batch_size=16, verbose=0, callbacks=[StopAfterFirst()])
    assert_allclose(out, _numpy_forward(model, x[:16]), rtol=1e-5, atol=1e-6)


def test_predict_callbacks_without_batch_hooks_still_hear_begin_and_end():
    class BeginEnd(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []

        def on_predict_begin(self, logs=None):
            self.calls.append("begin")

        def on_predict_end(self, logs=None):
            self.calls.append("end")

    x, _ = _data()
    callback = BeginEnd()
    _model().predict(x, verbose=0, callbacks=[callback])
    assert callback.calls == ["begin", "end"]


# -- *_on_batch --------------------------------------------------------------------------------------


def test_fit_validation_calls_the_test_hooks_on_the_validated_epochs_only():
    x, y = _data()
    model = _model()
    recorder = Recorder()
    history = model.fit(
        x,
        y,
        epochs=4,
        batch_size=8,
        verbose=0,
        validation_split=0.2,
        validation_batch_size=5,
        validation_freq=2,
        callbacks=[recorder],
    )
    ends = [call[1] for call in recorder.calls if call[0] == "test_end"]
    assert [logs["loss"] for logs in ends] == history.history["val_loss"]
    # Two validations of 10 samples in batches of 5: begin, 2 x (batch begin, batch end), end.
    assert [call[0] for call in recorder.calls] == 2 * [
        "test_begin",
        "test_batch_begin",
        "test_batch_end",
        "test_batch_begin",
        "test_batch_end",
        "test_end",
    ]


def test_fit_with_validation_prints_only_the_epoch_lines(capsys):
    x, y = _data()
    _model().fit(x, y, epochs=2, batch_size=10, verbose=1, validation_split=0.2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" [")[0] for line in lines] == ["Epoch 1/2", "4/4", "Epoch 2/2", "4/4"]
    assert all("val_loss" in line for line in lines[1::2])


# -- compile ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, value",
    [("loss_weights", [1.0]), ("weighted_metrics", ["accuracy"]), ("steps_per_execution", 4)],
)
def test_compile_raises_not_implemented_naming_an_argument_it_does_not_implement(name, value):
    model = _model()
    with pytest.raises(NotImplementedError, match=rf"^compile: {name} .*Received: {name}="):
        model.compile(loss="mse", **{name: value})
    assert model.loss == "sparse_categorical_crossentropy"  # the earlier compile stands


def test_compile_arguments_without_effect_leave_training_unchanged():
    x, y = _data()
    weights = []
    for options in ({}, {"run_eagerly": True, "jit_compile": True, "auto_scale_loss": False}):
        model = _model()
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", **options)
        model.fit(x, y, batch_size=10, epochs=1, verbose=0, shuffle=False)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        assert np.array_equal(a, b)


# -- clone_model -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["input_tensors", "call_function"])
def test_clone_model_raises_not_implemented_naming_an_argument_it_does_not_implement(name):
    with pytest.raises(NotImplementedError, match=rf"^clone_model: {name} .*Received: {name}="):
        keras.models.clone_model(_model(), **{name: lambda layer: layer})


def test_clone_model_refuses_unknown_keyword_arguments():
    with pytest.raises(ValueError, match=r"clone_model: arguments not recognized: deep\b"):
        keras.models.clone_model(_model(), deep=True)


def test_clone_model_recursive_clones_the_layers_as_without_it():
    x, _ = _data()
    model = _model()
    clone = keras.models.clone_model(model, recursive=True)
    assert [type(layer) for layer in clone.layers] == [type(layer) for layer in model.layers]
    clone.set_weights(model.get_weights())
    assert_allclose(clone.predict(x, verbose=0), _numpy_forward(model, x), rtol=1e-5, atol=1e-6)
