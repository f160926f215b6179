"""CSVLogger: the rows against the History, appending, and Keras 3's columns."""

import csv

import numpy as np
import pytest

import densekit
from densekit.callbacks import CSVLogger

pytestmark = pytest.mark.usefixtures("one_thread_per_module")


def _rows(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


def test_csv_logger_rows_are_the_epochs_of_the_history(tmp_path, digits, digits_model):
    (x, y), _ = digits
    path = tmp_path / "log.csv"
    history = digits_model().fit(
        x, y, epochs=3, validation_split=0.2, verbose=0, callbacks=[CSVLogger(path)]
    )
    header, *rows = _rows(path)
    keys = sorted(history.history)
    assert header == ["epoch"] + keys
    assert [int(row[0]) for row in rows] == [0, 1, 2]
    for i, key in enumerate(keys, start=1):
        # Written with repr(): the floats read back exactly.
        assert [float(row[i]) for row in rows] == history.history[key]


def test_csv_logger_without_validation_adds_val_columns_holding_na(tmp_path, digits, digits_model):
    (x, y), _ = digits
    path = tmp_path / "log.csv"
    digits_model().fit(x[:200], y[:200], epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    header, *rows = _rows(path)
    # As Keras 3: validation may start later (validation_freq), so its columns are there.
    assert header == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [row[3:] for row in rows] == [["NA", "NA"], ["NA", "NA"]]


def test_csv_logger_append_continues_the_file_with_one_header(tmp_path, digits, digits_model):
    (x, y), _ = digits
    path = tmp_path / "log.csv"
    model = digits_model()
    first = model.fit(x[:300], y[:300], epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    second = model.fit(
        x[:300],
        y[:300],
        epochs=4,
        initial_epoch=2,
        verbose=0,
        callbacks=[CSVLogger(path, append=True)],
    )
    header, *rows = _rows(path)
    assert header[0] == "epoch" and all(row[0] != "epoch" for row in rows)
    assert [int(row[0]) for row in rows] == [0, 1, 2, 3]
    loss = header.index("loss")
    assert [float(row[loss]) for row in rows] == first.history["loss"] + second.history["loss"]


def test_csv_logger_append_to_a_new_file_writes_the_header(tmp_path, digits, digits_model):
    (x, y), _ = digits
    path = tmp_path / "new.csv"
    digits_model().fit(x[:100], y[:100], verbose=0, callbacks=[CSVLogger(path, append=True)])
    header, row = _rows(path)
    assert header[:3] == ["epoch", "accuracy", "loss"] and row[0] == "0"


def test_csv_logger_without_append_overwrites(tmp_path, digits, digits_model):
    (x, y), _ = digits
    path = tmp_path / "log.csv"
    path.write_text("old contents\n")
    digits_model().fit(x[:100], y[:100], epochs=2, verbose=0, callbacks=[CSVLogger(path)])
    assert len(_rows(path)) == 3 and "old" not in path.read_text()


def test_csv_logger_separator(tmp_path, digits, digits_model):
    (x, y), _ = digits
    path = tmp_path / "log.tsv"
    history = digits_model().fit(
        x[:100], y[:100], verbose=0, callbacks=[CSVLogger(path, separator="\t")]
    )
    header, row = _rows(path, "\t")
    assert float(row[header.index("loss")]) == history.history["loss"][0]


@pytest.mark.parametrize("separator", ["", ";;", 1])
def test_csv_logger_refuses_a_separator_that_is_not_one_character(separator):
    with pytest.raises(ValueError, match=r"CSVLogger: separator .*Received: separator="):
        CSVLogger("log.csv", separator=separator)


def test_csv_logger_refuses_a_filename_that_is_not_a_path():
    with pytest.raises(TypeError, match="CSVLogger: filename"):
        CSVLogger(3.5)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_csv_logger_columns_match_keras(tmp_path):
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype("float32"), rng.integers(0, 3, 40)
    for name, library in (("keras", keras), ("densekit", densekit)):
        model = library.Sequential(
            [library.layers.Input((4,)), library.layers.Dense(3, activation="softmax")]
        )
        model.compile(loss="sparse_categorical_crossentropy", optimizer="sgd", metrics=["accuracy"])
        for validation_split in (0.0, 0.25):
            path = tmp_path / f"{name}-{validation_split}.csv"
            model.fit(
                x,
                y,
                epochs=2,
                verbose=0,
                validation_split=validation_split,
                callbacks=[library.callbacks.CSVLogger(path)],
            )
    for validation_split in (0.0, 0.25):
        ours = _rows(tmp_path / f"densekit-{validation_split}.csv")
        theirs = _rows(tmp_path / f"keras-{validation_split}.csv")
        assert ours[0] == theirs[0]
        assert [[v == "NA" for v in row] for row in ours[1:]] == [
            [v == "NA" for v in row] for row in theirs[1:]
        ]
