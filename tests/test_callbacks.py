"""Tests of densekit.callbacks and the tf.keras-2-style progress bar.

The model is a fake with the attributes `fit` relies on, and `run_fit`
replays the training loop's calls, so nothing here needs the C++ core.
"""

import inspect
import io
import types

import numpy as np
import pytest

from densekit import _progbar, callbacks
from densekit._progbar import Progbar


class FakeModel:
    """What the callbacks use of a model: stop flag, weights, history."""

    def __init__(self):
        self.stop_training = False
        self.history = None
        self.weights = [np.zeros((2, 2)), np.zeros(2)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


class TtyIO(io.StringIO):
    """An in-memory terminal: `\\r` redraws are written to it."""

    def isatty(self):
        return True


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    """Freezes the progress bar's time at 1000 s; tests move `clock.now`."""
    fake = Clock(1000.0)
    monkeypatch.setattr(_progbar, "time", types.SimpleNamespace(time=fake))
    return fake


def run_fit(model, cbs, epoch_logs, steps=4, verbose=0):
    """Replays `fit`: one chunk of `steps` batches (4 if None) per epoch.

    Before the end of epoch `e` the weights become `e`, so a restore can be
    traced back to its epoch.
    """
    cbs = callbacks.CallbackList(
        cbs,
        add_history=True,
        add_progbar=verbose != 0,
        model=model,
        verbose=verbose,
        epochs=len(epoch_logs),
        steps=steps,
    )
    model.stop_training = False
    cbs.on_train_begin()
    logs = None
    for epoch, logs in enumerate(epoch_logs):
        cbs.on_epoch_begin(epoch)
        cbs.on_train_batch_begin(0)
        model.weights = [np.full_like(w, epoch) for w in model.weights]
        cbs.on_train_batch_end((steps or 4) - 1, logs)
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    cbs.on_train_end(logs)
    return model.history


def losses(*values):
    return [{"loss": v} for v in values]


# --- Progbar ---------------------------------------------------------------


def test_progbar_final_line_verbose_1(clock):
    out = io.StringIO()
    bar = Progbar(1875, file=out)
    clock.now = 1000.5
    bar.update(1)
    clock.now = 1003.0
    bar.update(1875, [("loss", 0.4211), ("accuracy", 0.8512)])
    # Not a terminal: no redraw, only the final line. 3 s in all; per step
    # the first step is left out: 2.5 s / 1874 steps = 1.33 ms.
    assert out.getvalue() == (
        "1875/1875 [==============================] - 3s 1ms/step"
        " - loss: 0.4211 - accuracy: 0.8512\n"
    )


def test_progbar_final_line_verbose_2(clock):
    out = io.StringIO()
    bar = Progbar(1875, verbose=2, file=out)
    bar.update(1000, [("loss", 0.4211), ("accuracy", 0.8512)])
    assert out.getvalue() == ""
    clock.now = 1003.0
    bar.update(1875, [("loss", 0.4211), ("accuracy", 0.8512)])
    # 3 s / 1875 steps = 1.6 ms, printed rounded as tf.keras 2 does.
    assert out.getvalue() == (
        "1875/1875 - 3s - loss: 0.4211 - accuracy: 0.8512 - 3s/epoch - 2ms/step\n"
    )


def test_progbar_line_during_epoch_shows_eta(clock):
    out = TtyIO()
    bar = Progbar(1875, file=out)
    clock.now = 1000.5
    bar.update(512, {"loss": 0.4211, "accuracy": 0.8512})
    # int(30 * 512 / 1875) = 8 cells: 7 '=' and the head '>'.
    # ETA: 0.5 s / 512 steps * 1363 steps left = 1.33 s.
    assert out.getvalue() == (
        "\r 512/1875 [=======>......................] - ETA: 1s - loss: 0.4211 - accuracy: 0.8512"
    )


def test_progbar_averages_values_over_steps(clock):
    out = io.StringIO()
    bar = Progbar(4, verbose=2, file=out, stateful_metrics=["lr"])
    bar.update(1, [("loss", 1.0), ("lr", 0.1)])
    bar.update(3, [("loss", 2.0), ("lr", 0.2)])  # counts for steps 2 and 3
    bar.add(1, [("loss", 5.0), ("lr", 0.3)])
    # loss: (1 * 1 + 2 * 2 + 5 * 1) / 4 = 2.5; lr is stateful: last value.
    assert " - loss: 2.5000 - lr: 0.3000 - " in out.getvalue()


def test_progbar_formats_tiny_values_with_exponent(clock):
    out = io.StringIO()
    bar = Progbar(1, verbose=2, file=out, stateful_metrics=["neg"])
    bar.update(1, [("tiny", 5e-5), ("zero", 0.0), ("neg", -0.5)])
    assert " - tiny: 5.0000e-05 - zero: 0.0000e+00 - neg: -0.5000 - " in out.getvalue()


def test_progbar_redraws_at_most_once_per_interval(clock):
    out = TtyIO()
    bar = Progbar(100, file=out, interval=0.25)
    for step in range(1, 101):
        clock.now = 1000.0 + step / 16  # 1/16 s per step, exact in binary
        bar.update(step, [("loss", 1.0)])
    # Draws at steps 1, 5, 9, ..., 97 (every 4 steps = 0.25 s): 25 lines,
    # then the final one at step 100.
    lines = out.getvalue().split("\r")[1:]
    assert len(lines) == 26
    assert all(" - ETA: " in line for line in lines[:-1])
    assert lines[-1].startswith("100/100 [=====") and lines[-1].endswith("\n")


def test_progbar_without_terminal_writes_only_final_line(clock):
    out = io.StringIO()
    bar = Progbar(10, file=out, interval=0.0)
    for step in range(1, 10):
        bar.update(step, [("loss", 1.0)])
    assert out.getvalue() == ""
    bar.update(10, [("loss", 1.0)])
    assert out.getvalue().count("\n") == 1 and "\r" not in out.getvalue()


def test_progbar_pads_a_shorter_redraw(clock):
    out = TtyIO()
    bar = Progbar(10, file=out, interval=0.0, stateful_metrics=["x"])
    bar.update(1, [("x", 12345.0)])
    bar.update(2, [("x", 1.0)])
    first, second = out.getvalue().split("\r")[1:]
    assert len(first) == len(second) and second.endswith("1.0000    ")


def test_progbar_writes_to_sys_stdout_at_write_time(clock, capsys):
    bar = Progbar(2, verbose=2)
    bar.update(2, [("loss", 1.0)])
    assert capsys.readouterr().out.startswith("2/2 - 0s - loss: 1.0000")


def test_progbar_time_and_eta_formats():
    # tf.keras units: whole seconds from 1 s, ms from 1 ms, else us.
    assert _progbar._format_time(2.4, "step") == " 2s/step"
    assert _progbar._format_time(0.0123, "step") == " 12ms/step"
    assert _progbar._format_time(8.5e-5, "sample") == " 85us/sample"
    assert _progbar._format_time(0.0, "epoch") == " 0s/epoch"
    assert _progbar._format_eta(42.7) == "42s"
    assert _progbar._format_eta(125.0) == "2:05"
    assert _progbar._format_eta(3725.0) == "1:02:05"


# --- ProgbarLogger ---------------------------------------------------------


def test_progbar_logger_prints_epochs_and_given_values(clock, capsys):
    epoch_logs = [{"loss": 0.5, "accuracy": 0.75}, {"loss": 0.25, "accuracy": 0.875}]
    run_fit(FakeModel(), [], epoch_logs, steps=10, verbose=1)
    # The epoch logs are means already: shown as given, not re-averaged.
    assert capsys.readouterr().out == (
        "Epoch 1/2\n"
        "10/10 [==============================] - 0s 0s/step"
        " - loss: 0.5000 - accuracy: 0.7500\n"
        "Epoch 2/2\n"
        "10/10 [==============================] - 0s 0s/step"
        " - loss: 0.2500 - accuracy: 0.8750\n"
    )


def test_progbar_logger_verbose_2_and_single_epoch(clock, capsys):
    run_fit(FakeModel(), [], losses(0.5), steps=10, verbose=2)
    # One epoch: no "Epoch 1/1" line, as in tf.keras.
    assert capsys.readouterr().out == ("10/10 - 0s - loss: 0.5000 - 0s/epoch - 0s/step\n")


def test_progbar_logger_follows_chunked_reports(clock, monkeypatch):
    out = TtyIO()
    monkeypatch.setattr("sys.stdout", out)
    logger = callbacks.ProgbarLogger()
    cbs = callbacks.CallbackList([logger], verbose=1, epochs=1, steps=1000)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    for last_batch in (299, 599, 899):  # one report per chunk of 300
        clock.now += 1.0
        cbs.on_train_batch_end(last_batch, {"loss": 2.0})
    clock.now += 1.0
    cbs.on_epoch_end(0, {"loss": 1.0})
    lines = out.getvalue().split("\r")[1:]
    assert [line[:9] for line in lines] == [" 300/1000", " 600/1000", " 900/1000", "1000/1000"]
    assert lines[1].startswith(" 600/1000 [=================>")
    assert lines[1].endswith(" - ETA: 1s - loss: 2.0000")
    assert lines[-1].endswith(" - 4s 4ms/step - loss: 1.0000\n")


def test_progbar_logger_learns_unknown_steps(clock, capsys):
    run_fit(FakeModel(), [], losses(0.5), steps=None, verbose=1)
    assert capsys.readouterr().out.startswith("4/4 [=====")


def test_progbar_logger_is_silent_for_validation_inside_fit(clock, capsys):
    cbs = callbacks.CallbackList(add_progbar=True, verbose=1, epochs=1, steps=3)
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    cbs.on_train_batch_end(2, {"loss": 1.0})
    capsys.readouterr()
    cbs.on_test_begin()
    cbs.on_test_batch_end(1, {"loss": 3.0})
    cbs.on_test_end({"loss": 3.0})
    assert capsys.readouterr().out == ""
    cbs.on_epoch_end(0, {"loss": 1.0, "val_loss": 3.0})
    cbs.on_train_end()
    assert capsys.readouterr().out.endswith(" - loss: 1.0000 - val_loss: 3.0000\n")
    # `evaluate` alone draws its own bar.
    cbs.on_test_begin()
    cbs.on_test_batch_end(2, {"loss": 3.0})
    cbs.on_test_end({"loss": 3.0})
    assert capsys.readouterr().out.startswith("3/3 [====")


def test_progbar_logger_ends_a_stopped_epoch_at_the_steps_done(clock, capsys):
    # TerminateOnNaN stops at the chunk ending with batch 1: the final line shows 2 of the 45
    # steps, not 45/45 as if the epoch had run to its end.
    model = FakeModel()
    cbs = callbacks.CallbackList(
        [callbacks.TerminateOnNaN()], add_progbar=True, model=model, verbose=1, epochs=1, steps=45
    )
    cbs.on_train_begin()
    cbs.on_epoch_begin(0)
    cbs.on_train_batch_end(1, {"loss": float("nan")})
    assert model.stop_training
    cbs.on_epoch_end(0, {"loss": float("nan")})
    # int(30 * 2 / 45) = 1 cell, the head: '>' since 2 < 45.
    assert capsys.readouterr().out == (
        "Batch 1: Invalid loss, terminating training\n"
        " 2/45 [>.............................] - 0s 0s/step - loss: nan\n"
    )
    # Stopped before any step was reported (fit's first step not finite): 0 steps done.
    cbs.on_epoch_begin(0)
    cbs.on_epoch_end(0, {"loss": float("nan")})
    assert capsys.readouterr().out.startswith(" 0/45 [..............................] - ")
    # A full epoch whose end sets the stop (EarlyStopping, here before the bar in the list)
    # still shows all its steps.
    run_fit(
        model,
        [callbacks.EarlyStopping(monitor="loss"), callbacks.ProgbarLogger()],
        losses(1.0, 2.0),
        steps=45,
        verbose=2,
    )
    assert capsys.readouterr().out.splitlines()[-1].startswith("45/45 - ")


# --- History ---------------------------------------------------------------


def test_history_collects_epoch_logs_and_is_set_on_model():
    model = FakeModel()
    history = run_fit(model, [], [{"loss": 1.0, "val_loss": 2.0}, {"loss": 0.5, "val_loss": 1.5}])
    assert isinstance(model.history, callbacks.History)
    assert history.history == {"loss": [1.0, 0.5], "val_loss": [2.0, 1.5]}
    assert history.epoch == [0, 1]
    assert history.params == {"verbose": 0, "epochs": 2, "steps": 4}


# --- EarlyStopping ---------------------------------------------------------


def test_early_stopping_stops_after_patience_epochs_without_improvement():
    stopper = callbacks.EarlyStopping(monitor="loss", patience=2)
    history = run_fit(FakeModel(), [stopper], losses(1.0, 0.8, 0.9, 0.85, 0.7, 0.6))
    # Best at epoch 1; epochs 2 and 3 do not improve: stop after epoch 3.
    assert history.history["loss"] == [1.0, 0.8, 0.9, 0.85]
    assert stopper.stopped_epoch == 3 and stopper.best == 0.8


def test_early_stopping_patience_0_stops_at_first_worse_epoch():
    stopper = callbacks.EarlyStopping(monitor="loss")
    history = run_fit(FakeModel(), [stopper], losses(1.0, 1.1, 0.5))
    assert history.epoch == [0, 1]


def test_early_stopping_restores_best_weights(capsys):
    model = FakeModel()
    stopper = callbacks.EarlyStopping(
        monitor="loss", patience=2, verbose=1, restore_best_weights=True
    )
    run_fit(model, [stopper], losses(1.0, 0.8, 0.9, 0.85, 0.7))
    # run_fit sets the weights to the epoch index: epoch 1 was the best.
    assert all(np.all(w == 1.0) for w in model.weights)
    assert capsys.readouterr().out == (
        "Epoch 4: early stopping\nRestoring model weights from the end of the best epoch: 2.\n"
    )


def test_early_stopping_restores_best_weights_even_without_stopping():
    model = FakeModel()
    stopper = callbacks.EarlyStopping(monitor="loss", patience=5, restore_best_weights=True)
    run_fit(model, [stopper], losses(1.0, 0.5, 0.9))
    assert stopper.stopped_epoch == 0
    assert all(np.all(w == 1.0) for w in model.weights)


def test_early_stopping_max_mode():
    stopper = callbacks.EarlyStopping(monitor="score", mode="max", patience=1)
    history = run_fit(FakeModel(), [stopper], [{"score": s} for s in (0.5, 0.6, 0.55, 0.9)])
    assert history.epoch == [0, 1, 2] and stopper.best == 0.6


@pytest.mark.parametrize(
    "monitor, op",
    [
        ("val_loss", np.less),
        ("loss", np.less),
        ("mae", np.less),
        ("accuracy", np.greater),
        ("val_acc", np.greater),
        ("val_sparse_categorical_accuracy", np.greater),
        ("auc", np.greater),
    ],
)
def test_early_stopping_auto_mode_follows_metric_name(monitor, op):
    assert callbacks.EarlyStopping(monitor=monitor).monitor_op is op


def test_early_stopping_unknown_mode_warns_and_uses_auto():
    with pytest.warns(UserWarning, match="mode 'bogus' is unknown"):
        stopper = callbacks.EarlyStopping(monitor="accuracy", mode="bogus")
    assert stopper.monitor_op is np.greater


def test_early_stopping_min_delta():
    stopper = callbacks.EarlyStopping(monitor="loss", min_delta=0.1, patience=1)
    history = run_fit(FakeModel(), [stopper], losses(1.0, 0.95, 0.5))
    # 0.95 is below 1.0 but not by 0.1: no improvement, stop at epoch 1.
    assert history.epoch == [0, 1]


def test_early_stopping_baseline_keeps_counting_until_beaten():
    stopper = callbacks.EarlyStopping(monitor="loss", patience=2, baseline=0.5)
    history = run_fit(FakeModel(), [stopper], losses(1.0, 0.9, 0.95, 0.1))
    # Improvements that miss the baseline do not reset the wait: 3 >= 2
    # at the first epoch without improvement.
    assert history.epoch == [0, 1, 2]
    no_baseline = callbacks.EarlyStopping(monitor="loss", patience=2)
    history = run_fit(FakeModel(), [no_baseline], losses(1.0, 0.9, 0.95, 0.1))
    assert history.epoch == [0, 1, 2, 3]


def test_early_stopping_start_from_epoch():
    stopper = callbacks.EarlyStopping(monitor="loss", start_from_epoch=2)
    history = run_fit(FakeModel(), [stopper], losses(1.0, 2.0, 3.0, 4.0, 5.0))
    assert history.epoch == [0, 1, 2, 3]


def test_early_stopping_missing_monitor_warns():
    stopper = callbacks.EarlyStopping()  # monitors val_loss
    with pytest.warns(
        UserWarning, match="`val_loss` which is not available. Available metrics are: loss"
    ):
        history = run_fit(FakeModel(), [stopper], losses(1.0, 2.0))
    assert history.epoch == [0, 1]


def test_early_stopping_is_reset_between_fits():
    model = FakeModel()
    stopper = callbacks.EarlyStopping(monitor="loss", patience=1)
    run_fit(model, [stopper], losses(0.1, 0.2, 0.3))
    history = run_fit(model, [stopper], losses(5.0, 4.0, 3.0))
    assert history.epoch == [0, 1, 2] and stopper.best == 3.0


# --- TerminateOnNaN --------------------------------------------------------


@pytest.mark.parametrize("loss", [float("nan"), np.float32("inf"), -np.inf])
def test_terminate_on_nan_stops_training(loss, capsys):
    model = FakeModel()
    cbs = callbacks.CallbackList([callbacks.TerminateOnNaN()], model=model)
    cbs.on_train_batch_end(299, {"loss": 1.0})
    assert not model.stop_training
    cbs.on_train_batch_end(599, {"loss": loss})
    assert model.stop_training
    assert capsys.readouterr().out == ("Batch 599: Invalid loss, terminating training\n")


def test_terminate_on_nan_can_raise():
    cbs = callbacks.CallbackList([callbacks.TerminateOnNaN(raise_error=True)], model=FakeModel())
    with pytest.raises(RuntimeError, match="NaN or Inf loss"):
        cbs.on_train_batch_end(0, {"loss": float("nan")})


# --- LambdaCallback --------------------------------------------------------


def test_lambda_callback_calls_its_functions():
    calls = []
    lam = callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: calls.append(("eb", epoch)),
        on_epoch_end=lambda epoch, logs: calls.append(("ee", epoch, logs)),
        on_train_begin=lambda logs: calls.append(("tb",)),
        on_train_end=lambda logs: calls.append(("te", logs)),
        on_train_batch_begin=lambda batch, logs: calls.append(("bb", batch)),
        on_train_batch_end=lambda batch, logs: calls.append(("be", batch)),
        on_test_end=lambda logs: calls.append(("test_end", logs)),
    )
    run_fit(FakeModel(), [lam], losses(1.0))
    callbacks.CallbackList([lam]).on_test_end({"loss": 2.0})
    assert calls == [
        ("tb",),
        ("eb", 0),
        ("bb", 0),
        ("be", 3),
        ("ee", 0, {"loss": 1.0}),
        ("te", {"loss": 1.0}),
        ("test_end", {"loss": 2.0}),
    ]


