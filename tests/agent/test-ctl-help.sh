#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# `-h`/`--help` on every nodeletctl verb and sub-verb prints that verb's usage on stdout, exits 0 and does nothing
# else (issue 12 item 5: `proxy cleanup --help` used to delete the nftables tables, `stop -t 1 --help` took "--help"
# for a container and created the state dir, `yaml2json --help` opened a file named "--help").
#
# usage: test-ctl-help.sh BUILD_DIR
# Every invocation gets a fresh, not yet existing --root-dir/--state-dir (also as the environment defaults) below a
# temporary directory that must stay empty. The nftables part runs in a network namespace of its own (root and nft
# needed, else skipped): the nodelet tables created there must neither disappear nor gain a neighbour.
set -u

build=${1:?usage: test-ctl-help.sh BUILD_DIR}
ctl=$(realpath "$build/agent/nodeletctl") || exit 1
[ -x "$ctl" ] || { echo "no $ctl" >&2; exit 1; }

tmp=$(mktemp -d /tmp/nodelet-ctl-help.XXXXXX) || exit 1
trap 'rm -rf "$tmp" "$tmp.err" "$tmp.svc.yaml"' EXIT
cd "$tmp" || exit 1
export NODELET_ROOT_DIR=$tmp/root NODELET_STATE_DIR=$tmp/state
dirs=(--root-dir "$tmp/root" --state-dir "$tmp/state")
failed=0

fail() {
        echo "FAIL: $*" >&2
        failed=1
}

# check ARGS...: nodeletctl ARGS exits 0 with a usage on stdout, nothing on stderr, and creates nothing.
check() {
        local out err rc
        out=$("$ctl" "$@" 2>"$tmp.err")
        rc=$?
        err=$(cat "$tmp.err")
        rm -f "$tmp.err"
        [ $rc -eq 0 ] || fail "nodeletctl $*: exit status $rc: $err"
        [[ $out == usage:* ]] || fail "nodeletctl $*: no usage on stdout: ${out:0:200}"
        [ -z "$err" ] || fail "nodeletctl $*: stderr: ${err:0:300}"
        if [ -n "$(find "$tmp" -mindepth 1 -print -quit)" ]; then
                fail "nodeletctl $*: created $(find "$tmp" -mindepth 1 | tr '\n' ' ')"
                rm -rf "${tmp:?}"/*
        fi
}

# Each verb with the options that come before its operands, so that help is also looked for after them.
verbs=(
        "pods" "pods -q" "ps" "ps -a" "logs" "logs -c app" "exec" "exec -e K=V" "run" "run -d --name x"
        "stop" "stop -t 1" "rm" "rm -f"
        "images" "images ls" "images import" "images import --ref r:1" "images inspect" "images rm"
        "cni" "cni add" "cni check" "cni del" "cni status" "cni gc" "cni write-default" "cni add --ifname eth1"
        "proxy" "proxy sync" "proxy cleanup" "proxy sync --dry-run" "proxy cleanup --table t"
        "yaml2json" "version"
)

check --help
check -h
for v in "${verbs[@]}"; do
        read -ra words <<<"$v"
        for h in --help -h; do
                check "${words[@]}" "$h"
                check "${words[@]}" "${dirs[@]}" "$h"
                check "${dirs[@]}" "${words[@]}" "$h"
        done
done
# Help after operands that would otherwise be acted on.
check stop -t 1 abc123 --help
check rm -f abc123 -h
check images rm busybox:latest --help
check images import "$tmp/missing.tar" -h
check cni add /var/run/netns/none ctr1 --help
check yaml2json "$tmp/missing.yaml" --help

if [ "$(id -u)" -ne 0 ] || ! command -v nft >/dev/null || ! command -v unshare >/dev/null; then
        echo "SKIP: nftables part (needs root, nft and unshare)"
else
        # In a namespace of our own: create the tables `proxy cleanup` deletes, then every proxy help form, with
        # operands and a table name that a real sync would create.
        cat >"$tmp.svc.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{port: 80, protocol: TCP}]}
EOF
        out=$(NODELET_CTL=$ctl SVC=$tmp.svc.yaml unshare -n bash -c '
                set -e
                nft add table ip nodelet
                nft add table ip6 nodelet
                before=$(nft list tables)
                for args in "proxy cleanup" "proxy cleanup --table nodelet" "proxy sync $SVC" \
                            "proxy sync --table nodelet-help $SVC" "proxy sync --watch --table nodelet-help /tmp" \
                            "proxy --root-dir /tmp/x sync $SVC" "proxy --state-dir /tmp/x cleanup"; do
                        for h in --help -h; do
                                $NODELET_CTL $args $h >/dev/null || echo "nodeletctl $args $h: exit status $?"
                                after=$(nft list tables)
                                [ "$after" = "$before" ] || echo "nodeletctl $args $h changed the tables: $after"
                        done
                done
                # The control: without --help, cleanup does delete them (or this test observes nothing).
                $NODELET_CTL proxy cleanup --root-dir /tmp/x --state-dir /tmp/x
                [ -z "$(nft list tables)" ] || echo "proxy cleanup left: $(nft list tables)"
        ' 2>&1)
        rc=$?
        rm -f "$tmp.svc.yaml"
        [ $rc -eq 0 ] || fail "nftables part: exit status $rc: $out"
        [ -z "$out" ] || fail "nftables part: $out"
fi

[ $failed -eq 0 ] && echo "PASS"
exit $failed
