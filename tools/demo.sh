#!/usr/bin/env bash
# IPOP demo: installs what it needs, builds, then runs a 4-node virtual network in network
# namespaces on this machine and tells what happens in plain words: nodes join an overlay through
# one bootstrap node and claim addresses in the DHT; hosts get them by DHCP, resolve each other by
# name and move traffic; a gateway in router mode makes a cluster LAN reachable; a node of a
# second network on the same overlay stays isolated. No address or peer list is typed for any
# node. Needs root. Leaves nothing running: every namespace and process it started is removed at
# the end (also on Ctrl-C).
set -uo pipefail
cd "$(dirname "$0")/.."
echo "== Preparing: installing packages if missing and building (first run takes a few minutes)"
bash tools/install-deps.sh || exit 1
bash tools/build.sh build || exit 1
export IPOP_BUILD=$PWD/build
source tools/netns/lib.sh
net_require
N=${DEMO_NODES:-4}
GW=$((N + 1))    # router-mode gateway of a cluster LAN
LAB=$((N + 2))   # a node of a second network on the same overlay
net_init demo
say() { printf '\n== %s\n' "$*"; }
OVERLAY_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
LAB_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
CLUSTER_NET=192.168.77.0/24

# node_config i NETWORK SECRET [extra lines]: no peer list and no address. Node 1 starts the
# overlay, the others join through it; each claims an address of its network through the DHT.
node_config() {
  local i=$1 network=$2 secret=$3
  shift 3
  {
    ((i == 1)) || echo "bootstrap = $(underlay_ip 1):5800"
    for line in "$@"; do [[ $line == announce* ]] && echo "$line"; done
    echo "[node]"
    echo "name = host$i"
    echo "tap = ipop0"
    echo "listen = 0.0.0.0:5800"
    echo "mgmt-socket = $WORK/n$i.sock"
    echo "shm = /ipop-$(node_name "$i")"
    for line in "$@"; do [[ $line == announce* ]] || echo "$line"; done
    echo "[network]"
    echo "name = $network"
    echo "secret = $secret"
    echo "subnet = 10.250.0.0/16"
    echo "[overlay]"
    echo "secret = $OVERLAY_SECRET"
  } >"$WORK/n$i.conf"
}

say "Creating $((N + 2)) hosts (network namespaces) on one underlay LAN 172.31.0.0/16"
for ((i = 1; i <= LAB; i++)); do
  net_add_host "$i"
  if ((i == GW)); then
    node_config "$i" demo "$SECRET" "announce = $CLUSTER_NET"
    echo "   host $i: underlay $(underlay_ip "$i"), network demo, gateway of cluster LAN $CLUSTER_NET"
  elif ((i == LAB)); then
    node_config "$i" lab "$LAB_SECRET" "assign-address = false"
    echo "   host $i: underlay $(underlay_ip "$i"), network lab (same overlay, same range, isolated)"
  else
    node_config "$i" demo "$SECRET" "assign-address = false"
    echo "   host $i: underlay $(underlay_ip "$i"), network demo"
  fi
done
# The cluster behind the gateway: two machines that run no IPOP software, only a default route.
CNS=()
ip -n "$(ns_of "$GW")" link add cl0 type bridge
ip -n "$(ns_of "$GW")" addr add 192.168.77.1/24 dev cl0
ip -n "$(ns_of "$GW")" link set cl0 up
in_ns "$GW" sysctl -qw net.ipv4.ip_forward=1
for c in 1 2; do
  ns="${RUN}c$c"
  ip netns add "$ns"
  NAMESPACES+=("$ns")
  CNS+=("$ns")
  ip link add "${RUN}cv$c" type veth peer name "${RUN}cp$c"
  ip link set "${RUN}cv$c" netns "$ns"
  ip link set "${RUN}cp$c" netns "$(ns_of "$GW")"
  ip -n "$(ns_of "$GW")" link set "${RUN}cp$c" master cl0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "192.168.77.$((c + 1))/24" dev "${RUN}cv$c"
  ip -n "$ns" link set "${RUN}cv$c" up
  ip -n "$ns" route add default via 192.168.77.1
  echo "   cluster machine c$c: 192.168.77.$((c + 1)), default route via the gateway, no IPOP"
done

say "Starting one IPOP node per host (ipop-node = dataplane + control plane, supervised)"
for ((i = 1; i <= LAB; i++)); do start_node "$i"; done
node_vip() { ctl "$1" status | awk '$1 == "address" { print $2 }'; }
allocated() { ctl "$1" status | grep -q '^address .*(allocated)' && ctl "$1" counters | grep -Eq '^overlay_host +names_published +[1-9]'; }
for ((i = 1; i <= LAB; i++)); do wait_for 60 "node $i to join and get an address" allocated "$i"; done
echo "   every node joined the overlay through node 1, claimed an address in the DHT and"
echo "   registered its name:"
for ((i = 1; i <= LAB; i++)); do
  net=$(ctl "$i" status | awk '$1 == "network" { print $2 }')
  echo "     host$i: $(node_vip "$i") in network $net"
