#!/usr/bin/env bash
# The quick start, from a fresh Debian 12 machine, as root: installs the dependencies, builds nodelet, and runs the
# daemon in the foreground on examples/pods (a busybox httpd pod with readiness and liveness probes, and a pod that
# logs its hostname), prints where to look, and on Ctrl-C (or exit) stops the pods and removes what it created.
#
# Nothing on the host's network changes: the daemon runs in a network namespace the demo creates (nodelet-demo),
# where the pod bridge, the pods' veths, the nftables rules and the HTTP endpoints live. Its directories (images,
# pods, runtime state, logs, CNI config, cache and IP leases) are under a scratch dir, its cgroups below the
# demo's own cgroup. Re-running it first removes what an interrupted run may have left.
#
# Environment:
#   NODELET_BUILD_DIR=DIR  use that build instead of installing the dependencies and building build/release
#   DEMO_SECONDS=N         non-interactive: once both pods run, keep them N seconds, then stop and clean up; the
#                          exit code says whether they ran and everything was removed (the ctest test-demo;
#                          77 when not root)
#   DEMO_DIR, DEMO_NETNS   scratch dir (/var/tmp/nodelet-demo) and network namespace (nodelet-demo)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (the daemon creates namespaces, cgroups and overlay mounts)" >&2
  # Non-interactive, it is a test: 77 is "skipped" for ctest, as for every privileged test.
  [ -n "${DEMO_SECONDS:-}" ] && exit 77
  exit 1
fi

if [ -n "${NODELET_BUILD_DIR:-}" ]; then
  bin=$(realpath "$NODELET_BUILD_DIR")
else
  bash scripts/install-deps.sh
  bash scripts/build.sh release >/dev/null
  bin=$src/build/release
fi
nodelet=$bin/agent/nodelet
ctl=$bin/agent/nodeletctl
scratch=${DEMO_DIR:-/var/tmp/nodelet-demo}
netns=${DEMO_NETNS:-nodelet-demo}
cgroup=$netns # --cgroup-root: relative, so below the demo's own cgroup
node="nodelet-demo" # the node name: pods are <manifest name>-nodelet-demo
seconds=${DEMO_SECONDS:-}
case "$scratch" in /?*) ;; *) echo "demo: DEMO_DIR must be an absolute path" >&2; exit 1 ;; esac

bold() { printf '\033[1m%s\033[0m\n' "$*"; }
in_ns() { ip netns exec "$netns" "$@"; }
ctl() { "$ctl" --root-dir "$scratch/root" --state-dir "$scratch/state" "$@"; }

# Our cgroup base (--cgroup-root) in every hierarchy: v1 controllers, the v2 tree (or v1's unified mount).
cgroup_dirs() {
  local ctrls path c root
  while IFS=: read -r _ ctrls path; do
    case "$ctrls" in
      name=*) continue ;;
      "")
        root=/sys/fs/cgroup
        [ -d /sys/fs/cgroup/unified ] && root=/sys/fs/cgroup/unified
        echo "$root${path%/}/$cgroup"
        ;;
      *) for c in ${ctrls//,/ }; do echo "/sys/fs/cgroup/$c${path%/}/$cgroup"; done ;;
    esac
  done </proc/self/cgroup
}

