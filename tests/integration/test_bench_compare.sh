#!/usr/bin/env bash
# The comparison tool (bench/compare.sh) still works end to end: one quick run over native veth,
# kernel VXLAN, IPOP and the tapfwd floor sets every path up, measures each (TCP 1 and 4 streams,
# UDP, ping RTT, CPU per Gbit), measures the idle IPOP node, and writes the table, the JSON and
# the PNG chart. Checks shape, not speed: every path has a positive TCP rate and RTT, IPOP has
# CPU and idle figures, nothing was skipped. (wireguard-go and Nebula are left to the full run.)
set -uo pipefail
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v iperf3 >/dev/null || skip "iperf3 missing"
command -v python3 >/dev/null || skip "python3 missing"
[[ -x $IPOP_BUILD/bench/floor-tapfwd ]] || fail "$IPOP_BUILD/bench/floor-tapfwd not built"
OUT=$(mktemp -d /tmp/ipop-cmp.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

bash "$ROOT/bench/compare.sh" --quick --idle 2 --paths native,vxlan,ipop,tapfwd \
  --build "$IPOP_BUILD" --no-build --json "$OUT/cmp.json" --chart "$OUT/cmp.png" >"$OUT/out.txt" 2>&1
rc=$?
if ((rc == 77)); then skip "$(tail -n 1 "$OUT/out.txt")"; fi
((rc == 0)) || {
  tail -n 40 "$OUT/out.txt"
  fail "bench/compare.sh exited $rc"
}
grep -q "^Skipped" "$OUT/out.txt" && {
  cat "$OUT/out.txt"
  fail "a path was skipped"
}
for p in native vxlan ipop tapfwd; do
  grep -qE "^$p +[0-9]+\.[0-9]+ " "$OUT/out.txt" || fail "no table row for $p"
done
[[ -s $OUT/cmp.png ]] || fail "no chart written"
python3 - "$OUT/cmp.json" <<'EOF' || fail "JSON check failed (above)"
import json, sys
med = json.load(open(sys.argv[1]))["medians"]
bad = []
for p in ("native", "vxlan", "ipop", "tapfwd"):
    for m in ("tcp1", "tcp4", "rtt_us"):
        if not (med.get(p, {}).get(m) or 0) > 0:
            bad.append(f"{p} {m} = {med.get(p, {}).get(m)}")
for m in ("tcp1_proc_cpu_per_gbit", "idle_core_pct"):
    if med.get("ipop", {}).get(m) is None:
        bad.append(f"ipop {m} missing")
if med.get("tapfwd", {}).get("tcp1_proc_cpu_per_gbit") is None:
    bad.append("tapfwd CPU per Gbit missing")
if bad:
    sys.exit("; ".join(bad))
EOF
log "compare.sh: $(grep -E '^(native|vxlan|ipop|tapfwd) +[0-9]+\.[0-9]+ ' "$OUT/out.txt" | awk '{printf "%s %s Gb/s %s us; ", $1, $2, $6}')"
echo "PASS"
