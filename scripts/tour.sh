#!/usr/bin/env bash
# A tour of nodelet's building blocks, from a fresh Debian 12 machine, as root: installs dependencies, builds
# nodelet, and drives each module by hand with nodeletctl, with real kernel objects, then removes everything it
# created (scripts/demo.sh runs the daemon itself):
#   1. runtime: a busybox OCI image (built from Debian's busybox-static) imported into nodelet's image store; a
#      one-off container; a long-running container with limits, its CRI log, exec into it, stop and remove.
#   2. cni:     a pod network namespace wired up by nodelet-bridge + nodelet-ipam (our CNI plugins), pinged.
#   3. netproxy: examples/services (a NodePort Service + EndpointSlice) programmed into nftables by
#      `nodeletctl proxy sync`, inside a scratch network namespace so the host's ruleset is never touched.
# Everything lives in a scratch root (NODELET_ROOT_DIR / NODELET_STATE_DIR) and namespaces named nodelet-tour-*.
# NODELET_BUILD_DIR=DIR uses that build instead of installing the dependencies and building build/release.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD

if [ "$(id -u)" -ne 0 ]; then
  echo "tour: run as root (it creates namespaces, cgroups, overlay mounts and nftables tables)" >&2
  exit 1
fi

if [ -n "${NODELET_BUILD_DIR:-}" ]; then
  bin=$(realpath "$NODELET_BUILD_DIR")
else
  bash scripts/install-deps.sh
  bash scripts/build.sh release >/dev/null
  bin=$src/build/release
fi
ctl=$bin/agent/nodeletctl

demo=$(mktemp -d /tmp/nodelet-tour.XXXXXX)
export NODELET_ROOT_DIR=$demo/root NODELET_STATE_DIR=$demo/state
node_ns=nodelet-tour-node-$$
pod_ns=nodelet-tour-pod-$$
cni_conf=$demo/cni/net.d
cni_bin="$bin/cni:/usr/lib/cni"

cleanup() {
  set +e
  "$ctl" rm -f demo-web >/dev/null 2>&1
  if [ -d "$cni_conf" ]; then
    "$ctl" cni del "/var/run/netns/$pod_ns" demo-pod --conf-dir "$cni_conf" --bin-dir "$cni_bin" \
      --cache-dir "$demo/cni/cache" >/dev/null 2>&1
  fi
  ip netns del "$pod_ns" 2>/dev/null
  ip netns exec "$node_ns" "$ctl" proxy cleanup >/dev/null 2>&1
  ip netns del "$node_ns" 2>/dev/null
  ip link del nodelet-tour0 2>/dev/null
  # the runtime's default cgroup parent ("nodelet" below our own cgroup), if the tour left it empty
  while IFS=: read -r _ ctrls path; do
    case "$ctrls" in
      name=*) continue ;;
      "") if [ -d /sys/fs/cgroup/unified ]; then d=/sys/fs/cgroup/unified; else d=/sys/fs/cgroup; fi ;;
      *) d=/sys/fs/cgroup/${ctrls%%,*} ;;
    esac
    rmdir "$d${path%/}/nodelet" 2>/dev/null
  done </proc/self/cgroup
  rm -rf "$demo"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "runtime: build a busybox OCI image from Debian's busybox-static and import it"
/usr/bin/python3 tests/fixtures/make-busybox-image.py "$demo/busybox.tar" --ref docker.io/library/busybox:latest
run "$ctl" images import "$demo/busybox.tar"
run "$ctl" images ls

step "runtime: a one-off container (own pid, mount, uts, ipc, net and cgroup namespaces; RuntimeDefault seccomp)"
run "$ctl" run --rm busybox sh -c 'echo "hello from $(hostname), uid $(id -u), processes I can see:"; ps'

step "runtime: a long-running container with limits, its CRI log, exec, stop, rm"
run "$ctl" run -d --name demo-web --memory 32m --cpus 0.5 --pids-limit 64 busybox \
  sh -c 'i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'
sleep 1
run "$ctl" ps
run "$ctl" exec demo-web sh -c 'echo "exec sees: $(ps | wc -l) lines of ps, hostname $(hostname)"'
run "$ctl" logs --tail 3 demo-web
echo "the CRI log file underneath:"; tail -2 "$demo/root/containers/demo-web/container.log"
run "$ctl" stop demo-web
run "$ctl" rm demo-web

step "cni: a pod network namespace wired by nodelet-bridge + nodelet-ipam"
mkdir -p "$cni_conf"
cat >"$cni_conf/10-demo.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "nodelet-tour",
 "plugins": [{"type": "nodelet-bridge", "bridge": "nodelet-tour0", "isGateway": true,
              "ipam": {"type": "nodelet-ipam", "dataDir": "$demo/cni/ipam",
                       "ranges": [[{"subnet": "10.250.77.0/24"}]]}}]}
JSON
ip netns add "$pod_ns"
run "$ctl" cni add "/var/run/netns/$pod_ns" demo-pod --conf-dir "$cni_conf" --bin-dir "$cni_bin" \
  --cache-dir "$demo/cni/cache"
run ip netns exec "$pod_ns" ip -brief addr show eth0
run ip netns exec "$pod_ns" busybox ping -c 2 -W 2 10.250.77.1
run "$ctl" cni del "/var/run/netns/$pod_ns" demo-pod --conf-dir "$cni_conf" --bin-dir "$cni_bin" \
  --cache-dir "$demo/cni/cache"

step "netproxy: program examples/services into nftables (inside a scratch network namespace)"
ip netns add "$node_ns"
ip -n "$node_ns" link set lo up
run ip netns exec "$node_ns" "$ctl" proxy sync -v --cluster-cidr 10.88.0.0/16 --service-cidr 10.96.0.0/16 \
  --nodeport-addresses 127.0.0.0/8 --hostname-override node1 examples/services
# Into a file first: `nft | head` would end nft with SIGPIPE, which pipefail turns into the script's exit (141).
ip netns exec "$node_ns" nft list table ip nodelet >"$demo/ruleset.nft"
printf '$ ip netns exec %s nft list table ip nodelet | head -40\n' "$node_ns"
head -40 "$demo/ruleset.nft"
run ip netns exec "$node_ns" "$ctl" proxy cleanup

step "done: everything the tour created is removed on exit"
