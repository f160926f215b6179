"""`densekit demo`, the README's first command: a batch-normalized deep model on digits."""

import re

from densekit.__main__ import main


def test_demo_prints_the_summary_the_progress_and_a_test_accuracy_of_at_least_95_percent(capsys):
    exit_code = main(["demo", "--epochs", "20"])
    out = capsys.readouterr().out
    assert exit_code == 0
    # The demo's model: BN first, Dense without bias, BN before the activation.
    assert 'Model: "sequential' in out
    assert "Total params: 52,066" in out  # 64*4 + 64*300 + 300*4 + 300*100 + 100*4 + 100*10 + 10
    assert "Non-trainable params: 928" in out  # 2 * (64 + 300 + 100) moving statistics
    # One tf.keras-style line per epoch (stdout is not a terminal here), with validation metrics.
    epochs = re.findall(
        r"^\d+/\d+ \[=+\] - .* - loss: [\d.]+ - accuracy: [\d.]+ - val_loss", out, re.M
    )
    assert len(epochs) == 20
    accuracy = float(re.search(r"test accuracy: ([\d.]+)", out).group(1))
    assert accuracy >= 0.95
