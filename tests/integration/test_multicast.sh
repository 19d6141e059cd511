#!/usr/bin/env bash
# Multicast and broadcast inside a network (issue 4): four overlay nodes. The hosts of nodes 2 and
# 3 join 239.1.2.3 with a /usr/bin/python3 socket; node 4's host does not. Node 1's host sends N
# datagrams to the group: 2 and 3 receive all of them, 4 none (not one frame of the group reaches
# its TAP, node 1 never even makes a data session with it, node 4 has none with node 1). Then
# node 1 sends N subnet broadcasts: all three others receive them. A fifth node of another network
# on the same overlay (overlay.secret; OTHER_NETWORK=0 leaves it out) joins the group and hears
# neither.
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v tcpdump >/dev/null || skip "tcpdump missing"
net_init mc

[[ -x /usr/bin/python3 ]] || skip "/usr/bin/python3 missing"
N=${N:-40}
GROUP=239.1.2.3
GPORT=5000
BPORT=5001
OTHER_NETWORK=${OTHER_NETWORK:-1}
NODES_N=4
((OTHER_NETWORK)) && NODES_N=5
OVERLAY_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
OTHER_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')

write_node_config() { # i network
  local i=$1 net=$2 secret=$SECRET
  [[ $net == mc ]] || secret=$OTHER_SECRET
  {
    ((i == 1)) || echo "bootstrap = $(underlay_ip 1):5800"
    node_sections "$i" "$net" "$secret"
    if ((OTHER_NETWORK)); then
      echo "[overlay]"
      echo "secret = $OVERLAY_SECRET"
    fi
  } >"$WORK/n$i.conf"
}

for ((i = 1; i <= NODES_N; i++)); do
  net_add_host "$i"
  write_node_config "$i" "$( ((i == 5)) && echo other || echo mc)"
done

cat >"$WORK/recv.py" <<'EOF'
# recv.py PORT OUTFILE [GROUP IFADDR]: prints every datagram on its own line (joins GROUP first).
import socket, sys
port, out = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port))
if len(sys.argv) > 3:
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                 socket.inet_aton(sys.argv[3]) + socket.inet_aton(sys.argv[4]))
with open(out, "a", buffering=1) as f:
    while True:
        data, src = s.recvfrom(2048)
        f.write("%s %s\n" % (src[0], data.decode(errors="replace")))
EOF
cat >"$WORK/send.py" <<'EOF'
# send.py IFADDR DST PORT PREFIX COUNT INTERVAL: COUNT datagrams "PREFIX-k" to DST from IFADDR.
import socket, sys, time
ifaddr, dst, port, prefix, count, interval = sys.argv[1:7]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(ifaddr))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.bind((ifaddr, 0))
for k in range(1, int(count) + 1):
    s.sendto(("%s-%d" % (prefix, k)).encode(), (dst, int(port)))
    time.sleep(float(interval))
EOF

for ((i = 1; i <= NODES_N; i++)); do start_node "$i"; done
joined() { ctl "$1" ring | grep -q '^joined yes' && ctl "$1" ring | grep -q 'directory published'; }
for ((i = 1; i <= NODES_N; i++)); do wait_for 40 "node $i joined" joined "$i"; done
tap_up() { in_ns "$1" ip -4 addr show dev ipop0 | grep -q "$(vip_of "$1")/"; }
for ((i = 1; i <= NODES_N; i++)); do wait_for 20 "node $i TAP address" tap_up "$i"; done

# `ip netns exec` execs the command, so $! is python's own PID (a backgrounded shell function
# would be a subshell, and killing it would leave python running).
start_receiver() { # i port outfile [group]
  local i=$1
  ip netns exec "$(ns_of "$i")" /usr/bin/python3 "$WORK/recv.py" "$2" "$3" \
    ${4:+"$4" "$(vip_of "$i")"} &
  PIDS+=($!)
  LAST_RECEIVER=$!
}
MEMBERS=(2 3)
((NODES_N == 5)) && MEMBERS+=(5)
declare -A GROUP_RECEIVER=()
for i in "${MEMBERS[@]}"; do
  start_receiver "$i" $GPORT "$WORK/g$i.txt" $GROUP
  GROUP_RECEIVER[$i]=$LAST_RECEIVER
done
start_receiver 4 $GPORT "$WORK/g4.txt"  # bound to the port, not a member
for ((i = 2; i <= NODES_N; i++)); do start_receiver "$i" $BPORT "$WORK/b$i.txt"; done

published() { ctl "$1" multicast | grep -q "^joined $2 published as $(vip_of "$1")"; }
for i in "${MEMBERS[@]}"; do
  wait_for 30 "node $i publishes its membership of $GROUP" published "$i" "$GROUP"
done
log "nodes ${MEMBERS[*]} published their membership of $GROUP in the DHT"

# The kernel drops a group the host did not join before any socket sees it, so node 4's socket
# staying empty proves nothing: what node 4's dataplane writes to its TAP is captured instead
# (and node 2's, to show that the capture sees the group's frames).
TAP_FILTER="udp and dst host $GROUP and dst port $GPORT"
declare -A TAP_CAPTURE=()
for i in 2 4; do
  in_ns "$i" tcpdump -i ipop0 -U -n -w "$WORK/tap$i.pcap" "$TAP_FILTER" 2>"$WORK/td$i.log" &
  TAP_CAPTURE[$i]=$!
  PIDS+=($!)
  wait_for 10 "tcpdump on node $i's TAP" grep -q "listening on" "$WORK/td$i.log"
