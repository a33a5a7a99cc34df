#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# netproxy benchmark, side by side in one run (docs/BENCHMARKS.md):
#   - the kernel floor of the machine: `unshare -pnimuf /bin/true` (median of 11), so runs on machines where process
#     start-up and page faults cost more can be told apart;
#   - full sync of N Services x 10 endpoints: `nodeletctl proxy sync` vs `nft -f` of the same in kube-proxy's
#     nftables layout and in the shared-map layout (fresh network namespace each, wall time and peak RSS); at 10k
#     also `nodeletctl proxy sync` of the same objects as ONE JSON List file (read as a stream, item by item),
#     alternating with `nft -f` shared-map, with the ratio;
#   - one endpoint change at 10k: `nodeletctl proxy sync --watch` vs `nft -f` of the change;
#   - new TCP connections per second to a ClusterIP with 10 and with 10,000 Services programmed.
# Everything runs in network namespaces this script creates; the host's nftables are never touched.
# usage: bench/netproxy/run.sh BUILD_DIR [SIZES (default "1000 5000 10000")] [KUBE_PROXY_MAX (default 10000)]
set -u
[ "$(id -u)" = 0 ] || { echo "run as root"; exit 1; }
BUILD=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
SIZES=${2:-1000 5000 10000}
KP_MAX=${3:-10000}
HERE=$(cd "$(dirname "$0")" && pwd)
CTL=$BUILD/agent/nodeletctl
RATE=$BUILD/bench/netproxy/bench-netproxy-connrate
GEN="python3 $HERE/gen.py"
ID=npb$$
TMP=$(mktemp -d /tmp/bench-netproxy.XXXXXX)
PIDS=()
cleanup() {
        for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
        for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
        for n in $(ip netns list | awk '{print $1}' | grep "^$ID-"); do ip netns del "$n"; done
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# timed NETNS CMD...: "wall_seconds max_rss_kib" of CMD run inside the namespace
timed() {
        local ns=$1; shift
        /usr/bin/time -f "%e %M" -o "$TMP/time" ip netns exec "$ns" "$@" >"$TMP/out" 2>"$TMP/err" || {
                echo "FAILED: $*" >&2; tail -5 "$TMP/err" >&2; }
        cat "$TMP/time"
}
fresh() { ip netns del "$ID-$1" 2>/dev/null; ip netns add "$ID-$1"; echo "$ID-$1"; }

echo "machine: $(nproc) cores, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
floor=()
for i in $(seq 1 11); do
        s=${EPOCHREALTIME/./}
        unshare -pnimuf /bin/true
        floor+=($((${EPOCHREALTIME/./} - s)))
done
echo "kernel floor: unshare -pnimuf /bin/true $(printf '%s\n' "${floor[@]}" | median | awk '{printf "%.1f", $1 / 1000}') ms (median of 11)"
echo
echo "| Services x 10 endpoints | nodeletctl proxy sync (wall / sync / peak RSS) | nft -f shared-map (wall / peak RSS) | nft -f kube-proxy layout (wall / peak RSS) |"
echo "|---|---|---|---|"
for n in $SIZES; do
        $GEN manifests "$TMP/m$n" "$n" 10
        $GEN nft-shared "$n" 10 >"$TMP/shared$n.nft"
        ours_wall=() ours_sync=() ours_rss=()
        for i in 1 2 3; do
                ns=$(fresh ours)
                read -r w r < <(timed "$ns" "$CTL" proxy sync -v --hostname-override node-1 "$TMP/m$n")
                ours_wall+=("$w")
                ours_rss+=("$r")
                ours_sync+=("$(awk '/^netproxy_sync_full_last_seconds/ {print $2}' "$TMP/out")")
        done
        ns=$(fresh shared)
        read -r sw sr < <(timed "$ns" nft -f "$TMP/shared$n.nft")
        kp="skipped (above $KP_MAX)"
        if [ "$n" -le "$KP_MAX" ]; then
                $GEN nft-kube-proxy "$n" 10 >"$TMP/kp$n.nft"
                ns=$(fresh kp)
                read -r kw kr < <(timed "$ns" nft -f "$TMP/kp$n.nft")
                kp="$kw s / $((kr / 1024)) MiB"
                [ "$n" = 10000 ] || ip netns del "$ns"
        fi
        printf "| %s | %s s / %s s / %s MiB | %s s / %s MiB | %s |\n" "$n" \
                "$(printf '%s\n' "${ours_wall[@]}" | median)" "$(printf '%s\n' "${ours_sync[@]}" | median)" \
                "$(($(printf '%s\n' "${ours_rss[@]}" | median) / 1024))" "$sw" "$((sr / 1024))" "$kp"
done

# ---- 10k x 10 as one JSON List file, alternating with nft -f shared-map ----
N=10000
if [ -f "$TMP/shared$N.nft" ]; then
        $GEN list "$TMP/list$N.json" $N 10
        echo
        echo "| 10k x 10, one $(($(stat -c %s "$TMP/list$N.json") / 1000000)) MB List file | nodeletctl proxy sync (wall / sync / peak RSS) | nft -f shared-map (wall / peak RSS) | ratio (wall) |"
        echo "|---|---|---|---|"
        for i in 1 2 3; do
                ns=$(fresh ours)
                read -r w r < <(timed "$ns" "$CTL" proxy sync -v --hostname-override node-1 "$TMP/list$N.json")
                sync=$(awk '/^netproxy_sync_full_last_seconds/ {print $2}' "$TMP/out")
                ns=$(fresh shared)
                read -r sw sr < <(timed "$ns" nft -f "$TMP/shared$N.nft")
                printf "| run %s | %s s / %s s / %s MiB | %s s / %s MiB | %s |\n" "$i" "$w" "$sync" "$((r / 1024))" "$sw" \
                        "$((sr / 1024))" "$(awk -v a="$w" -v b="$sw" 'BEGIN {printf "%.2f", a / b}')"
        done
        ip netns del "$ID-ours"
        ip netns del "$ID-shared"
fi

# ---- one endpoint change at 10k ----
N=10000
if [ -d "$TMP/m$N" ]; then
        echo
        ns=$(fresh watch)
        ip netns exec "$ns" "$CTL" proxy sync --watch -v --hostname-override node-1 "$TMP/m$N" >"$TMP/watch.log" 2>&1 &
        WATCH=$!
        PIDS+=($WATCH)
        for i in $(seq 1 600); do grep -q "synced (full)" "$TMP/watch.log" && break; sleep 0.1; done
        for i in 1 2 3 4 5 6 7 8 9 10 11; do
                # the EndpointSlice of Service 100*i gets its last endpoint moved; a new file per change, written
                # atomically (rename), as an informer would deliver one object
                $GEN slice $((100 * i)) 10 >"$TMP/change.tmp"
                mv "$TMP/change.tmp" "$TMP/m$N/zz-change-$i.json"
                for k in $(seq 1 100); do
                        [ "$(grep -c "synced (partial)" "$TMP/watch.log")" -ge "$i" ] && break
                        sleep 0.02
                done
        done
        partial=$(grep "synced (partial)" "$TMP/watch.log" | sed 's/.*partial): \([0-9.]*\)s.*/\1/' | median)
        hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' /proc/$WATCH/status)
        kill $WATCH
        wait $WATCH 2>/dev/null
        lat=$(awk '/^netproxy_network_programming_last_seconds/ {print $2}' "$TMP/watch.log" | tail -1)
        # nft -f of the same change: the shared-map ruleset (delete + add of one element) ...
        ns=$(fresh shared)
        ip netns exec "$ns" nft -f "$TMP/shared$N.nft"
        $GEN change-shared $N 10 100 >"$TMP/change-shared.nft"
        read -r cs _ < <(timed "$ns" nft -f "$TMP/change-shared.nft")
        ip netns del "$ns"
        # ... and one element added to the kube-proxy layout (what the issue measured at 0.7 s)
        kpc="n/a"
        if [ -n "$(ip netns list | grep "^$ID-kp")" ]; then
                echo "add element ip kube-proxy cluster-ips { 10.96.255.254 }" >"$TMP/change-kp.nft"
                read -r kpc _ < <(timed "$ID-kp" nft -f "$TMP/change-kp.nft")
                kpc="$kpc s"
                ip netns del "$ID-kp"
        fi
        echo "| one endpoint change at 10k | nodeletctl --watch | nft -f shared-map | nft -f kube-proxy layout |"
        echo "|---|---|---|---|"
        echo "| sync (median of 11) | $partial s (programming latency of the last change, object update to commit: $lat s) | $cs s | $kpc |"
        echo "| peak RSS of the watcher at 10k | $hwm MiB | | |"
fi

# ---- connections per second to a ClusterIP with 10 vs 10,000 Services ----
echo
node=$(fresh node)
ip netns exec "$node" sysctl -qw net.ipv4.ip_forward=1
for side in cl srv; do
        ns=$(fresh $side)
        ip link add "$ID$side" type veth peer name eth0 netns "$ns"
        ip link set "$ID$side" netns "$node"
done
ip netns exec "$node" ip addr add 10.200.1.1/24 dev "${ID}cl"
ip netns exec "$node" ip addr add 10.200.2.1/24 dev "${ID}srv"
ip netns exec "$node" ip link set "${ID}cl" up
ip netns exec "$node" ip link set "${ID}srv" up
ip netns exec "$ID-cl" ip addr add 10.200.1.2/24 dev eth0
ip netns exec "$ID-srv" ip addr add 10.200.2.2/24 dev eth0
for side in cl srv; do
        ip netns exec "$ID-$side" ip link set eth0 up
        ip netns exec "$ID-$side" ip link set lo up
done
ip netns exec "$ID-cl" ip route add default via 10.200.1.1
ip netns exec "$ID-srv" ip route add default via 10.200.2.1
ip netns exec "$ID-srv" "$RATE" server 8080 &
PIDS+=($!)
sleep 0.5
echo "| Services programmed | new TCP connections/s to a ClusterIP (median of 3 x 3 s) |"
echo "|---|---|"
for n in 10 10000; do
        d=$TMP/rate$n
        $GEN manifests "$d" "$n" 10
        # Service 0 is the one under test: its single endpoint is the server namespace
        python3 - "$d" <<'PY'
import json, sys
d = sys.argv[1]
json.dump({"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
           "metadata": {"name": "svc-0-abcde", "namespace": "bench", "labels": {"kubernetes.io/service-name": "svc-0"}},
           "addressType": "IPv4", "endpoints": [{"addresses": ["10.200.2.2"]}],
           "ports": [{"name": "http", "protocol": "TCP", "port": 8080}]}, open(d + "/zz-target.json", "w"))
PY
        ip netns exec "$node" "$CTL" proxy sync --cluster-cidr 10.200.0.0/16 "$d" >/dev/null 2>&1
        runs=()
        for i in 1 2 3; do runs+=("$(ip netns exec "$ID-cl" "$RATE" client 10.96.0.1 80 3)"); done
        echo "| $n | $(printf '%s\n' "${runs[@]}" | median) |"
done