# --- CallbackList ----------------------------------------------------------


class BatchWatcher(callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        pass


class LegacyBatchWatcher(callbacks.Callback):
    def on_batch_begin(self, batch, logs=None):
        self.seen = batch


def test_needs_batch_hooks_only_for_user_batch_hooks():
    builtin = [
        callbacks.EarlyStopping(),
        callbacks.TerminateOnNaN(),
        callbacks.LambdaCallback(on_epoch_end=print),
    ]
    quiet = callbacks.CallbackList(builtin, add_history=True, add_progbar=True, verbose=1)
    assert not quiet.needs_batch_hooks()
    for watcher in (
        BatchWatcher(),
        LegacyBatchWatcher(),
        callbacks.LambdaCallback(on_train_batch_begin=print),
        callbacks.LambdaCallback(on_batch_end=print),
    ):
        cbs = callbacks.CallbackList(builtin + [watcher], add_progbar=True)
        assert cbs.needs_batch_hooks()
        assert not cbs.needs_batch_hooks("test")


def test_needs_batch_hooks_when_a_subclass_overrides_a_builtin_hook():
    class CountingProgbar(callbacks.ProgbarLogger):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)

    assert callbacks.CallbackList([CountingProgbar()]).needs_batch_hooks()
    assert not callbacks.CallbackList([callbacks.ProgbarLogger()]).needs_batch_hooks("predict")


