"""LearningRateScheduler and ReduceLROnPlateau, against Keras 3 (torch backend) as the oracle.

ReduceLROnPlateau is driven by a scripted sequence of monitored values passed to `on_epoch_end`
of Keras's callback on a Keras model and of ours on a densekit model, both optimizers starting
at the same rate; the rates must agree epoch by epoch. The schedulers are compared through `fit`.
"""

import numpy as np
import pytest
from numpy.testing import assert_allclose

import densekit as keras

keras3 = pytest.importorskip("keras")
pytest.importorskip("torch")

pytestmark = [
    pytest.mark.usefixtures("one_thread_per_module"),
    # Keras's torch backend reads its variables with np.array(tensor), which NumPy 2 warns about.
    pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword"),
]

START_RATE = 0.1
X = np.random.default_rng(0).normal(size=(32, 3)).astype(np.float32)
Y = np.arange(32) % 2

# Improvements, plateaus, a worse epoch, changes smaller than min_delta (1e-4 by default).
LOSSES = [1.0, 0.8, 0.8, 0.79995, 0.9, 0.7, 0.7, 0.7, 0.71, 0.7, 0.69, 0.69, 0.69, 0.69, 0.69]
LOSSES += [0.6899, 0.689, 0.5, 0.5, 0.5, 0.5, 0.5]
ACCURACIES = [0.5, 0.6, 0.6, 0.60005, 0.55, 0.7, 0.7, 0.7, 0.69, 0.7, 0.8, 0.8, 0.8, 0.8, 0.8]
ACCURACIES += [0.8001, 0.81, 0.9, 0.9, 0.9, 0.9, 0.9]


def _densekit_model(metrics=None):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=START_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=metrics,
    )
    return model


