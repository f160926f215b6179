"""Peak memory of one `fit` epoch on a memory-mapped float32 array larger than the model by far.

Writes a 700,000 x 784 float32 .npy (2 GiB) to a temporary directory, trains one epoch of a
784-128-10 model on it at batch 256 in a child process, prints that process's peak resident
memory (VmHWM: getrusage's ru_maxrss would carry over the writer's peak across the exec) next to
its anonymous (non file-backed) memory, and deletes the file. The mapped pages
the epoch reads count in the resident memory as page cache shared with the file; a copy of the
data would show up as anonymous memory.

    python benchmarks/memmap_fit.py [rows]
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

COLS = 784


def _status_mib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) // 1024
    return None


def _write(path, rows):
    x = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, COLS))
    rng = np.random.default_rng(0)
    for start in range(0, rows, 50_000):
        stop = min(start + 50_000, rows)
        x[start:stop] = rng.standard_normal((stop - start, COLS), dtype=np.float32)
    x.flush()


def _fit(path):
    import densekit as keras

    x = np.load(path, mmap_mode="r")
    rows = x.shape[0]
    y = np.arange(rows) % 10
    model = keras.Sequential(
        [
            keras.Input((COLS,)),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    peak_before = _status_mib("VmHWM")
    start = time.perf_counter()
    model.fit(x, y, batch_size=256, epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    assert model.optimizer.iterations == -(-rows // 256)
    params = sum(w.size for w in model.get_weights())
    print(
        json.dumps(
            {
                "data_mib": rows * COLS * 4 // 2**20,
                "model_mib": round(params * 4 / 2**20, 2),
                "peak_rss_before_fit_mib": peak_before,
                "peak_rss_mib": _status_mib("VmHWM"),
                "rss_anon_mib": _status_mib("RssAnon"),
                "rss_file_mib": _status_mib("RssFile"),
                "epoch_seconds": round(seconds, 1),
            }
        )
    )


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--fit":
        _fit(sys.argv[2])
        return
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 700_000
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "x.npy")
        _write(path, rows)
        subprocess.run([sys.executable, __file__, "--fit", path], check=True)


if __name__ == "__main__":
    main()
