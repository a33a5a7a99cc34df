#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# No static binary of ours can reach glibc's NSS at run time (issue 12): a statically linked program that calls
# getaddrinfo(), getpwnam() & co. dlopen()s the running system's libnss_*.so, built for whatever glibc that system has
# (the linker's "Using 'getaddrinfo' in statically linked applications" warning). For each hot static binary
# (nodeletctl, nodelet-shim, nodelet-bridge, nodelet-ipam): no NSS symbol is linked in. Dynamic builds (sanitizers, no
# static archives) are skipped per binary; exit 77 when none is static.
#
# usage: test-static-no-nss.sh BUILD_DIR
set -u
build=${1:?usage: test-static-no-nss.sh BUILD_DIR}
failed=0
checked=0
for b in agent/nodeletctl runtime/nodelet-shim cni/nodelet-bridge cni/nodelet-ipam; do
        f=$build/$b
        if [ ! -x "$f" ]; then
                echo "skip $b: not built"
                continue
        fi
        if readelf -l "$f" | grep -q INTERP; then
                echo "skip $b: dynamically linked"
                continue
        fi
        checked=$((checked + 1))
        # __nss_* is the dispatcher every NSS lookup goes through; the others are the entry points that reach it.
        syms=$(nm "$f" | grep -E ' [TtWw] (__nss_[a-z_]+|getaddrinfo|getnameinfo|getpwnam|getpwuid|getgrnam|getgrgid|gethostbyname|getprotobyname|getprotobynumber|getservbyname|initgroups)$' |
                awk '{print $3}' | sort -u | head -8 | tr '\n' ' ')
        if [ -n "$syms" ]; then
                echo "FAIL: $b links NSS: $syms" >&2
                failed=1
        else
                echo "ok $b"
        fi
done
[ "$checked" -gt 0 ] || exit 77
exit "$failed"