def _keras_model(metrics=None):
    model = keras3.Sequential([keras3.Input((3,)), keras3.layers.Dense(2, activation="softmax")])
    model.compile(
        optimizer=keras3.optimizers.SGD(learning_rate=START_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=metrics,
    )
    if metrics:
        # Keras builds its compiled metrics at the first evaluation; mode="auto" reads them.
        model.evaluate(X, Y, verbose=0)
    return model


def _replay(callback, model, monitor, values):
    """(rates logged, optimizer rates after each epoch) of `callback` fed `values`."""
    callback.set_model(model)
    callback.on_train_begin()
    logged, rates = [], []
    for epoch, value in enumerate(values):
        logs = {monitor: value}
        callback.on_epoch_end(epoch, logs)
        logged.append(logs["learning_rate"])
        rates.append(float(model.optimizer.learning_rate))
    return logged, rates


CASES = {
    "min": dict(monitor="val_loss", mode="min", patience=1),
    "min_patience_3": dict(monitor="val_loss", mode="min", patience=3, factor=0.5),
    "auto_loss": dict(monitor="loss", mode="auto", patience=2, factor=0.5),
    "max": dict(monitor="val_accuracy", mode="max", patience=2, factor=0.5),
    "auto_accuracy": dict(monitor="val_accuracy", mode="auto", patience=1, factor=0.5),
    "min_on_accuracy": dict(monitor="val_accuracy", mode="min", patience=1),
    "cooldown": dict(monitor="val_loss", mode="min", patience=1, factor=0.5, cooldown=2),
    "cooldown_3_max": dict(monitor="val_accuracy", mode="max", patience=1, cooldown=3),
    "min_lr": dict(monitor="val_loss", patience=1, factor=0.2, min_lr=0.003),
    "min_lr_cooldown": dict(monitor="val_loss", patience=1, factor=0.3, min_lr=0.01, cooldown=1),
    "min_delta": dict(monitor="val_loss", patience=1, factor=0.5, min_delta=0.05),
    "patience_0": dict(monitor="val_loss", patience=0, factor=0.9, min_delta=0.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_reduce_lr_on_plateau_matches_keras_epoch_by_epoch(name):
    kwargs = CASES[name]
    values = ACCURACIES if "accuracy" in kwargs["monitor"] else LOSSES
    metrics = (
        ["accuracy"]
        if kwargs.get("mode", "auto") == "auto" and "accuracy" in kwargs["monitor"]
        else None
    )
    ours = _replay(
        keras.callbacks.ReduceLROnPlateau(**kwargs),
        _densekit_model(metrics),
        kwargs["monitor"],
        values,
    )
    theirs = _replay(
        keras3.callbacks.ReduceLROnPlateau(**kwargs),
        _keras_model(metrics),
        kwargs["monitor"],
        values,
    )
    assert_allclose(ours, theirs, rtol=1e-7)
    assert ours[1][-1] < START_RATE  # every sequence reduces the rate at least once


def test_reduce_lr_on_plateau_rates_by_hand():
    # patience=1, factor=0.5, cooldown=2 on losses 1.0, 0.9, 0.9, 0.9, 0.9, 0.9:
    # epoch 1 improves; 2 waits 1 -> 0.05, cooldown 2; 3 spends one cooldown epoch (no wait);
    # 4 spends the last one and, as in Keras, counts already: wait 1 -> 0.025; 5 is in cooldown.
    callback = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1, factor=0.5, cooldown=2)
    logged, rates = _replay(callback, _densekit_model(), "loss", [1.0, 0.9, 0.9, 0.9, 0.9, 0.9])
    expected_rates = [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    assert_allclose(rates, expected_rates, rtol=1e-7)
    # The logs hold the rate the epoch trained with, before that epoch's reduction.
    assert_allclose(logged, [0.1] + expected_rates[:-1], rtol=1e-7)


def test_reduce_lr_on_plateau_stops_at_min_lr_held_in_float32():
    # 0.1 -> 0.01 -> max(0.001, 0.003) = 0.003, which float32 holds as 0.0030000000261...:
    # compared in float64 with min_lr it would look above it and be "reduced" forever.
    callback = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=1, min_lr=0.003)
    _, rates = _replay(callback, _densekit_model(), "loss", [1.0] * 8)
    assert_allclose(rates[-1], np.float32(0.003))
    assert callback.wait == 5  # the wait keeps counting once nothing can be reduced


def test_reduce_lr_on_plateau_verbose_message_matches_keras(capsys):
    kwargs = dict(monitor="loss", patience=1, factor=0.3, verbose=1)
    values = [1.0, 1.0, 1.0]
    _replay(keras.callbacks.ReduceLROnPlateau(**kwargs), _densekit_model(), "loss", values)
    ours = capsys.readouterr().out
    _replay(keras3.callbacks.ReduceLROnPlateau(**kwargs), _keras_model(), "loss", values)
    theirs = capsys.readouterr().out
    assert ours == theirs
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.03" in ours


def _warning_of(callback, model):
    callback.set_model(model)
    with pytest.warns(UserWarning, match="Learning rate reduction") as record:
        callback.on_epoch_end(0, {"loss": 1.0})
    # Only the callback's warning: Keras's torch backend may add a NumPy DeprecationWarning.
    return next(str(w.message) for w in record if w.category is UserWarning)


def test_reduce_lr_on_plateau_warns_like_keras_when_the_monitored_key_is_missing():
    ours = _warning_of(keras.callbacks.ReduceLROnPlateau(), _densekit_model())
    theirs = _warning_of(keras3.callbacks.ReduceLROnPlateau(), _keras_model())
    assert ours == theirs
    assert "`val_loss` which is not available" in ours
    assert "Available metrics are: loss,learning_rate." in ours


def test_reduce_lr_on_plateau_auto_mode_refuses_a_metric_of_unknown_direction():
    for callbacks, model in (
        (keras.callbacks, _densekit_model()),
        (keras3.callbacks, _keras_model()),
    ):
        callback = callbacks.ReduceLROnPlateau(monitor="val_f1")
        callback.set_model(model)
        with pytest.raises(ValueError, match="mode='max'"):
            callback.on_epoch_end(0, {"val_f1": 0.5})


def test_reduce_lr_on_plateau_refuses_factor_of_one_or_more():
    for callbacks in (keras.callbacks, keras3.callbacks):
        with pytest.raises(ValueError, match=r"factor >= 1\.0"):
            callbacks.ReduceLROnPlateau(factor=1.0)
    with pytest.raises(ValueError, match=r"Received: factor=2"):
        keras.callbacks.ReduceLROnPlateau(factor=2)
    with pytest.raises(ValueError, match=r"Received: factor=nan"):
        keras.callbacks.ReduceLROnPlateau(factor=float("nan"))


@pytest.mark.parametrize("min_lr", [None, float("nan"), "0"])
def test_reduce_lr_on_plateau_refuses_a_min_lr_that_is_not_a_number(min_lr):
    with pytest.raises(ValueError, match=r"ReduceLROnPlateau: `min_lr` must be a number"):
        keras.callbacks.ReduceLROnPlateau(min_lr=min_lr)


@pytest.mark.parametrize("rate", [float("nan"), -0.1, float("inf"), 1e40])
def test_a_rate_the_optimizer_refuses_raises_naming_the_callback(rate):
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch: rate)
    with pytest.raises(ValueError, match=r"LearningRateScheduler cannot set the learning rate"):
        _densekit_model().fit(X, Y, epochs=1, verbose=0, callbacks=[scheduler])


def test_reduce_lr_on_plateau_unknown_mode_warns_and_falls_back_to_auto():
    with pytest.warns(UserWarning, match="mode 'lowest' is unknown, fallback to auto mode"):
        callback = keras.callbacks.ReduceLROnPlateau(mode="lowest")
    assert callback.mode == "auto"


def test_reduce_lr_on_plateau_takes_tf_keras_epsilon_as_min_delta_and_refuses_unknown_kwargs():
    with pytest.warns(DeprecationWarning, match="min_delta"):
        callback = keras.callbacks.ReduceLROnPlateau(epsilon=0.01)
    assert callback.min_delta == 0.01
    with pytest.raises(ValueError, match=r"not recognized: eps\. Received: eps=0\.01"):
        keras.callbacks.ReduceLROnPlateau(eps=0.01)


def test_reduce_lr_on_plateau_is_reset_by_each_fit():
    callback = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=2)
    model = _densekit_model()
    _replay(callback, model, "loss", [0.1, 1.0])
    assert callback.best == 0.1 and callback.wait == 1
    # A new fit starts from nothing: 1.0 is the new best, not a second epoch without improvement.
    _, rates = _replay(callback, model, "loss", [1.0, 2.0])
    assert callback.best == 1.0 and callback.wait == 1
    assert rates == [float(np.float32(START_RATE))] * 2


