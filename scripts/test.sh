#!/usr/bin/env bash
# Installs what the tests need, checks the style, builds, and runs every test: C++ (GoogleTest via
# CTest, also under AddressSanitizer + UndefinedBehaviorSanitizer) and Python (pytest, including a
# build of densekit into a new bare virtual environment). Exits non-zero on any failure.
# Usage: scripts/test.sh [pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
python=python3

if [ ! -f /usr/include/gtest/gtest.h ]; then
  echo "== installing GoogleTest (libgtest-dev)"
  apt-get update -qq && apt-get install -y -qq libgtest-dev >/dev/null
fi

# One build of the wheel, in pip's isolated build environment (only the build requirements that
# pyproject.toml declares) and a new build folder (no CMake cache from an earlier build):
# installed here, and into a bare venv by tests/test_fresh_install.py.
echo "== pip wheel ."
rm -rf build/wheel build/wheel-build
"$python" -m pip wheel -q --disable-pip-version-check --no-deps -C build-dir=build/wheel-build \
  -w build/wheel .
wheel="$(ls "$PWD"/build/wheel/densekit-*.whl)"
export DENSEKIT_TEST_WHEEL="$wheel"

echo "== pip install densekit[test] from that wheel"
"$python" -m pip install -q --disable-pip-version-check "$wheel[test]"
# The same version may be installed already, built from other sources.
"$python" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$wheel"

echo "== style: ruff and clang-format"
scripts="$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
"$scripts/ruff" check .
"$scripts/ruff" format --check .
git ls-files 'cpp/*.cpp' 'cpp/*.hpp' 'benchmarks/*.cpp' | xargs "$scripts/clang-format" --dry-run -Werror

# CMake finds Eigen's headers (cmeel-eigen, installed above) through this Python.
cmake_python=(-DPython_EXECUTABLE="$("$python" -c 'import sys; print(sys.executable)')")

# The C++ tests compare OpenBLAS's products with Eigen's when this names its library (from
# scipy-openblas32, a dependency of densekit); without the package they skip those tests.
openblas="$("$python" -c 'import os, scipy_openblas32 as s
print(os.path.join(s.get_lib_dir(), "lib" + s.get_library() + ".so"))' 2>/dev/null || true)"
if [ -n "$openblas" ] && [ -f "$openblas" ]; then
  export DENSEKIT_TEST_OPENBLAS="$openblas"
else
  echo "== scipy-openblas32 not found: the C++ tests of OpenBLAS's products are skipped"
fi

echo "== C++ unit tests"
cmake -S . -B build/cpp-tests "${cmake_python[@]}" -DDENSEKIT_BUILD_TESTS=ON \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/cpp-tests -j "$(nproc)"
ctest --test-dir build/cpp-tests --output-on-failure

echo "== C++ unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build/cpp-sanitize "${cmake_python[@]}" -DDENSEKIT_BUILD_TESTS=ON \
  -DDENSEKIT_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/cpp-sanitize -j "$(nproc)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/cpp-sanitize --output-on-failure

echo "== Python tests"
# Run from tests/ so that the installed package, not python/densekit, is imported.
cd tests && "$python" -m pytest -q -p no:cacheprovider "$@"