def test_legacy_batch_hooks_are_called_by_train_batch_hooks():
    watcher = LegacyBatchWatcher()
    callbacks.CallbackList([watcher]).on_train_batch_begin(7)
    assert watcher.seen == 7


def test_callback_list_dispatches_every_hook():
    calls = []

    class Recorder(callbacks.Callback):
        pass

    hooks = [
        "on_train_begin",
        "on_train_end",
        "on_test_begin",
        "on_test_end",
        "on_predict_begin",
        "on_predict_end",
    ]
    indexed = [
        "on_epoch_begin",
        "on_epoch_end",
        "on_train_batch_begin",
        "on_train_batch_end",
        "on_test_batch_begin",
        "on_test_batch_end",
        "on_predict_batch_begin",
        "on_predict_batch_end",
        "on_batch_begin",
        "on_batch_end",
    ]
    recorder = Recorder()
    for name in hooks:
        setattr(recorder, name, lambda logs=None, name=name: calls.append((name, logs)))
    for name in indexed:
        setattr(recorder, name, lambda i, logs=None, name=name: calls.append((name, i, logs)))
    cbs = callbacks.CallbackList([recorder])
    logs = {"loss": np.float32(0.5)}
    for name in hooks:
        getattr(cbs, name)(logs)
    for name in indexed:
        getattr(cbs, name)(3, logs)
    assert calls == (
        [(name, {"loss": 0.5}) for name in hooks] + [(name, 3, {"loss": 0.5}) for name in indexed]
    )
    # NumPy scalars reach the callbacks as Python floats.
    assert type(calls[0][1]["loss"]) is float


