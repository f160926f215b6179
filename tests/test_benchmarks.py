"""benchmarks/bench.py runs against the installed densekit and writes its results section.

A tiny run (the densekit peer only, single-sample latency, 20 calls) goes through the whole path:
the worker process, the runner, the report and the README writer. No timing is asserted.
"""

import os
import subprocess
import sys

BENCH = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), os.pardir, "benchmarks", "bench.py"
)
MARKER = "<!-- Everything below this line is written by benchmarks/bench.py; a run replaces it. -->"


def _run_bench(tmp_path, readme):
    args = ["--quick", "--peers", "densekit", "--only", "latency", "--latency-calls", "20"]
    return subprocess.run(
        [sys.executable, BENCH, *args, "--json", "", "--readme", str(readme)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_bench_script_replaces_only_the_results_section_of_its_readme(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\nThe method.\n\n{MARKER}\n\n## Results\n\nold numbers\n")
    done = _run_bench(tmp_path, readme)
    assert done.returncode == 0, done.stderr
    text = readme.read_text()
    head, results = text.split(MARKER)
    assert head == "# Benchmarks\n\nThe method.\n\n"
    assert "old numbers" not in results
    assert "## Results" in results and "1 sample, median of 20 calls | densekit" in results
    # The date, the machine and the versions open the report, on stdout and in the file.
    for line in ("- Date: ", "- Machine: ", "logical CPUs", "- Versions: densekit "):
        assert line in results and line in done.stdout
    assert f"Python {sys.version.split()[0]}" in results
