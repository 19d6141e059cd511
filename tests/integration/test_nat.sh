#!/usr/bin/env bash
# NAT traversal (issue 16, docs/nat.md): three public nodes (1, 2 bootstrap, 8) and five nodes
# each behind its own nftables NAT router (tests/integration/nat_lib.sh for the classes):
#   node 3  eim (endpoint-independent mapping, port-restricted filtering: a home router)
#   node 4  eim
#   node 5  cone (eim with endpoint-independent filtering)
#   node 6  sym (a new random public port per destination)
#   node 7  sym
# Ring addresses are fixed (nat_start_topology) so that 3-4 and 6-7 are not ring neighbours:
# they start relayed, and a direct path between them can only come from hole punching.
#   (a) eim <-> eim (3, 4): direct within 10 s of the first packet, then the relays stop
#       forwarding for them; iperf3 through the direct path
#   (b) sym <-> cone (6, 5): direct within 10 s of the first packet
#   (c) sym <-> sym (6, 7): pings work relayed, and `ipopctl peers` on node 6 says relayed, via
#       whom, and "punch failed: both symmetric"
#   (d) node 3's router rebinds (new masquerade ports, conntrack flushed) during pings 3 -> 4:
#       no gap between answers longer than 5 s
# Run alone: bash tests/integration/test_nat.sh (root). KEEP_WORK=1 keeps logs of a failed run.
source "$(dirname "$0")/../../tools/netns/lib.sh"
source "$(dirname "$0")/nat_lib.sh"
net_require
nat_require
net_init nat

nat_start_topology
nat_wait_joined
nat_of() { ctl "$1" ring | awk '/^nat / {print $2}'; }
# Each NATed node learned its mapping from both public nodes and classified its NAT.
expect_nat() { [[ $(nat_of "$1") == "$2" ]]; }
for i in 3 4 5; do wait_for 20 "node $i classifies its NAT" expect_nat "$i" endpoint-independent; done
for i in 6 7; do wait_for 20 "node $i classifies its NAT" expect_nat "$i" address/port-dependent; done
for i in 1 2 8; do expect_nat "$i" none || fail "public node $i classified as $(nat_of "$i")"; done
log "NAT classes: $(for i in 3 4 5 6 7; do printf '%s=%s ' "$i" "$(nat_of "$i")"; done)"
ctl 3 ring | grep '^nat '
NAT_T0=$SECONDS

nat_wait_unlinked

direct() { nat_direct "$@"; }
relayed() { ctl "$1" routes | grep -qE "^route $(vip_of "$2")/32 +relayed"; }
relay_forwarded() {
  local i sum=0 v
  for i in 1 2 8; do
    v=$(ctl "$i" counters 2>/dev/null | awk '$2 == "relay_forwarded" {print $3}')
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}

# ---- (a), (b), (c) at once: pings at 10/s from the first packet on.
declare -A PING=()
for pair in "3 4" "6 5" "6 7"; do
  read -r a b <<<"$pair"
  ip netns exec "$(ns_of "$a")" ping -n -q -c 300 -i 0.1 -W 1 "$(vip_of "$b")" >"$WORK/ping$a$b.log" 2>&1 &
  PING[$pair]=$!
  PIDS+=($!)
done
start=$SECONDS
declare -A became_direct=()
while ((SECONDS - start <= 10)); do
  for pair in "3 4" "6 5"; do
    read -r a b <<<"$pair"
    [[ -n ${became_direct[$pair]:-} ]] && continue
    direct "$a" "$b" && direct "$b" "$a" && became_direct[$pair]=$((SECONDS - start))
  done
  [[ -n ${became_direct["3 4"]:-} && -n ${became_direct["6 5"]:-} ]] && break
  sleep 0.2
done
[[ -n ${became_direct["3 4"]:-} ]] ||
  fail "(a) eim/eim: no direct path 3 <-> 4 within 10 s: $(ctl 3 peers; ctl 4 peers)"
[[ -n ${became_direct["6 5"]:-} ]] ||
  fail "(b) sym/cone: no direct path 6 <-> 5 within 10 s: $(ctl 6 peers; ctl 5 peers)"
log "(a) eim/eim direct after ${became_direct["3 4"]} s; (b) sym/cone direct after ${became_direct["6 5"]} s"
ctl 3 peers
ctl 6 peers

# (a) The relays stop moving for 3 <-> 4: stop the other pairs' pings (6 -> 7 is relayed for
# good), then no RELAY datagram is forwarded while 3 and 4 keep pinging.
sleep 1
wait_for 20 "(c) node 6 gives up punching to node 7" bash -c \
  "'$IPOP_BUILD/tools/ipopctl' --socket '$WORK/n6.sock' peers | grep -A1 'peer $(vip_of 7) ' | grep -q 'punch failed: both symmetric'"
