#!/usr/bin/env bash
# Side-by-side comparison, in one run between two network namespaces joined through one bridge, of
# the bare veth path, kernel VXLAN (no crypto), wireguard-go, Nebula, IPOP, IPOP on its DPDK backend
# (ipop-dpdk: two more hosts whose veths belong to net_af_xdp in copy mode, or net_af_packet; see
# docs/performance.md, "DPDK backend") and tapfwd (the least a TUN+UDP userspace overlay can do:
# bench/tapfwd.cc, no crypto). Per path and round:
# iperf3 TCP 1 stream and 4 streams, UDP at maximum rate (-b 0) with loss, ping RTT, and CPU time
# per Gbit moved. Rounds are interleaved across paths so machine noise hits all alike; medians are
# reported by bench/compare_report.py, which also draws the chart.
#
# A path whose set-up fails is reported and skipped; the others still run. Everything this run
# creates is removed on exit (lib.sh's net_cleanup trap).
#
# Usage (root): bench/compare.sh [--seconds S] [--rounds R] [--quick] [--chart FILE|none]
#   [--json FILE] [--idle S] [--udp-len BYTES] [--ping-interval SEC (default 0.05)]
#   [--paths a,b,..] [--build DIR] [--no-build] [--dpdk-pmd af_xdp|af_packet]
#   [--ipop 'key = value']...  (extra lines appended to every IPOP node config, DPDK ones too)
#   [--tapfwd-arg ARG]...  (extra arguments for both floor-tapfwd processes, e.g. --busy-poll)
set -uo pipefail
SECS=8
ROUNDS=3
IDLE_SECS=30
PING_COUNT=40
PING_INTERVAL=0.05
UDP_LEN=1400
CHART=docs/performance.png
JSON=
BUILD_DIR=build
PATHS_WANTED=native,vxlan,wireguard-go,nebula,ipop,ipop-dpdk,tapfwd
DPDK_PMD=
IPOP_EXTRA=()
TAPFWD_ARGS=()
NO_BUILD=0
usage() {
  sed -n '14,18p' "$0" | sed 's/^# //' >&2
  exit 2
}
while (($#)); do
  case $1 in
    --seconds) SECS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --quick) SECS=2; ROUNDS=1; IDLE_SECS=3; PING_COUNT=10; shift ;;
    --chart) CHART=$2; shift 2 ;;
    --json) JSON=$2; shift 2 ;;
    --idle) IDLE_SECS=$2; shift 2 ;;
    --udp-len) UDP_LEN=$2; shift 2 ;;
    --ping-interval) PING_INTERVAL=$2; shift 2 ;;
    --paths) PATHS_WANTED=$2; shift 2 ;;
    --build) BUILD_DIR=$2; shift 2 ;;
    --ipop) IPOP_EXTRA+=("$2"); shift 2 ;;
    --tapfwd-arg) TAPFWD_ARGS+=("$2"); shift 2 ;;
    --no-build) NO_BUILD=1; shift ;;
    --dpdk-pmd) DPDK_PMD=$2; shift 2 ;;
    *) usage ;;
  esac