def test_reduce_lr_on_plateau_in_fit_records_the_rate_in_history():
    # A min_delta no loss can beat: from epoch 1 on, every epoch is one without improvement.
    callback = keras.callbacks.ReduceLROnPlateau(
        monitor="loss", patience=1, factor=0.5, min_delta=1e9
    )
    model = _densekit_model()
    history = model.fit(X, Y, epochs=4, batch_size=8, verbose=0, callbacks=[callback])
    assert_allclose(history.history["learning_rate"], [0.1, 0.1, 0.05, 0.025], rtol=1e-7)
    assert_allclose(float(model.optimizer.learning_rate), 0.0125, rtol=1e-7)


# -- LearningRateScheduler ------------------------------------------------------------------------


def _halve_from_epoch_2(epoch, lr):
    return lr if epoch < 2 else lr * 0.5


def test_learning_rate_scheduler_in_fit_matches_keras():
    model = _densekit_model()
    ours = model.fit(
        X,
        Y,
        epochs=5,
        batch_size=8,
        verbose=0,
        callbacks=[keras.callbacks.LearningRateScheduler(_halve_from_epoch_2)],
    )
    theirs_model = _keras_model()
    theirs = theirs_model.fit(
        X,
        Y,
        epochs=5,
        batch_size=8,
        verbose=0,
        callbacks=[keras3.callbacks.LearningRateScheduler(_halve_from_epoch_2)],
    )
    # 0.1, 0.1, then halved at the start of epochs 2, 3 and 4.
    expected = [0.1, 0.1, 0.05, 0.025, 0.0125]
    assert_allclose(ours.history["learning_rate"], expected, rtol=1e-7)
    assert_allclose(ours.history["learning_rate"], theirs.history["learning_rate"], rtol=1e-7)
    assert_allclose(float(model.optimizer.learning_rate), 0.0125, rtol=1e-7)
    assert_allclose(
        float(model.optimizer.learning_rate), float(theirs_model.optimizer.learning_rate)
    )


