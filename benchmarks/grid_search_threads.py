"""A GridSearchCV of small densekit models on digits: two joblib workers of one densekit thread
each against one process of two threads. Prints the median wall time of each over `--repeats`.

    python benchmarks/grid_search_threads.py [--repeats 3]
"""

import argparse
import statistics
import time

import joblib
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

import densekit
from densekit.wrappers import SKLearnClassifier


def make_model(X, y, hidden=64, depth=2):
    stack = [densekit.Input((X.shape[1],))]
    stack += [densekit.layers.Dense(hidden, activation="relu") for _ in range(depth)]
    stack.append(densekit.layers.Dense(y.shape[1], activation="softmax"))
    model = densekit.Sequential(stack)
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


GRID = {"model_kwargs": [{"hidden": h, "depth": d} for h in (64, 256) for d in (2, 4)]}
FIT = {"epochs": 10, "batch_size": 32, "verbose": 0, "seed": 0}


def search(n_jobs, threads):
    X, y = load_digits(return_X_y=True)
    densekit.set_num_threads(threads)
    start = time.perf_counter()
    GridSearchCV(SKLearnClassifier(make_model, fit_kwargs=FIT), GRID, cv=3, n_jobs=n_jobs).fit(
        X / 16.0, y
    )
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    # Warm loky's workers up first, so the first timed run does not pay their start.
    joblib.Parallel(n_jobs=2)(joblib.delayed(densekit.get_num_threads)() for _ in range(2))
    for n_jobs, threads in ((2, 1), (1, 2)):
        times = [search(n_jobs, threads) for _ in range(args.repeats)]
        print(
            f"n_jobs={n_jobs}, {threads} densekit thread(s) per process: median "
            f"{statistics.median(times):.2f} s  ({', '.join(f'{t:.2f}' for t in times)})"
        )


if __name__ == "__main__":
    main()