done

send() { ip netns exec "$(ns_of 1)" /usr/bin/python3 "$WORK/send.py" "$(vip_of 1)" "$@"; }
stop_warm() {
  kill "$WARM" 2>/dev/null
  wait "$WARM" 2>/dev/null
}
got_warm() { grep -q " $1-" "$2" 2>/dev/null; }
# First datagrams find no group entry: the node looks the group up, learns the members and
# handshakes with them. Keep a trickle going until both members hear it.
ip netns exec "$(ns_of 1)" /usr/bin/python3 "$WORK/send.py" "$(vip_of 1)" $GROUP $GPORT warm 300 0.2 &
WARM=$!
PIDS+=($WARM)
for i in 2 3; do wait_for 60 "node $i hears node 1's group traffic" got_warm warm "$WORK/g$i.txt"; done
stop_warm
log "node 1 sends to $GROUP:"
ctl 1 multicast | sed 's/^/   /'
[[ $(ctl 1 multicast | grep "^sending $GROUP ") =~ \ members\ 2\ in-table\ 2\ .*:\ $(vip_of 2)\ $(vip_of 3)$ ]] ||
  fail "node 1's group entry is not exactly nodes 2 and 3"

send $GROUP $GPORT data $N 0.02
sleep 1
for i in 2 3; do
  got=$(grep -c " data-" "$WORK/g$i.txt")
  [[ $got -eq $N ]] || fail "node $i received $got of $N datagrams to $GROUP"
  log "node $i received $got/$N datagrams to $GROUP"
done
kill -TERM "${TAP_CAPTURE[2]}" "${TAP_CAPTURE[4]}"
wait "${TAP_CAPTURE[2]}" "${TAP_CAPTURE[4]}" 2>/dev/null
tap2=$(tcpdump -r "$WORK/tap2.pcap" -n 2>/dev/null | grep -c " > $GROUP.$GPORT: UDP")
tap4=$(tcpdump -r "$WORK/tap4.pcap" -n 2>/dev/null | wc -l)
((tap2 >= N)) || fail "node 2's TAP capture shows $tap2 group frames, fewer than the $N received"
((tap4 == 0)) ||
  fail "node 4 (not a member) got $tap4 frames to $GROUP on its TAP: $(tcpdump -r "$WORK/tap4.pcap" -n 2>/dev/null | head -n 3)"
[[ ! -s $WORK/g4.txt ]] || fail "node 4 (not a member) received: $(head -3 "$WORK/g4.txt")"
ctl_lacks 1 "peer $(vip_of 4) " peers || fail "node 1 made a data session with non-member node 4"
ctl_lacks 4 "peer $(vip_of 1) " peers || fail "node 4 has a data session with node 1"
log "node 4 (not a member): no group frame on its TAP (node 2's: $tap2), no data session with node 1"
if ((NODES_N == 5)); then
  [[ ! -s $WORK/g5.txt ]] || fail "node 5 (other network) received group traffic"
  log "node 5 (network 'other', same overlay, joined $GROUP): received nothing"
fi
ctl 1 counters | grep -E '^stat +mcast_' | sed 's/^/   node 1 /'

# Node 3's host leaves (its socket closes: IGMP leave); node 1, still sending, drops it within a
# re-poll of the group's members.
kill "${GROUP_RECEIVER[3]}"
ip netns exec "$(ns_of 1)" /usr/bin/python3 "$WORK/send.py" "$(vip_of 1)" $GROUP $GPORT warm 300 0.2 &
WARM=$!
PIDS+=($WARM)
only_node2() { [[ $(ctl 1 multicast | grep "^sending $GROUP ") =~ \ members\ 1\ in-table\ 1\ .*:\ $(vip_of 2)$ ]]; }
wait_for 30 "node 1 to drop node 3 from $GROUP after its host left" only_node2
stop_warm
ctl_lacks 3 "^joined $GROUP" multicast || fail "node 3 still lists $GROUP"
log "node 3's host left $GROUP: node 3 removed its membership, node 1 now sends to node 2 only"

# Subnet broadcast: every member of the network is in the broadcast group.
BCAST=10.77.0.255
ip netns exec "$(ns_of 1)" /usr/bin/python3 "$WORK/send.py" "$(vip_of 1)" $BCAST $BPORT warm 300 0.2 &
WARM=$!
PIDS+=($WARM)
for i in 2 3 4; do wait_for 60 "node $i hears node 1's broadcast" got_warm warm "$WORK/b$i.txt"; done
stop_warm
send $BCAST $BPORT bcast $N 0.02
sleep 1
for i in 2 3 4; do
  got=$(grep -c " bcast-" "$WORK/b$i.txt")
  [[ $got -eq $N ]] || fail "node $i received $got of $N broadcasts"
  log "node $i received $got/$N broadcasts to $BCAST"
done
if ((NODES_N == 5)); then
  [[ ! -s $WORK/b5.txt ]] || fail "node 5 (other network) received a broadcast"
  log "node 5 (other network): no broadcast"
fi
log "PASS"