out=$(ctl 6 peers | grep -A1 "peer $(vip_of 7) ")
grep -qE "path relayed via [0-9a-f]+ \(punch failed: both symmetric" <<<"$out" ||
  fail "(c) ipopctl peers on node 6 does not say relayed via a node because both are symmetric: $out"
relayed 6 7 || fail "(c) node 6 does not relay to node 7: $(ctl 6 routes)"
json=$(ctl 6 --json peers) || fail "ipopctl --json peers on node 6"
python3 -c '
import json, sys
p = [x for x in json.loads(sys.argv[1])["peers"] if x["vip"] == sys.argv[2]][0]
assert p["path"] == "relayed" and p["relay_via"] and "both symmetric" in p["path_why"], p
assert p["peer_nat"] == "address/port-dependent", p
' "$json" "$(vip_of 7)" || fail "(c) --json peers on node 6: $json"
log "(c) sym/sym: $out"
ping_ok 6 "$(vip_of 7)" 5 || fail "(c) the relayed path 6 -> 7 does not carry pings"
log "(c) 5 of 5 pings 6 -> 7 answered over the relayed path"

kill -TERM "${PING["6 5"]}" "${PING["6 7"]}" 2>/dev/null || true
sleep 1
before=$(relay_forwarded)
sleep 3
after=$(relay_forwarded)
direct 3 4 || fail "(a) 3 -> 4 no longer direct"
((after - before <= 2)) ||
  fail "(a) relays forwarded $((after - before)) datagrams in 3 s while 3 <-> 4 is direct"
log "(a) relays forwarded $((after - before)) datagrams in 3 s of pings 3 <-> 4 (direct)"
gbps=$(iperf_tcp 3 4 3) || fail "(a) iperf3 3 -> 4"
python3 -c "import sys; sys.exit(0 if float('$gbps') > 0.01 else 1)" ||
  fail "(a) iperf3 3 -> 4 over the direct path: $gbps Gbit/s"
log "(a) iperf3 3 -> 4 over the punched path: $gbps Gbit/s"

# ---- (d) rebinding on node 3's router while 3 pings 4.
ping_pid=""
kill -TERM "${PING["3 4"]}" 2>/dev/null || true
ip netns exec "$(ns_of 3)" ping -n -D -i 0.1 -W 1 -c 150 "$(vip_of 4)" >"$WORK/rebind.log" 2>&1 &
ping_pid=$!
PIDS+=("$ping_pid")
sleep 2
nat_rebind 3 40000-40100
log "(d) node 3's router now masquerades to ports 40000-40100 (conntrack flushed)"
wait "$ping_pid"
python3 - "$WORK/rebind.log" <<'EOF' || fail "(d) traffic did not recover within 5 s: $(tail -n 3 "$WORK/rebind.log")"
import re, sys
t = [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\].*bytes from", open(sys.argv[1]).read(), re.M)]
gaps = [b - a for a, b in zip(t, t[1:])]
worst = max(gaps) if gaps else 99
print("(d) %d answers, longest gap %.2f s, last answer %.1f s after the first" % (len(t), worst, t[-1] - t[0] if t else 0))
sys.exit(0 if len(t) > 60 and worst <= 5.0 and t[-1] - t[0] > 12 else 1)
EOF
# Direct again, and node 4 reaches node 3 at its new mapping.
wait_for 10 "(d) 3 <-> 4 direct again after the rebinding" bash -c \
  "'$IPOP_BUILD/tools/ipopctl' --socket '$WORK/n3.sock' routes | grep -qE '^route $(vip_of 4)/32 +direct' &&
   '$IPOP_BUILD/tools/ipopctl' --socket '$WORK/n4.sock' routes | grep -qE '^route $(vip_of 3)/32 +direct $(underlay_ip 3):4[0-9]{4} '"
log "(d) direct again: $(ctl 4 routes | grep "$(vip_of 3)/32")"
((mapping_moved3 = $(counter 3 overlay mapping_moved))) || fail "(d) node 3 never learned its new mapping"
((restarts = $(counter 3 punch restarts) + $(counter 4 punch restarts))) ||
  fail "(d) no punch restarted after the rebinding"
log "(d) node 3 saw its mapping move $mapping_moved3 time(s); punches restarted: $restarts"
log "PASS after $((SECONDS - NAT_T0)) s of checks: NAT traversal (eim/eim and sym/cone direct, sym/sym relayed with the reason, rebinding recovered)"
