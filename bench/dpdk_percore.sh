#!/usr/bin/env bash
# Per-core forwarding of the DPDK backend without the kernel, next to the raw intel-ipsec-mb seal
# rate on the same core in the same run. Each run measures, on the worker's CPU:
#   raw:    bench_crypto's BM_IpsecMbAeadSeal at 64 and 1400 B (AeadContext on ipsec-mb, the
#           call the seal stage makes, nothing else)
#   encap:  bench_dpdk_percore --dir encap (generator -> memif -> Worker<DpdkPorts>: classify,
#           lookup, seal, Ethernet/IPv4/UDP -> memif -> sink) at 64 and 1400 B inner IPv4 packets
#   decap:  the reverse (Ethernet/IPv4/UDP, parse, replay, open, source check, deliver)
#   fwd:    a bare rx -> tx loop on the same memif ports at 64 B (what the ports cost alone)
#   ring:   encap and decap at 64 B over net_ring ports (mbuf pointers change hands, no copies:
#           the pipeline's own cost, nearest to a NIC)
# and the machine's load average before it. Rates are per CPU second of the worker thread (the
# machine is shared: the thread's CPU time, not the wall clock, is the core it had), as Google
# Benchmark's items_per_second for the raw seal is. Runs are interleaved so noise hits all alike;
# the report gives medians, ratios and the issue's targets (docs/performance.md, "DPDK backend").
#
# Usage: bench/dpdk_percore.sh [--runs N] [--seconds S] [--gen-cpu C] [--worker-cpu C]
#   [--build DIR] [--no-build] [--huge] [--profile DIR] (perf record of the worker CPU, 64 B)
# Needs a build with DPDK (meson -Ddpdk=enabled or auto with libdpdk-dev) and intel-ipsec-mb.
set -uo pipefail
RUNS=5
SECS=3
GEN_CPU=0
WORKER_CPU=1
BUILD_DIR=build
NO_BUILD=0
HUGE=()
PROFILE=
while (($#)); do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --gen-cpu) GEN_CPU=$2; shift 2 ;;
    --worker-cpu) WORKER_CPU=$2; shift 2 ;;
    --build) BUILD_DIR=$2; shift 2 ;;
    --no-build) NO_BUILD=1; shift ;;
    --huge) HUGE=(--huge); shift ;;
    --profile) PROFILE=$2; shift 2 ;;
    *) sed -n '17,19p' "$0" | sed 's/^# //' >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.." || exit 1
if ((!NO_BUILD)); then
  [[ -f $BUILD_DIR/build.ninja ]] || meson setup "$BUILD_DIR" --buildtype=release >/dev/null ||
    exit 1
  ninja -C "$BUILD_DIR" bench/bench_dpdk_percore bench/bench_crypto >/dev/null || exit 1
fi
PERCORE=$BUILD_DIR/bench/bench_dpdk_percore
CRYPTO=$BUILD_DIR/bench/bench_crypto
[[ -x $PERCORE ]] || { echo "$PERCORE not built (no DPDK in this build?)" >&2; exit 1; }
WORK=$(mktemp -d /tmp/ipop-percore.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
RESULTS=$WORK/results.tsv
: >"$RESULTS"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; } # what size value

raw_seal() { # prints "SIZE MOPS" lines for 64 and 1400 B on the worker CPU
  taskset -c "$WORKER_CPU" "$CRYPTO" --benchmark_filter='BM_IpsecMbAeadSeal/bytes:(64|1400)$' \
    --benchmark_min_time=1 --benchmark_format=json 2>/dev/null |
    python3 -c 'import json, sys
for b in json.load(sys.stdin)["benchmarks"]:
    print(b["name"].rsplit(":", 1)[1], "%.3f" % (b["items_per_second"] / 1e6))'
}

percore() { # DIR SIZE [PORT]: prints the program's key=value line
  "$PERCORE" --dir "$1" --ip-len "$2" --port "${3:-memif}" --seconds "$SECS" --gen-cpu "$GEN_CPU" \
    --worker-cpu "$WORKER_CPU" "${HUGE[@]}" 2>>"$WORK/percore.err"
}

field() { grep -oP "(^| )$1=\K[^ ]+" <<<"$2"; }

echo "bench/dpdk_percore.sh: $RUNS runs of ${SECS}s, generator on CPU $GEN_CPU, worker on CPU" \
  "$WORKER_CPU, $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for ((r = 1; r <= RUNS; r++)); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  record load 0 "$load"
  line="run $r/$RUNS (load $load):"
  while read -r size mops; do
    record raw "$size" "$mops"
    line+=" raw$size=$mops"
  done < <(raw_seal)
  for what in "encap 64" "encap 1400" "decap 64" "decap 1400" "fwd 64" "encap 64 ring" \
    "decap 64 ring"; do
    set -- $what
    name=$1${3:+_$3}
    out=$(percore "$@") || { line+=" $name$2 FAILED"; continue; }
    record "$name" "$2" "$(field mpps_per_cpu "$out")"
    record "${name}_wall" "$2" "$(field mpps "$out")"
    record "${name}_cpu_share" "$2" "$(field worker_cpu_share "$out")"
    line+=" $name$2=$(field mpps_per_cpu "$out")"
  done
  echo "$line (Mpps per worker CPU second)"
