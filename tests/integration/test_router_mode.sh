#!/usr/bin/env bash
# Router mode (issue 4, first step): node 2 is the gateway of a "cluster" namespace whose host runs
# no IPOP software and only has a default route via the gateway. Node 2 announces the cluster
# subnet into the network; the other members learn it through the DHT, route it to node 2 (prefix
# route in the dataplane table, kernel route to the TAP), and reach the cluster host; the cluster
# host reaches them back. Node 3's host is configured by DHCP (node.assign-address = false): it gets
# the cluster route in DHCP option 121 (busybox udhcpc installs it) and the node leaves the kernel
# routing table alone; ISC dhclient on node 1 requests and receives the same option.
# Announcements are authorized: every member requires the router authority's signature
# (network.router-pubkey-file); node 2 signs with node.router-key-file, while node 3 announces a
# subnet without the key, which the others ignore.
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v openssl >/dev/null || skip "openssl missing"
command -v busybox >/dev/null || skip "busybox (udhcpc) missing"
command -v dhclient >/dev/null || skip "isc-dhcp-client (dhclient) missing"
net_init rt

N=3
CLUSTER_NET=192.168.77.0/24
CLUSTER_GW=192.168.77.1
CLUSTER_HOST=192.168.77.2
ROGUE_NET=192.168.88.0/24
openssl genpkey -algorithm ed25519 -out "$WORK/router.key" 2>/dev/null || fail "openssl genpkey"
openssl pkey -in "$WORK/router.key" -pubout -out "$WORK/router.pub" || fail "openssl pkey -pubout"
for ((i = 1; i <= N; i++)); do
  net_add_host "$i"
  extra=()
  ((i == 2)) && extra=("announce = $CLUSTER_NET")
  ((i == 3)) && extra=("announce = $ROGUE_NET")
  {
    ((i == 1)) || echo "bootstrap = $(underlay_ip 1):5800"
    for line in "${extra[@]}"; do echo "$line"; done
    node_sections "$i" rt
    echo "router-pubkey-file = $WORK/router.pub"
    echo "[node]"
    ((i == 3)) && echo "assign-address = false"
    ((i == 2)) && echo "router-key-file = $WORK/router.key"
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

routed() { ctl "$1" routes | grep -qE "^route ${CLUSTER_NET} +via $(vip_of 2) \(announced\)${2:-}"; }
wait_for 30 "node 1 to route $CLUSTER_NET to node 2" routed 1 " kernel-route"
wait_for 30 "node 3 to route $CLUSTER_NET to node 2" routed 3
log "node 3's routes:"
ctl 3 routes | sed 's/^/   /'
ctl_lacks 3 kernel-route routes || fail "node 3 (host configured by DHCP) installed a kernel route"
ctl 2 routes | grep -q "^announce $CLUSTER_NET" || fail "node 2 does not list its announcement"
rejected() { ctl "$1" counters | grep -Eq '^overlay_host +routes_unsigned +[1-9]'; }
for i in 1 2; do wait_for 30 "node $i to refuse node 3's unsigned announcement" rejected "$i"; done
for i in 1 2; do
  ctl_lacks "$i" "^route ${ROGUE_NET%/*}" routes || fail "node $i routes $ROGUE_NET (unsigned)"
done
ctl 3 routes | grep -q "^announce $ROGUE_NET" || fail "node 3 does not list its announcement"
log "node 3's unsigned $ROGUE_NET is ignored by nodes 1 and 2; node 2's signed $CLUSTER_NET is used"

# Node 3's host: udhcpc takes the address and installs the option 121 routes except the default.
SERVICE=10.77.0.254
cat >"$WORK/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$subnet" dev "$interface"
    echo "ip=$ip staticroutes=$staticroutes" >"$LEASE_FILE"
    set -- $staticroutes
    while [ $# -ge 2 ]; do
      [ "$1" = 0.0.0.0/0 ] || ip route replace "$1" via "$2" dev "$interface"
      shift 2
    done
    ;;
esac
exit 0
SCRIPT
chmod +x "$WORK/udhcpc.sh"
wait_for 10 "node 3 TAP" in_ns 3 ip link show ipop0
in_ns 3 ip link set ipop0 up
LEASE_FILE="$WORK/lease3" in_ns 3 busybox udhcpc -i ipop0 -n -q -t 5 -T 1 -O staticroutes \
  -s "$WORK/udhcpc.sh" >"$WORK/udhcpc3.log" 2>&1 || fail "udhcpc on node 3: $(cat "$WORK/udhcpc3.log")"
lease=$(cat "$WORK/lease3")
log "node 3 host (udhcpc): $lease"
grep -q "staticroutes=0.0.0.0/0 $SERVICE $CLUSTER_NET $SERVICE" <<<"$lease" ||
  fail "udhcpc did not get the cluster route in option 121: $lease"
in_ns 3 ip route show "$CLUSTER_NET" | grep -q "via $SERVICE dev ipop0" || fail "route not installed"

# dhclient gets option 121 only when it asks for it (rfc3442-classless-static-routes).
cat >"$WORK/dhclient.conf" <<'CONF'
option rfc3442-classless-static-routes code 121 = array of unsigned integer 8;
request subnet-mask, routers, domain-name-servers, rfc3442-classless-static-routes;
CONF
cat >"$WORK/dhclient.sh" <<'SCRIPT'
#!/bin/sh
case "$reason" in
  BOUND|RENEW|REBOOT)
    echo "ip=$new_ip_address routes=$new_rfc3442_classless_static_routes" >"@LEASE_FILE@"
    ;;
esac
exit 0
SCRIPT
sed -i "s|@LEASE_FILE@|$WORK/lease1|" "$WORK/dhclient.sh"
chmod +x "$WORK/dhclient.sh"
in_ns 1 dhclient -d -v -cf "$WORK/dhclient.conf" -sf "$WORK/dhclient.sh" \
  -lf "$WORK/dhclient.leases" -pf "$WORK/dhclient.pid" ipop0 >"$WORK/dhclient.log" 2>&1 &
PIDS+=($!)
wait_for 20 "dhclient lease on node 1" test -s "$WORK/lease1"
lease=$(cat "$WORK/lease1")
log "node 1 host (dhclient): $lease"
grep -q "routes=0 10 77 0 254 24 192 168 77 10 77 0 254" <<<"$lease" ||
  fail "dhclient did not get the cluster route in option 121: $lease"

for i in 1 3; do
  wait_for 30 "node $i pings the cluster host $CLUSTER_HOST" ping_ok "$i" "$CLUSTER_HOST" 2
  log "node $i reaches the cluster host $CLUSTER_HOST through gateway node 2"
done
ping_ns_ok "$CNS" "$(vip_of 3)" 3 || fail "the cluster host cannot reach node 3"
log "the cluster host (no IPOP software) reaches node 3 through its gateway"
log "PASS"