done
echo "   node 1's view of the ring (ipopctl ring):"
ctl 1 ring | sed 's/^/     /'

say "Each host asks its node for an address by DHCP (busybox udhcpc, unmodified)"
cat >"$WORK/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$subnet" dev "$interface"
    set -- $staticroutes
    routes=""
    while [ $# -ge 2 ]; do
      [ "$1" != "0.0.0.0/0" ] && ip route replace "$1" via "$2" dev "$interface" && routes="$routes $1 via $2"
      shift 2
    done
    echo "$ip/$subnet, router $router, DNS server $dns, domain $domain${routes:+, routes$routes}" >"$LEASE_FILE"
    ;;
esac
exit 0
SCRIPT
chmod +x "$WORK/udhcpc.sh"
routes_learned() { ctl "$1" routes | grep -q "^route $CLUSTER_NET"; }
for ((i = 1; i <= N; i++)); do wait_for 30 "node $i to learn the cluster route" routes_learned "$i"; done
for ((i = 1; i <= LAB; i++)); do
  ((i == GW)) && continue
  in_ns "$i" ip link set ipop0 up
  LEASE_FILE="$WORK/lease$i" in_ns "$i" busybox udhcpc -i ipop0 -n -q -t 8 -T 1 \
    -s "$WORK/udhcpc.sh" >/dev/null 2>&1 || fail "host $i got no DHCP lease"
  echo "   host $i: $(cat "$WORK/lease$i")"
done
echo "   (the gateway, host $GW, puts its address on its TAP itself: $(node_vip "$GW"))"

say "Resolving names with dig against the node (names registered in the DHT, and C-names)"
SERVICE=10.250.255.254
resolve() { # a SERVFAIL (the DHT still settling) is retried like a resolver would
  local try ip
  for try in 1 2 3 4; do
    ip=$(in_ns "$1" dig +short +time=5 +tries=2 @"$SERVICE" "$2" A)
    [[ -n $ip ]] && break
  done
  echo "$ip"
}
for ((j = 1; j <= GW; j++)); do
  name="host$j.demo.ipop"
  ip=$(resolve 1 "$name")
  [[ $ip == "$(node_vip "$j")" ]] || fail "host 1 resolved $name to '$ip'"
  echo "   host 1: $name -> $ip"
done
v2=$(node_vip 2)
cname=$(printf 'C250%03d%03d.ipop' "$(cut -d. -f3 <<<"$v2")" "$(cut -d. -f4 <<<"$v2")")
echo "   host 1: $cname -> $(resolve 1 "$cname")"
out=$(in_ns "$LAB" dig +time=3 @"$SERVICE" host1.demo.ipop A)
grep -qE 'status: (NXDOMAIN|REFUSED)' <<<"$out" || fail "the lab host resolved a demo name"
echo "   host $LAB (network lab): host1.demo.ipop -> $(grep -oE 'status: [A-Z]+' <<<"$out") (other network)"

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

say "Reaching the cluster behind the gateway (router mode: host$GW announced $CLUSTER_NET)"
for ((i = 1; i <= N; i++)); do
  for c in 2 3; do
    in_ns "$i" ping -c 1 -w 6 "192.168.77.$c" >/dev/null 2>&1
    ping_ok "$i" "192.168.77.$c" 2 || fail "host $i cannot reach cluster machine 192.168.77.$c"
  done
  echo "   host$i reaches cluster machines 192.168.77.2 and 192.168.77.3 through host$GW"
done
v1=$(node_vip 1)
ping_ns_ok "${CNS[0]}" "$v1" 2 || fail "cluster machine c1 cannot reach host1"
echo "   cluster machine c1 (no IPOP software) reaches host1 at $v1"

say "Isolation: host$LAB is in network lab, on the same overlay and address range"
lab_ip=$(node_vip "$LAB")
echo "   host$LAB has $lab_ip in network lab"
if ping_none 1 "$lab_ip" 2; then
  echo "   host1 (network demo) pinging $lab_ip: no answer from network lab"
else
  holder=""
  for ((j = 2; j <= GW; j++)); do [[ $(node_vip "$j") == "$lab_ip" ]] && holder=host$j; done
  [[ -n $holder ]] || fail "host1 reached lab's $lab_ip"
  echo "   host1 pinging $lab_ip reaches $holder of network demo, never network lab"
fi

say "Moving TCP traffic with iperf3 (5 s, node 1 -> node $N, through the encrypted overlay)"
gbps=$(iperf_tcp 1 "$N" 5 1 "$(node_vip "$N")") || fail "iperf3 failed: $gbps"
echo "   $gbps Gbit/s of TCP payload delivered"
native=$(iperf_tcp 1 "$N" 3 1 "$(underlay_ip "$N")") || fail "iperf3 on the underlay failed"
echo "   (the same hosts over the bare underlay veth, unencrypted: $native Gbit/s)"

say "What the dataplane of node 1 counted (ipopctl counters)"
ctl 1 counters | sed 's/^/   /' | head -n 30

say "Stopping the network"
for ((i = 1; i <= LAB; i++)); do stop_node "$i"; done
echo "   all nodes stopped (each gave its address back), namespaces removed. Done."
