#!/usr/bin/env bash
# `cmake --install` lays out what an operator expects: bin/, libexec/nodelet/, the CNI plugin dir and the systemd
# unit; and the installed nodeletctl finds its installed shim.
set -euo pipefail
build=${NODELET_BUILD_DIR:?}
dest=$(mktemp -d /tmp/nodelet-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT

DESTDIR=$dest cmake --install "$build" >/dev/null
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
libexec=$(sed -n 's/^CMAKE_INSTALL_LIBEXECDIR:PATH=//p' "$build/CMakeCache.txt")
cnidir=$(sed -n 's/^NODELET_CNI_BINDIR:PATH=//p' "$build/CMakeCache.txt")

fail=0
for f in "$prefix/bin/nodelet" "$prefix/bin/nodeletctl" "$prefix/$libexec/nodelet/nodelet-shim" "$cnidir/nodelet-bridge" \
         "$cnidir/nodelet-ipam"; do
  if [ ! -x "$dest$f" ]; then echo "missing executable: $f"; fail=1; fi
done
unit="$dest$prefix/lib/systemd/system/nodelet.service"
if [ ! -f "$unit" ]; then
  echo "missing unit: $prefix/lib/systemd/system/nodelet.service"; fail=1
else
  for k in Type=notify Delegate=yes KillMode=process WatchdogSec=; do
    grep -q "^$k" "$unit" || { echo "unit lacks $k"; fail=1; }
  done
  grep -q "^ExecStart=$prefix/bin/nodelet " "$unit" || { echo "unit ExecStart does not point into $prefix/bin"; fail=1; }
fi
# systemd accepts the unit (pointed at the staged binary, which is not at its final path yet).
if command -v systemd-analyze >/dev/null && [ -f "$unit" ]; then
  mkdir -p "$dest/verify"
  sed "s|^ExecStart=$prefix/|ExecStart=$dest$prefix/|" "$unit" > "$dest/verify/nodelet.service"
  systemd-analyze verify --man=no "$dest/verify/nodelet.service" || { echo "systemd-analyze verify failed"; fail=1; }
fi
# The installed default configuration loads: every field known, the manifest directory installed.
sysconf=$(sed -n 's/^CMAKE_INSTALL_SYSCONFDIR:PATH=//p' "$build/CMakeCache.txt")
case "$sysconf" in /*) ;; *) sysconf=$prefix/$sysconf ;; esac
cfg="$dest$sysconf/nodelet/config.yaml"
[ -d "$dest$sysconf/nodelet/manifests" ] || { echo "missing $sysconf/nodelet/manifests"; fail=1; }
grep -q "^ExecStart=$prefix/bin/nodelet --config=$sysconf/nodelet/config.yaml" "$unit" ||
  { echo "unit does not use $sysconf/nodelet/config.yaml"; fail=1; }
"$dest$prefix/bin/nodelet" --config="$cfg" --check-config >/dev/null || { echo "installed config does not load"; fail=1; }
# The installed CLI looks for its shim in the installed libexec dir.
# (grep -c, not -q: under pipefail an early exit of grep would fail the pipeline with SIGPIPE)
n=$(strings "$dest$prefix/bin/nodeletctl" | grep -c "^$prefix/$libexec/nodelet" || true)
[ "$n" -gt 0 ] || { echo "nodeletctl does not know $prefix/$libexec/nodelet"; fail=1; }
"$dest$prefix/bin/nodeletctl" version >/dev/null || { echo "installed nodeletctl does not run"; fail=1; }
[ $fail -eq 0 ] && echo "install layout ok under $prefix"
exit $fail
