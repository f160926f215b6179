"""densekit's threads under threadpoolctl: listed by threadpool_info, set and restored by
threadpool_limits, and divided between joblib's loky workers."""

import subprocess
import sys

import pytest

import densekit

threadpoolctl = pytest.importorskip("threadpoolctl")
if not hasattr(threadpoolctl, "register"):
    pytest.skip("threadpoolctl < 3.5 has no third-party controllers", allow_module_level=True)


def _densekit_entries():
    return [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "densekit"]


@pytest.fixture
def three_threads():
    previous = densekit.get_num_threads()
    densekit.set_num_threads(3)
    yield
    densekit.set_num_threads(previous)


def test_threadpool_info_lists_densekit_once_with_its_thread_count(three_threads):
    (entry,) = _densekit_entries()
    assert entry["internal_api"] == "densekit"
    assert entry["num_threads"] == 3
    assert entry["version"] == densekit.__version__
    assert entry["filepath"].endswith(densekit._core.__file__.rsplit("/", 1)[-1])


def test_threadpool_limits_sets_densekit_and_restores_it(three_threads):
    with threadpoolctl.threadpool_limits(1):
        assert densekit.get_num_threads() == 1
    assert densekit.get_num_threads() == 3
    with threadpoolctl.threadpool_limits({"densekit": 2}):
        assert densekit.get_num_threads() == 2
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert densekit.get_num_threads() == 3
    assert densekit.get_num_threads() == 3
    controller = threadpoolctl.ThreadpoolController().select(internal_api="densekit")
    with controller.limit(limits=1):
        assert densekit.get_num_threads() == 1
    assert densekit.get_num_threads() == 3


def _threads_in_worker(_):
    import densekit

    return densekit.get_num_threads()


def test_loky_workers_run_one_densekit_thread_each_with_two_jobs_on_two_cores():
    joblib = pytest.importorskip("joblib")
    if joblib.cpu_count() != 2:
        pytest.skip("the split is checked for two cores")
    with joblib.parallel_config(backend="loky"):
        counts = joblib.Parallel(n_jobs=2)(joblib.delayed(_threads_in_worker)(i) for i in range(4))
    assert counts == [1, 1, 1, 1]


def test_limits_in_a_loky_worker_apply_to_densekit():
    joblib = pytest.importorskip("joblib")
    counts = joblib.Parallel(n_jobs=2)(joblib.delayed(_limited_threads)(i) for i in range(2))
    assert counts == [(1, 5), (1, 5)]


def _limited_threads(_):
    import threadpoolctl

    import densekit

    densekit.set_num_threads(5)
    with threadpoolctl.threadpool_limits(1):
        inside = densekit.get_num_threads()
    return inside, densekit.get_num_threads()


def test_densekit_imports_without_threadpoolctl():
    code = (
        "import sys; sys.modules['threadpoolctl'] = None; import densekit; "
        "print(densekit.get_num_threads() >= 1, 'threadpoolctl' in sys.modules and "
        "sys.modules['threadpoolctl'] is not None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]
