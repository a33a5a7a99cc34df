#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine, as root:
#   installs dependencies, builds with gcc (optimised, and ASan+UBSan) and with clang (warnings are errors in all),
#   then runs every ctest test: unit suites, privileged integration tests (real namespaces, nftables, cgroups,
#   overlayfs), and the format check.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh clang
bash scripts/build.sh release   # gcc -O2: some warnings (maybe-uninitialized) only show up optimised
bash scripts/build.sh asan
cd build/asan
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure -j"$(nproc)" "$@"
# The static binaries as they are installed (CNI plugins with cni/mnl-static.c, nodeletctl; sanitizer builds link them dynamically
# against the real libmnl), driven by the same chain tests.
if [ $# -eq 0 ]; then
        cd ../release
        ctest --output-on-failure -R '^test-(cni|mnl|static-no-nss|ctl-lean)'
fi
