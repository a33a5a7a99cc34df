#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The three start-up/sync comparisons of issue 12, side by side in one run, and the kernel floor that tells machines
# apart (docs/BENCHMARKS.md):
#   1. `nodeletctl run --rm IMAGE /bin/true` vs `runc run` of an equivalent bundle (bench/runtime, interleaved)
#      target <= 0.25; and the shim's private memory (target <= 1 MiB);
#   2. nodelet-bridge + nodelet-ipam ADD vs the reference bridge + host-local, alternating blocks of 5 pods
#      (bench/cni) target <= 0.20;
#   3. `nodeletctl proxy sync FILE` of 10,000 Services x 10 endpoints as one JSON List vs `nft -f` of the equivalent
#      shared-map ruleset, alternating, wall time (target <= 0.5) and peak RSS (target <= 50 MiB).
# usage (as root): bench/run-all.sh BUILD_DIR [RUNTIME_RUNS (30)] [CNI_PODS (60)] [PROXY_RUNS (3)]
# BUILD_DIR should be a Release build without sanitizers (the static shim and plugins are what is measured); the
# benchmark targets are built in it first. Everything runs in namespaces the benchmarks create.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root" >&2; exit 1; }
BUILD=$(cd "${1:?usage: run-all.sh BUILD_DIR [RUNTIME_RUNS] [CNI_PODS] [PROXY_RUNS]}" && pwd)
RT_RUNS=${2:-30}
CNI_PODS=${3:-60}
NP_RUNS=${4:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
REF_CNI=${REF_CNI:-/usr/lib/cni}
ID=runall$$
TMP=$(mktemp -d /tmp/bench-run-all.XXXXXX)
cleanup() {
        for n in $(ip netns list | awk '{print $1}' | grep "^$ID-" || true); do ip netns del "$n"; done
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

if grep -q "^CMAKE_BUILD_TYPE:STRING=Release$" "$BUILD/CMakeCache.txt" &&
        grep -q "^NODELET_SANITIZE:BOOL=OFF$" "$BUILD/CMakeCache.txt"; then :; else
        echo "warning: $BUILD is not a Release build without sanitizers: the numbers are not comparable" >&2
fi
cmake --build "$BUILD" -j"$(nproc)" --target nodelet-bench-containers nodelet-shim nodeletctl bench-cni \
        nodelet-bridge nodelet-ipam >/dev/null

echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F)"
floor=()
for i in $(seq 1 11); do
        s=${EPOCHREALTIME/./}
        unshare -pnimuf /bin/true
        floor+=($((${EPOCHREALTIME/./} - s)))
done
FLOOR=$(printf '%s\n' "${floor[@]}" | median | awk '{printf "%.1f", $1 / 1000}')
echo "kernel floor: unshare -pnimuf /bin/true $FLOOR ms (median of 11)"

# ---- 1. container start-up ----
echo
echo "== runtime: $BUILD/bench/runtime/nodelet-bench-containers $RT_RUNS"
"$BUILD/bench/runtime/nodelet-bench-containers" "$RT_RUNS" | tee "$TMP/runtime.out"
# columns: | label | mean | median | p99 | min | mean vs runc | median vs runc | ...
RUNC_MS=$(awk -F'|' '/^\| runc / {gsub(/ /, "", $4); print $4}' "$TMP/runtime.out")
RT_ROW=$(grep -F '`nodeletctl run --rm IMAGE`' "$TMP/runtime.out" || grep -F '`nodeletctl run --rm --rootfs`' \
        "$TMP/runtime.out" || true)
RT_MS=$(echo "$RT_ROW" | awk -F'|' '{gsub(/ /, "", $4); print $4}')
RT_RATIO=$(echo "$RT_ROW" | awk -F'|' '{gsub(/ /, "", $8); print $8}')
SHIM=$(sed -n 's/^nodelet-shim private memory.*: mean \([0-9]*\) KiB, max \([0-9]*\) KiB.*/mean \1 KiB, max \2 KiB/p' \
        "$TMP/runtime.out")

# ---- 2. CNI ADD ----
echo
echo "== CNI: $BUILD/bench/cni/bench-cni $CNI_PODS $BUILD/cni $REF_CNI 5"
"$BUILD/bench/cni/bench-cni" "$CNI_PODS" "$BUILD/cni" "$REF_CNI" 5 | tee "$TMP/cni.out"
CNI_REF=$(awk -F'|' '/^\| ADD reference/ {gsub(/ /, "", $4); print $4}' "$TMP/cni.out")
CNI_OURS=$(awk -F'|' '/^\| ADD nodelet/ {gsub(/ /, "", $4); print $4}' "$TMP/cni.out")
CNI_RATIO=$(sed -n 's/^nodelet\/reference: ADD mean [0-9.]* median \([0-9.]*\),.*/\1/p' "$TMP/cni.out")

# ---- 3. proxy sync 10k x 10 ----
echo
echo "== proxy: nodeletctl proxy sync of one 10k x 10 List file vs nft -f shared-map, $NP_RUNS alternating runs"
python3 "$HERE/netproxy/gen.py" list "$TMP/list.json" 10000 10
python3 "$HERE/netproxy/gen.py" nft-shared 10000 10 >"$TMP/shared.nft"
timed() { # NETNS CMD...: "wall_seconds max_rss_kib"
        local ns=$1
        shift
        /usr/bin/time -f "%e %M" -o "$TMP/time" ip netns exec "$ns" "$@" >"$TMP/out" 2>"$TMP/err" || {
                echo "FAILED: $*" >&2
                tail -5 "$TMP/err" >&2
        }
        cat "$TMP/time"
}
fresh() {
        ip netns del "$ID-$1" 2>/dev/null || true
        ip netns add "$ID-$1"
        echo "$ID-$1"
}
np_w=() np_r=() nft_w=() nft_r=()
for i in $(seq 1 "$NP_RUNS"); do
        ns=$(fresh ours)
        read -r w r < <(timed "$ns" "$BUILD/agent/nodeletctl" proxy sync --hostname-override node-1 "$TMP/list.json")
        np_w+=("$w") np_r+=("$r")
        ns=$(fresh shared)
        read -r w r < <(timed "$ns" nft -f "$TMP/shared.nft")
        nft_w+=("$w") nft_r+=("$r")
        echo "run $i: nodeletctl ${np_w[-1]} s / $((np_r[-1] / 1024)) MiB, nft -f ${nft_w[-1]} s / $((nft_r[-1] / 1024)) MiB"
done
NP_W=$(printf '%s\n' "${np_w[@]}" | median)
NFT_W=$(printf '%s\n' "${nft_w[@]}" | median)
NP_RSS=$(($(printf '%s\n' "${np_r[@]}" | median) / 1024))
NFT_RSS=$(($(printf '%s\n' "${nft_r[@]}" | median) / 1024))

echo
echo "kernel floor: unshare -pnimuf /bin/true $FLOOR ms"
echo
echo "| comparison (one run, $(uname -r), floor $FLOOR ms) | nodelet | reference | ratio | target |"
echo "|---|---|---|---|---|"
echo "| \`nodeletctl run --rm IMAGE /bin/true\` vs \`runc run\` (median of $RT_RUNS) | $RT_MS ms | $RUNC_MS ms | $RT_RATIO | <= 0.25 |"
echo "| CNI ADD, nodelet-bridge+nodelet-ipam vs bridge+host-local (median, $CNI_PODS pods, blocks of 5) | $CNI_OURS ms | $CNI_REF ms | $CNI_RATIO | <= 0.20 |"
echo "| \`nodeletctl proxy sync\` 10k x 10 List vs \`nft -f\` shared-map (median wall of $NP_RUNS) | $NP_W s | $NFT_W s | $(ratio "$NP_W" "$NFT_W") | <= 0.5 |"
echo "| peak RSS of that sync | $NP_RSS MiB | $NFT_RSS MiB (nft) | | <= 50 MiB |"
[ -z "$SHIM" ] || echo "| nodelet-shim private memory per running container | $SHIM | | | <= 1024 KiB |"
