#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `nodeletctl run --rm` killed while its container runs (issue 13: a timeout's SIGKILL left it running): the
# container is stopped and removed anyway, for SIGKILL and SIGTERM, and a normal --rm run still leaves nothing.
# Usage: test-runtime-ctl-rm.sh NODELETCTL FIXTURE-SCRIPT
set -uo pipefail
ctl=$1
fixture=$2
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x /usr/bin/python3 ] && [ -x /bin/busybox ] || { echo "SKIP: python3 or busybox-static missing"; exit 77; }

tmp=$(mktemp -d /tmp/nodelet-ctl-rm-test.XXXXXX)
root=$tmp/root
state=$tmp/state
cgparent=nodelet-ctl-rm-test-$$
n() { local verb=$1; shift; "$ctl" "$verb" --root-dir "$root" --state-dir "$state" --cgroup-parent "$cgparent" "$@"; }
cleanup() {
  for id in $(ls "$state/containers" 2>/dev/null); do n rm -f "$id" >/dev/null 2>&1; done
  rm -rf "$tmp"
  while IFS=: read -r _ ctrls path; do
    case "$ctrls" in name=*) continue ;; esac
    for c in ${ctrls//,/ }; do
      d=/sys/fs/cgroup/$c$path/$cgparent
      [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    [ -z "$ctrls" ] && [ -d "/sys/fs/cgroup$path/$cgparent" ] &&
      find "/sys/fs/cgroup$path/$cgparent" -depth -type d -exec rmdir {} \; 2>/dev/null
  done < /proc/self/cgroup
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Polls (up to ~60 s: a bound against hanging, not a timing assertion) until "$@" succeeds.
wait_for() { for _ in $(seq 600); do "$@" && return 0; sleep 0.1; done; return 1; }
running() { n ps 2>/dev/null | grep -q "^$1 .*running"; }
gone() { [ ! -e "$state/containers/$1" ] && [ ! -e "$root/containers/$1" ]; }

/usr/bin/python3 "$fixture" "$tmp/busybox.tar" --ref busybox:latest >/dev/null || fail "building the fixture image"
"$ctl" images --root-dir "$root" import "$tmp/busybox.tar" >/dev/null || fail "images import"

for sig in KILL TERM; do
  id=killed-$sig
  # nodeletctl itself in the background (not a subshell running it), so that $! is its pid
  "$ctl" run --root-dir "$root" --state-dir "$state" --cgroup-parent "$cgparent" --rm --name "$id" \
    busybox sleep 600 >/dev/null 2>&1 &
  cli=$!
  wait_for running "$id" || fail "$id never ran"
  pid=$(n ps 2>/dev/null | awk -v id="$id" '$1 == id {print $4}')
  kill -s "$sig" "$cli"
  wait "$cli" 2>/dev/null
  wait_for gone "$id" || fail "$id: container left behind after SIG$sig of nodeletctl run --rm: $(n ps 2>&1)"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && grep -q "sleep" "/proc/$pid/cmdline" 2>/dev/null &&
    fail "$id: its process $pid still runs"
done

# the ordinary path: nothing left, exit code passed on, and the watcher leaves our stdout alone (the $(...) returns)
out=$(n run --rm --name normal busybox sh -c 'echo hi; exit 5'); rc=$?
[ "$out" = hi ] && [ $rc = 5 ] || fail "normal run: '$out' rc=$rc"
gone normal || fail "normal run left its container"
echo PASS
