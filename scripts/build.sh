#!/usr/bin/env bash
# Configures and builds one flavour of nodelet.  usage: scripts/build.sh [asan|release|clang]
set -euo pipefail
cd "$(dirname "$0")/.."
flavour=${1:-release}
jobs=$(nproc)
case "$flavour" in
  asan)    cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DNODELET_SANITIZE=ON >/dev/null ;;
  release) cmake -S . -B build/release -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ;;
  clang)   CC=clang cmake -S . -B build/clang -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null ;;
  *) echo "unknown flavour $flavour" >&2; exit 2 ;;
esac
cmake --build "build/$flavour" -j"$jobs"
