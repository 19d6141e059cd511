#!/usr/bin/env bash
# The node's own services on the TAP (issue 4, first step): the host behind each node gets its
# address from the node by DHCP (busybox udhcpc on two nodes, ISC dhclient on the third; the
# node does not set the address itself), and resolves C-names, reverse names and the names nodes
# register in the DHT with dig against the node's DNS responder, over UDP and TCP; traffic then
# flows by name.
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v busybox >/dev/null || skip "busybox (udhcpc) missing"
command -v dhclient >/dev/null || skip "isc-dhcp-client (dhclient) missing"
command -v dig >/dev/null || skip "dig (bind9-dnsutils) missing"
net_init dd

N=3
SERVICE=10.77.0.254
for ((i = 1; i <= N; i++)); do
  net_add_host "$i"
  {
    ((i == 1)) || echo "bootstrap = $(underlay_ip 1):5800"
    node_sections "$i" dd
    echo "[node]"
    echo "assign-address = false"
    # Node 1's dataplane blocks up to 1 s when idle: its DHCP/DNS replies, injected by the
    # control plane, must wake it (futex wake-up, checked below by its counter).
    ((i == 1)) && printf '[dataplane]\nidle-wait-ms = 1000\n'
  } >"$WORK/n$i.conf"
  # Node 2 blocks as long but runs as on a kernel without io_uring futex waits: its idle waits
  # must then be capped so its replies still go out.
  if ((i == 2)); then
    printf '[dataplane]\nidle-wait-ms = 1000\n' >>"$WORK/n$i.conf"
    IPOP_DP_NO_INJECT_WAKE=1 start_node "$i"
  else
    start_node "$i"
  fi
done

write_dhcp_client_scripts "$WORK/lease3"

joined() { ctl "$1" ring | grep -q '^joined yes' && ctl "$1" ring | grep -q 'directory published'; }
tap_exists() { in_ns "$1" ip link show ipop0; }
for ((i = 1; i <= N; i++)); do
  wait_for 30 "node $i joined" joined "$i"
  wait_for 10 "node $i TAP" tap_exists "$i"
  in_ns "$i" ip link set ipop0 up
done
wait_for 30 "node names registered" bash -c "$IPOP_BUILD/tools/ipopctl --socket $WORK/n3.sock counters | grep -Eq '^overlay_host +names_published +[1-9]'"

for i in 1 2; do
  LEASE_FILE="$WORK/lease$i" in_ns "$i" busybox udhcpc -i ipop0 -n -q -t 5 -T 1 \
    -s "$WORK/udhcpc.sh" >"$WORK/udhcpc$i.log" 2>&1 || fail "udhcpc on node $i: $(cat "$WORK/udhcpc$i.log")"
done
# dhclient stays in the foreground (-d) so we own its PID; it is stopped with everything else.
in_ns 3 dhclient -d -v -sf "$WORK/dhclient.sh" -lf "$WORK/dhclient.leases" \
  -pf "$WORK/dhclient.pid" ipop0 >"$WORK/dhclient.log" 2>&1 &
PIDS+=($!)
wait_for 20 "dhclient lease on node 3" test -s "$WORK/lease3"
for i in 1 2 3; do
  lease=$(cat "$WORK/lease$i")
  log "node $i host: $lease"
  grep -q "ip=$(vip_of "$i") " <<<"$lease" || fail "node $i host got '$lease', expected $(vip_of "$i")"
  grep -q "router=$SERVICE" <<<"$lease" || fail "node $i: no router $SERVICE in '$lease'"
  grep -q "dns=$SERVICE" <<<"$lease" || fail "node $i: no DNS server $SERVICE in '$lease'"
  grep -q "domain=dd.ipop" <<<"$lease" || fail "node $i: no domain in '$lease'"
  in_ns "$i" ip -4 addr show ipop0 | grep -q "inet $(vip_of "$i")/24" || fail "node $i: address not on ipop0"
done

q() { in_ns "$1" dig +time=2 +tries=3 @"$SERVICE" "${@:2}"; }
a=$(q 1 +short C077000002.ipop A)
[[ $a == "$(vip_of 2)" ]] || fail "C077000002.ipop resolved to '$a'"
log "node 1: C077000002.ipop -> $a"
name3="$(node_name 3).dd.ipop"
a=$(q 1 +short "$name3" A)
[[ $a == "$(vip_of 3)" ]] || fail "$name3 resolved to '$a' (registered in the DHT by node 3)"
log "node 1: $name3 -> $a (registered name, through the DHT)"
# DNS over TCP (RFC 7766) to the same address: a C-name and a registered name.
a=$(q 2 +tcp +short C077000003.ipop A)
[[ $a == "$(vip_of 3)" ]] || fail "dig +tcp: C077000003.ipop resolved to '$a'"
a=$(q 2 +tcp +short "$name3" A)
[[ $a == "$(vip_of 3)" ]] || fail "dig +tcp: $name3 resolved to '$a'"
out=$(q 2 +tcp "$name3" A)
grep -qE '^;; SERVER: 10\.77\.0\.254#53.*\(TCP\)' <<<"$out" || fail "not answered over TCP: $out"
log "node 2: dig +tcp C077000003.ipop and $name3 -> $a"
r=$(q 2 +short -x "$(vip_of 1)")
[[ $r == "C077000001.ipop." ]] || fail "reverse of $(vip_of 1) is '$r'"
log "node 2: $(vip_of 1) -> $r"
q 1 nosuchnode.dd.ipop A | grep -q 'status: NXDOMAIN' || fail "unknown name did not answer NXDOMAIN"
q 1 example.com A | grep -q 'status: REFUSED' || fail "a name outside the zone was not refused"
log "unknown names: NXDOMAIN; names outside the zone: REFUSED"
wait_for 20 "node 1 pings $name3 by name" ping_ok 1 "$(q 1 +short "$name3" A)" 2
log "node 1 pings $name3 (resolved by name) through the overlay"
# io_uring futex waits (IORING_OP_FUTEX_WAIT) came with Linux 6.7: from there on node 1 must use
# them. An older kernel may lack them, and then both nodes fall back to capped waits.
if kernel_at_least 6 7; then
  grep -q 'futex wake-up for injects' "$WORK/n1.log" ||
    fail "node 1 runs on Linux $(uname -r) (>= 6.7) without futex wake-ups: $(grep -o 'io_uring.*' "$WORK/n1.log" | head -n1)"
  wakeups=$(counter 1 stat inject_wakeups)
  ((wakeups > 0)) || fail "node 1's control plane never woke its blocked dataplane (inject_wakeups 0)"
  log "node 1: the control plane woke the idle dataplane $wakeups times for injected replies"
  grep -q 'no inject wake-up (idle wait <= 5 ms)' "$WORK/n2.log" ||
    fail "node 2 (IPOP_DP_NO_INJECT_WAKE=1) did not fall back to capped idle waits"
  (($(counter 2 stat inject_wakeups) == 0)) || fail "node 2 counted inject wake-ups without them"
else
  log "note: Linux $(uname -r) has no io_uring futex wait (< 6.7); inject wake-ups not tested"
fi
ctl 1 counters | grep -E '^(dhcp|dns) ' | sed 's/^/   /'
log "PASS"
