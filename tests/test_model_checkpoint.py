"""ModelCheckpoint on real training on digits: the best model, file names, batch counts,
atomic writes and refused arguments."""

import os
import zipfile

import numpy as np
import pytest

import densekit
from densekit.callbacks import CallbackList, LambdaCallback, ModelCheckpoint

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


def _no_temporary_files(directory):
    leftovers = [n for n in os.listdir(directory) if n.startswith(".") or n.endswith(".tmp")]
    assert leftovers == []


def _blowing_up_rate(epoch, rate):
    # Three calm epochs, then a rate high enough that the validation loss gets worse.
    return 0.01 if epoch < 3 else 1.0


@pytest.mark.parametrize(
    ("monitor", "pick"), [("val_loss", np.argmin), ("val_accuracy", np.argmax)]
)
def test_best_checkpoint_reloads_to_the_best_validation_value(
    tmp_path, digits, digits_model, monitor, pick
):
    (x, y), (x_val, y_val) = digits
    path = tmp_path / "best.keras"
    model = digits_model(optimizer=densekit.optimizers.SGD(0.01, momentum=0.9))
    history = model.fit(
        x,
        y,
        epochs=6,
        validation_data=(x_val, y_val),
        verbose=0,
        callbacks=[
            densekit.callbacks.LearningRateScheduler(_blowing_up_rate),
            ModelCheckpoint(path, monitor=monitor, save_best_only=True),
        ],
    )
    values = history.history[monitor]
    best = int(pick(values))
    assert best < 5, "the test needs a best epoch before the last"
    loaded = densekit.models.load_model(path)
    loss, accuracy = loaded.evaluate(x_val, y_val, verbose=0)
    reloaded = {"val_loss": loss, "val_accuracy": accuracy}[monitor]
    np.testing.assert_allclose(reloaded, values[best], rtol=1e-6)
    now = {"val_loss": 0, "val_accuracy": 1}[monitor]
    assert model.evaluate(x_val, y_val, verbose=0)[now] != pytest.approx(values[best], rel=1e-6)
    _no_temporary_files(tmp_path)


def test_file_name_template_takes_the_epoch_and_the_logs(tmp_path, digits, digits_model):
    (x, y), _ = digits
    template = str(tmp_path / "ckpt" / "{epoch:02d}-{val_loss:.2f}-{accuracy:.3f}.keras")
    history = digits_model().fit(
        x, y, epochs=3, validation_split=0.2, verbose=0, callbacks=[ModelCheckpoint(template)]
    )
    h = history.history
    expected = {
        f"{e + 1:02d}-{h['val_loss'][e]:.2f}-{h['accuracy'][e]:.3f}.keras" for e in range(3)
    }
    assert set(os.listdir(tmp_path / "ckpt")) == expected


def test_weights_only_checkpoint_holds_the_weights_of_its_epoch(tmp_path, digits, digits_model):
    (x, y), _ = digits
    template = str(tmp_path / "w{epoch}.weights.h5")
    weights = []
    model = digits_model()
    model.fit(
        x[:400],
        y[:400],
        epochs=2,
        verbose=0,
        callbacks=[
            ModelCheckpoint(template, save_weights_only=True),
            LambdaCallback(on_epoch_end=lambda e, logs: weights.append(model.get_weights())),
        ],
    )
    for epoch in (1, 2):
        fresh = digits_model(seed=99)
        fresh.load_weights(template.format(epoch=epoch))
        for ours, saved in zip(fresh.get_weights(), weights[epoch - 1]):
            np.testing.assert_array_equal(ours, saved)


