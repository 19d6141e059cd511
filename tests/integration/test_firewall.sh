#!/usr/bin/env bash
# The per-network firewall (docs/firewall.md) on three PSK nodes in network namespaces, static
# peers, overlay off. Node 1 has inbound rules by address (PSK mode knows no names or groups) and
# no outbound rules; nodes 2 and 3 have none. Checked:
#   - node 2 reaches node 1's allowed TCP port, not the port next to it (a listener waits there
#     too, so only the firewall can refuse it); node 3 reaches neither (the rule names node 2)
#   - node 2's pings are answered, node 3's are not (an explicit deny rule)
#   - flows node 1 opens pass both ways although inbound is default deny: TCP to node 3 and
#     pings to node 3 get their replies
#   - ipopctl firewall (text and --json) shows the rules with counts that moved, and the drop
#     reason fw_inbound_denied counted them
set -uo pipefail
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
net_init fw
N=3
for i in 1 2 3; do net_add_host "$i"; done
write_config 1 $N "[overlay]" "enabled = false" "[firewall]" \
  "inbound = allow cidr:$(vip_of 2)/32 tcp 5001" \
  "inbound = allow cidr:$(vip_of 2)/32 icmp" \
  "inbound = deny cidr:$(vip_of 3)/32 icmp" >/dev/null
write_config 2 $N "[overlay]" "enabled = false" >/dev/null
write_config 3 $N "[overlay]" "enabled = false" >/dev/null
for i in 1 2 3; do start_node "$i"; done
for i in 1 2 3; do wait_for 30 "node $i sees all peers ready" peers_ready "$i" $N; done
log "3 nodes up, node 1 with inbound rules"

# tcp_server i PORT: accepts connections on node i's namespace forever, appending each line it
# receives to $WORK/rx-i-PORT.
tcp_server() {
  in_ns "$1" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
while True:
    c, _ = s.accept()
    data = c.recv(200)
    with open(sys.argv[2], "ab") as f:
        f.write(data)
    c.sendall(b"ack\n")
    c.close()
' "$2" "$WORK/rx-$1-$2" &
  PIDS+=($!)
}
# tcp_send i DST_IP PORT WORD: connects from node i, sends WORD, and needs the server's "ack"
# (so the reply direction is checked too); gives up after 4 s.
tcp_send() {
  in_ns "$1" timeout 4 python3 -c '
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
c.sendall(sys.argv[3].encode() + b"\n")
sys.exit(0 if c.recv(10).startswith(b"ack") else 1)
' "$2" "$3" "$4" 2>/dev/null
}
listening() { in_ns "$1" ss -Hltn "sport = :$2" | grep -q .; }

tcp_server 1 5001
tcp_server 1 5002
tcp_server 3 6000
wait_for 10 "listeners" listening 1 5001
wait_for 10 "listeners" listening 1 5002
wait_for 10 "listeners" listening 3 6000

V1=$(vip_of 1)
tcp_send 2 "$V1" 5001 "allowed-$RANDOM" || fail "node 2 cannot reach node 1's allowed tcp port 5001"
grep -q allowed- "$WORK/rx-1-5001" || fail "node 1's server got nothing on port 5001"
log "node 2 -> node 1 tcp 5001: allowed"
if tcp_send 2 "$V1" 5002 "denied-$RANDOM"; then fail "node 2 reached node 1's tcp 5002"; fi
[[ ! -s $WORK/rx-1-5002 ]] || fail "node 1's server on 5002 received data"
if tcp_send 3 "$V1" 5001 "denied-$RANDOM"; then fail "node 3 reached node 1's tcp 5001"; fi
log "node 2 -> 5002 and node 3 -> 5001: dropped"

ping_ok 2 "$V1" 3 || fail "node 2's pings to node 1 were not answered"
ping_none 3 "$V1" 3 || fail "node 3's pings to node 1 were answered (deny rule)"
log "ping: node 2 answered, node 3 not"

# Replies of flows node 1 opens pass its default-deny inbound.
tcp_send 1 "$(vip_of 3)" 6000 "outbound-$RANDOM" || fail "node 1's tcp flow to node 3 got no reply"
grep -q outbound- "$WORK/rx-3-6000" || fail "node 3's server got nothing from node 1"
ping_ok 1 "$(vip_of 3)" 3 || fail "node 1's pings to node 3 got no replies"
log "node 1 -> node 3 tcp and ping: replies pass"

out=$(ctl 1 firewall) || fail "ipopctl firewall failed: $out"
echo "$out"
rule_count() { # rule_count NUMBER|default-DIRECTION allowed|dropped
  awk -v n="$1" -v what="$2" '
    ($2 == n || ($2 == "-" && n == "default-" $1)) {
      for (k = 1; k < NF; k++) if ($k == what) print $(k + 1)
    }' <<<"$out"
}
(($(rule_count 1 allowed) >= 1)) || fail "rule 1 (tcp 5001 from node 2) shows no allowed flow"
(($(rule_count 2 allowed) >= 1)) || fail "rule 2 (icmp from node 2) shows no allowed flow"
(($(rule_count 3 dropped) >= 3)) || fail "rule 3 (icmp deny node 3) shows fewer than 3 drops"
(($(rule_count default-inbound dropped) >= 2)) || fail "default inbound shows fewer than 2 drops"
(($(rule_count default-outbound allowed) >= 2)) || fail "default outbound shows < 2 new flows"
grep -q "^default inbound deny, outbound allow" <<<"$out" || fail "default policies not shown"
json=$(ctl 1 --json firewall) || fail "ipopctl --json firewall failed: $json"
python3 -c '
import json, sys
r = json.loads(sys.argv[1])
assert r["enabled"] and r["inbound_default"] == "deny" and r["outbound_default"] == "allow"
rules = [x for x in r["rules"] if x["number"] is not None]
assert [x["rule"] for x in rules] == ["allow cidr:10.77.0.2/32 tcp 5001",
  "allow cidr:10.77.0.2/32 icmp", "deny cidr:10.77.0.3/32 icmp"], rules
assert rules[2]["dropped"] >= 3 and r["inbound_denied"] >= 5
' "$json" || fail "ipopctl --json firewall: unexpected report $json"
(($(counter 1 drop fw_inbound_denied) >= 5)) || fail "drop fw_inbound_denied counted < 5"
out2=$(ctl 2 firewall) || fail "ipopctl firewall on node 2 failed"
grep -q "^firewall off" <<<"$out2" || fail "node 2 without rules does not report the firewall off"
log "ipopctl firewall shows the rules and their counts"
log "PASS"