done
[[ -s $WORK/percore.err ]] && grep -m3 '^worker 0' "$WORK/percore.err" | head -1

python3 - "$RESULTS" <<'EOF'
import statistics, sys
from collections import defaultdict
v = defaultdict(list)
for line in open(sys.argv[1]):
    what, size, value = line.split("\t")
    v[(what, int(size))].append(float(value))
med = lambda k: statistics.median(v[k]) if v.get(k) else float("nan")
print("\nmedians, per CPU second of the worker thread (inner IPv4 packet size; Gbit/s of inner")
print("packets; raw = ipsec-mb seal on the worker's CPU, same run)")
print("%-6s %-14s %-14s %-12s %-12s %s" % ("size", "encap Mpps", "decap Mpps", "raw Mops",
                                            "encap/raw", "decap/encap"))
for size in (64, 1400):
    e, d, raw = med(("encap", size)), med(("decap", size)), med(("raw", size))
    print("%-6d %5.3f (%5.2fG) %5.3f (%5.2fG) %-12.3f %-12s %s" % (
        size, e, e * size * 8 / 1e3, d, d * size * 8 / 1e3, raw,
        "%.0f%%" % (100 * e / raw), "%.0f%%" % (100 * d / e if e else 0)))
for dir in ("encap", "decap"):
    for size in (64, 1400):
        print("  %s %d B: %.3f Mpps on the wall clock, the worker thread had %.0f%% of its CPU" % (
            dir, size, med((dir + "_wall", size)), 100 * med((dir + "_cpu_share", size))))
f, er, dr = med(("fwd", 64)), med(("encap_ring", 64)), med(("decap_ring", 64))
print("bare memif rx->tx loop, 64 B: %.3f Mpps (%.0f ns per packet)" % (f, 1e3 / f))
print("over net_ring (no copies), 64 B: encap %.3f Mpps (%.0f ns), decap %.3f Mpps (%.0f ns)" % (
    er, 1e3 / er, dr, 1e3 / dr))
print("raw seal, 64 B: %.0f ns; encap over memif: %.0f ns per packet" % (
    1e3 / med(("raw", 64)), 1e3 / med(("encap", 64))))
loads = v[("load", 0)]
print("load average (1 min) before the runs: %s" % " ".join("%.2f" % x for x in loads))
e64, e1400, r1400 = med(("encap", 64)), med(("encap", 1400)), med(("raw", 1400))
d64, d1400 = med(("decap", 64)), med(("decap", 1400))
def target(name, ok, detail):
    print("target %-38s %s  (%s)" % (name, "met" if ok else "MISSED", detail))
target("encap+seal >= 5 Mpps at 64 B", e64 >= 5, "%.2f Mpps" % e64)
target("encap at 1400 B >= 40% of raw seal", e1400 >= 0.4 * r1400,
       "%.0f%%" % (100 * e1400 / r1400))
target("decap >= 80% of encap (64 B, 1400 B)", d64 >= 0.8 * e64 and d1400 >= 0.8 * e1400,
       "%.0f%%, %.0f%%" % (100 * d64 / e64, 100 * d1400 / e1400))
EOF

# Where the worker's cycles go: perf on the worker CPU during one longer run per direction.
if [[ -n $PROFILE ]]; then
  command -v perf >/dev/null || { echo "perf missing (apt-get install linux-perf)" >&2; exit 1; }
  mkdir -p "$PROFILE"
  for dir in encap decap; do
    "$PERCORE" --dir $dir --ip-len 64 --seconds 6 --gen-cpu "$GEN_CPU" \
      --worker-cpu "$WORKER_CPU" "${HUGE[@]}" >"$PROFILE/$dir.out" 2>&1 &
    pid=$!
    sleep 2
    perf record -C "$WORKER_CPU" -g -o "$PROFILE/$dir.perf.data" -- sleep 3 \
      >/dev/null 2>"$PROFILE/$dir.perf.log"
    wait $pid
    perf report -i "$PROFILE/$dir.perf.data" --no-children --comm rte-worker-1 --sort dso,sym \
      -g none --percentage relative --stdio \
      2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 >"$PROFILE/$dir.top.txt"
    echo
    echo "profile of the worker thread, $dir 64 B, CPU $WORKER_CPU (share of its samples;" \
      "$(grep -oP 'mpps_per_cpu=\S+' "$PROFILE/$dir.out")):"
    head -20 "$PROFILE/$dir.top.txt"
  done
fi
