#!/usr/bin/env bash
# Installs every Debian 12 package nodelet needs to build, test and benchmark.
# Idempotent: packages already present are skipped; apt-get runs only when something is missing.
set -euo pipefail

PKGS=(
  # toolchain
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev git
  # libraries
  libnl-3-dev libnl-route-3-dev libmnl-dev libnftnl-dev libjansson-dev
  libcurl4-openssl-dev libseccomp-dev check libsubunit-dev libsystemd-dev libyaml-dev
  libarchive-dev libmicrohttpd-dev libgnutls28-dev libssl-dev libcap-dev
  zlib1g-dev
  # test peers and tools
  nftables iproute2 busybox-static python3 python3-grpcio curl runc containernetworking-plugins zstd
  conntrack procps util-linux kmod jq hyperfine
  # the fake kube-apiserver and the API client tests make their CA with the openssl CLI; the install test runs
  # systemd-analyze verify on the unit (skipped, not passed, without it otherwise)
  openssl systemd binutils
  # registry pulls (tests/runtime/registry, bench/runtime/bench-pull.py): a real registry, skopeo to fill it,
  # htpasswd for its basic auth, umoci as the benchmark's unpack anchor, GNU time for its peak RSS
  docker-registry skopeo apache2-utils umoci time
)
# kubectl: the cluster tests drive the fake API server with the machine's kubectl (exec, port-forward, wait, events);
# on a machine without one, Debian's kubernetes-client (its SPDY exec/port-forward path is served too)
command -v kubectl >/dev/null 2>&1 || PKGS+=(kubernetes-client)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi
