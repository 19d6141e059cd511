#!/usr/bin/env bash
# Time to a direct path across NATs (docs/nat.md, "Measured"). Each run builds the topology of
# tests/integration/test_nat.sh (three public nodes; eim/eim, sym/cone and sym/sym pairs behind
# nftables NAT routers), waits until the pairs are relayed (no overlay link), starts 10 pings/s in
# each pair and records:
#   eim/eim   seconds from the first ping until both ends route directly (hole punching)
#   sym/cone  the same (usually at once: the symmetric node links to the cone as a ring neighbour)
#   sym/sym   seconds until node 6 reports "punch failed: both symmetric" (relayed for good)
#   rebind    the longest gap between ping answers 3 -> 4 after node 3's router rebinds
# and prints every run and the medians. Usage (root): bench/nat_direct_path.sh [RUNS] (default 3)
set -uo pipefail
RUNS=${1:-3}
HERE=$(cd "$(dirname "$0")" && pwd)
results=$(mktemp)
trap 'rm -f "$results"' EXIT

one_run() (
  source "$HERE/../tools/netns/lib.sh"
  source "$HERE/../tests/integration/nat_lib.sh"
  net_require
  nat_require
  net_init nb
  nat_start_topology
  nat_wait_joined
  nat_wait_unlinked
  for pair in "3 4" "6 5" "6 7"; do
    read -r a b <<<"$pair"
    ip netns exec "$(ns_of "$a")" ping -n -q -c 200 -i 0.1 -W 1 "$(vip_of "$b")" >/dev/null 2>&1 &
    PIDS+=($!)
  done
  local t0 now eim="" cone="" sym=""
  t0=$(date +%s.%N)
  while [[ -z $eim || -z $cone || -z $sym ]]; do
    now=$(date +%s.%N)
    if python3 -c "import sys; sys.exit(0 if $now - $t0 > 30 else 1)"; then break; fi
    [[ -z $eim ]] && nat_direct 3 4 && nat_direct 4 3 && eim=$(python3 -c "print('%.2f' % ($now - $t0))")
    [[ -z $cone ]] && nat_direct 6 5 && nat_direct 5 6 && cone=$(python3 -c "print('%.2f' % ($now - $t0))")
    [[ -z $sym ]] && ctl 6 peers | grep -A1 "peer $(vip_of 7) " | grep -q 'both symmetric' &&
      sym=$(python3 -c "print('%.2f' % ($now - $t0))")
    sleep 0.1
  done
  ip netns exec "$(ns_of 3)" ping -n -D -i 0.1 -W 1 -c 100 "$(vip_of 4)" >"$WORK/rebind.log" 2>&1 &
  local ping=$!
  PIDS+=("$ping")
  sleep 2
  nat_rebind 3 40000-40100
  wait "$ping"
  local gap
  gap=$(python3 - "$WORK/rebind.log" <<'PY'
import re, sys
t = [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\].*bytes from", open(sys.argv[1]).read(), re.M)]
print("%.2f" % max(b - a for a, b in zip(t, t[1:])) if len(t) > 1 else "nan")
PY
)
  echo "${eim:-nan} ${cone:-nan} ${sym:-nan} $gap"
)

printf '%-4s %10s %10s %10s %10s\n' run eim/eim sym/cone sym/sym rebind
for ((r = 1; r <= RUNS; r++)); do
  line=$(one_run 2>/dev/null | tail -n 1)
  [[ $line =~ ^[0-9n] ]] || { echo "run $r failed" >&2; continue; }
  echo "$line" >>"$results"
  read -r e c s g <<<"$line"
  printf '%-4s %9ss %9ss %9ss %9ss\n' "$r" "$e" "$c" "$s" "$g"
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def med(i):
    v = [float(r[i]) for r in rows if r[i] != "nan"]
    return "%.2f s" % statistics.median(v) if v else "n/a"
print("median   eim/eim direct after %s, sym/cone direct after %s, sym/sym relayed (both symmetric) after %s, rebind gap %s (%d runs)"
      % (med(0), med(1), med(2), med(3), len(rows)))
PY
