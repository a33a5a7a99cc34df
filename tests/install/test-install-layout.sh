#!/usr/bin/env bash
# `cmake --install` lays out what an operator expects: bin/, libexec/nodelet/, the CNI plugin dir and the systemd
# unit; and the installed nodeletctl finds its installed shim. Installing with another prefix and a DESTDIR writes
# nothing outside the DESTDIR, and the unit then names that prefix (ExecStart, --config, Documentation=).
set -euo pipefail
build=${NODELET_BUILD_DIR:?}
dest=$(mktemp -d /tmp/nodelet-install.XXXXXX)
dest2=$(mktemp -d /tmp/nodelet-install2.XXXXXX)
trap 'rm -rf "$dest" "$dest2"' EXIT

DESTDIR=$dest cmake --install "$build" >/dev/null
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
libexec=$(sed -n 's/^CMAKE_INSTALL_LIBEXECDIR:PATH=//p' "$build/CMakeCache.txt")
cnidir=$(sed -n 's/^NODELET_CNI_BINDIR:PATH=//p' "$build/CMakeCache.txt")

fail=0
for f in "$prefix/bin/nodelet" "$prefix/bin/nodeletctl" "$prefix/$libexec/nodelet/nodelet-shim" \
         "$prefix/$libexec/nodelet/nodeletctl-tools" "$cnidir/nodelet-bridge" \
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
# ... and its nodeletctl-tools (the heavy verbs) in the installed libexec dir.
n=$(strings "$dest$prefix/bin/nodeletctl" | grep -c "^$prefix/$libexec/nodelet/nodeletctl-tools$" || true)
[ "$n" -gt 0 ] || { echo "nodeletctl does not look for nodeletctl-tools in $prefix/$libexec/nodelet"; fail=1; }
# Documentation= names installed files.
if [ -f "$unit" ]; then
  for d in $(sed -n 's/^Documentation=//p' "$unit"); do
    case "$d" in file://*) [ -f "$dest${d#file://}" ] || { echo "Documentation= $d is not installed"; fail=1; } ;; esac
  done
fi
# The runner searches the plugin directory the plugins are installed into (the generated nodelet-paths.h).
n=$(strings "$dest$prefix/bin/nodelet" | grep -c "^$cnidir\$" || true)
[ "$n" -gt 0 ] || { echo "nodelet does not search $cnidir for CNI plugins"; fail=1; }

# Another prefix at install time, into a DESTDIR: every file lands below the DESTDIR (install_manifest.txt lists
# them all), nothing named like ours appears outside it, and the unit follows the install-time prefix.
prefix2=/opt/nodelet-test-$$
marker=$dest2/.marker
touch "$marker"
DESTDIR=$dest2 cmake --install "$build" --prefix "$prefix2" >/dev/null
# The manifest names the final paths (without DESTDIR): each must be below the new prefix, or in the plugin
# directory (NODELET_CNI_BINDIR, absolute by default: /opt/cni/bin is where CNI runtimes look), and staged in DESTDIR.
while read -r f; do
  case "$f" in "$prefix2"/* | "$cnidir"/*) ;; *) echo "installed outside the prefix: $f"; fail=1 ;; esac
  [ -e "$dest2$f" ] || { echo "not staged in DESTDIR: $f"; fail=1; }
done < "$build/install_manifest.txt"
[ -s "$build/install_manifest.txt" ] || { echo "empty install manifest"; fail=1; }
for root in /usr/local /usr/bin /usr/libexec /usr/lib/systemd /lib/systemd /usr/share/doc /etc /opt; do
  [ -d "$root" ] || continue
  out=$(find "$root" -xdev -newer "$marker" \( -name 'nodelet*' -o -name 'config.yaml' \) 2>/dev/null | head -5)
  [ -z "$out" ] || { echo "written outside DESTDIR: $out"; fail=1; }
done
unit2="$dest2$prefix2/lib/systemd/system/nodelet.service"
if [ -f "$unit2" ]; then
  grep -q "^ExecStart=$prefix2/bin/nodelet --config=$prefix2/etc/nodelet/config.yaml" "$unit2" ||
    { echo "unit installed with --prefix $prefix2 does not start $prefix2/bin/nodelet"; fail=1; }
  for d in $(sed -n 's/^Documentation=//p' "$unit2"); do
    [ -f "$dest2${d#file://}" ] || { echo "Documentation= $d is not installed under $prefix2"; fail=1; }
  done
  [ -x "$dest2$prefix2/bin/nodelet" ] && [ -f "$dest2$prefix2/etc/nodelet/config.yaml" ] ||
    { echo "daemon or config missing under $prefix2"; fail=1; }
else
  echo "missing unit with --prefix $prefix2: $unit2"; fail=1
fi
[ $fail -eq 0 ] && echo "install layout ok under $prefix"
exit $fail