def test_integer_save_freq_saves_every_n_batches_across_epochs(tmp_path, digits, digits_model):
    (x, y), _ = digits
    x, y = x[:650], y[:650]  # 13 batches of 50 per epoch
    template = str(tmp_path / "e{epoch}-b{batch}.weights.h5")
    after_step = {}
    model = digits_model()
    step = [0]

    def record(batch, logs):
        step[0] += 1
        after_step[step[0]] = model.get_weights()

    model.fit(
        x,
        y,
        batch_size=50,
        epochs=3,
        verbose=0,
        callbacks=[
            ModelCheckpoint(template, save_weights_only=True, save_freq=5),
            LambdaCallback(on_train_batch_end=record),
        ],
    )
    # A save after every 5th batch of the whole fit; the file is named by epoch and batch, from 1.
    saved = {g: (((g - 1) // 13) + 1, ((g - 1) % 13) + 1) for g in range(5, 40, 5)}
    assert set(os.listdir(tmp_path)) == {f"e{e}-b{b}.weights.h5" for e, b in saved.values()}
    for g, (e, b) in saved.items():
        fresh = digits_model(seed=1)
        fresh.load_weights(template.format(epoch=e, batch=b))
        for ours, theirs in zip(fresh.get_weights(), after_step[g]):
            np.testing.assert_array_equal(ours, theirs)


def test_save_freq_epoch_keeps_the_epoch_in_one_call_and_batches_do_not():
    assert not CallbackList([ModelCheckpoint("m.keras")]).needs_batch_hooks("train")
    assert CallbackList([ModelCheckpoint("m.keras", save_freq=3)]).needs_batch_hooks("train")


def test_period_saves_every_period_epochs(tmp_path, digits, digits_model):
    (x, y), _ = digits
    template = str(tmp_path / "{epoch}.keras")
    digits_model().fit(
        x[:200], y[:200], epochs=5, verbose=0, callbacks=[ModelCheckpoint(template, period=2)]
    )
    assert sorted(os.listdir(tmp_path)) == ["2.keras", "4.keras"]


def test_verbose_checkpoint_says_what_it_does(tmp_path, digits, digits_model, capsys):
    (x, y), _ = digits
    path = tmp_path / "m.keras"
    checkpoint = ModelCheckpoint(path, monitor="loss", save_best_only=True, verbose=1)
    digits_model().fit(x[:200], y[:200], epochs=2, verbose=0, callbacks=[checkpoint])
    out = capsys.readouterr().out
    assert "Epoch 1: loss improved from None to" in out and f"saving model to {path}" in out
    assert "Epoch 2: loss improved from" in out


def test_a_failing_write_leaves_the_previous_checkpoint_whole(
    tmp_path, digits, digits_model, monkeypatch
):
    (x, y), _ = digits
    path = tmp_path / "model.keras"
    model = digits_model()
    model.fit(x[:200], y[:200], verbose=0, callbacks=[ModelCheckpoint(path)])
    before = model.get_weights()

    real_writestr = zipfile.ZipFile.writestr

    def failing_writestr(self, name, data, *args, **kwargs):
        if name == "model.weights.h5":  # after metadata and config: a half-written archive
            raise OSError("disk full")
        return real_writestr(self, name, data, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", failing_writestr)
    with pytest.raises(OSError, match="disk full"):
        model.fit(x[:200], y[:200], verbose=0, callbacks=[ModelCheckpoint(path)])
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["model.keras"]
    for ours, saved in zip(densekit.models.load_model(path).get_weights(), before):
        np.testing.assert_array_equal(ours, saved)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"filepath": "m.h5", "save_weights_only": True}, ValueError, r"end in `\.weights\.h5`"),
        ({"filepath": "m.weights"}, ValueError, r"must end in `\.keras`"),
        ({"filepath": "m.h5"}, NotImplementedError, "legacy HDF5"),
        ({"filepath": "m.keras", "save_freq": "batch"}, ValueError, "save_freq=.batch."),
        ({"filepath": "m.keras", "save_freq": 0}, ValueError, "save_freq=0"),
        ({"filepath": "m.keras", "save_freq": True}, ValueError, "save_freq=True"),
        ({"filepath": "m.keras", "period": 0}, ValueError, "period=0"),
        ({"filepath": "m.keras", "period": 2, "save_freq": 5}, ValueError, "period=2"),
        ({"filepath": None}, TypeError, "filepath"),
    ],
)
def test_model_checkpoint_refuses_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=f"ModelCheckpoint: .*{match}"):
        ModelCheckpoint(**kwargs)


def test_model_checkpoint_unknown_mode_warns_and_uses_auto():
    with pytest.warns(UserWarning, match="mode 'best' is unknown"):
        assert ModelCheckpoint("m.keras", mode="best").mode == "auto"


def test_auto_mode_needs_a_known_metric(tmp_path, digits, digits_model):
    (x, y), _ = digits
    checkpoint = ModelCheckpoint(tmp_path / "m.keras", monitor="grad_norm_ratio")
    with pytest.raises(ValueError, match="monitor=grad_norm_ratio.*mode='max'"):
        digits_model().fit(x[:100], y[:100], verbose=0, callbacks=[checkpoint])


def test_a_template_field_missing_from_the_logs_names_the_fields(tmp_path, digits, digits_model):
    (x, y), _ = digits
    checkpoint = ModelCheckpoint(str(tmp_path / "{val_loss:.2f}.keras"))
    with pytest.raises(
        KeyError, match="ModelCheckpoint: failed to format.*available are accuracy, epoch, loss"
    ):
        digits_model().fit(x[:100], y[:100], verbose=0, callbacks=[checkpoint])


def test_save_best_only_without_the_monitor_warns_and_saves(tmp_path, digits, digits_model):
    (x, y), _ = digits
    path = tmp_path / "m.keras"
    with pytest.warns(UserWarning, match="only with val_loss available"):
        digits_model().fit(
            x[:100], y[:100], verbose=0, callbacks=[ModelCheckpoint(path, save_best_only=True)]
        )
    assert path.exists()


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize("save_freq", ["epoch", 3])
def test_checkpoint_file_names_match_keras(tmp_path, save_freq):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype("float32"), rng.integers(0, 3, 40)
    # The same starting weights in both, so that the losses in the names agree: drawn ones can
    # land on either side of a rounding boundary.
    weights = [rng.normal(size=(4, 3)).astype("float32"), np.zeros(3, "float32")]
    for name, library in (("keras", keras), ("densekit", densekit)):
        model = library.Sequential(
            [library.layers.Input((4,)), library.layers.Dense(3, activation="softmax")]
        )
        model.set_weights(weights)
        model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd")
        template = str(tmp_path / name / "e{epoch:02d}-b{batch}.weights.h5")
        if save_freq == "epoch":
            template = str(tmp_path / name / "e{epoch:02d}-{loss:.0f}.weights.h5")
        checkpoint = library.callbacks.ModelCheckpoint(
            template, save_weights_only=True, save_freq=save_freq
        )
        model.fit(x, y, batch_size=10, epochs=3, verbose=0, shuffle=False, callbacks=[checkpoint])
    assert sorted(os.listdir(tmp_path / "densekit")) == sorted(os.listdir(tmp_path / "keras"))
    assert len(os.listdir(tmp_path / "keras")) == (3 if save_freq == "epoch" else 4)
