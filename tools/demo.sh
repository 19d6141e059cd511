#!/usr/bin/env bash
# IPOP demo: installs what it needs, builds, then runs a 4-node virtual network in network
# namespaces on this machine and tells what happens in plain words. Needs root. Leaves nothing
# running: every namespace and process it started is removed at the end (also on Ctrl-C).
set -uo pipefail
cd "$(dirname "$0")/.."
echo "== Preparing: installing packages if missing and building (first run takes a few minutes)"
bash tools/install-deps.sh || exit 1
bash tools/build.sh build || exit 1
export IPOP_BUILD=$PWD/build
source tests/integration/lib.sh
net_require
N=${DEMO_NODES:-4}
net_init demo
say() { printf '\n== %s\n' "$*"; }

say "Creating $N hosts (network namespaces) on one underlay LAN 172.31.0.0/16"
for ((i = 1; i <= N; i++)); do
  net_add_host "$i"
  write_config "$i" "$N" >/dev/null
  echo "   host $i: underlay address $(underlay_ip "$i"), will be virtual address $(vip_of "$i")"
done

say "Starting one IPOP node per host (ipop-node = dataplane + control plane, supervised)"
for ((i = 1; i <= N; i++)); do start_node "$i"; done
for ((i = 1; i <= N; i++)); do
  wait_for 30 "node $i to see its peers" peers_ready "$i" "$N"
done
echo "   every node has an authenticated, encrypted session with every other node"
echo "   node 1's view (ipopctl peers):"
ctl 1 peers | sed 's/^/     /'

say "Pinging every pair of virtual addresses through the overlay"
for ((i = 1; i <= N; i++)); do
  row="   from $(vip_of "$i"):"
  for ((j = 1; j <= N; j++)); do
    ((i == j)) && continue
    rtt=$(in_ns "$i" ping -c 3 -i 0.2 -W 2 "$(vip_of "$j")" 2>/dev/null |
      awk -F/ '/^rtt/ {print $5}')
    [[ -n $rtt ]] || fail "ping from node $i to node $j failed"
    row+="  $(vip_of "$j") ${rtt} ms"
  done
  echo "$row"
done

say "Moving TCP traffic with iperf3 (5 s, node 1 -> node $N, through the encrypted overlay)"
gbps=$(iperf_tcp 1 "$N" 5) || fail "iperf3 failed: $gbps"
echo "   $gbps Gbit/s of TCP payload delivered"
native=$(iperf_tcp 1 "$N" 3 1 "$(underlay_ip "$N")") || fail "iperf3 on the underlay failed"
echo "   (the same hosts over the bare underlay veth, unencrypted: $native Gbit/s)"

say "What the dataplane of node 1 counted (ipopctl counters)"
ctl 1 counters | sed 's/^/   /' | head -n 30

say "Stopping the network"
for ((i = 1; i <= N; i++)); do stop_node "$i"; done
echo "   all nodes stopped, namespaces removed. Done."