def test_callback_list_forwards_each_hook_of_callback_under_its_name():
    # The forwarding methods are generated from Callback's hooks: a hook added there is
    # forwarded too, and introspection shows the hook's own name and signature.
    hooks = [name for name in vars(callbacks.Callback) if name.startswith("on_")]
    assert len(hooks) == 16
    for name in hooks:
        forward = vars(callbacks.CallbackList)[name]
        assert forward.__name__ == name and not hasattr(forward, "_is_default")
        params = list(inspect.signature(forward).parameters)
        assert params == list(inspect.signature(getattr(callbacks.Callback, name)).parameters)


def test_callback_list_wires_model_params_and_defaults():
    model = FakeModel()
    user = callbacks.EarlyStopping()
    cbs = callbacks.CallbackList(
        [user], add_history=True, add_progbar=True, model=model, verbose=2, epochs=3, steps=7
    )
    # Keras 3's order: the user's callbacks, then History, then the progress bar.
    first, history, progbar = cbs.callbacks
    assert first is user
    assert isinstance(progbar, callbacks.ProgbarLogger)
    assert model.history is history
    assert all(c.model is model for c in cbs)
    assert user.params == {"verbose": 2, "epochs": 3, "steps": 7}
    assert (progbar.verbose, progbar.epochs, progbar.target) == (2, 3, 7)
    # A History or ProgbarLogger already in the list is not added twice.
    again = callbacks.CallbackList([history, progbar], add_history=True, add_progbar=True)
    assert again.callbacks == [history, progbar]
