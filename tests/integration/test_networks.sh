#!/usr/bin/env bash
# Named networks on one overlay (issue 4): six nodes join network "alpha" and three join "beta",
# all through one bootstrap node and one overlay credential, with the same address range. No node
# is given an address: each claims one through the DHT, and the host behind it gets it by DHCP
# (busybox udhcpc, ISC dhclient on one). Checked:
#   - addresses are distinct within a network, and the ranges overlap between the networks
#   - dig resolves C-names and registered names inside a network, not the other network's names
#   - members of alpha reach each other, beta members each other; pings from alpha to an address
#     that beta also uses reach the alpha holder only (beta's host counts no echo request); an
#     address only beta uses is unreachable from alpha
#   - a beta node is killed (no release): a new beta node finds the pool full, gets the dead
#     node's address once its lease ran out, and the others reach it there
#   - a node stopped cleanly releases its address: it is free at once (a beta node waiting on the
#     full pool gets it long before the stopped node's lease could have run out); and it removes
#     its name: another node's DNS answers NXDOMAIN for it long before the record's TTL (90 s)
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v busybox >/dev/null || skip "busybox (udhcpc) missing"
command -v dhclient >/dev/null || skip "isc-dhcp-client (dhclient) missing"
command -v dig >/dev/null || skip "dig (bind9-dnsutils) missing"
net_init nw

SUBNET=10.250.0.0/24
SERVICE=10.250.0.254
OVERLAY_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
ALPHA_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
BETA_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
ALPHA=(1 2 3 4 5 6)
BETA=(7 8 9)
BETA_LEASE=20
# Node 8 holds its address with a long lease: only its release can free it quickly.
RELEASE_LEASE=90
declare -A NET_OF=()

# node_config i NETWORK SECRET POOL LEASE
node_config() {
  local i=$1
  NET_OF[$i]=$2
  {
    ((i == 1)) || echo "bootstrap = $(underlay_ip 1):5800"
    node_sections "$i" "$2" "$3" none
    echo "subnet = $SUBNET"
    echo "pool = $4"
    echo "lease-s = $5"
    echo "[node]"
    echo "assign-address = false"
    echo "[overlay]"
    echo "secret = $OVERLAY_SECRET"
  } >"$WORK/n$i.conf"
}

# Both pools are full once every node is up: alpha holds .1-.6, beta .1-.3, so every beta
# address is also an alpha address.
for i in "${ALPHA[@]}"; do
  net_add_host "$i"
  node_config "$i" alpha "$ALPHA_SECRET" 10.250.0.1-10.250.0.6 60
done
for i in "${BETA[@]}"; do
  net_add_host "$i"
  node_config "$i" beta "$BETA_SECRET" 10.250.0.1-10.250.0.3 \
    "$( ((i == 8)) && echo "$RELEASE_LEASE" || echo "$BETA_LEASE")"
done
for i in "${ALPHA[@]}" "${BETA[@]}"; do start_node "$i"; done

write_dhcp_client_scripts "$WORK/lease6"

allocated() { ctl "$1" status | grep -q '^address .*(allocated)'; }
not_allocated() { ctl_lacks "$1" '^address .*(allocated)' status; }
node_vip() { ctl "$1" status | awk '$1 == "address" { print $2 }'; }
tap_exists() { in_ns "$1" ip link show ipop0; }
dhcp() { # dhcp i: the host behind node i takes its lease with udhcpc
  LEASE_FILE="$WORK/lease$1" in_ns "$1" busybox udhcpc -i ipop0 -n -q -t 8 -T 1 \
    -s "$WORK/udhcpc.sh" >"$WORK/udhcpc$1.log" 2>&1
}

for i in "${ALPHA[@]}" "${BETA[@]}"; do
  wait_for 60 "node $i allocated an address" allocated "$i"
  wait_for 10 "node $i TAP" tap_exists "$i"
  in_ns "$i" ip link set ipop0 up
done
declare -A VIP=()
for i in "${ALPHA[@]}" "${BETA[@]}"; do
  VIP[$i]=$(node_vip "$i")
  log "node $i (${NET_OF[$i]}): ${VIP[$i]}"
done
for net in alpha beta; do
  dup=$(for i in "${!VIP[@]}"; do [[ ${NET_OF[$i]} == "$net" ]] && echo "${VIP[$i]}"; done | sort | uniq -d)
  [[ -z $dup ]] || fail "network $net handed out $dup twice"
done

