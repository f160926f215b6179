"""Writes a run's report into the results section of benchmarks/README.md.

The method text above the marker line stays as written; everything below it is replaced, so the
file always shows the last run with its date, machine and versions.
"""

__all__ = ["MARKER", "write_results"]

MARKER = "<!-- Everything below this line is written by benchmarks/bench.py; a run replaces it. -->"


def write_results(path, report, command):
    """Replaces the results section of the markdown file at `path` with `report` (the markdown of
    `report.markdown(..., level=3)`), run by `command`; appends the section if there is none."""
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        text = "# Benchmarks\n"
    head = text.split(MARKER, 1)[0].rstrip("\n")
    section = [head, "", MARKER, "", "## Results", "", f"Written by `{command}`.", "", report]
    with open(path, "w", encoding="utf-8") as file:
        file.write("\n".join(section).rstrip("\n") + "\n")
