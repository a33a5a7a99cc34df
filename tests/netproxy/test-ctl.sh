#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `nodeletctl proxy sync --dry-run -v` on real API server objects (no privileges, no kernel): a Service and an
# EndpointSliceList whose items carry no `kind` (as the API server lists them), the named targetPort resolved from
# the slice, and a bad object in the same run reported by kind/namespace/name and field and skipped.
set -u
CTL=${NODELET_BUILD_DIR:?}/agent/nodeletctl
F=$(cd "$(dirname "$0")" && pwd)/fixtures
TMP=$(mktemp -d /tmp/test-netproxy-ctl.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
printf 'kind: Service\nmetadata: {name: bad, namespace: ns1}\nspec: {ports: [{port: 1, protocol: ICMP}]}\n' >"$TMP/bad.yaml"
"$CTL" proxy sync --dry-run -v --hostname-override node1 "$F/service-web.json" "$F/endpointslice-list.json" \
        "$TMP/bad.yaml" >"$TMP/out" 2>"$TMP/err"
rc=$?
fail=0
check() { grep -qF -- "$2" "$TMP/$1" || { echo "FAIL: missing '$2' in $1:"; cat "$TMP/$1"; fail=1; }; }
check out "ip frontends 10.96.72.165 . tcp . 80 : goto lb-1"
check out "ip ep-tcp 10.96.72.165 . 80 . 0 : 10.244.1.7 . 8080"
check out "ip cluster-ips 10.96.72.165"
check err "Service ns1/bad: spec.ports[0].protocol: unsupported protocol"
[ $rc = 1 ] || { echo "FAIL: exit status $rc with a bad object (want 1)"; fail=1; }
[ $fail = 0 ] && echo PASS
exit $fail
