#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `nodeletctl proxy sync` reads JSON files as a stream (common/json-stream.h): the same objects give the same wanted
# ruleset (`--dry-run -v`, netproxy_describe()) whether they come as one big `List` (read item by item, in 64 KiB
# chunks), as typed lists whose `kind` comes after their items, as a stream of concatenated objects, or as YAML
# documents (the tree reader). JSON that is really YAML flow style still reads. No privileges, no kernel.
set -u
CTL=${NODELET_BUILD_DIR:?}/agent/nodeletctl
TMP=$(mktemp -d /tmp/test-netproxy-ctl-stream.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
N=300
/usr/bin/python3 - "$TMP" "$N" <<'PY'
import json, os, sys
d, n = sys.argv[1], int(sys.argv[2])
def svc(i):
    # escapes and braces in strings the scanner must not take for structure
    return {"kind": "Service", "apiVersion": "v1",
            "metadata": {"name": "svc-%d" % i, "namespace": "ns%d" % (i % 3),
                         "annotations": {"note": "a \"quoted\" {brace} [bracket], \\ and \u00e9"}},
            "spec": {"type": "NodePort" if i % 5 == 0 else "ClusterIP",
                     "clusterIP": "10.96.%d.%d" % (i // 250, i % 250 + 1),
                     "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080}] +
                              ([{"name": "dns", "protocol": "UDP", "port": 53}] if i % 7 == 0 else [])}}
def eps(i):
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"name": "svc-%d-x" % i, "namespace": "ns%d" % (i % 3),
                         "labels": {"kubernetes.io/service-name": "svc-%d" % i}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.244.%d.%d" % (i // 50, (i % 50) * 5 + j)],
                           "conditions": {"ready": j != 2}, "nodeName": "node%d" % (j % 2)} for j in range(i % 4 + 1)],
            "ports": [{"name": "http", "protocol": "TCP", "port": 8080}, {"name": "dns", "protocol": "UDP", "port": 53}]}
objs = [o for i in range(n) for o in (svc(i), eps(i))]
os.mkdir(d + "/list"); os.mkdir(d + "/typed"); os.mkdir(d + "/stream"); os.mkdir(d + "/yaml")
json.dump({"kind": "List", "apiVersion": "v1", "metadata": {}, "items": objs}, open(d + "/list/all.json", "w"))
# typed lists as the API server writes them (items without kind), here with kind after the items
def strip(o):
    o = dict(o); del o["kind"]; return o
with open(d + "/typed/svc.json", "w") as f:
    f.write('{"apiVersion": "v1", "items": %s, "kind": "ServiceList"}' % json.dumps([strip(svc(i)) for i in range(n)]))
with open(d + "/typed/eps.json", "w") as f:
    f.write('{"items": %s, "kind": "EndpointSliceList"}' % json.dumps([strip(eps(i)) for i in range(n)], indent=2))
with open(d + "/stream/all.json", "w") as f:
    for o in objs:
        f.write(json.dumps(o) + "\n")
with open(d + "/yaml/all.yaml", "w") as f:
    for o in objs:
        f.write("---\n" + json.dumps(o) + "\n")
PY
fail=0
run() {
        "$CTL" proxy sync --dry-run -v --hostname-override node1 "$@" >"$TMP/out" 2>"$TMP/err" || {
                echo "FAIL: exit status $? for $*:"
                cat "$TMP/err"
                fail=1
        }
        grep -E '^ip6? ' "$TMP/out" | sort
}
run "$TMP/yaml" >"$TMP/want"
n=$(grep -c "^ip frontends .* : goto" "$TMP/want")
[ "$n" -gt "$N" ] || { echo "FAIL: only $n frontends from the YAML reader"; fail=1; }
for d in list typed stream; do
        run "$TMP/$d" >"$TMP/got-$d"
        cmp -s "$TMP/want" "$TMP/got-$d" || {
                echo "FAIL: $d gives another ruleset than the YAML documents:"
                diff "$TMP/want" "$TMP/got-$d" | head -20
                fail=1
        }
done

# YAML flow style that starts like JSON is not strict JSON: read by the YAML reader as before
printf '{kind: Service, metadata: {name: flow, namespace: ns1}, spec: {clusterIP: 10.96.99.9, ports: [{port: 81}]}}\n' \
        >"$TMP/flow.yaml"
run "$TMP/flow.yaml" >"$TMP/got-flow"
grep -qF "ip cluster-ips 10.96.99.9" "$TMP/got-flow" || { echo "FAIL: flow-style YAML not read"; fail=1; }

# a value above the stream's limits is reported with the file and byte offset, the other files are still read
/usr/bin/python3 -c 'print("{\"kind\":\"List\",\"items\":[" + "[" * 300 + "]" * 300 + "]}")' >"$TMP/deep.json"
"$CTL" proxy sync --dry-run -v --hostname-override node1 "$TMP/deep.json" "$TMP/flow.yaml" >"$TMP/out" 2>"$TMP/err"
rc=$?
grep -qF "$TMP/deep.json: byte 278: nesting deeper than 256 levels" "$TMP/err" || {
        echo "FAIL: no offset for the deep value:"
        cat "$TMP/err"
        fail=1
}
grep -qF "ip cluster-ips 10.96.99.9" "$TMP/out" || { echo "FAIL: the good file was not read"; fail=1; }
[ $rc = 1 ] || { echo "FAIL: exit status $rc with a bad file (want 1)"; fail=1; }
[ $fail = 0 ] && echo PASS
exit $fail
