#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# nodeletctl's container verbs load only what they use (issue 12 item 1) and take the global options before and after
# the verb (item 5):
#   - nodeletctl needs none of the heavy libraries (curl, libarchive, libnftnl, libmnl, libyaml, libmicrohttpd, GnuTLS,
#     OpenSSL's libssl, libnl, zlib); built without sanitizers it is a static binary that needs no library at all;
#   - the verbs that do need them (images, cni, proxy, yaml2json) still work, through nodeletctl-tools;
#   - -v/--verbose before the verb and in a container verb's own options turns debug logging on, also across the
#     exec into nodeletctl-tools; --root-dir/--state-dir before the verb reach the verb.
#
# usage: test-ctl-lean.sh BUILD_DIR
set -u
build=${1:?usage: test-ctl-lean.sh BUILD_DIR}
ctl=$(realpath "$build/agent/nodeletctl") || exit 1
tmp=$(mktemp -d /tmp/nodelet-ctl-lean.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT
failed=0
fail() {
        echo "FAIL: $*" >&2
        failed=1
}

needed=$(readelf -d "$ctl" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for lib in libcurl libarchive libnftnl libmnl libyaml libmicrohttpd libgnutls libssl libnl libz.; do
        if grep -q "^$lib" <<<"$needed"; then
                fail "nodeletctl loads $lib: $(tr '\n' ' ' <<<"$needed")"
        fi
done
sanitize=$(sed -n 's/^NODELET_SANITIZE:BOOL=//p' "$build/CMakeCache.txt")
if [ "$sanitize" != ON ] && [ -e /usr/lib/x86_64-linux-gnu/libjansson.a ] &&
        [ -e /usr/lib/x86_64-linux-gnu/libseccomp.a ] && [ -e /usr/lib/x86_64-linux-gnu/libcap.a ]; then
        [ -z "$needed" ] || fail "nodeletctl is not static: needs $(tr '\n' ' ' <<<"$needed")"
fi

# A heavy verb through nodeletctl-tools, with the global options before the verb.
cat >"$tmp/pod.yaml" <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: web}
YAML
out=$("$ctl" --root-dir "$tmp/root" --state-dir "$tmp/state" yaml2json "$tmp/pod.yaml" 2>&1)
grep -q '"name": "web"' <<<"$out" || fail "yaml2json through nodeletctl-tools: $out"
out=$("$ctl" --root-dir "$tmp/root" images ls 2>&1) || fail "images ls: $out"
grep -q '^IMAGE' <<<"$out" || fail "images ls: $out"

# -v: debug lines (klog letter D) before the verb, after it, and in nodeletctl-tools; none without it.
mkdir -p "$tmp/state"
export NODELET_ROOT_DIR=$tmp/root NODELET_STATE_DIR=$tmp/state
for args in "-v ps" "--verbose ps -a" "ps -v" "ps --verbose -a" "-v images ls" "pods -v" "--state-dir $tmp/state -v ps"; do
        read -ra words <<<"$args"
        err=$("$ctl" "${words[@]}" 2>&1 >/dev/null) || fail "nodeletctl $args: exit status $?: $err"
        grep -q '^D' <<<"$err" || fail "nodeletctl $args: no debug output: $err"
done
err=$("$ctl" ps 2>&1 >/dev/null) || fail "nodeletctl ps: exit status $?: $err"
[ -z "$err" ] || fail "nodeletctl ps without -v logs: $err"
# The global --state-dir reaches the verb: ps on a state dir that is not a directory fails naming it.
touch "$tmp/not-a-dir"
err=$(NODELET_STATE_DIR=$tmp/state "$ctl" --state-dir "$tmp/not-a-dir" ps 2>&1) && fail "ps on a file as state dir"
grep -q "not-a-dir" <<<"$err" || fail "global --state-dir not used: $err"

# After global options, a verb still takes its options after its operands (getopt is reset for it).
err=$("$ctl" --state-dir "$tmp/state" logs nothere -c app 2>&1) && fail "logs of a missing pod succeeded"
grep -q '^usage' <<<"$err" && fail "global options, then logs POD -c NAME: $err"

[ $failed -eq 0 ] && echo "PASS"
exit $failed