# The daemon this demo (or an interrupted earlier run) started: its PID from the pid file, if that process is
# still our nodelet for this scratch dir.
demo_daemon() {
  local pid
  pid=$(cat "$scratch/nodelet.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "--root-dir $scratch/root " || return 1
  echo "$pid"
}

# Stops the daemon by PID: SIGINT makes it stop every pod first (--drain); SIGKILL if it does not end in time.
stop_daemon() {
  local pid i
  pid=$(demo_daemon) || return 0
  echo "demo: stopping nodelet (pid $pid) and its pods..."
  kill -INT "$pid" 2>/dev/null || true
  for ((i = 0; i < 600; i++)); do
    [ -d "/proc/$pid" ] || break
    # A child of this shell stays a zombie until waited for.
    if ! kill -0 "$pid" 2>/dev/null || [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ]; then
      break
    fi
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
    echo "demo: nodelet did not stop within 60 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
}

# Removes everything the demo makes, in dependency order; safe to run when some or all of it is gone.
cleanup() {
  set +e
  stop_daemon
  # Containers a killed daemon left running: the runtime stops and removes them.
  for d in "$scratch"/state/containers/*/; do
    [ -d "$d" ] && ctl rm -f "$(basename "$d")" >/dev/null 2>&1
  done
  # Sandbox namespace files and overlay mounts, deepest first.
  awk -v p="$scratch/" 'index($5, p) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null
  done
  ip netns del "$netns" 2>/dev/null
  for d in $(cgroup_dirs); do
    [ -d "$d" ] && find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  rm -rf "$scratch"
  set -e
}

# What cleanup() could not remove (printed; non-empty means failure).
leftovers() {
  [ -e "$scratch" ] && echo "scratch dir $scratch"
  [ -e "/run/netns/$netns" ] && echo "network namespace $netns"
  for d in $(cgroup_dirs); do [ -d "$d" ] && echo "cgroup $d"; done
  grep -q " $scratch/" /proc/self/mountinfo && echo "mounts below $scratch"
  return 0
}

finish() {
  local rc=$?
  trap - EXIT
  # Another Ctrl-C while the pods stop: the daemon exits at once, cleanup removes the containers itself.
  trap 'echo "demo: not waiting for the pods to stop"; kill -INT "$(demo_daemon)" 2>/dev/null || true' INT TERM
  cleanup
  local left
  left=$(leftovers)
  if [ -n "$left" ]; then
    printf 'demo: could not remove:\n%s\n' "$left" >&2
    rc=1
  else
    echo "demo: stopped; everything it created is removed"
  fi
  exit "$rc"
}

# ---- set up ----

cleanup # what an interrupted run left behind
trap finish EXIT
mkdir -p "$scratch"/{root/images/preload,state,logs,cni/net.d,cni/cache,cni/ipam,pki}
bold "== demo: building the busybox image (from Debian's busybox-static) into the preload directory"
/usr/bin/python3 tests/fixtures/make-busybox-image.py "$scratch/root/images/preload/busybox.tar" \
  --ref docker.io/library/busybox:latest
# The pod network: nodelet-bridge + nodelet-ipam (what the daemon would write for --pod-cidr), with the leases
# under the scratch dir rather than /var/lib/cni.
cat >"$scratch/cni/net.d/10-demo.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "nodelet-demo",
 "plugins": [{"type": "nodelet-bridge", "bridge": "nodelet0", "isGateway": true, "ipMasq": true,
              "hairpinMode": true,
              "ipam": {"type": "nodelet-ipam", "dataDir": "$scratch/cni/ipam",
                       "ranges": [[{"subnet": "10.88.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}}]}
JSON
# Standalone, like systemd/config.yaml, plus the read-only port for /pods without TLS (inside the namespace only).
cat >"$scratch/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: $src/examples/pods
podLogsDir: $scratch/logs
readOnlyPort: 10255
healthzPort: 10248
fileCheckFrequency: 5s
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
YAML
ip netns add "$netns"
ip -n "$netns" link set lo up

# ---- run ----

interrupted=0
trap 'interrupted=$((interrupted + 1)); [ "$interrupted" -lt 2 ] || kill -INT "$(demo_daemon)" 2>/dev/null || true' \
  INT TERM
args=(--config "$scratch/config.yaml" --root-dir "$scratch/root" --state-dir "$scratch/state"
  --cni-conf-dir "$scratch/cni/net.d" --cni-bin-dir "$bin/cni" --cni-cache-dir "$scratch/cni/cache"
  --cert-dir "$scratch/pki" --cgroup-root "$cgroup" --hostname-override "$node" --drain)
bold "== demo: starting nodelet in network namespace $netns"
echo "\$ nsenter --net=/run/netns/$netns $nodelet ${args[*]}"
# Its own session: Ctrl-C reaches only this script, which then stops the daemon (and its pods) by PID. nsenter
# (no fork: no new pid namespace) and setsid (not a group leader here) exec, so $! is nodelet itself. nsenter, not
# `ip netns exec`: that one remounts /sys and would hide the cgroup mounts.
if [ -n "$seconds" ]; then
  setsid nsenter --net="/run/netns/$netns" "$nodelet" "${args[@]}" >"$scratch/nodelet.log" 2>&1 &
else
  setsid nsenter --net="/run/netns/$netns" "$nodelet" "${args[@]}" &
fi
echo $! >"$scratch/nodelet.pid"

daemon_log_tail() { [ -z "$seconds" ] || tail -40 "$scratch/nodelet.log" >&2 || true; }

# Both example pods Running, web Ready: prints "name ip" per pod.
pods_running() {
  in_ns curl -s --max-time 2 http://127.0.0.1:10255/pods 2>/dev/null | /usr/bin/python3 -c '
import json, sys
try:
    items = json.load(sys.stdin)["items"]
except ValueError:
    sys.exit(1)  # not listening yet
def ready(p):
    return any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
run = {p["metadata"]["name"]: p for p in items if p["status"].get("phase") == "Running" and p["status"].get("podIP")}
want = ["hello-" + sys.argv[1], "web-" + sys.argv[1]]
if not all(n in run for n in want) or not ready(run[want[1]]):
    sys.exit(1)
for n in want:
    print(n, run[n]["status"]["podIP"])
' "$node"
}

running=""
for ((i = 0; i < 900 && interrupted == 0; i++)); do
  if ! demo_daemon >/dev/null; then
    echo "demo: nodelet exited before the pods ran" >&2
    daemon_log_tail
    exit 1
  fi
  running=$(pods_running) && break
  running=""
  sleep 0.2
done
if [ -z "$running" ]; then
  [ "$interrupted" -gt 0 ] && exit 0
  echo "demo: the example pods did not become Running within 3 minutes" >&2
  daemon_log_tail
  exit 1
fi

web_ip=$(awk '/^web-/ {print $2}' <<<"$running")
echo
bold "== nodelet runs examples/pods (node $node, network namespace $netns):"
while read -r name ip; do printf '   %-22s pod IP %s\n' "$name" "$ip"; done <<<"$running"
cat <<EOF

   Look at them from another terminal:
     ip netns exec $netns curl http://$web_ip:8080/
     ip netns exec $netns curl -s http://127.0.0.1:10255/pods          (the v1.PodList)
     ip netns exec $netns curl -s http://127.0.0.1:10255/metrics
     $ctl --state-dir $scratch/state pods
     $ctl --state-dir $scratch/state ps
     $ctl --state-dir $scratch/state logs hello
     $ctl --state-dir $scratch/state exec web -- ps
   Add a manifest to examples/pods and it runs within seconds (fileCheckFrequency 5s, or inotify at once).

EOF
if [ -n "$seconds" ]; then
  body=$(in_ns curl -s --max-time 5 "http://$web_ip:8080/") || true
  echo "demo: http://$web_ip:8080/ says: $body"
  if [ "$body" != "hello from web-$node" ]; then
    echo "demo: web does not answer on its pod IP as it should" >&2
    exit 1
  fi
  echo "demo: DEMO_SECONDS=$seconds: stopping in $seconds s"
  end=$((SECONDS + seconds))
  while ((SECONDS < end && interrupted == 0)) && demo_daemon >/dev/null; do sleep 0.5; done
else
  bold "   Ctrl-C stops the pods and removes everything the demo created."
  while ((interrupted == 0)) && demo_daemon >/dev/null; do
    wait "$(demo_daemon)" 2>/dev/null || true
  done
fi
if ! demo_daemon >/dev/null; then
  echo "demo: nodelet exited on its own" >&2
  daemon_log_tail
  exit 1
fi
exit 0 # finish (the EXIT trap) stops the daemon, which stops the pods, and removes the rest
