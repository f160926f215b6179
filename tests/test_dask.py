"""Dask: a GridSearchCV under joblib's "dask" backend finds what the local search finds, and
`densekit experiment activations --scheduler local:2` prints the local run's table."""

import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import densekit

pytest.importorskip("distributed")
pytest.importorskip("sklearn")

pytestmark = [
    pytest.mark.usefixtures("one_thread"),
    # Dask's cluster start-up and shutdown warn about ports and closing comms on a busy machine.
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
]


def make_model(X, y, hidden=16):
    model = densekit.Sequential(
        [
            densekit.Input((X.shape[1],)),
            densekit.layers.Dense(
                hidden, activation="relu", kernel_initializer=densekit.initializers.HeNormal(1)
            ),
            densekit.layers.Dense(
                y.shape[1],
                activation="softmax",
                kernel_initializer=densekit.initializers.GlorotUniform(2),
            ),
        ]
    )
    model.compile(loss="categorical_crossentropy", optimizer=densekit.optimizers.Adam(0.01))
    return model


def test_grid_search_on_a_local_cluster_matches_the_local_search():
    import joblib
    from distributed import Client, LocalCluster
    from sklearn.datasets import load_digits
    from sklearn.model_selection import GridSearchCV

    from densekit.wrappers import SKLearnClassifier

    X, y = load_digits(return_X_y=True)
    X, y = X[:600] / 16.0, y[:600]
    grid = {"model_kwargs": [{"hidden": 4}, {"hidden": 32}]}
    estimator = SKLearnClassifier(make_model, fit_kwargs={"epochs": 3, "verbose": 0, "seed": 0})
    local = GridSearchCV(estimator, grid, cv=3).fit(X, y)
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        # Dask's workers start with one OpenMP thread, which densekit follows: as this process.
        assert set(client.run(densekit.get_num_threads).values()) == {1}
        with joblib.parallel_backend("dask"):
            distributed = GridSearchCV(estimator, grid, cv=3, n_jobs=2).fit(X, y)
        workers = {w["id"] for w in client.scheduler_info()["workers"].values()}
        assert len(workers) == 2
    assert distributed.best_params_ == local.best_params_ == {"model_kwargs": {"hidden": 32}}
    assert_array_equal(
        distributed.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"]
    )


def _table_rows(output):
    """The table's rows without the time column (wall time differs between runs)."""
    table = output.split("\n\n")[1].splitlines()
    header = table[0]
    start = header.index("time (s)")
    end = header.index("monitor warnings")
    return [line[:start] + line[end:] for line in table[2:]], len(table) - 2


def _run(capsys, *extra):
    from densekit.__main__ import main

    args = ["experiment", "activations", "--depth", "3", "--units", "16", "--epochs", "2"]
    assert main(args + list(extra)) == 0
    return capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_activations_on_two_local_workers_prints_the_local_table(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    local = _run(capsys, "--out", str(tmp_path / "local"))
    cluster = _run(capsys, "--out", str(tmp_path / "cluster"), "--scheduler", "local:2")
    rows, count = _table_rows(local)
    assert count == 14
    assert _table_rows(cluster) == (rows, count)
    # The per-run lines agree too, up to their times.
    strip = re.compile(r"\s+[0-9.]+ s$", re.M)
    lines = [strip.sub("", ln) for ln in local.splitlines() if ln.startswith("[")]
    assert lines == [strip.sub("", ln) for ln in cluster.splitlines() if ln.startswith("[")]
    assert len(lines) == 14


def test_a_bad_scheduler_value_is_refused_before_anything_runs(capsys):
    from densekit.__main__ import main

    with pytest.raises(SystemExit):
        main(["experiment", "activations", "--scheduler", "local:0"])
    assert "local:N needs a positive number of workers" in capsys.readouterr().err


def test_runs_without_a_scheduler_are_lazy_and_in_order():
    from densekit.experiments import _cluster

    calls = []
    outcomes = _cluster.runs(lambda a, b: calls.append(a) or a * b, [(1, 2), (3, 4)])
    assert calls == []
    assert next(outcomes) == 2 and calls == [1]
    assert list(outcomes) == [12]
    assert np.array_equal(calls, [1, 3])
