# NAT routers for namespace tests (docs/nat.md, "NAT classes in the tests"). Source after
# tools/netns/lib.sh and net_init. A "site" is a router namespace with its WAN side on the hub
# bridge (public address underlay_ip i) and a private LAN with node i behind it:
#
#   hub (public 172.31.0.0/16) --- u0 [router ${RUN}r<i>] l0 --- u0 [node ${RUN}n<i>]
#                                  underlay_ip i     10.<i>.0.1    10.<i>.0.2
#
# NAT classes as nftables rules (nftables 1.0.6 on Debian 12; Linux conntrack underneath):
#   eim    endpoint-independent mapping: masquerade keeps the source port whenever the tuple is
#          free, so one inner port maps to one public port for every destination. Filtering is
#          address- and port-dependent (APDF): inbound is forwarded only for conntrack flows the
#          inside started; anything new arriving on the WAN is dropped (also in the input chain,
#          so no router-local conntrack entry can steal the mapping's tuple). The usual home NAT.
#   cone   eim plus endpoint-independent filtering: inbound UDP to the node's port is forwarded
#          to the node whoever sends it (a "full cone": a dnat rule for the port).
#   sym    address/port-dependent mapping ("symmetric"): masquerade fully-random gives every new
#          flow (another destination address or port) its own random public port; filtering APDF.
nat_require() {
  command -v nft >/dev/null || skip "nft missing (apt-get install nftables; tools/install-deps.sh)"
  command -v conntrack >/dev/null || skip "conntrack missing (apt-get install conntrack)"
  # The kernel's nf_tables NAT: a throwaway namespace tells whether a nat chain can be made.
  local probe="ipopnft$$" err
  ip netns add "$probe" || skip "cannot create network namespaces here"
  err=$(printf 'table ip t {\n chain p {\n  type nat hook postrouting priority srcnat;\n  masquerade\n }\n}\n' |
    ip netns exec "$probe" nft -f - 2>&1)
  ip netns del "$probe"
  [[ -z $err ]] && return 0
  # Only an error that proves absence skips; anything else is a failure of the test itself.
  [[ $err == *"Operation not supported"* || $err == *"No such file or directory"* ]] &&
    skip "this kernel has no nf_tables NAT: $err"
  fail "nft probe: $err"
}

router_of() { echo "${RUN}r$1"; }
private_ip() { echo "10.$1.0.2"; }

# nat_rules CLASS PRIVATE_IP [PORT_RANGE]: the nftables ruleset of a router of that class.
# PORT_RANGE (e.g. 40000-40100) forces the masquerade onto other public ports (a rebinding).
nat_rules() {
  local class=$1 inner=$2 range=${3:-} masq="masquerade" dnat=""
  [[ -n $range ]] && masq="meta l4proto udp masquerade to :$range"
  case $class in
    eim) ;;
    cone) dnat="iifname \"u0\" udp dport 5800 dnat to $inner:5800" ;;
    sym) masq="masquerade fully-random" ;;
    *) fail "unknown NAT class $class" ;;
  esac
  cat <<EOF
flush ruleset
table ip nat {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    $dnat
  }
  chain postrouting {
    type nat hook postrouting priority srcnat;
    oifname "u0" $masq
    oifname "u0" masquerade
  }
}
table ip filter {
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "l0" accept
    ct status dnat accept
  }
  chain input {
    type filter hook input priority filter; policy accept;
    iifname "u0" ct state new drop
  }
}
EOF
}

# nat_add_site i CLASS: router namespace of class CLASS and node i's namespace behind it.
nat_add_site() {
  local i=$1 class=$2 r n
  r=$(router_of "$i")
  n=$(ns_of "$i")
  ip netns add "$r"
  NAMESPACES+=("$r")
  ip netns add "$n"
  NAMESPACES+=("$n")
  ip -n "$r" link set lo up
  ip -n "$n" link set lo up
  ip link add "${RUN}u$i" type veth peer name "${RUN}h$i"
  ip link set "${RUN}u$i" netns "$r"
  ip link set "${RUN}h$i" netns "$HUB"
  ip -n "$r" link set "${RUN}u$i" name u0
  ip -n "$r" addr add "$(underlay_ip "$i")/16" dev u0
  ip -n "$r" link set u0 up
  ip -n "$HUB" link set "${RUN}h$i" master br0
  ip -n "$HUB" link set "${RUN}h$i" up
  ip link add "${RUN}l$i" type veth peer name "${RUN}m$i"
  ip link set "${RUN}l$i" netns "$r"
  ip link set "${RUN}m$i" netns "$n"
  ip -n "$r" link set "${RUN}l$i" name l0
  ip -n "$n" link set "${RUN}m$i" name u0
  ip -n "$r" addr add "10.$i.0.1/24" dev l0
  ip -n "$n" addr add "$(private_ip "$i")/24" dev u0
  ip -n "$r" link set l0 up
  ip -n "$n" link set u0 up
  ip -n "$n" route add default via "10.$i.0.1"
  ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1
  nat_rules "$class" "$(private_ip "$i")" | ip netns exec "$r" nft -f - ||
    fail "nft rules for a $class router"
  NAT_CLASS[$i]=$class
}
declare -A NAT_CLASS=()