done
cd "$(dirname "$0")/.." || exit 1
[[ $CHART = /* || $CHART = none ]] || CHART=$PWD/$CHART
[[ -z $JSON || $JSON = /* ]] || JSON=$PWD/$JSON
bash tools/install-deps.sh || exit 1
source bench/lib.sh
bench_two_hosts cmp
CLK_TCK=$(getconf CLK_TCK)
RESULTS=$WORK/results.tsv
: >"$RESULTS"
declare -A DST=()
# The hosts a path's traffic goes between (ipop-dpdk has hosts of its own: 3 and 4).
declare -A SRC_HOST=() DST_HOST=()
src_host() { echo "${SRC_HOST[$1]:-1}"; }
dst_host() { echo "${DST_HOST[$1]:-2}"; }
PATHS=()
SKIPPED=()
OVERLAY_MTU=1420 # all encrypted overlays alike (wg-quick's default); VXLAN keeps 1450

# wireguard-go's UAPI sockets are global: stop it by TERM before the namespaces go, so it removes
# them, then run lib.sh's cleanup with the original exit status.
compare_cleanup() {
  local rc=$? pid
  for pid in $(tunnel_pids wireguard-go); do kill -TERM "$pid" 2>/dev/null; done
  sleep 0.3
  # The DPDK nodes' EAL runtime directories (their XDP programs go with their veths).
  [[ -n ${SRC_HOST[ipop-dpdk]:-} ]] && rm -rf "/var/run/dpdk/ipop-$(node_name 3)" \
    "/var/run/dpdk/ipop-$(node_name 4)"
  rm -f "/var/run/wireguard/${RUN}w1.sock" "/var/run/wireguard/${RUN}w2.sock"
  (exit "$rc")
  net_cleanup
}
trap compare_cleanup EXIT

# poll SECONDS CMD...: like lib.sh's wait_for, but returns 1 instead of failing the whole run.
poll() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# PIDs of a path's tunnel processes in both namespaces (matched by command name).
tunnel_pids() {
  local pattern pid hosts="1 2"
  case $1 in
    wireguard-go) pattern='^wireguard-go$' ;;
    nebula) pattern='^nebula$' ;;
    tapfwd) pattern='^floor-tapfwd$' ;;
    ipop) pattern='^ipop-' ;;
    ipop-dpdk) pattern='^ipop-' hosts="3 4" ;;
    *) return 0 ;;
  esac
  for i in $hosts; do
    for pid in $(ip netns pids "$(ns_of "$i")" 2>/dev/null); do
      grep -qE "$pattern" "/proc/$pid/comm" 2>/dev/null && echo "$pid"
    done
  done
}

# cpu_ticks PID...: summed utime+stime (clock ticks) of the processes, all their threads included.
cpu_ticks() {
  local pid sum=0 stat
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    stat=${stat##*) } # the command name may contain spaces; fields restart after ") "
    read -r -a f <<<"$stat"
    sum=$((sum + f[11] + f[12])) # fields 14 and 15 of the full line
  done
  echo "$sum"
}

# Busy (non-idle, non-iowait) ticks of the whole machine from /proc/stat.
system_busy_ticks() {
  awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat
}

seconds_per_gbit() { # TICKS GBIT
  awk -v d="$1" -v h="$CLK_TCK" -v g="$2" 'BEGIN { printf("%.4f", (g > 0) ? d / h / g : 0) }'
}

idle_pct() { # TICKS: share of one core over the idle window, in %
  awk -v d="$1" -v h="$CLK_TCK" -v s="$IDLE_SECS" 'BEGIN { printf("%.3f", 100 * d / h / s) }'
}

record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$RESULTS"; } # path metric value

setup_native() { DST[native]=$(underlay_ip 2); }

setup_vxlan() {
  local i
  for i in 1 2; do
    in_ns $i ip link add vx0 type vxlan id 42 local "$(underlay_ip $i)" \
      remote "$(underlay_ip $((3 - i)))" dstport 4789 dev u0 || return 1
    in_ns $i ip addr add "10.78.0.$i/24" dev vx0 || return 1
    in_ns $i ip link set vx0 mtu 1450 up || return 1
  done
  DST[vxlan]=10.78.0.2
}

setup_wireguard_go() {
  local i j
  command -v wireguard-go >/dev/null && command -v wg >/dev/null || {
    echo "wireguard-go or wg not installed"
    return 1
  }
  for i in 1 2; do
    wg genkey >"$WORK/wg$i.key" && wg pubkey <"$WORK/wg$i.key" >"$WORK/wg$i.pub" || return 1
  done
  for i in 1 2; do
    WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 in_ns $i wireguard-go -f "${RUN}w$i" \
      >"$WORK/wg$i.log" 2>&1 &
    PIDS+=($!)
  done
  for i in 1 2; do
    j=$((3 - i))
    poll 10 in_ns $i ip link show "${RUN}w$i" || { cat "$WORK/wg$i.log"; return 1; }
    in_ns $i wg set "${RUN}w$i" private-key "$WORK/wg$i.key" listen-port 51820 \
      peer "$(cat "$WORK/wg$j.pub")" allowed-ips "10.79.0.$j/32" \
      endpoint "$(underlay_ip $j):51820" || return 1
    in_ns $i ip addr add "10.79.0.$i/24" dev "${RUN}w$i" || return 1
    in_ns $i ip link set "${RUN}w$i" mtu $OVERLAY_MTU up || return 1
  done
  DST[wireguard-go]=10.79.0.2
}

# Nebula: own CA, one certificate per host, static_host_map instead of a lighthouse, firewall
# allowing everything.
setup_nebula() {
  local i j d=$WORK/nebula
  command -v nebula >/dev/null && command -v nebula-cert >/dev/null || {
    echo "nebula or nebula-cert not installed"
    return 1
  }
  mkdir -p "$d"
  nebula-cert ca -name "ipop-compare" -out-crt "$d/ca.crt" -out-key "$d/ca.key" || return 1
  for i in 1 2; do
    nebula-cert sign -ca-crt "$d/ca.crt" -ca-key "$d/ca.key" -name "host$i" -ip "10.80.0.$i/24" \
      -out-crt "$d/host$i.crt" -out-key "$d/host$i.key" || return 1
  done
  for i in 1 2; do
    j=$((3 - i))
    cat >"$d/host$i.yml" <<EOF
pki:
  ca: $d/ca.crt
  cert: $d/host$i.crt
  key: $d/host$i.key
static_host_map:
  "10.80.0.$j": ["$(underlay_ip $j):4242"]
lighthouse:
  am_lighthouse: false
  hosts: []
listen:
  host: 0.0.0.0
  port: 4242
punchy:
  punch: false
tun:
  disabled: false
  dev: ${RUN}b$i
  mtu: $OVERLAY_MTU
logging:
  level: warning
firewall:
  outbound:
    - port: any
      proto: any
      host: any
  inbound:
    - port: any
      proto: any
      host: any
EOF
    in_ns $i nebula -config "$d/host$i.yml" >"$WORK/nebula$i.log" 2>&1 &
    PIDS+=($!)
  done
  for i in 1 2; do
    poll 10 in_ns $i ip link show "${RUN}b$i" || { cat "$WORK/nebula$i.log"; return 1; }
  done
  DST[nebula]=10.80.0.2
}

# tapfwd: bench/tapfwd.cc, TUN <-> UDP with one syscall per packet and nothing else; the floor
# under any overlay built on TUN/TAP and UDP sockets (its RTT above all).
setup_tapfwd() {
  local i j
  if ((!NO_BUILD)); then ninja -C "$BUILD_DIR" bench/floor-tapfwd >/dev/null || return 1; fi
  [[ -x $BUILD_DIR/bench/floor-tapfwd ]] || {
    echo "$BUILD_DIR/bench/floor-tapfwd not built"
    return 1
  }
  for i in 1 2; do
    j=$((3 - i))
    in_ns $i "$BUILD_DIR/bench/floor-tapfwd" --dev "${RUN}f$i" --listen 4790 \
      --peer "$(underlay_ip $j):4790" "${TAPFWD_ARGS[@]}" >"$WORK/tapfwd$i.log" 2>&1 &
    PIDS+=($!)
  done
  for i in 1 2; do
    poll 10 in_ns $i ip link show "${RUN}f$i" || { cat "$WORK/tapfwd$i.log"; return 1; }
    in_ns $i ip addr add "10.81.0.$i/24" dev "${RUN}f$i" || return 1
    in_ns $i ip link set "${RUN}f$i" mtu $OVERLAY_MTU up || return 1
  done
  DST[tapfwd]=10.81.0.2
}

setup_ipop() {
  local i
  for i in 1 2; do
    write_config $i 2 "[node]" "mtu = $OVERLAY_MTU" "${IPOP_EXTRA[@]}" >/dev/null || return 1
  done
  start_node 1
  start_node 2
  poll 30 peers_ready 1 2 && poll 30 peers_ready 2 2 || {
    net_dump_diagnostics
    return 1
  }
  DST[ipop]=$(vip_of 2)
}

# IPOP on the DPDK backend: hosts 3 and 4, a network of their own, each node's dataplane owning its
# veth through net_af_xdp (copy mode: a veth has no zero-copy) or net_af_packet, the kernel
# holding no address there; the hub side segments and checksums what it sends (no GSO batches or
# partial checksums reach the PMD, as from a real NIC). Each node gets its EAL --file-prefix from
# its name and a bpffs in its own mount namespace (AF_XDP's loader pins there).
setup_ipop_dpdk() {
  local i j eal pmd=$DPDK_PMD
  eal=$(ldd "$BUILD_DIR/dataplane/ipop-dataplane" | awk '/librte_eal/ {print $3}')
  [[ -n $eal ]] || { echo "ipop-dataplane built without DPDK"; return 1; }
  command -v ethtool >/dev/null || { echo "ethtool missing"; return 1; }
  if [[ -z $pmd ]]; then
    pmd=af_xdp
    python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW).close()' 2>/dev/null &&
      unshare -m sh -c 'mount -t bpf bpf /sys/fs/bpf' 2>/dev/null || pmd=af_packet
  fi
  echo "DPDK underlay PMD: net_$pmd"
  SRC_HOST[ipop-dpdk]=3 DST_HOST[ipop-dpdk]=4
  for i in 3 4; do
    net_add_host $i
    ip -n "$(ns_of $i)" addr flush dev u0
    in_ns $i sysctl -qw net.ipv6.conf.u0.disable_ipv6=1
    ip netns exec "$HUB" ethtool -K "${RUN}h$i" tx off tso off gso off >/dev/null || return 1
  done
  for i in 3 4; do
    j=$((7 - i))
    {
      echo "peer = $(vip_of $j) $(underlay_ip $j):5800"
      node_sections $i dpdkbench
      echo "[node]"
      echo "mtu = $OVERLAY_MTU"
      echo "[dataplane]"
      echo "backend = dpdk"
      echo "underlay-port = net_${pmd}0,iface=u0"
      echo "underlay-prefix = 16"
      for line in "${IPOP_EXTRA[@]}"; do echo "$line"; done
    } >"$WORK/n$i.conf"
    sed -i "s/^listen = 0.0.0.0:5800/listen = $(underlay_ip $i):5800/" "$WORK/n$i.conf"
    ip netns exec "$(ns_of $i)" bash -c '
      if [[ $1 == af_xdp ]] && ! mountpoint -q /sys/fs/bpf; then
        mount -t bpf bpf /sys/fs/bpf || exit 1
      fi
      shift
      exec "$@"' _ "$pmd" "$IPOP_BUILD/tools/ipop-node" --config "$WORK/n$i.conf" \
      --pidfile "$WORK/n$i.pid" >>"$WORK/n$i.log" 2>&1 &
    PIDS+=($!)
    NODE_PID[$i]=$!
    NODES+=("$i")
  done
  poll 40 peers_ready 3 2 && poll 30 peers_ready 4 2 || {
    tail -n 20 "$WORK/n3.log" "$WORK/n4.log"
    return 1
  }
  grep -h 'dpdk: underlay port' "$WORK/n3.log" | head -n 1
  DST[ipop-dpdk]=$(vip_of 4)
}

# run_iperf PATH ARGS...: one iperf3 test from the path's first host to its destination in the
# second; prints its JSON.
run_iperf() {
  local ip=${DST[$1]} src dst port=$((5201 + RANDOM % 500)) spid rc
  src=$(src_host "$1") dst=$(dst_host "$1")
  shift
  in_ns "$dst" iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
  spid=$!
  PIDS+=("$spid")
  poll 5 in_ns "$dst" bash -c "ss -ltn | grep -q ':$port '" || return 1
  # stderr (e.g. iperf3's "UDP block size exceeds TCP MSS" note) goes to a log, not the table.
  in_ns "$src" timeout $((SECS + 30)) iperf3 -c "$ip" -p "$port" -t "$SECS" -J "$@" 2>>"$WORK/iperf.err"
  rc=$?
  kill "$spid" 2>/dev/null
  wait "$spid" 2>/dev/null
  return $rc
}

# iperf_field JSON EXPR: a Python expression evaluated over the parsed iperf3 result d.
iperf_field() {
  python3 -c 'import json, sys
d = json.loads(sys.stdin.read())
if "error" in d: sys.exit("iperf3: " + d["error"])
print(eval(sys.argv[1]))' "$2" <<<"$1"
}

# TCP test with CPU accounting: records Gbit/s, tunnel-process CPU s/Gbit and system CPU s/Gbit.
measure_tcp() {
  local p=$1 streams=$2 pids t0 t1 s0 s1 w0 w1 json gbit gbits
  pids=$(tunnel_pids "$p")
  t0=$(cpu_ticks $pids)
  s0=$(system_busy_ticks)
  w0=$(date +%s%N)
  json=$(run_iperf "$p" -P "$streams") || { log "  $p tcp$streams: iperf3 failed"; return; }
  w1=$(date +%s%N)
  s1=$(system_busy_ticks)
  t1=$(cpu_ticks $pids)
  gbits=$(iperf_field "$json" '"%.4f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9)') ||
    return
  gbit=$(iperf_field "$json" 'd["end"]["sum_received"]["bytes"] * 8 / 1e9') || return
  record "$p" "tcp$streams" "$gbits"
  record "$p" "tcp${streams}_sys_cpu_per_gbit" "$(seconds_per_gbit $((s1 - s0)) "$gbit")"
  # How busy the whole machine was: near 100 % means the test was CPU-bound (or shared the CPU).
  record "$p" "tcp${streams}_machine_busy_pct" "$(awk -v d=$((s1 - s0)) -v h="$CLK_TCK" \
    -v n="$(nproc)" -v ns=$((w1 - w0)) 'BEGIN { printf("%.1f", 100 * d / h / n / (ns / 1e9)) }')"
  [[ -n $pids ]] && record "$p" "tcp${streams}_proc_cpu_per_gbit" \
    "$(seconds_per_gbit $((t1 - t0)) "$gbit")"
  log "  $p tcp$streams: $gbits Gbit/s, tunnel CPU $((t1 - t0)) ticks, machine $((s1 - s0)) ticks"
}

# UDP at maximum rate: records received Gbit/s and loss %.
measure_udp() {
  local p=$1 json gbits loss
  json=$(run_iperf "$p" -u -b 0 -l "$UDP_LEN") || { log "  $p udp: iperf3 failed"; return; }
  # iperf 3.12 reports the receiver's loss in end.sum; the received rate follows from it.
  loss=$(iperf_field "$json" '"%.2f" % d["end"]["sum"]["lost_percent"]') || return
  gbits=$(iperf_field "$json" '"%.4f" % (d["end"]["sum"]["bits_per_second"]
    * (1 - d["end"]["sum"]["lost_percent"] / 100) / 1e9)') || return
  record "$p" udp "$gbits"
  record "$p" udp_loss "$loss"
  log "  $p udp: $gbits Gbit/s received, $loss % lost"
}

measure_rtt() {
  local p=$1 t
  for t in $(in_ns "$(src_host "$p")" ping -c "$PING_COUNT" -i "$PING_INTERVAL" "${DST[$p]}" | grep -oP 'time=\K[0-9.]+'); do
    record "$p" rtt_ms "$t"
  done
}

for p in ${PATHS_WANTED//,/ }; do
  if ! declare -F "setup_${p//-/_}" >/dev/null; then
    log "unknown path $p: skipped"
    SKIPPED+=("$p")
    continue
  fi
  log "setting up $p"
  # Set-up runs in this shell (it fills DST and PIDS); its output goes to a log shown on failure.
  if "setup_${p//-/_}" >"$WORK/setup-$p.log" 2>&1 &&
    poll 10 in_ns "$(src_host "$p")" ping -c 1 -W 1 "${DST[$p]}"; then
    PATHS+=("$p")
    [[ $p == ipop-dpdk ]] && sed 's/^/    /' "$WORK/setup-$p.log" # which PMD, which port
  else
    log "SKIPPED $p: set-up failed or its peer does not answer ping; set-up output:"
    sed 's/^/    /' "$WORK/setup-$p.log" | tail -n 30
    SKIPPED+=("$p")
  fi
done
((${#PATHS[@]})) || fail "no path could be set up"

for ((r = 1; r <= ROUNDS; r++)); do
  log "round $r of $ROUNDS"
  for p in "${PATHS[@]}"; do
    measure_tcp "$p" 1
    measure_tcp "$p" 4
    measure_udp "$p"
    measure_rtt "$p"
  done
done

# Idle cost of one IPOP node (supervisor, control plane, dataplane) with sessions up, no traffic.
if [[ " ${PATHS[*]} " == *" ipop "* ]]; then
  log "measuring idle CPU of IPOP node 1 over ${IDLE_SECS}s"
  idle_pids=$(for pid in $(ip netns pids "$(ns_of 1)"); do
    grep -q '^ipop-' "/proc/$pid/comm" 2>/dev/null && echo "$pid"
  done)
  declare -A idle_t0=()
  for pid in $idle_pids; do idle_t0[$pid]=$(cpu_ticks "$pid"); done
  sleep "$IDLE_SECS"
  idle_total=0
  for pid in $idle_pids; do
    d=$(($(cpu_ticks "$pid") - ${idle_t0[$pid]}))
    idle_total=$((idle_total + d))
    record ipop "idle_pct_$(cat "/proc/$pid/comm" 2>/dev/null || echo gone)" "$(idle_pct "$d")"
  done
  record ipop idle_core_pct "$(idle_pct "$idle_total")"
fi

# Prefer a Python that has matplotlib (Debian's python3-matplotlib lives in /usr/bin/python3).
PY=python3
python3 -c 'import matplotlib' 2>/dev/null || { [[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3; }
echo
"$PY" bench/compare_report.py --results "$RESULTS" --chart "$CHART" ${JSON:+--json "$JSON"} \
  --seconds "$SECS" --rounds "$ROUNDS" --udp-len "$UDP_LEN" --idle-seconds "$IDLE_SECS" \
  --cores "$(nproc)" --clk-tck "$CLK_TCK" --skipped "${SKIPPED[*]}" \
  --note "Inner MTU: $OVERLAY_MTU on wireguard-go, nebula and ipop, 1450 on vxlan, 1500 native; a UDP" \
  --note "  payload of $UDP_LEN B makes $((UDP_LEN + 28))-B IP packets, which the sender's kernel" \
  --note "  fragments where that exceeds the MTU." \
  --note "RTT: ping -i $PING_INTERVAL, $PING_COUNT echoes per path and round; median of all." \
  --note "tapfwd: TUN <-> UDP, one syscall per packet, no crypto (bench/tapfwd.cc): the floor" \
  --note "  of a userspace overlay on TUN/TAP and UDP sockets, not a product."
