"""Fuzz target for loading files (atheris, coverage-guided): mutated `.keras` archives,
`.weights.h5` files and JSON configs go through load_model, load_weights and model_from_json.

A load may refuse its input only with the documented errors (ValueError; OSError and its kin for
the file itself); any other exception, a crash, a hang or a model changed by a failed
load_weights is a finding. Run by tests/test_fuzz_loading.py; by hand:

    python fuzz_loading.py CORPUS_DIR -max_total_time=60
"""

import io
import os
import sys
import tempfile
import warnings
import zipfile

import atheris

with atheris.instrument_imports(include=["densekit", "zipfile", "json"]):
    import numpy as np

    import densekit

# Loads refuse bad files with these; a loaded file may also warn (a skipped optimizer state).
EXPECTED = (ValueError, OSError)
# The first byte picks the loader and what the rest is: a whole file, or one member of a
# .keras archive that the target zips with the valid other one (mutating a zip breaks its CRCs,
# which would keep the mutations from reaching the members' parsers).
KINDS = ("model.keras", "weights.keras", "m.weights.h5", "json", "config.json", "model.weights.h5")


def _model():
    model = densekit.Sequential(
        [
            densekit.layers.Input((4,)),
            densekit.layers.Dense(3, activation="relu"),
            densekit.layers.BatchNormalization(),
            densekit.layers.Dense(2),
        ]
    )
    model.compile(optimizer="adam", loss="mse")
    x = np.linspace(-1, 1, 32, dtype=np.float32).reshape(8, 4)
    model.fit(x, np.zeros((8, 2), np.float32), epochs=1, verbose=0)
    return model


def _state(model):
    return [w.copy() for w in model.get_weights()] + [v.numpy() for v in model.optimizer.variables]


def _member(archive, name):
    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        return z.read(name)


def write_corpus(directory):
    """Seeds: a valid file of each kind, the first byte choosing the loader."""
    model = _model()
    with tempfile.TemporaryDirectory() as scratch:
        model.save(os.path.join(scratch, "m.keras"))
        model.save_weights(os.path.join(scratch, "m.weights.h5"))
        with open(os.path.join(scratch, "m.keras"), "rb") as f:
            archive = f.read()
        with open(os.path.join(scratch, "m.weights.h5"), "rb") as f:
            weights = f.read()
    config = _member(archive, "config.json")
    seeds = [archive, archive, weights, model.to_json().encode(), config, weights]
    os.makedirs(directory, exist_ok=True)
    for kind, seed in enumerate(seeds):
        with open(os.path.join(directory, f"seed-{kind}"), "wb") as f:
            f.write(bytes([kind]) + seed)


class Target:
    def __init__(self):
        self.model = _model()
        self.state = _state(self.model)
        self.directory = tempfile.mkdtemp(prefix="densekit-fuzz-")
        path = os.path.join(self.directory, "valid.keras")
        self.model.save(path)
        with zipfile.ZipFile(path) as archive:
            self.members = {name: archive.read(name) for name in archive.namelist()}

    def __call__(self, data):
        if not data:
            return
        kind = KINDS[data[0] % len(KINDS)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                self._load(kind, data[1:])
                failed = False
            except EXPECTED:
                failed = True
        if kind not in ("weights.keras", "m.weights.h5"):
            return  # the other kinds build a new model
        after = _state(self.model)
        if failed:  # all or nothing: a refused file leaves every value as it was
            assert all(np.array_equal(a, b, equal_nan=True) for a, b in zip(after, self.state)), (
                f"a refused {kind} changed the model"
            )
        else:
            assert all(np.all(np.isfinite(a)) for a in after), (
                f"a loaded {kind} put NaN or Inf in the model"
            )
        self.state = after

    def _load(self, kind, body):
        if kind == "json":
            densekit.models.model_from_json(body.decode("utf-8", "replace"))
            return
        path = os.path.join(self.directory, kind)
        if kind in ("config.json", "model.weights.h5"):
            members = dict(self.members, **{kind: body})
            path = os.path.join(self.directory, "member.keras")
            with zipfile.ZipFile(path, "w") as archive:
                for name, data in members.items():
                    archive.writestr(name, data)
            densekit.models.load_model(path)
            return
        with open(path, "wb") as f:
            f.write(body)
        if kind == "model.keras":
            densekit.models.load_model(path)
        else:
            self.model.load_weights(path)


def main():
    # A directory is the corpus, seeded with valid files; files are inputs to run once.
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-") and not os.path.isfile(sys.argv[1]):
        write_corpus(sys.argv[1])
    atheris.Setup(sys.argv, Target())
    atheris.Fuzz()


if __name__ == "__main__":
    main()
