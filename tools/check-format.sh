#!/usr/bin/env bash
# Fails when a C++ source differs from what the repo's .clang-format makes of it.
# Usage: tools/check-format.sh [SOURCE_ROOT]   (fix with: clang-format -i FILE...)
set -uo pipefail
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$root" || exit 1
command -v clang-format >/dev/null || { echo "SKIP: clang-format not installed"; exit 77; }
mapfile -t files < <(find controlplane dataplane shared tools tests bench \
  -name '*.cc' -o -name '*.h' | sort)
bad=$(clang-format --dry-run "${files[@]}" 2>&1 | grep -oP '^[^:]+(?=:\d+:\d+: warning)' | sort -u)
if [[ -n $bad ]]; then
  echo "not formatted with .clang-format (run clang-format -i on them):"
  echo "$bad"
  exit 1
fi
echo "${#files[@]} files formatted"
