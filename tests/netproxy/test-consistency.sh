#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# netproxy incremental syncs against a full sync (issue 6): a watcher in one network namespace follows a series of
# random Service/EndpointSlice changes with incremental transactions; a one-shot sync of the final directory in a
# second namespace builds the same state from scratch. The two kernels must hold the same tables (rules, chains,
# sets and elements; handles aside). This is the check that the mirror never drifts from what was committed.
set -u

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
for p in nft jq python3 ip; do command -v $p >/dev/null || { echo "SKIP: $p missing"; exit 77; }; done

CTL=${NODELET_BUILD_DIR:?}/agent/nodeletctl
ID=npc$$
TMP=$(mktemp -d /tmp/test-netproxy-consistency.XXXXXX)
WATCH=
cleanup() {
        [ -n "$WATCH" ] && kill "$WATCH" 2>/dev/null && wait "$WATCH" 2>/dev/null
        ip netns del "$ID-a" 2>/dev/null
        ip netns del "$ID-b" 2>/dev/null
        rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ip netns add "$ID-a" && ip netns add "$ID-b" || exit 1
M=$TMP/manifests
mkdir -p "$M"
OPTS="--cluster-cidr 10.244.0.0/16,fd00:244::/32 --service-cidr 10.96.0.0/16 --hostname-override node1"

# one random Service (and its slices) per call, written atomically; the generator is seeded for reproducibility
gen() { python3 - "$@" <<'PY'
import json, random, sys
i, seed, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
r = random.Random(seed)
proto = r.choice(["TCP", "UDP", "SCTP"])
kind = r.choice(["ClusterIP", "NodePort", "LoadBalancer"])
spec = {"type": kind, "clusterIPs": ["10.96.0.%d" % (i + 1)] + (["fd00:96::%x" % (i + 1)] if r.random() < 0.3 else []),
        "ports": [{"name": "p", "protocol": proto, "port": r.choice([53, 80, 443])}]}
if kind != "ClusterIP":
    spec["ports"][0]["nodePort"] = 30000 + i
    spec["externalTrafficPolicy"] = r.choice(["Cluster", "Local"])
if r.random() < 0.3:
    spec["sessionAffinity"] = "ClientIP"
if r.random() < 0.2:
    spec["internalTrafficPolicy"] = "Local"
items = [{"kind": "Service", "metadata": {"name": "s%d" % i, "namespace": "t"}, "spec": spec}]
if kind == "LoadBalancer":
    items[0]["status"] = {"loadBalancer": {"ingress": [{"ip": "203.0.113.%d" % (i + 1)}]}}
    if r.random() < 0.5:
        spec["loadBalancerSourceRanges"] = ["192.168.%d.0/24" % r.randrange(4)]
for fam in ["IPv4", "IPv6"]:
    eps = []
    for k in range(r.randrange(0, 5)):
        a = "10.244.%d.%d" % (r.randrange(4), r.randrange(1, 8)) if fam == "IPv4" else "fd00:244::%x" % r.randrange(1, 30)
        eps.append({"addresses": [a], "nodeName": r.choice(["node1", "node2"]),
                    "conditions": {"ready": r.random() < 0.8, "serving": True, "terminating": r.random() < 0.3}})
    items.append({"kind": "EndpointSlice", "addressType": fam,
                  "metadata": {"name": "s%d-%s" % (i, fam), "namespace": "t", "labels": {"kubernetes.io/service-name": "s%d" % i}},
                  "endpoints": eps, "ports": [{"name": "p", "protocol": proto, "port": r.choice([5353, 8080])}]})
json.dump({"kind": "List", "items": items}, open(out, "w"))
PY
}

for i in $(seq 0 11); do gen "$i" "$i" "$M/s$i.json"; done
ip netns exec "$ID-a" "$CTL" proxy sync --watch --verify-interval 3600 -v $OPTS "$M" >"$TMP/watch.log" 2>&1 &
WATCH=$!
syncs() { grep -c "synced (" "$TMP/watch.log"; }
for t in $(seq 1 100); do [ "$(syncs)" -ge 1 ] && break; sleep 0.1; done
[ "$(syncs)" -ge 1 ] || { cat "$TMP/watch.log"; echo "FAIL: no initial sync"; exit 1; }

for step in $(seq 1 40); do
        i=$((RANDOM % 14))
        before=$(syncs)
        if [ $((RANDOM % 6)) = 0 ]; then
                rm -f "$M/s$i.json"
        else
                gen "$i" "$((step * 100 + i))" "$TMP/next.json" && mv "$TMP/next.json" "$M/s$i.json"
        fi
        # wait for the sync that follows (or a short while when the change was a no-op)
        for t in $(seq 1 30); do [ "$(syncs)" -gt "$before" ] && break; sleep 0.05; done
done
sleep 0.5
grep -q "partial" "$TMP/watch.log" || { cat "$TMP/watch.log"; echo "FAIL: no incremental sync happened"; exit 1; }
kill "$WATCH"
wait "$WATCH" 2>/dev/null
WATCH=
grep -q "netproxy_sync_failures_total 0" "$TMP/watch.log" || { cat "$TMP/watch.log"; echo "FAIL: a sync failed"; exit 1; }

ip netns exec "$ID-b" "$CTL" proxy sync $OPTS "$M" >/dev/null 2>&1 || { echo "FAIL: one-shot sync failed"; exit 1; }
norm() {
        ip netns exec "$1" nft -j list table "$2" nodelet | jq -S '.nftables
                | map(select(has("metainfo") | not))
                | map(walk(if type == "object" then del(.handle) else . end))
                | map(if has("set") then .set.elem |= (if . then sort_by(tostring) else . end)
                      elif has("map") then .map.elem |= (if . then sort_by(tostring) else . end) else . end)
                | sort_by(tostring)'
}
rc=0
for fam in ip ip6; do
        norm "$ID-a" $fam >"$TMP/a-$fam.json"
        norm "$ID-b" $fam >"$TMP/b-$fam.json"
        if diff -u "$TMP/b-$fam.json" "$TMP/a-$fam.json" >"$TMP/diff"; then
                echo "ok: $fam table after $(grep -c partial "$TMP/watch.log") incremental syncs equals a full sync"
        else
                head -60 "$TMP/diff"
                echo "FAIL: $fam table differs from a full sync"
                rc=1
        fi
done
[ $(jq length "$TMP/a-ip.json") -gt 20 ] || { echo "FAIL: suspiciously small ruleset"; rc=1; }
[ $rc = 0 ] && echo PASS
exit $rc
