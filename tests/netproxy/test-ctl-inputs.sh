#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `nodeletctl proxy sync --dry-run` on inputs that are not objects (issue 13): a FIFO named like a manifest is
# refused without being opened for reading (it used to block forever), a JSON array of Services, a scalar and an
# object without kind are refused with the file and the reason (they used to be skipped silently, exit 0), while
# what Kubernetes accepts (a List with kinds in its items, a multi-document stream) is programmed.
set -u
CTL=${NODELET_BUILD_DIR:?}/agent/nodeletctl
TMP=$(mktemp -d /tmp/test-netproxy-inputs.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail=0
svc() { printf '{"kind":"Service","metadata":{"name":"%s","namespace":"ns"},"spec":{"clusterIP":"%s","ports":[{"port":80}]}}' "$1" "$2"; }

mkdir "$TMP/good" "$TMP/bad"
# accepted: a plain List (items carry their kind) and a multi-document YAML stream
printf '{"kind":"List","items":[%s,%s]}\n' "$(svc l1 10.96.0.11)" "$(svc l2 10.96.0.12)" >"$TMP/good/list.json"
printf 'kind: Service\nmetadata: {name: m1, namespace: ns}\nspec: {clusterIP: 10.96.0.21, ports: [{port: 80}]}\n---\n---\nkind: Service\nmetadata: {name: m2, namespace: ns}\nspec: {clusterIP: 10.96.0.22, ports: [{port: 80}]}\n' >"$TMP/good/multi.yaml"
# refused
printf '[%s]\n' "$(svc a1 10.96.0.31)" >"$TMP/bad/array.json"
printf 'just a string\n' >"$TMP/bad/scalar.yaml"
printf '{"metadata":{"name":"nokind"}}\n' >"$TMP/bad/nokind.json"
printf '{"kind":"List","items":[%s,{"metadata":{"name":"x"}},3]}\n' "$(svc i1 10.96.0.41)" >"$TMP/bad/list-items.json"
mkfifo "$TMP/bad/x.yaml"

# timeout: a hang (the old behaviour with the FIFO) fails instead of blocking the test run
timeout 60 "$CTL" proxy sync --dry-run -v --hostname-override node1 "$TMP/good" >"$TMP/out-good" 2>"$TMP/err-good"
rc=$?
[ $rc = 0 ] || { echo "FAIL: good inputs exit $rc"; cat "$TMP/err-good"; fail=1; }
for ip in 10.96.0.11 10.96.0.12 10.96.0.21 10.96.0.22; do
        grep -q "cluster-ips $ip" "$TMP/out-good" || { echo "FAIL: $ip not programmed"; fail=1; }
done

timeout 60 "$CTL" proxy sync --dry-run -v --hostname-override node1 "$TMP/bad" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc = 1 ] || { echo "FAIL: bad inputs exit $rc (want 1; 124 is a hang)"; fail=1; }
check() { grep -qF -- "$1" "$TMP/err" || { echo "FAIL: missing '$1' in stderr:"; cat "$TMP/err"; fail=1; }; }
check "$TMP/bad/x.yaml: not a regular file"
check "$TMP/bad/array.json: expected an object (or a List), got array"
check "$TMP/bad/scalar.yaml: expected an object (or a List), got string"
check "$TMP/bad/nokind.json: object has no \"kind\""
check "$TMP/bad/list-items.json: List item: object has no \"kind\""
check "$TMP/bad/list-items.json: List item: expected an object, got number"
# the good item of the partly bad List is still programmed; the array's Service is not
grep -q "cluster-ips 10.96.0.41" "$TMP/out" || { echo "FAIL: good List item not programmed"; fail=1; }
grep -q "10.96.0.31" "$TMP/out" && { echo "FAIL: array item programmed"; fail=1; }
[ $fail = 0 ] && echo PASS
exit $fail
