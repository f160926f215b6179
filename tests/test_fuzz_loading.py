"""The loading fuzz target (tests/fuzz_loading.py) run for a bounded time: mutated `.keras`,
`.weights.h5` and JSON inputs raise only the documented load errors, never crash or hang, and a
refused file leaves the model as it was."""

import os
import subprocess
import sys

import pytest

pytest.importorskip("atheris")

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


def test_fuzzing_the_loaders_finds_no_crash(tmp_path):
    command = [
        sys.executable,
        os.path.join(TESTS_DIR, "fuzz_loading.py"),
        str(tmp_path / "corpus"),
        "-seed=1",  # the same mutations on every run
        "-runs=20000",
        "-max_total_time=25",
        "-timeout=20",  # seconds for one input: a hang is a finding
        "-rss_limit_mb=4096",
        f"-artifact_prefix={tmp_path}/",
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    findings = [name for name in os.listdir(tmp_path) if name.split("-")[0] in _FINDINGS]
    report = proc.stderr[-4000:]
    assert proc.returncode == 0 and not findings, f"{findings}\n{report}"
    assert "Done" in proc.stderr and "runs in" in proc.stderr, report
    runs = int(proc.stderr.rsplit("Done ", 1)[1].split()[0])
    assert runs >= 200, report  # the target ran, and on more than its seeds


_FINDINGS = {"crash", "timeout", "oom", "leak"}


FINDINGS_DIR = os.path.join(TESTS_DIR, "fuzz_findings")


@pytest.mark.parametrize("name", sorted(os.listdir(FINDINGS_DIR)))
def test_inputs_the_fuzzer_found_are_refused_as_load_errors(name):
    # Each file once failed the target; given files, the target runs each once and exits.
    proc = subprocess.run(
        [
            sys.executable,
            os.path.join(TESTS_DIR, "fuzz_loading.py"),
            os.path.join(FINDINGS_DIR, name),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Executed" in proc.stderr, proc.stderr[-4000:]
