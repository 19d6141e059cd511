#!/usr/bin/env bash
# The DPDK host ports other than a TAP: a VM on a DPDK node's vhost-user host port (docs/dpdk.md,
# "vhost-user VMs") and a headless node ("Headless gateway"). Node 1 runs
# dataplane.backend = dpdk with its underlay on a veth (net_af_packet) and host-port =
# vhost:SOCKET; node 2 is an io_uring node. The VM is a second DPDK process, dpdk-testpmd, with a
# net_virtio_user port on that socket (the guest's virtio-net) forwarding to and from a TAP PMD
# port in a namespace of its own: that namespace's kernel is the guest's network stack.
#   - the guest gets node 1's address by DHCP through the vhost-user port (udhcpc), with a
#     router and the node's MTU
#   - guest <-> node 2: pings both ways, every echo answered
#   - 20 MB guest -> node 2 and node 2 -> guest over TCP, sha256 intact
#   - what went through: the vhost port's frame counters on node 1 moved, node 1 learned the
#     guest's MAC (frames to it are unicast)
#   - node 3 is a DPDK node without any host port (host-port = none) on net_af_packet: it makes
#     no TAP, and completes its HELLOs with both other nodes through its dataplane's punt and
#     inject rings
# Skips without the DPDK drivers used (net_vhost, net_virtio_user, net_tap, net_af_packet) or
# dpdk-testpmd (Debian's dpdk-dev).
set -uo pipefail
source "$(dirname "$0")/../../tools/netns/lib.sh"
source "$(dirname "$0")/dpdk_lib.sh"
net_require
command -v busybox >/dev/null || skip "busybox (udhcpc) missing"
command -v tcpdump >/dev/null || skip "tcpdump missing"
command -v ethtool >/dev/null || skip "ethtool missing (tools/install-deps.sh installs it)"
TESTPMD=$(command -v dpdk-testpmd) || skip "dpdk-testpmd missing (Debian's dpdk-dev)"
dpdk_require af_packet vhost virtio tap

net_init vhost
for i in 1 2 3; do net_add_host "$i"; done
VMNS="${RUN}vm"
ip netns add "$VMNS"
NAMESPACES+=("$VMNS")
ip -n "$VMNS" link set lo up
VM_PREFIX="ipop-vm-$RUN"
SOCK="$WORK/vm1.sock"

# Nodes 1 and 3: their veths belong to their dataplanes (no kernel address); the bridge side sends
# them complete frames (test_dpdk.sh says why).
dpdk_config() { # dpdk_config i HOST_PORT
  ip -n "$(ns_of "$1")" addr flush dev u0
  in_ns "$1" sysctl -qw net.ipv6.conf.u0.disable_ipv6=1
  ip netns exec "$HUB" ethtool -K "${RUN}h$1" tx off tso off gso off >/dev/null ||
    fail "ethtool could not turn off the offloads of ${RUN}h$1"
  write_config "$1" 3 "[node]" "assign-address = false" "[dataplane]" "backend = dpdk" \
    "underlay-port = net_af_packet0,iface=u0" "underlay-prefix = 16" "host-port = $2" >/dev/null
  sed -i "s/^listen = 0.0.0.0:5800/listen = $(underlay_ip "$1"):5800/" "$WORK/n$1.conf"
}
dpdk_config 1 "vhost:$SOCK"
dpdk_config 3 none
write_config 2 3 >/dev/null

vhost_cleanup() {
  local rc=$?
  dpdk_remove_runtime "ipop-$(node_name 1)"
  dpdk_remove_runtime "ipop-$(node_name 3)"
  dpdk_remove_runtime "$VM_PREFIX"
  (exit "$rc")
  net_cleanup
}
trap vhost_cleanup EXIT

start_node 2
start_node 1
start_node 3
dp_started() { grep -q 'ipop-dataplane: .* worker(s), DPDK' "$WORK/n$1.log"; }
wait_for 30 "node 1's DPDK dataplane started" dp_started 1
wait_for 30 "node 3's DPDK dataplane started" dp_started 3
wait_for 10 "the vhost-user socket" test -S "$SOCK"
log "node 1: $(grep -o 'host port net_vhost[^,]*' "$WORK/n1.log" | head -n1), socket $SOCK"

# The guest: testpmd forwards between its virtio-user port (0) and a TAP PMD port (1) whose
# kernel side, vm0, is the guest's interface. --no-huge: its memory is a memfd the vhost side maps.
# It busy-polls one core while it runs (not niced: starved by a loaded machine's other work, it
# took 50 s to start).
ip netns exec "$VMNS" "$TESTPMD" --no-huge -m 256 --no-pci -l 0-1 \
  --file-prefix="$VM_PREFIX" --log-level=notice \
  --vdev="net_virtio_user0,path=$SOCK,queues=1" --vdev="net_tap0,iface=vm0" -- \
  --forward-mode=io --port-topology=paired --nb-cores=1 --total-num-mbufs=4096 \
  --stats-period=60 >"$WORK/vm.log" 2>&1 &
PIDS+=($!)
VM_PID=$!
vm_up() { grep -q 'start packet forwarding' "$WORK/vm.log"; }
wait_for 60 "the guest (testpmd) started" vm_up
kill -0 "$VM_PID" 2>/dev/null || fail "testpmd exited: $(tail -n 20 "$WORK/vm.log")"
ip -n "$VMNS" link set vm0 up
ip netns exec "$VMNS" sysctl -qw net.ipv6.conf.vm0.disable_ipv6=1

