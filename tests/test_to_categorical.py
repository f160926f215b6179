"""utils.to_categorical against NumPy and Keras 3."""

import numpy as np
import pytest

from densekit.utils import to_categorical


def test_to_categorical_is_the_identity_rows_of_the_labels():
    labels = np.array([3, 0, 2, 2, 1])
    assert np.array_equal(to_categorical(labels), np.eye(4)[labels])
    assert to_categorical(labels).dtype == np.float64


def test_to_categorical_with_num_classes_and_a_trailing_axis_of_one():
    labels = np.array([[1], [0], [1]])
    got = to_categorical(labels, num_classes=5)
    assert got.shape == (3, 5)
    assert np.array_equal(got, np.eye(5)[[1, 0, 1]])


def test_to_categorical_keeps_the_other_axes():
    labels = np.array([[0, 1, 2], [2, 1, 0]])
    got = to_categorical(labels)
    assert got.shape == (2, 3, 3)
    assert np.array_equal(got.argmax(-1), labels) and np.all(got.sum(-1) == 1)


def test_to_categorical_accepts_whole_floats_and_lists():
    assert np.array_equal(to_categorical([1.0, 0.0]), [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    ("labels", "num_classes", "match"),
    [
        ([0, 3], 3, r"labels must be in \[0, 3\). Received: a label 3"),
        ([-1, 1], None, r"Received: a label -1"),
        ([0.5, 1], None, "whole numbers"),
        (["a"], None, "integer class labels"),
        ([1, 2], 2.5, "num_classes must be a positive int"),
        ([1, 2], -2, "num_classes must be a positive int"),
        ([], None, "pass num_classes"),
    ],
)
def test_to_categorical_refuses_bad_labels(labels, num_classes, match):
    with pytest.raises(ValueError, match=match):
        to_categorical(labels, num_classes=num_classes)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
@pytest.mark.parametrize(
    ("labels", "num_classes"),
    [([0, 2, 1, 2], None), ([[1], [3]], 6), ([[0, 1], [1, 1]], None), (np.arange(7) % 3, 3)],
)
def test_to_categorical_matches_keras(labels, num_classes):
    keras = pytest.importorskip("keras")
    theirs = keras.utils.to_categorical(np.array(labels), num_classes=num_classes)
    ours = to_categorical(labels, num_classes=num_classes)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert np.array_equal(ours, theirs)
