#!/usr/bin/env bash
# Configures (once) and builds the release tree in ./build. Usage: tools/build.sh [builddir]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
if [[ ! -f $dir/build.ninja ]]; then
  meson setup "$dir" --buildtype=release >/dev/null
fi
ninja -C "$dir" >/dev/null || ninja -C "$dir"