wait_for 30 "node 2 reports node 1 up" peer_up 2 1
wait_for 30 "node 1 reports node 2 up" peer_up 1 2

# ---- DHCP through the vhost-user port
write_dhcp_client_scripts "$WORK/unused.lease"
LEASE_FILE="$WORK/vm.lease" ip netns exec "$VMNS" busybox udhcpc -i vm0 -n -q -t 10 -T 1 \
  -s "$WORK/udhcpc.sh" >"$WORK/udhcpc.log" 2>&1 ||
  fail "udhcpc in the guest got no lease through the vhost-user port: $(cat "$WORK/udhcpc.log")"
lease=$(cat "$WORK/vm.lease")
log "guest lease: $lease"
grep -q "ip=$(vip_of 1) " <<<"$lease" || fail "the guest got '$lease', expected $(vip_of 1)"
router=$(sed -n 's/.*router=\([0-9.]*\).*/\1/p' <<<"$lease")
[[ -n $router ]] || fail "no router in the guest's lease: $lease"
ip -n "$VMNS" route add default via "$router" dev vm0 2>/dev/null || true
mtu=$(sed -n 's/.*mtu=\([0-9]*\).*/\1/p' <<<"$lease")
[[ $mtu == 1400 ]] || fail "the guest's lease carries MTU '$mtu', expected node.mtu 1400: $lease"
ip -n "$VMNS" link set vm0 mtu "$mtu"

# ---- guest <-> node 2
ping_ns_ok "$VMNS" "$(vip_of 2)" 1 ||
  wait_for 20 "the guest reaches node 2" ping_ns_ok "$VMNS" "$(vip_of 2)" 1
ping_ns_ok "$VMNS" "$(vip_of 2)" 20 || fail "guest -> node 2: not every echo answered"
ping_ok 2 "$(vip_of 1)" 20 || fail "node 2 -> guest: not every echo answered"
log "pings both ways between the guest and node 2: 20 of 20 each"

head -c 20971520 /dev/urandom >"$WORK/payload"
SENT_SHA=$(sha256sum <"$WORK/payload" | cut -d' ' -f1)
# TCP between the guest's namespace and node 2's (tools/netns/lib.sh ns_transfer).
vm_transfer() { # vm_transfer to_vm|from_vm
  local rns sns dst
  if [[ $1 == to_vm ]]; then
    rns=$VMNS sns=$(ns_of 2) dst=$(vip_of 1)
  else
    rns=$(ns_of 2) sns=$VMNS dst=$(vip_of 2)
  fi
  ns_transfer "$sns" "$rns" "$dst" "$WORK/received" || fail "transfer $1 failed"
  local got
  got=$(sha256sum <"$WORK/received" | cut -d' ' -f1)
  [[ $got == "$SENT_SHA" ]] ||
    fail "$1: sha256 differs ($(stat -c %s "$WORK/received") of 20971520 bytes received)"
  log "$1: 20 MB intact (sha256 $got)"
}
vm_transfer from_vm
vm_transfer to_vm

# ---- what the vhost port carried
host_rx=$(counter 1 stat tap_rx_frames)
host_tx=$(counter 1 stat tap_tx_frames)
((host_rx > 10000 && host_tx > 10000)) ||
  fail "node 1's vhost-user port carried too little: rx $host_rx, tx $host_tx frames"
log "node 1's vhost-user port: $host_rx frames from the guest, $host_tx to it"

# Frames to the guest go to the MAC it sends from (learned on the vhost port), not broadcast.
guest_mac=$(ip -n "$VMNS" link show vm0 | awk '/link\/ether/ {print $2}')
ip netns exec "$VMNS" timeout 30 tcpdump -e -n -l -i vm0 -c 5 "icmp and src host $(vip_of 2)" \
  >"$WORK/vm-tcpdump.log" 2>"$WORK/vm-tcpdump.err" &
PIDS+=($!)
dump=$!
wait_for 10 "tcpdump capturing on vm0" grep -q "listening on" "$WORK/vm-tcpdump.err"
ping_ok 2 "$(vip_of 1)" 5 || fail "node 2 -> guest: not every echo answered (second round)"
wait "$dump"
frames=$(grep -c " > $guest_mac," "$WORK/vm-tcpdump.log")
((frames == 5)) || fail "of the echo requests the guest saw, $frames of 5 were to its MAC" \
  "$guest_mac: $(cat "$WORK/vm-tcpdump.log")"
log "echo requests reached the guest at its own MAC $guest_mac"

# ---- node 3, headless
grep -q 'dpdk: headless: no host port' "$WORK/n3.log" || fail "node 3 did not start headless"
wait_for 30 "node 2 reports the headless node 3 up" peer_up 2 3
wait_for 30 "node 3 reports node 2 up" peer_up 3 2
wait_for 30 "node 3 reports node 1 up" peer_up 3 1
if in_ns 3 ip link show ipop0 >/dev/null 2>&1; then fail "the headless node 3 has a TAP"; fi
log "node 3 headless (no TAP): HELLOs completed with node 1 and node 2"

stop_node 1 || fail "node 1 did not stop cleanly"
stop_node 3 || fail "node 3 did not stop cleanly"
echo "PASS"