def test_learning_rate_scheduler_accepts_a_schedule_of_the_epoch_alone():
    model = _densekit_model()
    callback = keras.callbacks.LearningRateScheduler(lambda epoch: 0.2 / (epoch + 1))
    history = model.fit(X, Y, epochs=3, batch_size=16, verbose=0, callbacks=[callback])
    assert_allclose(history.history["learning_rate"], [0.2, 0.1, 0.2 / 3], rtol=1e-7)


def test_learning_rate_scheduler_sets_the_rate_before_the_epoch_trains():
    seen = []
    rates = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seen.append(float(model.optimizer.learning_rate))
    )
    model = _densekit_model()
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: 0.01 * (epoch + 1))
    model.fit(X, Y, epochs=3, batch_size=16, verbose=0, callbacks=[scheduler, rates])
    assert_allclose(seen, [0.01, 0.02, 0.03], rtol=1e-6)


def test_learning_rate_scheduler_verbose_message_matches_keras(capsys):
    for callbacks, model in (
        (keras.callbacks, _densekit_model()),
        (keras3.callbacks, _keras_model()),
    ):
        callback = callbacks.LearningRateScheduler(lambda epoch, lr: 0.05, verbose=1)
        callback.set_model(model)
        callback.on_epoch_begin(3)
    out = capsys.readouterr().out
    message = "\nEpoch 4: LearningRateScheduler setting learning rate to 0.05.\n"
    assert out == message * 2


@pytest.mark.parametrize("verbose", [1, 2])
def test_the_progress_bar_shows_the_rate_the_callbacks_log_as_keras(capsys, verbose):
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch: 0.05)
    model = _densekit_model()
    model.fit(X, Y, epochs=1, batch_size=16, verbose=verbose, callbacks=[scheduler])
    epoch_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "- learning_rate: 0.0500" in epoch_line


@pytest.mark.parametrize("bad", ["0.1", 1, None, np.array([0.1])])
def test_learning_rate_scheduler_refuses_a_schedule_not_returning_a_float(bad):
    for callbacks, model in (
        (keras.callbacks, _densekit_model()),
        (keras3.callbacks, _keras_model()),
    ):
        callback = callbacks.LearningRateScheduler(lambda epoch, lr: bad)
        callback.set_model(model)
        with pytest.raises(
            ValueError, match="The output of the `schedule` function should be a float"
        ):
            callback.on_epoch_begin(0)


def test_learning_rate_scheduler_error_stops_fit_before_any_step():
    model = _densekit_model()
    weights = model.get_weights()
    callback = keras.callbacks.LearningRateScheduler(lambda epoch, lr: "fast")
    with pytest.raises(ValueError, match=r"Received: 'fast' \(of type str\)"):
        model.fit(X, Y, epochs=2, verbose=0, callbacks=[callback])
    for before, after in zip(weights, model.get_weights()):
        np.testing.assert_array_equal(before, after)


class _ScheduledOptimizer:
    """An optimizer whose rate comes from a schedule: readable, but setting it raises TypeError."""

    @property
    def learning_rate(self):
        return 0.1

    @learning_rate.setter
    def learning_rate(self, value):
        raise TypeError("the learning rate is a schedule and is not settable")


class _ModelWithSchedule:
    optimizer = _ScheduledOptimizer()


def test_callbacks_explain_that_a_scheduled_rate_cannot_be_set():
    scheduler = keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5)
    scheduler.set_model(_ModelWithSchedule())
    with pytest.raises(TypeError, match="LearningRateScheduler cannot set .* schedule"):
        scheduler.on_epoch_begin(0)
    reducer = keras.callbacks.ReduceLROnPlateau(monitor="loss", patience=0)
    reducer.set_model(_ModelWithSchedule())
    reducer.on_epoch_end(0, {"loss": 1.0})  # the first value is the best: nothing to reduce
    with pytest.raises(TypeError, match="ReduceLROnPlateau cannot set .* float learning_rate"):
        reducer.on_epoch_end(1, {"loss": 1.0})


def test_learning_rate_callbacks_are_exported():
    assert {"LearningRateScheduler", "ReduceLROnPlateau"} <= set(keras.callbacks.__all__)
    assert "learning_rate" in keras.callbacks.__doc__
