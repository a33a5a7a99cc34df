#!/usr/bin/env bash
# nodeletctl run/ps/logs/exec/stop/rm end to end with a real busybox OCI image from the image store (as root).
# Usage: test-runtime-ctl.sh NODELETCTL FIXTURE-SCRIPT
set -uo pipefail
ctl=$1
fixture=$2
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
command -v python3 >/dev/null && [ -x /bin/busybox ] || { echo "SKIP: python3 or busybox-static missing"; exit 77; }

tmp=$(mktemp -d /tmp/nodelet-ctl-test.XXXXXX)
root=$tmp/root
state=$tmp/state
cgparent=nodelet-ctl-test-$$
n() { local verb=$1; shift; "$ctl" "$verb" --root-dir "$root" --state-dir "$state" --cgroup-parent "$cgparent" "$@"; }
ni() { "$ctl" images --root-dir "$root" "$@"; }
cleanup() {
  for id in $(ls "$state/containers" 2>/dev/null); do n rm -f "$id" >/dev/null 2>&1; done
  rm -rf "$tmp"
  # Our cgroup base below our own cgroup in each v1 hierarchy (or the v2 one).
  while IFS=: read -r _ ctrls path; do
    case "$ctrls" in name=*) continue ;; esac
    for c in ${ctrls//,/ }; do
      d=/sys/fs/cgroup/$c$path/$cgparent
      [ -z "$ctrls" ] && d=/sys/fs/cgroup$path/$cgparent
      [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    [ -z "$ctrls" ] && [ -d "/sys/fs/cgroup$path/$cgparent" ] && rmdir "/sys/fs/cgroup$path/$cgparent" 2>/dev/null
  done < /proc/self/cgroup
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_eq() { [ "$1" = "$2" ] || fail "$3: expected '$2', got '$1'"; }

python3 "$fixture" "$tmp/busybox.tar" --ref busybox:latest >/dev/null || fail "building the fixture image"
ni import "$tmp/busybox.tar" >/dev/null || fail "images import"

# Foreground run: output, exit codes, user from the image's passwd, env.
expect_eq "$(n run --rm busybox echo hello)" "hello" "run echo"
n run --rm busybox sh -c 'exit 3'; expect_eq $? 3 "exit code"
expect_eq "$(n run --rm --user app busybox id -u)" "1000" "--user app"
expect_eq "$(n run --rm -e GREETING=hi busybox sh -c 'echo $GREETING')" "hi" "-e"
# Like docker run, arguments are passed verbatim: no Kubernetes $(VAR) expansion, $$ stays $$.
expect_eq "$(n run --rm -e V=x busybox echo '$(V)' '$$')" '$(V) $$' "no \$(VAR) expansion"
n run --rm --read-only busybox touch /x 2>/dev/null && fail "--read-only: write succeeded"
n run --rm --cap-drop CHOWN busybox chown 1000 /tmp 2>/dev/null && fail "--cap-drop CHOWN: chown succeeded"
# --memory needs the memory controller: always on v1, on v2 only when our cgroup delegates it.
if [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] ||
   grep -qw memory "/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)/cgroup.subtree_control" 2>/dev/null; then
  n run --rm --memory 16m busybox dd if=/dev/zero of=/dev/null bs=64M count=1 2>"$tmp/oom.err"
  expect_eq $? 137 "--memory 16m: OOM kill exit code"
  grep -q OOMKilled "$tmp/oom.err" || fail "--memory: no OOMKilled report: $(cat "$tmp/oom.err")"
fi

# Detached: ps, exec, logs (CRI file underneath), stop, rm; an image in use cannot be removed.
expect_eq "$(n run -d --name web busybox sh -c 'echo started; echo oops >&2; exec sleep 60')" "web" "run -d"
n ps | grep -q '^web .*running' || fail "ps: $(n ps)"
expect_eq "$(n exec web sh -c 'echo in-$(hostname)-$$' | sed 's/[0-9]*$//')" "in-web-" "exec output"
n exec web sh -c 'exit 4'; expect_eq $? 4 "exec exit code"
# Options end at IMAGE and at exec's command: the command's own words are never taken as ours (issue 12 item 5).
expect_eq "$(n run --rm busybox sh -c 'echo $0 $1' --root-dir x)" "--root-dir x" "run: the command keeps --root-dir"
expect_eq "$(n exec web sh -c 'echo $0 $1' --state-dir y -v)" "--state-dir y" "exec: the command keeps --state-dir"
n exec --timeout 0.5 web sleep 30; expect_eq $? 137 "exec --timeout"
sleep 0.2
expect_eq "$(n logs web 2>/dev/null)" "started" "logs stdout"
expect_eq "$(n logs web 2>&1 >/dev/null)" "oops" "logs stderr"
grep -Eq '^[0-9-]+T[0-9:.]+Z stdout F started$' "$root/containers/web/container.log" || fail "CRI log format"
ni rm busybox 2>/dev/null && fail "images rm of an image in use succeeded"
n stop -t 1 web >/dev/null || fail "stop"
n ps -a | grep -q '^web .*exited *137' || fail "ps -a after stop: $(n ps -a)"
n rm web >/dev/null || fail "rm"
[ -z "$(ls "$state/containers")" ] || fail "state left behind: $(ls "$state/containers")"
[ ! -e "$root/containers/web" ] || fail "root dir left behind"

# kill: the signal reaches the container's first process (busybox sleep as PID 1 ignores SIGTERM, not SIGKILL).
n run -d --name k busybox sleep 60 >/dev/null || fail "run -d k"
n kill -s TERM k >/dev/null || fail "kill -s TERM"
n kill k >/dev/null || fail "kill"
for _ in $(seq 50); do n ps -a | grep -q '^k .*exited *137' && break; sleep 0.1; done
n ps -a | grep -q '^k .*exited *137' || fail "ps -a after kill: $(n ps -a)"
n rm k >/dev/null || fail "rm k"

# logs -f follows until the container exits.
n run -d --name slow busybox sh -c 'echo one; sleep 1; echo two' >/dev/null || fail "run -d slow"
expect_eq "$(n logs -f slow | tr '\n' ' ')" "one two " "logs -f"
n rm slow >/dev/null || fail "rm slow"

# Bad input: clear errors naming the object, non-zero exit, nothing left behind.
err=$(n run --rm busybox no-such-binary 2>&1) && fail "missing entrypoint accepted"
echo "$err" | grep -q 'exec: "no-such-binary": executable file not found in \$PATH' || fail "missing entrypoint: $err"
err=$(n run --rm --user nosuchuser busybox true 2>&1) && fail "unknown user accepted"
echo "$err" | grep -q 'unable to find user nosuchuser' || fail "unknown user: $err"
err=$(n run --rm --memory lots busybox true 2>&1) && fail "bad --memory accepted"
echo "$err" | grep -q -- '--memory lots' || fail "bad memory: $err"
echo '{"defaultAction": ' > "$tmp/bad.json"
err=$(n run --rm --seccomp "$tmp/bad.json" busybox true 2>&1) && fail "bad seccomp profile accepted"
echo "$err" | grep -q 'bad.json' || fail "bad seccomp: $err"
err=$(n run --rm no-such-image true 2>&1) && fail "missing image accepted"
echo "$err" | grep -q 'no-such-image' || fail "missing image: $err"
err=$(n logs nothere 2>&1) && fail "logs of a missing container succeeded"
echo "$err" | grep -q 'container nothere: not found' || fail "missing container: $err"
[ -z "$(ls "$state/containers")" ] || fail "bad input left state behind: $(ls "$state/containers")"
[ -z "$(ls "$root/containers" 2>/dev/null)" ] || fail "bad input left files behind"
grep -q "$tmp" /proc/self/mountinfo && fail "mounts left behind"
for d in /sys/fs/cgroup/*/"$cgparent"/* /sys/fs/cgroup/memory/*/*/"$cgparent"/*; do
  [ -d "$d" ] && fail "cgroup left behind: $d"
done
ni rm busybox >/dev/null || fail "images rm after the container is gone"
echo "ok"
