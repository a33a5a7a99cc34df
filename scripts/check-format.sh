#!/usr/bin/env bash
# Fails when a C source or header differs from what .clang-format produces. Fix with scripts/format.sh.
set -euo pipefail
cf=${1:-clang-format}
cd "$(dirname "$0")/.."
mapfile -t files < <(find agent cni common netproxy runtime tests bench -name '*.[ch]' | sort)
[ ${#files[@]} -gt 0 ] || { echo "format: no sources found"; exit 1; }
bad=0
for f in "${files[@]}"; do
  if ! "$cf" --style=file "$f" | cmp -s - "$f"; then
    echo "not formatted: $f (run scripts/format.sh)"
    bad=1
  fi
done
[ $bad -eq 0 ] && echo "format: ${#files[@]} files formatted"
exit $bad
