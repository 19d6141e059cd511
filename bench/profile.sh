#!/usr/bin/env bash
# Where the cycles go: two IPOP nodes in network namespaces, one iperf3 TCP stream from node 1 to
# node 2 through the overlay, and `perf record` (cpu-clock samples, whole machine) over the
# transfer. bench/profile_report.py sorts the samples into what the issue asks to compare: the
# AEAD work against everything else each process does (kernel TAP, UDP/IP, copies, io_uring, the
# dataplane's own code), and sets the crypto share against the limit bench_crypto measured.
#
# Usage (root): bench/profile.sh [--seconds S] [--freq HZ] [--build DIR] [--no-build]
#   [--keep FILE] (keep perf.data)
# Needs perf (Debian package linux-perf); not part of the test suite.
set -uo pipefail
SECS=10
FREQ=2000
BUILD_DIR=build
NO_BUILD=0
KEEP=
while (($#)); do
  case $1 in
    --seconds) SECS=$2; shift 2 ;;
    --freq) FREQ=$2; shift 2 ;;
    --build) BUILD_DIR=$2; shift 2 ;;
    --no-build) NO_BUILD=1; shift ;;
    --keep) KEEP=$2; shift 2 ;;
    *) sed -n '8,9p' "$0" | sed 's/^# //' >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.." || exit 1
for t in iperf3 perf; do
  command -v $t >/dev/null || { echo "$t missing (apt-get install iperf3 linux-perf)" >&2; exit 1; }
done
source bench/lib.sh
bench_two_hosts prof
for i in 1 2; do write_config "$i" 2 "[node]" "mtu = 1420" >/dev/null; done
start_node 1
start_node 2
for i in 1 2; do wait_for 30 "node $i peer ready" peers_ready "$i" 2; done
wait_for 10 "overlay ping" ping_ok 1 "$(vip_of 2)" 1

PORT=$((5201 + RANDOM % 500))
in_ns 2 iperf3 -s -1 -p "$PORT" >/dev/null 2>&1 &
PIDS+=($!)
wait_for 5 "iperf3 server" in_ns 2 bash -c "ss -ltn | grep -q ':$PORT '"
# The first second (slow start, GSO sizes settling) is not recorded.
in_ns 1 iperf3 -c "$(vip_of 2)" -p "$PORT" -t $((SECS + 2)) -J >"$WORK/iperf.json" 2>&1 &
CLIENT=$!
PIDS+=($CLIENT)
sleep 1
DATA=${KEEP:-$WORK/perf.data}
perf record -F "$FREQ" -a -g -o "$DATA" -- sleep "$SECS" 2>"$WORK/perf.log" >/dev/null ||
  fail "perf record: $(cat "$WORK/perf.log")"
wait "$CLIENT"
GBIT=$(python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
print("%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' "$WORK/iperf.json") ||
  fail "iperf3: $(cat "$WORK/iperf.json")"
log "iperf3 1 stream: $GBIT Gbit/s over $((SECS + 2)) s; perf recorded $SECS s of it at $FREQ Hz"
perf report -i "$DATA" --no-children --sort comm,dso,sym -g none --stdio 2>/dev/null |
  python3 bench/profile_report.py --gbit "$GBIT" --seconds "$SECS" --cpus "$(nproc)" \
    --mtu 1420
