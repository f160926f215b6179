"""The engine of the large matrix products: OpenBLAS's sgemm from scipy-openblas32 when it is
installed (DENSEKIT_GEMM=eigen keeps Eigen), Eigen otherwise.

A wide model (784 -> 1024 -> 1024 -> 10 at batch 512, whose products are all large enough for
OpenBLAS) trains to the same weights with either engine, run to run with the same bits, and in the
children of a forked pool as in the parent.
"""

import functools
import importlib.util
import multiprocessing
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from concurrency import forks_a_threaded_process
from numpy.testing import assert_allclose, assert_array_equal

import densekit
from densekit import _gemm
from densekit import layers as L
from densekit.initializers import GlorotUniform

HAS_OPENBLAS = importlib.util.find_spec("scipy_openblas32") is not None
needs_openblas = pytest.mark.skipif(
    not HAS_OPENBLAS or os.environ.get("DENSEKIT_GEMM", "").lower() == "eigen",
    reason="needs scipy-openblas32, not disabled by DENSEKIT_GEMM",
)
SUBPROCESS_SECONDS = 300  # generous: the machine may be loaded

# Trains the wide model for 4 steps on `threads` threads and saves its weights to `out`.
_TRAIN = textwrap.dedent(
    """
    import sys
    import numpy as np
    import densekit
    from densekit import layers as L
    from densekit.initializers import GlorotUniform

    threads, out = int(sys.argv[1]), sys.argv[2]
    densekit.set_num_threads(threads)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2048, 784)).astype(np.float32)
    y = rng.integers(0, 10, size=2048)
    model = densekit.Sequential(
        [
            L.Dense(1024, activation="relu", input_shape=(784,),
                    kernel_initializer=GlorotUniform(seed=1)),
            L.Dense(1024, activation="relu", kernel_initializer=GlorotUniform(seed=2)),
            L.Dense(10, activation="softmax", kernel_initializer=GlorotUniform(seed=3)),
        ]
    )
    model.compile(optimizer=densekit.optimizers.SGD(0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=512, epochs=1, shuffle=False, verbose=0)
    np.savez(out, *model.get_weights())
    print(densekit.get_gemm_engine()["name"])
    """
)


def _run(code, args, engine, cwd):
    env = dict(os.environ)
    env.pop("DENSEKIT_GEMM", None)
    if engine is not None:
        env["DENSEKIT_GEMM"] = engine
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_SECONDS,
    )


@functools.lru_cache(maxsize=None)
def _trained(engine, threads, run, directory):
    """The wide model's weights after training in a new process, and the engine it reported."""
    out = os.path.join(directory, f"{engine}-{threads}-{run}.npz")
    result = _run(_TRAIN, [threads, out], engine, directory)
    assert result.returncode == 0, result.stderr
    with np.load(out) as weights:
        return result.stdout.split()[-1], [weights[f"arr_{i}"] for i in range(len(weights.files))]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("gemm"))
    return lambda engine, threads, run=0: _trained(engine, threads, run, directory)


@needs_openblas
def test_openblas_from_scipy_openblas32_is_the_engine_at_import():
    import scipy_openblas32

    engine = densekit.get_gemm_engine()
    assert engine["name"] == "openblas"
    assert os.path.dirname(engine["library"]) == scipy_openblas32.get_lib_dir()
    assert os.path.exists(engine["library"])
    info = densekit.build_info()
    assert (info["gemm"], info["gemm_library"]) == ("openblas", engine["library"])
    assert info["gemm_config"].startswith("OpenBLAS")