# nat_flush i: forgets every mapping of site i's router (conntrack -F).
nat_flush() { ip netns exec "$(router_of "$1")" conntrack -F >/dev/null 2>&1; }
# nat_rebind i RANGE: site i's router maps to new public ports from now on, old mappings gone.
nat_rebind() {
  nat_rules "${NAT_CLASS[$1]}" "$(private_ip "$1")" "$2" | ip netns exec "$(router_of "$1")" nft -f - ||
    fail "nft rebind of site $1"
  nat_flush "$1"
}
# nat_mappings i: the router's UDP conntrack entries (for diagnostics).
nat_mappings() { ip netns exec "$(router_of "$1")" conntrack -L -p udp 2>/dev/null; }

# ---- the topology of test_nat.sh and bench/nat_direct_path.sh: three public nodes (1, 2
# bootstrap, 8) and five NATed ones: 3 eim, 4 eim, 5 cone, 6 sym, 7 sym. Ring addresses are fixed:
# every NATed node that is not the cone sits between two nodes it can always link to (public or
# cone), since greedy routing needs each node linked to its ring neighbours (docs/nat.md,
# "Limits"); and nodes 3 and 4 have two such nodes between them on either side, so they are not
# each other's near neighbours: once the ring is complete they have no overlay link and their
# direct path can only come from hole punching. (The symmetric node 6 links to the cone node as
# its ring neighbour by itself.)
NAT_NODES=(1 2 3 4 5 6 7 8)
declare -A NAT_POS=([3]=0 [1]=1 [6]=2 [5]=3 [4]=4 [2]=5 [7]=6 [8]=7)
nat_ring_address() { python3 -c "print('%040x' % ($1 * (1 << 160) // 8 + 12345))"; }

nat_start_topology() {
  local i b
  for i in 1 2 8; do net_add_host "$i"; done
  nat_add_site 3 eim
  nat_add_site 4 eim
  nat_add_site 5 cone
  nat_add_site 6 sym
  nat_add_site 7 sym
  for i in "${NAT_NODES[@]}"; do
    {
      for b in 1 2; do ((b == i)) || echo "bootstrap = $(underlay_ip "$b"):5800"; done
      node_sections "$i" nat
      echo "[overlay]"
      echo "address = $(nat_ring_address "${NAT_POS[$i]}")"
      echo "shortcut-pps = 2"
      echo "far-links-per-log2 = 0"
    } >"$WORK/n$i.conf"
  done
  for i in "${NAT_NODES[@]}"; do start_node "$i"; done
}

nat_joined() { ctl "$1" ring | grep -q 'directory published'; }
nat_wait_joined() {
  local i
  for i in "${NAT_NODES[@]}"; do wait_for 60 "node $i joined and published" nat_joined "$i"; done
}
nat_address_of() { ctl "$1" ring | awk '/^overlay address/ {print $3}'; }
nat_linked() { ctl "$1" links | grep -q "$(nat_address_of "$2")"; }
# While the ring forms, nodes that are briefly each other's nearest known link directly (the
# overlay's own simultaneous LINK_REQUESTs); those links lose their role once the ring is complete
# and close after the surplus grace period. The checked pairs must start relayed.
nat_unlinked() {
  ! nat_linked 3 4 && ! nat_linked 4 3 && ! nat_linked 6 7 && ! nat_linked 7 6
}
nat_wait_unlinked() {
  wait_for 45 "nodes 3 and 4, and 6 and 7, have no overlay link before any traffic" nat_unlinked
}
# nat_direct i j: node i's route to node j's VIP is direct.
nat_direct() { ctl "$1" routes | grep -qE "^route $(vip_of "$2")/32 +direct"; }
