#!/usr/bin/env bash
# IPOP with 1 against N dataplane workers (node.workers), side by side in one run between two
# network namespaces: per round and variant, both nodes are started with that worker count and
# iperf3 TCP runs with 1 and with 4 streams through the overlay. Rounds interleave the variants so
# machine noise hits all alike; the table shows medians and every run.
#
# Usage (root): bench/workers.sh [--seconds S] [--rounds R] [--variants 1,2,2pin] [--build DIR]
#   [--no-build]
# A variant is a worker count, optionally followed by "pin" (IPOP_DP_PIN_CPUS=1: worker w pinned
# to the w-th CPU of the dataplane's affinity set) and/or "zc" (IPOP_DP_UDP_SEND_ZC=1: zero-copy
# underlay sends), e.g. 1,1zc,2pin.
set -uo pipefail
SECS=8
ROUNDS=3
VARIANTS=1,2
BUILD_DIR=build
NO_BUILD=0
while (($#)); do
  case $1 in
    --seconds) SECS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --variants) VARIANTS=$2; shift 2 ;;
    --build) BUILD_DIR=$2; shift 2 ;;
    --no-build) NO_BUILD=1; shift ;;
    *) sed -n '7,11p' "$0" | sed 's/^# //' >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.." || exit 1
command -v iperf3 >/dev/null || { echo "iperf3 missing (tools/install-deps.sh)" >&2; exit 1; }
source bench/lib.sh
bench_two_hosts wbench
RESULTS=$WORK/results.tsv
: >"$RESULTS"

run_variant() { # run_variant VARIANT ROUND
  local v=$1 n=${1%%[!0-9]*} i g
  for i in 1 2; do write_config "$i" 2 "[node]" "mtu = 1420" "workers = $n" >/dev/null; done
  if [[ $v == *pin* ]]; then export IPOP_DP_PIN_CPUS=1; else unset IPOP_DP_PIN_CPUS; fi
  if [[ $v == *zc* ]]; then export IPOP_DP_UDP_SEND_ZC=1; else unset IPOP_DP_UDP_SEND_ZC; fi
  start_node 1
  start_node 2
  for i in 1 2; do wait_for 30 "node $i peer ready" peers_ready "$i" 2; done
  wait_for 10 "overlay ping" ping_ok 1 "$(vip_of 2)" 1
  for streams in 1 4; do
    g=$(iperf_tcp 1 2 "$SECS" "$streams") || g=nan
    printf '%s\t%s\t%s\n' "$v" "tcp$streams" "$g" >>"$RESULTS"
    log "round $2 workers $v tcp$streams: $g Gbit/s"
  done
  for i in 1 2; do stop_node "$i" || true; done
}

for ((r = 1; r <= ROUNDS; r++)); do
  for v in ${VARIANTS//,/ }; do run_variant "$v" "$r"; done
done

python3 - "$RESULTS" "$SECS" "$ROUNDS" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
variants = list(dict.fromkeys(r[0] for r in rows))
def runs(v, t):
    return [float(r[2]) for r in rows if r[0] == v and r[1] == t and r[2] != "nan"]
print(f"IPOP workers on {sys.argv[2]} s iperf3 x {sys.argv[3]} interleaved rounds, medians (Gbit/s)")
print(f"{'workers':10}{'TCP1':>8}{'TCP4':>8}   runs tcp1 | tcp4")
base = {t: statistics.median(runs(variants[0], t) or [0]) for t in ("tcp1", "tcp4")}
for v in variants:
    m = {t: statistics.median(runs(v, t) or [0]) for t in ("tcp1", "tcp4")}
    ratio = " ".join(f"{m[t] / base[t]:.2f}x" if base[t] else "-" for t in ("tcp1", "tcp4"))
    print(f"{v:10}{m['tcp1']:8.3f}{m['tcp4']:8.3f}   "
          f"{' '.join(f'{x:.2f}' for x in runs(v, 'tcp1'))} | "
          f"{' '.join(f'{x:.2f}' for x in runs(v, 'tcp4'))}   vs {variants[0]}: {ratio}")
PY
