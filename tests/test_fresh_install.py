"""densekit installed into a new virtual environment with pip alone, as a new user installs it: a
runtime dependency that only this machine happens to have cannot hide here. Its runtime
dependencies are numpy and scipy-openblas32 (OpenBLAS, for the large products), and it still runs
once OpenBLAS is uninstalled.

pip builds the source in an isolated environment that holds only the declared build requirements,
then installs the wheel. scripts/test.sh does that build once and names the wheel in
DENSEKIT_TEST_WHEEL; without it, the test builds from a copy of the checkout itself."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# What a bare venv holds besides densekit's own requirements.
_VENV_BASE = {"pip", "setuptools", "wheel"}


def _copy_source(destination):
    """The repository's files as a checkout has them (no build folders, no caches)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # a file deleted but not yet committed is skipped
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def _run(command, env, timeout):
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _what_to_install(tmp_path):
    """The wheel scripts/test.sh built, or a copy of the checkout for pip to build."""
    wheel = os.environ.get("DENSEKIT_TEST_WHEEL")
    if wheel:
        assert Path(wheel).is_file(), f"DENSEKIT_TEST_WHEEL names no file: {wheel}"
        return wheel
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git to copy the checkout, or DENSEKIT_TEST_WHEEL")
    source = tmp_path / "source"
    _copy_source(source)
    return str(source)


@pytest.mark.slow
def test_a_bare_virtual_environment_installs_densekit_with_numpy_and_openblas_and_runs_the_demo(
    tmp_path,
):
    package, venv = _what_to_install(tmp_path), tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # no system packages
    bin_dir = venv / "bin"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    python = str(bin_dir / "python")

    _run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", package],
        env,
        1200,
    )

    listed = _run([python, "-m", "pip", "list", "--format=json"], env, 120)
    installed = {package["name"].lower() for package in json.loads(listed)} - _VENV_BASE
    assert installed == {"densekit", "numpy", "scipy-openblas32"}
    engine = "import densekit; print(densekit.__version__, densekit.get_gemm_engine()['name'])"
    assert _run([python, "-c", engine], env, 120).split()[-1] == "openblas"

    out = _run([str(bin_dir / "densekit"), "demo", "--epochs", "5"], env, 600)
    assert "test accuracy: " in out

    # Without OpenBLAS, densekit runs on Eigen alone: a wide layer (Eigen's path) still learns.
    _run([python, "-m", "pip", "uninstall", "-q", "-y", "scipy-openblas32"], env, 120)
    assert _run([python, "-c", engine], env, 120).split()[-1] == "eigen"
    losses = _run([python, "-c", _TRAIN_WIDE], env, 300).split()
    assert float(losses[-1]) < 0.8 * float(losses[0]), losses


# Two epochs of a 784 -> 512 -> 10 model on 1,024 separable samples; prints the two losses.
_TRAIN_WIDE = """
import numpy as np, densekit as keras
rng = np.random.default_rng(0)
x = rng.normal(size=(1024, 784)).astype("float32")
y = x[:, :10].argmax(axis=1).astype("int64")
model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(512, activation="relu"),
                          keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
history = model.fit(x, y, batch_size=256, epochs=2, verbose=0)
print(*history.history["loss"])
"""
