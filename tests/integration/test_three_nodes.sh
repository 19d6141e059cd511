#!/usr/bin/env bash
# Three real nodes in network namespaces: every pair pings through the overlay, iperf3 TCP moves
# data, a marker sent through the overlay never appears on the underlay veth (but does on the
# receiver's TAP), and killing one node's control plane leaves traffic flowing; the restarted
# control plane applies a changed configuration. Static peers only (overlay.enabled = false): with
# the overlay on, a node removed from the peer list would be found again through the DHT
# (test_overlay_12.sh covers that mode).
set -uo pipefail
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v iperf3 >/dev/null || skip "iperf3 missing"
command -v tcpdump >/dev/null || skip "tcpdump missing"
net_init tri
N=3
for i in 1 2 3; do
  net_add_host "$i"
  write_config "$i" $N "[overlay]" "enabled = false" >/dev/null
done
# Node 1's supervisor waits 12 s before restarting a dead control plane: the window we test in.
start_node 1 --restart-delay-ms 12000
start_node 2
start_node 3
for i in 1 2 3; do wait_for 30 "node $i sees all peers ready" peers_ready "$i" $N; done
log "all 3 nodes up with ready sessions"

for i in 1 2 3; do
  for j in 1 2 3; do
    ((i == j)) && continue
    ping_ok "$i" "$(vip_of "$j")" || fail "ping from node $i to $(vip_of "$j") failed"
  done
done
log "every ordered pair pings"

gbps=$(iperf_tcp 1 3 3) || fail "iperf3 through the overlay failed: $gbps"
python3 -c "import sys; sys.exit(0 if float('$gbps') > 0.01 else 1)" ||
  fail "iperf3 moved almost nothing: $gbps Gbit/s"
log "iperf3 TCP node1 -> node3: $gbps Gbit/s"

# Marker: captured in clear on the receiver's TAP (proves the capture works), never on the wire.
MARKER="ipop-marker-$RANDOM$RANDOM"
in_ns 1 tcpdump -i u0 -U -n -w "$WORK/underlay.pcap" udp port 5800 2>"$WORK/td1.log" &
TD1=$!
PIDS+=($TD1)
in_ns 3 tcpdump -i ipop0 -U -n -w "$WORK/tap.pcap" udp port 9999 2>"$WORK/td3.log" &
TD3=$!
PIDS+=($TD3)
wait_for 10 "tcpdump on underlay" grep -q "listening on" "$WORK/td1.log"
wait_for 10 "tcpdump on tap" grep -q "listening on" "$WORK/td3.log"
for k in $(seq 1 20); do
  in_ns 1 bash -c "echo '$MARKER $k' > /dev/udp/$(vip_of 3)/9999" 2>/dev/null
done
sleep 1
kill -TERM "$TD1" "$TD3" # SIGINT is ignored by background jobs of a script
wait "$TD1" "$TD3" 2>/dev/null
under_pkts=$(tcpdump -r "$WORK/underlay.pcap" -n 2>/dev/null | wc -l)
((under_pkts >= 20)) || fail "underlay capture saw only $under_pkts datagrams (expected >= 20)"
grep -qa "$MARKER" "$WORK/tap.pcap" || fail "marker not seen on the receiver's TAP (capture broken?)"
if grep -qa "$MARKER" "$WORK/underlay.pcap"; then fail "marker visible in clear on the underlay"; fi
log "marker seen on node 3's TAP, absent from $under_pkts underlay datagrams"

