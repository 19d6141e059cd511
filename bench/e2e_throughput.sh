#!/usr/bin/env bash
# End-to-end throughput, measured side by side in one run between two network namespaces joined
# through one bridge: the bare veth path, kernel VXLAN (no crypto), wireguard-go (Debian package)
# and IPOP. Each path: iperf3 TCP single stream, ROUNDS rounds interleaved across paths (so
# machine noise hits all alike), median reported; ping RTT median over 40 echoes.
# Usage (root): bench/e2e_throughput.sh [--seconds S] [--rounds R]
set -uo pipefail
SECS=10
ROUNDS=3
while (($#)); do
  case $1 in
    --seconds) SECS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    *) echo "usage: $0 [--seconds S] [--rounds R]" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
bash tools/install-deps.sh || exit 1
bash tools/build.sh build || exit 1
export IPOP_BUILD=$PWD/build
source tests/integration/lib.sh
net_require
net_init bench
net_add_host 1
net_add_host 2
A=$(underlay_ip 1)
B=$(underlay_ip 2)

# Kernel VXLAN
for i in 1 2; do
  local_ip=$(underlay_ip $i); remote_ip=$(underlay_ip $((3 - i)))
  in_ns $i ip link add vx0 type vxlan id 42 local "$local_ip" remote "$remote_ip" dstport 4789 dev u0
  in_ns $i ip addr add "10.78.0.$i/24" dev vx0
  in_ns $i ip link set vx0 mtu 1450 up
done

# wireguard-go (userspace WireGuard; Debian's wireguard-go + wg from wireguard-tools). Its UAPI
# socket /var/run/wireguard/<ifname>.sock is global, not per namespace: names must differ.
have_wg=0
if command -v wireguard-go >/dev/null && command -v wg >/dev/null; then
  have_wg=1
  for i in 1 2; do
    wg genkey >"$WORK/wg$i.key"
    wg pubkey <"$WORK/wg$i.key" >"$WORK/wg$i.pub"
  done
  for i in 1 2; do
    WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD=1 in_ns $i wireguard-go -f "${RUN}w$i" \
      >"$WORK/wg$i.log" 2>&1 &
    PIDS+=($!)
  done
  for i in 1 2; do
    wait_for 10 "wireguard-go in host $i" in_ns $i ip link show "${RUN}w$i"
    j=$((3 - i))
    in_ns $i wg set "${RUN}w$i" private-key "$WORK/wg$i.key" listen-port 51820 \
      peer "$(cat "$WORK/wg$j.pub")" allowed-ips "10.79.0.$j/32" endpoint "$(underlay_ip $j):51820"
    in_ns $i ip addr add "10.79.0.$i/24" dev "${RUN}w$i"
    in_ns $i ip link set "${RUN}w$i" mtu 1420 up
  done
fi

# IPOP (same inner MTU as wireguard-go)
# (a second [node] section in the file is fine: Boost.Program_options just prefixes the keys)
for i in 1 2; do write_config $i 2 "[node]" "mtu = 1420" >/dev/null; done
start_node 1
start_node 2
wait_for 30 "IPOP sessions" peers_ready 1 2
wait_for 30 "IPOP sessions" peers_ready 2 2

declare -A DST=([native]=$B [vxlan]=10.78.0.2 [ipop]=$(vip_of 2))
PATHS=(native vxlan)
((have_wg)) && PATHS+=(wireguard-go) && DST[wireguard-go]=10.79.0.2
PATHS+=(ipop)
declare -A RESULTS=() RTT=()
for p in "${PATHS[@]}"; do
  in_ns 1 ping -c 3 -W 2 "${DST[$p]}" >/dev/null || fail "path $p does not answer ping"
done
for ((r = 1; r <= ROUNDS; r++)); do
  for p in "${PATHS[@]}"; do
    g=$(iperf_tcp 1 2 "$SECS" 1 "${DST[$p]}") || fail "iperf3 over $p failed: $g"
    RESULTS[$p]+="$g "
    log "round $r $p: $g Gbit/s"
  done
done
for p in "${PATHS[@]}"; do
  RTT[$p]=$(in_ns 1 ping -c 40 -i 0.05 "${DST[$p]}" | grep -oP 'time=\K[0-9.]+' |
    sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}')
done
echo
echo "IPOP end-to-end comparison: iperf3 TCP 1 stream, ${SECS}s x ${ROUNDS} rounds (median), $(nproc) cores"
python3 - "$SECS" "$ROUNDS" <<PY
import statistics
paths = "${PATHS[*]}".split()
res = {$(for p in "${PATHS[@]}"; do printf '"%s": [%s], ' "$p" "$(echo ${RESULTS[$p]} | tr ' ' ',')"; done)}
rtt = {$(for p in "${PATHS[@]}"; do printf '"%s": %s, ' "$p" "${RTT[$p]:-0}"; done)}
med = {p: statistics.median(v) for p, v in res.items()}
print(f"{'path':<14}{'Gbit/s':>9}{'vs native':>11}{'vs wg-go':>10}{'RTT ms':>9}   runs")
for p in paths:
    vs_wg = f"{med[p]/med['wireguard-go']:.2f}x" if 'wireguard-go' in med and med['wireguard-go'] > 0 else "-"
    print(f"{p:<14}{med[p]:>9.3f}{med[p]/med['native']:>10.1%} {vs_wg:>10}{rtt[p]:>9.3f}   {' '.join(f'{x:.2f}' for x in res[p])}")
PY
