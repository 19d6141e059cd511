#!/usr/bin/env bash
# Runs every test: unit tests and corpus replays (gcc build), short libFuzzer runs (clang build),
# and the network-namespace integration tests with the real processes. Needs root for namespaces.
# Ends with one line "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
bash tools/install-deps.sh || exit 1
bash tools/build.sh build || { echo "build failed"; exit 1; }
if [[ ! -f build-fuzz/build.ninja ]]; then
  CXX=clang++ meson setup build-fuzz -Dfuzz=true -Dtests=false \
    -Dfuzz_seconds="${IPOP_FUZZ_SECONDS:-30}" >/dev/null || { echo "fuzz configure failed"; exit 1; }
fi
ninja -C build-fuzz >/dev/null || { ninja -C build-fuzz; echo "fuzz build failed"; exit 1; }

status=0
rm -f build/meson-logs/{unit,integration}.json build-fuzz/meson-logs/fuzz.json
meson test -C build --suite unit --print-errorlogs --num-processes 2 --logbase unit || status=1
meson test -C build-fuzz --suite fuzz --print-errorlogs --logbase fuzz || status=1
meson test -C build --suite integration --print-errorlogs --no-rebuild --logbase integration || status=1

python3 - "$root/build/meson-logs/unit.json" "$root/build-fuzz/meson-logs/fuzz.json" \
  "$root/build/meson-logs/integration.json" <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        r = json.loads(line)["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            counts["passed"] += 1
        elif r == "SKIP":
            counts["skipped"] += 1
        else:
            counts["failed"] += 1
print(f'{counts["passed"]} passed, {counts["failed"]} failed, {counts["skipped"]} skipped')
PY
exit $status
