#!/usr/bin/env bash
# Two real nodes: a 50 MB TCP transfer through the overlay arrives intact (sha256) with the TAP
# and UDP offloads on (default) and with all of them off (IPOP_DP_NO_* in the nodes'
# environment), and the MTU edges behave: a 1-byte payload and a packet of exactly the MTU pass
# with DF, MTU+1 with DF is answered by the dataplane's own ICMP "fragmentation needed" (ping
# reports it, too_big / icmp_too_big_sent count it), and TCP over a TAP whose MTU was raised
# above the overlay MTU still works because SYNs have their MSS clamped.
set -uo pipefail
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v python3 >/dev/null || skip "python3 missing"
command -v ping >/dev/null || skip "ping missing"
command -v sha256sum >/dev/null || skip "sha256sum missing"
command -v ss >/dev/null || skip "ss missing"
net_init mtu
for i in 1 2; do
  net_add_host "$i"
  write_config "$i" 2 >/dev/null
done
head -c 50M /dev/urandom >"$WORK/payload"
SENT_SHA=$(sha256sum <"$WORK/payload" | cut -d' ' -f1)

run_phase() { # run_phase WHAT: nodes must be up
  local what=$1 peer_vip out sent
  peer_vip=$(vip_of 2)
  check_transfer 1 2 "$what"
  check_transfer 2 1 "$what"

  ping_ok 1 "$peer_vip" 3 0 -M do -s 1 || fail "$what: ping with a 1-byte payload failed"
  ping_ok 1 "$peer_vip" 3 0 -M do -s $((MTU - 28)) ||
    fail "$what: ping of exactly the MTU ($MTU bytes) with DF failed"
  # MTU+1 never reaches the dataplane while the TAP MTU is the overlay MTU: the kernel refuses.
  out=$(in_ns 1 ping -M do -s $((MTU - 27)) -c 1 -W 2 "$peer_vip" 2>&1) &&
    fail "$what: ping of MTU+1 with DF succeeded"
  grep -q "local error: message too long, mtu=$MTU" <<<"$out" || fail "$what: MTU+1 ping said: $out"

  # Raise node 1's TAP MTU above the overlay MTU (a misconfigured gateway). The kernel now
  # believes 1500 fits; the SYN's MSS is clamped so TCP never black-holes. (Before the ICMP
  # below: a cached path MTU would lower the advertised MSS by itself.)
  in_ns 1 ip link set dev ipop0 mtu 1500
  check_transfer 1 2 "$what, TAP MTU 1500"
  (($(counter 1 stat mss_clamped) >= 1)) || fail "$what: no SYN had its MSS clamped"
  # With the TAP MTU raised, MTU+1 reaches the dataplane, which answers with ICMP
  # fragmentation needed from the destination. Only ping's "From <destination> ... Frag needed"
  # line proves that this ICMP reached the sender: "local error: message too long" is the
  # kernel refusing by itself (a path MTU it cached earlier, which the flush forgets).
  sent=$(counter 1 stat icmp_too_big_sent)
  in_ns 1 ip route flush cache
  out=$(in_ns 1 ping -n -M do -s $((MTU - 27)) -c 3 -i 0.3 -W 2 "$peer_vip" 2>&1) &&
    fail "$what: MTU+1 ping succeeded with the TAP MTU raised"
  grep -qE "^From $peer_vip icmp_seq=[0-9]+ Frag needed and DF set \(mtu = $MTU\)" <<<"$out" ||
    fail "$what: ping did not report our ICMP: $out"
  (($(counter 1 stat icmp_too_big_sent) > sent)) ||
    fail "$what: no icmp_too_big_sent counted for the MTU+1 ping"
  (($(counter 1 drop too_big) >= 1)) || fail "$what: too_big drop not counted"
  log "$what: MTU+1 answered: $(grep '^From' <<<"$out" | head -n1)"

  log "$what: counters node 1: too_big=$(counter 1 drop too_big)" \
    "icmp_too_big_sent=$(counter 1 stat icmp_too_big_sent)" \
    "icmp_too_big_limited=$(counter 1 stat icmp_too_big_limited)" \
    "mss_clamped=$(counter 1 stat mss_clamped)"
}

start_pair() {
  start_node 1
  start_node 2
  for i in 1 2; do wait_for 30 "node $i sees its peer ready" peers_ready "$i" 2; done
}

# (a) offloads on: the dataplane must say so at start-up.
start_pair
wait_for 10 "node 1 dataplane start line" grep -q 'ipop-dataplane: .*(mtu ' "$WORK/n1.log"
MTU=$(grep -oP 'ipop-dataplane: .*\(mtu \K[0-9]+' "$WORK/n1.log" | head -n1) # node.mtu
log "overlay MTU $MTU; $(grep -o 'io_uring.*' "$WORK/n1.log" | head -n1)"
grep -q 'TAP TSO+coalescing' "$WORK/n1.log" || fail "offloads not enabled by default"
run_phase "offloads on"
for i in 1 2; do stop_node "$i" || fail "node $i did not stop"; done

# (b) every offload off; the dataplane inherits the environment through ipop-node.
: >"$WORK/n1.log"
export IPOP_DP_NO_TAP_OFFLOAD=1 IPOP_DP_NO_UDP_GSO=1 IPOP_DP_NO_UDP_GRO=1
start_pair
wait_for 10 "node 1 dataplane start line" grep -q 'ipop-dataplane: .*(mtu ' "$WORK/n1.log"
log "$(grep -o 'io_uring.*' "$WORK/n1.log" | head -n1)"
if grep -qE 'TSO|coalescing|UDP GSO|\+GRO' "$WORK/n1.log"; then
  fail "offloads still on: $(grep 'ipop-dataplane:' "$WORK/n1.log")"
fi
run_phase "offloads off"
echo "PASS"
