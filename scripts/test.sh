#!/usr/bin/env bash
# Installs what the tests need, builds, and runs every test: C++ (GoogleTest via CTest) and
# Python (pytest). Exits non-zero on any failure. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -f /usr/include/gtest/gtest.h ]; then
  echo "== installing GoogleTest (libgtest-dev)"
  apt-get update -qq && apt-get install -y -qq libgtest-dev >/dev/null
fi

echo "== pip install .[test]"
python3 -m pip install -q --disable-pip-version-check ".[test]"

echo "== C++ unit tests"
cmake -S . -B build/cpp-tests -DDENSEKIT_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/cpp-tests -j "$(nproc)"
ctest --test-dir build/cpp-tests --output-on-failure

echo "== C++ unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build/cpp-sanitize -DDENSEKIT_BUILD_TESTS=ON -DDENSEKIT_SANITIZE=ON \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/cpp-sanitize -j "$(nproc)"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/cpp-sanitize --output-on-failure

echo "== Python tests"
# Run from tests/ so that the installed package, not python/densekit, is imported.
cd tests && python3 -m pytest -q -p no:cacheprovider "$@"
