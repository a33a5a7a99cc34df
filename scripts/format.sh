#!/usr/bin/env bash
# Reformats every C source and header in place with the project's .clang-format.
set -euo pipefail
cd "$(dirname "$0")/.."
find agent cni common netproxy runtime tests bench -name '*.[ch]' -print0 | xargs -0 -r clang-format -i --style=file
