#!/usr/bin/env bash
# Builds an optimized tree (no sanitizers: the shim is then a static binary) and runs the container benchmark:
#   bench/runtime/run.sh [RUNS]      (as root; default 100 runs each)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$src/build/bench-runtime}
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DNODELET_SANITIZE=OFF -DNODELET_TESTS=OFF -DNODELET_WERROR=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target nodelet-bench-containers nodelet-shim nodeletctl >/dev/null
exec "$build/bench/runtime/nodelet-bench-containers" "${1:-100}"