for i in "${ALPHA[@]}" "${BETA[@]}"; do
  if ((i == 6)); then
    in_ns 6 dhclient -d -v -sf "$WORK/dhclient.sh" -lf "$WORK/dhclient.leases" \
      -pf "$WORK/dhclient.pid" ipop0 >"$WORK/dhclient.log" 2>&1 &
    PIDS+=($!)
    continue
  fi
  dhcp "$i" || fail "udhcpc on node $i: $(cat "$WORK/udhcpc$i.log")"
done
wait_for 20 "dhclient lease on node 6" test -s "$WORK/lease6"
for i in "${ALPHA[@]}" "${BETA[@]}"; do
  lease=$(cat "$WORK/lease$i")
  grep -q "ip=${VIP[$i]} " <<<"$lease" || fail "node $i host got '$lease', expected ${VIP[$i]}"
  grep -q "domain=${NET_OF[$i]}.ipop" <<<"$lease" || fail "node $i: wrong domain in '$lease'"
done
log "every host configured by DHCP with its node's DHT-allocated address"

# ---- names
q() { in_ns "$1" dig +time=2 +tries=3 @"$SERVICE" "${@:2}"; }
wait_for 30 "alpha names registered" bash -c \
  "$IPOP_BUILD/tools/ipopctl --socket $WORK/n3.sock counters | grep -Eq '^overlay_host +names_published +[1-9]'"
name3="$(node_name 3).alpha.ipop"
wait_for 20 "node 1 resolves $name3" bash -c \
  "[[ \$(ip netns exec $(ns_of 1) dig +short +time=2 @$SERVICE $name3 A) == ${VIP[3]} ]]"
log "node 1: $name3 -> ${VIP[3]} (registered name)"
cname=$(printf 'C250000%03d.ipop' "${VIP[2]##*.}")
a=$(q 1 +short "$cname" A)
[[ $a == "${VIP[2]}" ]] || fail "$cname resolved to '$a'"
log "node 1: $cname -> $a"
name8="$(node_name 8).beta.ipop"
wait_for 20 "node 7 resolves $name8" bash -c \
  "[[ \$(ip netns exec $(ns_of 7) dig +short +time=2 @$SERVICE $name8 A) == ${VIP[8]} ]]"
out=$(q 1 "$name8" A)
grep -qE 'status: (NXDOMAIN|REFUSED)' <<<"$out" || fail "alpha node 1 resolved beta's $name8: $out"
log "beta names resolve in beta ($name8 -> ${VIP[8]}) and not in alpha"

# ---- traffic inside each network
for i in "${ALPHA[@]}"; do
  for j in "${ALPHA[@]}"; do
    ((i == j)) && continue
    ((i == 1 || j == 1)) || continue
    wait_for 30 "alpha node $i pings node $j" ping_ok "$i" "${VIP[$j]}" 2
  done
done
wait_for 30 "alpha node 4 pings node 6" ping_ok 4 "${VIP[6]}" 2
for i in "${BETA[@]}"; do
  for j in "${BETA[@]}"; do
    ((i == j)) || wait_for 30 "beta node $i pings node $j" ping_ok "$i" "${VIP[$j]}" 2
  done
done
log "alpha members reach each other; beta members reach each other"

# ---- isolation: the same address in both networks
echos() { in_ns "$1" awk '/^Icmp:/ { if (!h) { for (k = 1; k <= NF; k++) if ($k == "InEchos") c = k; h = 1 } else print $c }' /proc/net/snmp; }
holder_in() { # holder_in NET ADDRESS: the node of NET holding ADDRESS
  local i
  for i in "${!VIP[@]}"; do [[ ${NET_OF[$i]} == "$1" && ${VIP[$i]} == "$2" ]] && echo "$i"; done
}
for b in "${BETA[@]}"; do
  shared=${VIP[$b]}
  a=$(holder_in alpha "$shared")
  [[ -n $a && $a != 1 ]] && break
done
[[ -n $a && $a != 1 ]] || fail "no address used by both networks (alpha ${VIP[*]})"
before_beta=$(echos "$b")
before_alpha=$(echos "$a")
ping_ok 1 "$shared" 10 || fail "alpha node 1 cannot ping $shared (10 of 10)"
after_beta=$(echos "$b")
after_alpha=$(echos "$a")
((after_alpha - before_alpha >= 10)) || fail "alpha node $a counted $((after_alpha - before_alpha)) echo requests"
((after_beta == before_beta)) || fail "beta node $b got $((after_beta - before_beta)) echo requests from alpha"
log "$shared is alpha node $a and beta node $b: alpha's pings reach node $a only"
alpha_only=$(for i in "${ALPHA[@]}"; do echo "${VIP[$i]}"; done | sort | tail -n1)
[[ -z $(holder_in beta "$alpha_only") ]] || fail "setup: $alpha_only is used by beta too"
ping_none 7 "$alpha_only" 3 || fail "beta node 7 reached alpha-only address $alpha_only"
ctl_lacks 7 "peer $alpha_only " peers || fail "beta node 7 learned alpha's $alpha_only as a peer"
log "beta cannot reach alpha-only $alpha_only"