# Kill node 1's control plane: traffic keeps flowing on the dataplane's last tables.
in_ns 1 ping -i 0.2 -c 100 -W 1 "$(vip_of 2)" >"$WORK/ping-across.log" 2>&1 &
PING_ACROSS=$!
PIDS+=($PING_ACROSS)
sleep 1
cp_pid=$(child_pid 1 controlplane)
dp_pid=$(child_pid 1 dataplane)
[[ -n $cp_pid && -n $dp_pid ]] || fail "cannot find node 1's processes"
kill -KILL "$cp_pid"
log "killed node 1 control plane (pid $cp_pid)"
# Change the config while it is dead: node 1 drops peer 3. The restart must apply that; until
# then the dataplane still forwards to node 3 on its last tables.
sed -i "/^peer = $(vip_of 3) /d" "$WORK/n1.conf"
sleep 0.5
if ctl 1 status >/dev/null 2>&1; then fail "control plane still answers after SIGKILL"; fi
# Forget node 1's neighbour entries: new ARP requests can only be answered by the dataplane now.
in_ns 1 ip neigh flush dev ipop0
ping_ok 1 "$(vip_of 3)" 5 || fail "node1 -> node3 stopped while the control plane was dead"
ping_ok 3 "$(vip_of 1)" 5 || fail "node3 -> node1 stopped while the control plane was dead"
gbps=$(iperf_tcp 2 1 2) || fail "iperf3 to node 1 failed while its control plane was dead"
# All of it must have run with the control plane dead, not after its restart.
if ctl 1 status >/dev/null 2>&1; then
  fail "node 1's control plane came back before the checks of its dead window ended"
fi
log "with the control plane dead: pings answered, iperf3 node2 -> node1 $gbps Gbit/s"
[[ $(child_pid 1 dataplane) == "$dp_pid" ]] || fail "node 1 dataplane restarted; it should not"

wait_for 20 "node 1 control plane restarted" ctl 1 status
new_cp=$(child_pid 1 controlplane)
[[ $new_cp != "$cp_pid" ]] || fail "control plane pid unchanged after kill"
wait_for 20 "node 1 re-established peer 2" peer_up 1 2
ping_ok 1 "$(vip_of 2)" || fail "node1 -> node2 failed after control-plane restart"
ping_none 1 "$(vip_of 3)" 2 || fail "node1 still reaches node3 after peer 3 was removed"
(($(counter 1 drop no_route) > 0)) || fail "expected no_route drops for the removed peer"
(($(counter 1 stat arp_local_replies) > 0)) ||
  fail "the dataplane did not answer ARP while the control plane was dead"
log "restarted control plane applied the change: node 3 removed, node 2 still reachable"
wait "$PING_ACROSS"
read -r tx rx < <(sed -nE 's/^([0-9]+) packets transmitted, ([0-9]+) received.*/\1 \2/p' \
  "$WORK/ping-across.log")
[[ $tx == 100 && $rx =~ ^[0-9]+$ ]] ||
  fail "ping across the restart: no summary of 100 echoes: $(tail -n 3 "$WORK/ping-across.log")"
log "ping node1 -> node2 across kill and restart: $rx of $tx answered"
((rx * 10 >= tx * 9)) || fail "too much loss across control-plane restart: $rx of $tx answered"

# Restore peer 3 and reload without restart (SIGHUP path through ipopctl reload).
sed -i "1i peer = $(vip_of 3) $(underlay_ip 3):5800" "$WORK/n1.conf"
ctl 1 reload >/dev/null || fail "reload failed"
wait_for 20 "node 1 sees node 3 again" peers_ready 1 $N
ping_ok 1 "$(vip_of 3)" || fail "node1 -> node3 failed after reload"
log "reload re-added node 3"

# Clean stop: supervisors exit, children gone, shared memory unlinked.
children=()
for i in 1 2 3; do children+=("$(child_pid "$i" dataplane)" "$(child_pid "$i" controlplane)"); done
for i in 1 2 3; do stop_node "$i" || fail "node $i did not stop cleanly"; done
for pid in "${children[@]}"; do
  if kill -0 "$pid" 2>/dev/null; then fail "process $pid still running after stop"; fi
done
for i in 1 2 3; do
  [[ ! -e /dev/shm/ipop-$(node_name "$i") ]] || fail "shared memory of node $i left behind"
done
log "all nodes stopped cleanly"
echo "PASS"
