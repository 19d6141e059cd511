#!/usr/bin/env bash
# IPOP demo: installs what it needs, builds, then runs a 4-node virtual network in network
# namespaces on this machine and tells what happens in plain words: nodes join an overlay through
# one bootstrap node, hosts get addresses by DHCP, resolve each other by name and move traffic. Needs root. Leaves nothing
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
  # No peer list and no address for the host: node 1 starts the overlay, the others join through
  # it; each host gets its address from its node by DHCP.
  {
    ((i == 1)) || echo "bootstrap = $(underlay_ip 1):5800"
    echo "[node]"
    echo "name = host$i"
    echo "vip = $(vip_of "$i")/24"
    echo "tap = ipop0"
    echo "listen = 0.0.0.0:5800"
    echo "mgmt-socket = $WORK/n$i.sock"
    echo "shm = /ipop-$(node_name "$i")"
    echo "assign-address = false"
    echo "[network]"
    echo "name = demo"
    echo "secret = $SECRET"
  } >"$WORK/n$i.conf"
  echo "   host $i: underlay address $(underlay_ip "$i")"
done

say "Starting one IPOP node per host (ipop-node = dataplane + control plane, supervised)"
for ((i = 1; i <= N; i++)); do start_node "$i"; done
joined() { ctl "$1" ring | grep -q '^joined yes' && ctl "$1" counters | grep -q 'names_published [1-9]'; }
ring_ok() { [[ $(ctl "$1" ring | grep -c '^successor ') -ge 2 ]]; }
for ((i = 1; i <= N; i++)); do wait_for 40 "node $i to join the overlay" joined "$i"; done
for ((i = 1; i <= N; i++)); do wait_for 40 "node $i to find its ring neighbours" ring_ok "$i"; done
echo "   every node joined the overlay through node 1 and registered its name in the DHT"
echo "   node 1's view of the ring (ipopctl ring):"
ctl 1 ring | sed 's/^/     /'

say "Each host asks its node for an address by DHCP (busybox udhcpc, unmodified)"
cat >"$WORK/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$subnet" dev "$interface"
    echo "$ip/$subnet, router $router, DNS server $dns, domain $domain" >"$LEASE_FILE"
    ;;
esac
exit 0
SCRIPT
chmod +x "$WORK/udhcpc.sh"
for ((i = 1; i <= N; i++)); do
  in_ns "$i" ip link set ipop0 up
  LEASE_FILE="$WORK/lease$i" in_ns "$i" busybox udhcpc -i ipop0 -n -q -t 5 -T 1 \
    -s "$WORK/udhcpc.sh" >/dev/null 2>&1 || fail "host $i got no DHCP lease"
  echo "   host $i: $(cat "$WORK/lease$i")"
done

say "Resolving names with dig against the node (C-names and names registered in the DHT)"
SERVICE=10.77.0.254
resolve() { # a SERVFAIL (the DHT still settling) is retried like a resolver would
  local try ip
  for try in 1 2 3 4; do
    ip=$(in_ns "$1" dig +short +time=5 +tries=2 @"$SERVICE" "$2" A)
    [[ -n $ip ]] && break
  done
  echo "$ip"
}
for ((j = 1; j <= N; j++)); do
  name="host$j.demo.ipop"
  ip=$(resolve 1 "$name")
  [[ $ip == "$(vip_of "$j")" ]] || fail "host 1 resolved $name to '$ip'"
  echo "   host 1: $name -> $ip"
done
echo "   host 1: C077000002.ipop -> $(resolve 1 C077000002.ipop)"

say "Pinging every pair by name through the overlay (the first packet finds the peer in the DHT)"
for ((i = 1; i <= N; i++)); do
  row="   from host$i:"
  for ((j = 1; j <= N; j++)); do
    ((i == j)) && continue
    ip=$(resolve "$i" "host$j.demo.ipop")
    in_ns "$i" ping -c 1 -w 6 "$ip" >/dev/null 2>&1  # first contact: lookup and handshake
    rtt=$(in_ns "$i" ping -c 3 -i 0.2 -W 2 "$ip" 2>/dev/null | awk -F/ '/^rtt/ {print $5}')
    [[ -n $rtt ]] || fail "ping from host $i to host$j ($ip) failed"
    row+="  host$j ${rtt} ms"
  done
  echo "$row"
done
echo "   node 1's routes (ipopctl routes):"
ctl 1 routes | sed 's/^/     /'

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
