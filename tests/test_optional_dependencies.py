"""Optional dependencies: `import densekit` needs numpy alone, and a feature whose extra is
missing says which extra installs it."""

import subprocess
import sys

import pytest

import densekit as keras

_BLOCKED = ("h5py", "matplotlib", "sklearn", "torch", "keras", "jax", "tensorboard", "dask")


def test_import_densekit_loads_no_optional_dependency():
    # A fresh interpreter, so modules other tests imported do not count.
    code = (
        "import sys, densekit, densekit.datasets.digits as d; d.load_data(); "
        f"print(sorted(m for m in {_BLOCKED!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _tiny_model():
    model = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    model.compile(loss="mse", optimizer="sgd")
    return model


@pytest.mark.parametrize("suffix", [".keras", ".weights.h5"])
def test_saving_without_h5py_names_the_io_extra(tmp_path, monkeypatch, suffix):
    monkeypatch.setitem(sys.modules, "h5py", None)
    model = _tiny_model()
    path = tmp_path / f"model{suffix}"
    with pytest.raises(ImportError, match=r'pip install "densekit\[io\]"'):
        if suffix == ".keras":
            model.save(path)
        else:
            model.save_weights(path)
    assert not path.exists()


def test_plotting_without_matplotlib_names_the_plots_extra(tmp_path, monkeypatch):
    from densekit import plots

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "densekit\[plots\]"'):
        plots.plot_activations(tmp_path / "a.png")
    assert not (tmp_path / "a.png").exists()
    assert list(tmp_path.iterdir()) == []
