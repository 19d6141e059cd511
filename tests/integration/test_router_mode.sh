#!/usr/bin/env bash
# Router mode (issue 4, first step): node 2 is the gateway of a "cluster" namespace whose host runs
# no IPOP software and only has a default route via the gateway. Node 2 announces the cluster
# subnet into the network; the other members learn it through the DHT, route it to node 2 (prefix
# route in the dataplane table, kernel route to the TAP), and reach the cluster host; the cluster
# host reaches them back.
source "$(dirname "$0")/lib.sh"
net_require
net_init rt

N=3
CLUSTER_NET=192.168.77.0/24
CLUSTER_GW=192.168.77.1
CLUSTER_HOST=192.168.77.2
for ((i = 1; i <= N; i++)); do
  net_add_host "$i"
  extra=()
  ((i == 2)) && extra=("announce = $CLUSTER_NET")
  {
    ((i == 1)) || echo "bootstrap = $(underlay_ip 1):5800"
    for line in "${extra[@]}"; do echo "$line"; done
    echo "[node]"
    echo "name = $(node_name "$i")"
    echo "vip = $(vip_of "$i")/24"
    echo "tap = ipop0"
    echo "listen = 0.0.0.0:5800"
    echo "mgmt-socket = $WORK/n$i.sock"
    echo "[network]"
    echo "name = rt"
    echo "secret = $SECRET"
    echo "hello-interval-ms = 500"
    echo "peer-timeout-ms = 3000"
  } >"$WORK/n$i.conf"
done

# The cluster: one namespace behind node 2, no IPOP software, a default route via the gateway.
CNS="${RUN}c"
ip netns add "$CNS"
NAMESPACES+=("$CNS")
ip link add "${RUN}cg" type veth peer name "${RUN}ch"
ip link set "${RUN}cg" netns "$(ns_of 2)"
ip link set "${RUN}ch" netns "$CNS"
in_ns 2 ip addr add "$CLUSTER_GW/24" dev "${RUN}cg"
in_ns 2 ip link set "${RUN}cg" up
in_ns 2 sysctl -qw net.ipv4.ip_forward=1
ip -n "$CNS" link set lo up
ip -n "$CNS" addr add "$CLUSTER_HOST/24" dev "${RUN}ch"
ip -n "$CNS" link set "${RUN}ch" up
ip -n "$CNS" route add default via "$CLUSTER_GW"

for ((i = 1; i <= N; i++)); do start_node "$i"; done
joined() { ctl "$1" ring | grep -q '^joined yes' && ctl "$1" ring | grep -q 'directory published'; }
for ((i = 1; i <= N; i++)); do wait_for 30 "node $i joined" joined "$i"; done

routed() { ctl "$1" routes | grep -q "^route ${CLUSTER_NET} via $(vip_of 2) (announced) kernel-route"; }
for i in 1 3; do wait_for 30 "node $i to route $CLUSTER_NET to node 2" routed "$i"; done
log "node 3's routes:"
ctl 3 routes | sed 's/^/   /'
ctl 2 routes | grep -q "^announce $CLUSTER_NET" || fail "node 2 does not list its announcement"

for i in 1 3; do
  wait_for 30 "node $i pings the cluster host $CLUSTER_HOST" ping_ok "$i" "$CLUSTER_HOST" 2
  log "node $i reaches the cluster host $CLUSTER_HOST through gateway node 2"
done
ip netns exec "$CNS" ping -q -c 3 -i 0.2 -W 2 "$(vip_of 3)" >/dev/null ||
  fail "the cluster host cannot reach node 3"
log "the cluster host (no IPOP software) reaches node 3 through its gateway"
log "PASS"