def test_densekit_gemm_eigen_keeps_eigen(tmp_path):
    code = "import densekit; e = densekit.get_gemm_engine(); print(e['name'], repr(e['library']))"
    result = _run(code, [], "eigen", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["eigen", "''"]


def test_an_unknown_densekit_gemm_value_fails_the_import_naming_it(tmp_path):
    result = _run("import densekit", [], "mkl", tmp_path)
    assert result.returncode != 0
    assert "ValueError" in result.stderr
    assert "DENSEKIT_GEMM='mkl'" in result.stderr


def test_without_scipy_openblas32_densekit_imports_and_trains_on_eigen(tmp_path):
    code = textwrap.dedent(
        """
        import sys
        sys.modules["scipy_openblas32"] = None  # as if it were not installed
        import numpy as np
        import densekit
        model = densekit.Sequential([densekit.layers.Dense(3, input_shape=(4,))])
        model.compile(optimizer="sgd", loss="mse")
        loss = model.fit(np.ones((8, 4), "float32"), np.ones((8, 3), "float32"), verbose=0)
        print(densekit.get_gemm_engine()["name"], np.isfinite(loss.history["loss"][-1]))
        """
    )
    result = _run(code, [], None, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["eigen", "True"]
    assert result.stderr == ""  # silently


@pytest.fixture
def restore_engine():
    before = densekit.get_gemm_engine()
    yield
    if before["name"] == "openblas":
        densekit.set_gemm_engine("openblas", library=before["library"])
    else:
        densekit.set_gemm_engine("eigen")


@needs_openblas
@pytest.mark.usefixtures("restore_engine")
def test_set_gemm_engine_switches_to_eigen_and_back():
    library = densekit.get_gemm_engine()["library"]
    densekit.set_gemm_engine("eigen")
    assert densekit.get_gemm_engine() == {"name": "eigen", "library": ""}
    densekit.set_gemm_engine("openblas")
    assert densekit.get_gemm_engine() == {"name": "openblas", "library": library}


@pytest.mark.usefixtures("restore_engine")
def test_set_gemm_engine_refuses_bad_arguments_and_keeps_the_engine(tmp_path):
    before = densekit.get_gemm_engine()
    with pytest.raises(ValueError, match=r"name must be one of 'eigen', 'openblas'.*name='mkl'"):
        densekit.set_gemm_engine("mkl")
    with pytest.raises(ValueError, match="library is only for 'openblas'"):
        densekit.set_gemm_engine("eigen", library="x.so")
    missing = str(tmp_path / "libmissing.so")
    with pytest.raises(RuntimeError, match=f"cannot load OpenBLAS from {missing}"):
        densekit.set_gemm_engine("openblas", library=missing)
    not_openblas = tmp_path / "libnot_openblas.so"
    not_openblas.write_bytes(b"\x7fELF not a library")
    with pytest.raises(RuntimeError, match="cannot load OpenBLAS"):
        densekit.set_gemm_engine("openblas", library=not_openblas)
    assert densekit.get_gemm_engine() == before


def test_without_scipy_openblas32_openblas_is_refused_with_the_package_named(monkeypatch):
    monkeypatch.setattr(_gemm, "openblas_library", lambda: None)
    with pytest.raises(RuntimeError, match="needs the scipy-openblas32 package"):
        densekit.set_gemm_engine("openblas")


@needs_openblas
def test_a_wide_model_trains_to_the_same_weights_with_openblas_as_with_eigen(trained):
    engine, openblas = trained(None, 2)
    eigen_engine, eigen = trained("eigen", 2)
    assert (engine, eigen_engine) == ("openblas", "eigen")
    for i, (got, expected) in enumerate(zip(openblas, eigen)):
        assert_allclose(got, expected, rtol=1e-4, atol=1e-6, err_msg=f"weight {i}")
    # The products did run in another engine: their roundings differ somewhere.
    assert not all(np.array_equal(a, b) for a, b in zip(openblas, eigen))


@needs_openblas
@pytest.mark.parametrize("threads", [1, 2])
def test_openblas_training_gives_the_same_bits_run_to_run(trained, threads):
    _, first = trained(None, threads, 0)
    _, second = trained(None, threads, 1)
    for i, (a, b) in enumerate(zip(first, second)):
        assert_array_equal(a, b, err_msg=f"weight {i}, {threads} thread(s)")


@needs_openblas
def test_openblas_training_on_one_and_two_threads_agrees(trained):
    # The configured thread count cuts the work into other parts, so the roundings differ: after 4
    # momentum steps by up to 1.7e-5 on first-layer weights of ~0.05, as much as with Eigen alone
    # (OpenBLAS against Eigen on 2 threads: 1.5e-8). A wrong product would be ~1e-2 off.
    _, one = trained(None, 1)
    _, two = trained(None, 2)
    for i, (a, b) in enumerate(zip(one, two)):
        assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=f"weight {i}")


def _wide_step(seed):
    densekit.set_num_threads(1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((512, 784)).astype(np.float32)
    y = rng.integers(0, 10, size=512)
    model = densekit.Sequential(
        [
            L.Dense(
                1024, activation="relu", input_shape=(784,), kernel_initializer=GlorotUniform(1)
            ),
            L.Dense(10, activation="softmax", kernel_initializer=GlorotUniform(2)),
        ]
    )
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=512, epochs=1, shuffle=False, verbose=0)
    return densekit.get_gemm_engine()["name"], model.get_weights()[0]


@needs_openblas
@forks_a_threaded_process
def test_a_forked_pool_trains_with_openblas_loaded_in_the_parent():
    previous = densekit.get_num_threads()
    try:
        expected = [_wide_step(seed) for seed in (5, 6)]  # the parent has used OpenBLAS
        with multiprocessing.get_context("fork").Pool(2) as pool:
            got = pool.map_async(_wide_step, [5, 6]).get(SUBPROCESS_SECONDS)
    finally:
        densekit.set_num_threads(previous)
    for (engine, weights), (parent_engine, parent_weights) in zip(got, expected):
        assert engine == parent_engine == "openblas"
        assert_array_equal(weights, parent_weights)


@needs_openblas
def test_openblas_stays_single_threaded_under_threadpoolctl_limits():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import ctypes

    library = ctypes.CDLL(densekit.get_gemm_engine()["library"])  # the one densekit loaded
    previous = densekit.get_num_threads()
    try:
        _, expected = _wide_step(7)
        # threadpoolctl sets every OpenBLAS loaded, densekit's too; the next product sets it back.
        with threadpoolctl.threadpool_limits(limits=2):
            assert library.scipy_openblas_get_num_threads() == 2
            _, got = _wide_step(7)
            assert library.scipy_openblas_get_num_threads() == 1
    finally:
        densekit.set_num_threads(previous)
    assert_array_equal(got, expected)