# ---- a killed node's lease runs out and its address is reused
crash_node() { # crash_node i: kill -9 the supervisor and both processes (no release)
  local i=$1 sup=${NODE_PID[$1]} kids
  kids=$(pgrep -P "$sup" | tr '\n' ' ')
  kill -KILL "$sup" $kids 2>/dev/null
  wait "$sup" 2>/dev/null
  unset "NODE_PID[$i]"
}
dead=${VIP[9]}
crash_node 9
killed_at=$SECONDS
log "beta node 9 ($dead) killed"
net_add_host 10
node_config 10 beta "$BETA_SECRET" 10.250.0.1-10.250.0.3 "$BETA_LEASE"
start_node 10
wait_for 60 "node 10 joined" bash -c "$IPOP_BUILD/tools/ipopctl --socket $WORK/n10.sock ring | grep -q '^joined yes'"
# Until the dead node's lease runs out the pool is full: node 10 must not get any address.
while ((SECONDS - killed_at < BETA_LEASE - 2)); do
  not_allocated 10 || fail "node 10 got an address while node 9's lease was still running"
  sleep 1
done
log "node 10 got no address while node 9's lease ran"
wait_for $((BETA_LEASE + 40)) "node 10 allocated the dead node's address" allocated 10
VIP[10]=$(node_vip 10)
NET_OF[10]=beta
[[ ${VIP[10]} == "$dead" ]] || fail "node 10 got ${VIP[10]}, expected the freed $dead"
log "node 10 got $dead $((SECONDS - killed_at)) s after node 9 was killed (lease ${BETA_LEASE} s)"
wait_for 10 "node 10 TAP" tap_exists 10
in_ns 10 ip link set ipop0 up
dhcp 10 || fail "udhcpc on node 10: $(cat "$WORK/udhcpc10.log")"
wait_for 30 "beta node 7 pings node 10 at $dead" ping_ok 7 "$dead" 2

# ---- a clean stop releases at once: checked from another node. Node 11 joins beta while the pool
# is full (7, 8 and 10) and asks again every 5 s; once node 8 stops it must get node 8's address
# within 30 s (a retry, the 3 s confirmation, replicas settling after the leave), long before
# node 8's record could expire (renewed every 20 s, lease RELEASE_LEASE s: 70 s at the earliest).
freed=${VIP[8]}
net_add_host 11
node_config 11 beta "$BETA_SECRET" 10.250.0.1-10.250.0.3 "$BETA_LEASE"
start_node 11
exhausted() { ctl 11 counters | grep -Eq '^address +exhausted +[1-9]'; }
wait_for 60 "node 11 finds the beta pool full" exhausted
not_allocated 11 || fail "node 11 got $(node_vip 11) while the beta pool was full"
resolves_to() { [[ $(q "$1" +short "$2" A) == "$3" ]]; }
wait_for 20 "node 7 resolves $name8 to $freed before the stop" resolves_to 7 "$name8" "$freed"
stop_node 8 || fail "node 8 did not stop"
stopped_at=$SECONDS
grep -q "address $freed released" "$WORK/n8.log" || fail "node 8 did not release $freed: $(tail -n 5 "$WORK/n8.log")"
grep -q "name $name8 removed" "$WORK/n8.log" || fail "node 8 did not remove its name $name8: $(tail -n 5 "$WORK/n8.log")"
# Renewed within the last 20 s with a 90 s TTL: only the removal makes it vanish this soon. A
# lookup the ring around the departed node cannot answer yet is SERVFAIL, not a pass.
nxdomain() { q "$1" "$2" A | grep -q 'status: NXDOMAIN'; }
wait_for 15 "node 7 answers NXDOMAIN for the stopped node's $name8" nxdomain 7 "$name8"
log "node 8 removed its name: $name8 is NXDOMAIN at node 7 $((SECONDS - stopped_at)) s after the stop"
wait_for 30 "node 11 gets the address node 8 released" allocated 11
[[ $(node_vip 11) == "$freed" ]] || fail "node 11 got $(node_vip 11), expected $freed released by node 8"
log "node 8 stopped and released $freed; node 11 got it $((SECONDS - stopped_at)) s later" \
  "(node 8's lease: $RELEASE_LEASE s)"
ctl 1 counters | grep -E '^address ' | sed 's/^/   /'
log "PASS"
