#!/usr/bin/env bash
# A flood without the network secret (issue 12, item 5): a namespace with no node sends CONTROL-
# and HANDSHAKE-looking datagrams and garbage to node 1's underlay port from 256 source ports, as
# fast as one process can. Meanwhile, on node 1:
#   - its host renews its DHCP lease (busybox udhcpc, SIGUSR1) and resolves names with dig against
#     the node's service address (TAP frames punted to the control plane);
#   - a member that starts during the flood joins the overlay through node 1, and node 1's host
#     pings it and the member that was up before: two HELLO handshakes complete during the flood;
#   - the flood is cut to the per-source punt budget, counted as punt_source_limited
#     (dataplane/punt_budget.h), while nothing of the host's is refused.
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v busybox >/dev/null || skip "busybox (udhcpc) missing"
command -v dig >/dev/null || skip "dig (bind9-dnsutils) missing"
command -v python3 >/dev/null || skip "python3 missing"
net_init fl

SERVICE=10.77.0.254
FLOODER=4  # a namespace on the underlay without a node
for ((i = 1; i <= 4; i++)); do net_add_host "$i"; done
for ((i = 1; i <= 3; i++)); do
  {
    ((i == 1)) || echo "bootstrap = $(underlay_ip 1):5800"
    node_sections "$i" fl
    # Node 1's host takes its address by DHCP; the others' nodes set theirs on the TAP.
    ((i == 1)) && printf '[node]\nassign-address = false\n'
  } >"$WORK/n$i.conf"
done
start_node 1
start_node 2

joined() { ctl "$1" ring | grep -q '^joined yes' && ctl "$1" ring | grep -q 'directory published'; }
tap_exists() { in_ns "$1" ip link show ipop0; }
for i in 1 2; do wait_for 30 "node $i joined" joined "$i"; done
wait_for 10 "node 1 TAP" tap_exists 1
in_ns 1 ip link set ipop0 up

# The host's first lease, before the flood; udhcpc stays in the foreground (-f) so we own its PID
# and can ask it to renew.
write_dhcp_client_scripts "$WORK/unused.leases"
# (ip netns exec execs the client: $! is udhcpc itself.)
LEASE_FILE="$WORK/lease1" ip netns exec "$(ns_of 1)" busybox udhcpc -i ipop0 -f -t 5 -T 1 -A 1 \
  -s "$WORK/udhcpc.sh" >"$WORK/udhcpc1.log" 2>&1 &
UDHCPC=$!
PIDS+=($UDHCPC)
wait_for 20 "first DHCP lease on node 1" test -s "$WORK/lease1"
[[ $(cat "/proc/$UDHCPC/comm" 2>/dev/null) == busybox ]] || fail "udhcpc is not process $UDHCPC"
grep -q "ip=$(vip_of 1) " "$WORK/lease1" || fail "node 1's host got '$(cat "$WORK/lease1")'"
log "node 1's host: $(cat "$WORK/lease1")"

limited_before=$(counter 1 drop punt_source_limited)
((limited_before == 0)) || fail "punt_source_limited is $limited_before before any flood"

ip netns exec "$(ns_of "$FLOODER")" python3 "$(dirname "$0")/flood.py" "$(underlay_ip 1)" 5800 120 \
  >"$WORK/flood.log" 2>&1 &
FLOOD=$!
PIDS+=($FLOOD)
flood_cut() { (($(counter 1 drop punt_source_limited) > 1000)); }
wait_for 20 "the flood to reach node 1's punt budget" flood_cut
log "flooding node 1 from $(underlay_ip "$FLOODER") (256 source ports)"
flooding() { kill -0 "$FLOOD" 2>/dev/null || fail "the flood generator stopped early: $(cat "$WORK/flood.log")"; }

# ---- DHCP renewal: a unicast REQUEST to the service address, answered by the control plane.
rm -f "$WORK/lease1"
kill -USR1 "$UDHCPC"
wait_for 20 "DHCP renewal on node 1 during the flood" test -s "$WORK/lease1"
grep -q "ip=$(vip_of 1) " "$WORK/lease1" || fail "renewal gave '$(cat "$WORK/lease1")'"
flooding
log "node 1's host renewed its lease during the flood"

# ---- DNS: a computed name and a name node 2 registered in the DHT (a DHT lookup through the
# overlay, whose messages share the underlay port with the flood).
q() { in_ns 1 dig +time=2 +tries=3 @"$SERVICE" "$@"; }
a=$(q +short C077000002.ipop A)
[[ $a == "$(vip_of 2)" ]] || fail "C077000002.ipop resolved to '$a' during the flood"
name2="$(node_name 2).fl.ipop"
wait_for 20 "$name2 resolves during the flood" bash -c \
  "[[ \$(ip netns exec $(ns_of 1) dig +time=2 +tries=2 @$SERVICE +short $name2 A) == $(vip_of 2) ]]"
flooding
log "node 1's host resolved C077000002.ipop and $name2 during the flood"

# ---- HELLO: node 3 starts now and joins through node 1; node 1's host reaches nodes 2 and 3,
# neither of which it had a session with before.
start_node 3
wait_for 40 "node 3 joined through node 1 during the flood" joined 3
wait_for 30 "node 1's host pings node 3" ping_ok 1 "$(vip_of 3)" 1
wait_for 30 "node 1's host pings node 2" ping_ok 1 "$(vip_of 2)" 1
peer_up 1 3 || fail "node 1 does not report node 3 up"
peer_up 1 2 || fail "node 1 does not report node 2 up"
flooding
log "node 3 joined and nodes 1-2 and 1-3 completed their handshakes during the flood"

# ---- what the flood cost, by name
kill -TERM "$FLOOD"
wait "$FLOOD" 2>/dev/null
log "flood generator: $(cat "$WORK/flood.log")"
ctl 1 counters | grep -E '^(drop|stat) +(punt|udp_rx_datagrams|udp_bad)' | sed 's/^/   /'
# The ring never overflowed (the underlay may not take its last quarter, and its budgets keep it
# below what the control plane drains), and nothing of the host's was refused.
for r in punt_ring_full punt_tap_limited; do
  (($(counter 1 drop "$r") == 0)) || fail "node 1: $r $(counter 1 drop "$r") during the flood"
done
limited=$(counter 1 drop punt_source_limited)
((limited > 1000)) || fail "the flood was not cut to its source's budget (punt_source_limited $limited)"
log "PASS"
