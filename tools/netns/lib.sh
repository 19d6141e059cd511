# Shared helpers for network-namespace topologies running real IPOP nodes.
# Sourced by tests/integration/*.sh, tools/demo.sh and bench/*.sh.
#
# Every name (namespaces, node names, shm objects, sockets) carries a per-run prefix so runs never
# collide, and net_cleanup (installed as an EXIT trap by net_init) stops exactly the processes this
# run started, by PID, and deletes what it created, also when a test fails half-way.

IPOP_ROOT=${IPOP_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
IPOP_BUILD=${IPOP_BUILD:-$IPOP_ROOT/build}
SKIP=77

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }

# kernel_at_least MAJOR MINOR: the running kernel is Linux MAJOR.MINOR or later (uname -r). Tests
# decide whether a kernel feature must work from this, never by asking the code under test.
kernel_at_least() {
  local v major minor
  v=$(uname -r)
  major=${v%%.*}
  minor=${v#*.}
  minor=${minor%%[!0-9]*}
  ((major > $1 || (major == $1 && minor >= $2)))
}
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  net_dump_diagnostics >&2 || true
  # In a subshell ($(counter ...), a background job) exit alone would end only the subshell, and
  # its caller might read the empty output as a zero: end the test itself too.
  [[ $BASHPID == "$$" ]] || kill -USR1 "$$" 2>/dev/null
  exit 1
}
skip() {
  printf 'SKIP: %s\n' "$*"
  exit $SKIP
}

net_require() {
  [[ $(id -u) -eq 0 ]] || skip "needs root for network namespaces"
  command -v ip >/dev/null || skip "iproute2 (ip) missing"
  local b
  for b in tools/ipop-node tools/ipopctl dataplane/ipop-dataplane controlplane/ipop-controlplane; do
    [[ -x $IPOP_BUILD/$b ]] || fail "not built: $IPOP_BUILD/$b (run tools/build.sh)"
  done
  [[ -e /dev/net/tun ]] || skip "/dev/net/tun missing (no TAP support)"
  ip netns add "ipopprobe$$" 2>/dev/null || skip "cannot create network namespaces here"
  ip netns del "ipopprobe$$"
}

# net_init PREFIX: PREFIX is a short word naming the test; the run id makes it unique.
net_init() {
  RUN="${1:-t}$$"
  RUN=${RUN:0:10}
  # Configs hold the network secret inline: readable by their owner only, as a real node's must
  # be (the control plane warns about a secret others can read).
  umask 077
  WORK=$(mktemp -d "/tmp/ipop-$RUN.XXXXXX")
  NAMESPACES=()
  PIDS=()
  NODES=()
  HUB="${RUN}hub"
  ip netns add "$HUB"
  NAMESPACES+=("$HUB")
  ip -n "$HUB" link add br0 type bridge
  ip -n "$HUB" link set br0 up
  ip -n "$HUB" link set lo up
  trap net_cleanup EXIT
  trap 'exit 130' INT TERM
  trap 'exit 1' USR1 # fail in a subshell
}

# Underlay address of node i (1-based) and its virtual IP.
underlay_ip() { echo "172.31.$((200 + ${1:-0} / 250)).$(( ${1} % 250 + 1 ))"; }
vip_of() { echo "10.77.0.$1"; }
ns_of() { echo "${RUN}n$1"; }
node_name() { echo "${RUN}n$1"; }

# net_add_host i: namespace for node i, veth u0 into the hub bridge, underlay address.
net_add_host() {
  local i=$1 ns
  ns=$(ns_of "$i")
  ip netns add "$ns"
  NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
  ip link add "${RUN}u$i" type veth peer name "${RUN}h$i"
  ip link set "${RUN}u$i" netns "$ns"
  ip link set "${RUN}h$i" netns "$HUB"
  ip -n "$ns" link set "${RUN}u$i" name u0
  ip -n "$ns" addr add "$(underlay_ip "$i")/16" dev u0
  ip -n "$ns" link set u0 up
  ip -n "$HUB" link set "${RUN}h$i" master br0
  ip -n "$HUB" link set "${RUN}h$i" up
}

SECRET=${SECRET:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}

# node_sections i [NETWORK [SECRET [VIP|none]]]: the [node] and [network] lines every test node
# shares: its name, address (default vip_of i /24; none: claimed through the DHT), TAP, listen
# port and management socket; the network's name (default $NETWORK_NAME or demo) and secret
# (default $SECRET), and fast HELLOs. Callers print their top-level lines (peers, bootstrap,
# announce) before it and further lines after it, under a repeated section header if needed.
node_sections() {
  local i=$1 vip=${4:-$(vip_of "$1")/24}
  echo "[node]"
  echo "name = $(node_name "$i")"
  [[ $vip == none ]] || echo "vip = $vip"
  echo "tap = ipop0"
  echo "listen = 0.0.0.0:5800"
  echo "mgmt-socket = $WORK/n$i.sock"
  echo "[network]"
  echo "name = ${2:-${NETWORK_NAME:-demo}}"
  echo "secret = ${3:-$SECRET}"
  echo "hello-interval-ms = 500"
  echo "peer-timeout-ms = 3000"
}

# write_config i N [extra lines...]: config for node i in an N-node full mesh of static peers.
write_config() {
  local i=$1 n=$2 j
  shift 2
  local f="$WORK/n$i.conf"
  {
    for ((j = 1; j <= n; j++)); do
      ((j == i)) || echo "peer = $(vip_of "$j") $(underlay_ip "$j"):5800"
    done
    node_sections "$i"
    for extra in "$@"; do echo "$extra"; done
  } >"$f"
  echo "$f"
}

# start_node i [ipop-node flags...]: starts the supervisor for node i inside its namespace.
start_node() {
  local i=$1 ns
  shift
  ns=$(ns_of "$i")
  ip netns exec "$ns" "$IPOP_BUILD/tools/ipop-node" --config "$WORK/n$i.conf" \
    --pidfile "$WORK/n$i.pid" "$@" >>"$WORK/n$i.log" 2>&1 &
  PIDS+=($!)
  NODE_PID[$i]=$!
  NODES+=("$i")
}

ctl() { # ctl i COMMAND...
  local i=$1
  shift
  "$IPOP_BUILD/tools/ipopctl" --socket "$WORK/n$i.sock" "$@"
}

in_ns() { # in_ns i CMD...
  local i=$1
  shift
  ip netns exec "$(ns_of "$i")" "$@"
}

# wait_for SECONDS DESCRIPTION CMD...: polls CMD every 0.2 s until it succeeds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${secs}s waiting for: $what"
    sleep 0.2
  done
}

# peers_ready i N: node i reports every other node of an N-node mesh up and tx-ready.
peers_ready() {
  local i=$1 n=$2 out
  out=$(ctl "$i" peers 2>/dev/null) || return 1
  [[ $(grep -c ' up ' <<<"$out") -eq $((n - 1)) ]] || return 1
  ! grep -q 'tx-ready no' <<<"$out"
}

peer_up() { # peer_up i j: node i reports node j up and tx-ready
  local line
  line=$(ctl "$1" peers 2>/dev/null | grep "peer $(vip_of "$2") ") || return 1
  grep -q ' up ' <<<"$line" && ! grep -q 'tx-ready no' <<<"$line"
}

child_pid() { # child_pid i dataplane|controlplane: the supervised process of node i
  pgrep -P "${NODE_PID[$1]}" -f "ipop-$2" | head -n1
}

stop_node() {
  local i=$1 pid=${NODE_PID[$1]:-}
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  local t
  for ((t = 0; t < 100; t++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "node $i supervisor did not stop in 10 s; killing"
    pkill -KILL -P "$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
    return 1
  fi
  unset "NODE_PID[$i]"
  return 0
}

net_dump_diagnostics() {
  [[ -n ${WORK:-} && -d ${WORK:-/nonexistent} ]] || return 0
  local i
  for i in "${NODES[@]}"; do
    echo "---- node $i: status / peers / counters"
    ctl "$i" status 2>&1 | head -n 30
    ctl "$i" peers 2>&1 | head -n 30
    ctl "$i" counters 2>&1 | head -n 60
    echo "---- node $i: log (last 40 lines)"
    tail -n 40 "$WORK/n$i.log" 2>/dev/null
  done
}

net_cleanup() {
  local rc=$? i pid
  trap - EXIT
  for i in "${!NODE_PID[@]}"; do stop_node "$i" || true; done
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do
    for ((i = 0; i < 20; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      pkill -KILL -P "$pid" 2>/dev/null
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null # reap quietly: no "Killed" job notices
  done
  for i in "${NODES[@]}"; do rm -f "/dev/shm/ipop-$(node_name "$i")"; done
  for ns in "${NAMESPACES[@]}"; do
    # Anything we started inside (iperf3, tcpdump) dies with our PID list or here.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  if [[ $rc -eq 0 || -z ${KEEP_WORK:-} ]]; then rm -rf "$WORK"; fi
  exit $rc
}

declare -A NODE_PID=()

# iperf_tcp SRC DST SECONDS [STREAMS] [DST_IP]: TCP from node SRC to node DST through the overlay
# (or to DST_IP); prints received Gbit/s. The server serves one test and exits.
iperf_tcp() {
  local src=$1 dst=$2 secs=$3 streams=${4:-1} ip=${5:-$(vip_of "$2")} port=$((5201 + RANDOM % 500))
  in_ns "$dst" iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
  local spid=$!
  PIDS+=($spid)
  wait_for 5 "iperf3 server in node $dst" in_ns "$dst" bash -c "ss -ltn | grep -q ':$port '"
  local json
  json=$(in_ns "$src" iperf3 -c "$ip" -p "$port" -t "$secs" -P "$streams" -J 2>&1)
  wait "$spid" 2>/dev/null
  python3 -c 'import json,sys
d=json.loads(sys.stdin.read())
if "error" in d: sys.exit("iperf3: "+d["error"])
print("%.3f" % (d["end"]["sum_received"]["bits_per_second"]/1e9))' <<<"$json"
}

# ping_summary NAMESPACE DST_IP COUNT [PING_ARGS...]: sends COUNT echoes and prints
# "TRANSMITTED RECEIVED" from ping's summary. Status 2 when there is no summary (ping could not
# run): that is no evidence either way. ping's own exit status is not used: iputils exits 0 when
# one echo of many came back.
ping_summary() {
  local ns=$1 dst=$2 count=$3 out tx rx
  shift 3
  out=$(ip netns exec "$ns" ping -n -q -c "$count" -i 0.2 -W 2 "$@" "$dst" 2>&1)
  read -r tx rx < <(sed -nE 's/^([0-9]+) packets transmitted, ([0-9]+) (packets )?received.*/\1 \2/p' <<<"$out")
  if [[ -z $tx || -z $rx ]]; then
    printf 'ping %s in %s: no summary: %s\n' "$dst" "$ns" "$out" >&2
    return 2
  fi
  echo "$tx $rx"
}

# ping_ns_ok NAMESPACE DST_IP [COUNT [LOST [PING_ARGS...]]]: true when all COUNT echoes (default 3)
# went out and all but at most LOST (default 0) were answered.
ping_ns_ok() {
  local ns=$1 dst=$2 count=${3:-3} lost=${4:-0} s tx rx
  shift $(($# < 4 ? $# : 4))
  s=$(ping_summary "$ns" "$dst" "$count" "$@") || return 1
  read -r tx rx <<<"$s"
  ((tx == count && rx >= count - lost))
}
# ping_ok SRC DST_IP [COUNT [LOST [PING_ARGS...]]]: ping_ns_ok from node SRC's namespace.
ping_ok() { ping_ns_ok "$(ns_of "$1")" "${@:2}"; }

# ping_none SRC DST_IP [COUNT]: true when COUNT echoes (default 3) went out from node SRC and none
# was answered; false when one was, or when ping could not run at all.
ping_none() {
  local count=${3:-3} s tx rx
  s=$(ping_summary "$(ns_of "$1")" "$2" "$count") || return 1
  read -r tx rx <<<"$s"
  ((tx == count && rx == 0))
}

# ctl_lacks i PATTERN COMMAND...: true when ipopctl COMMAND on node i answers and no line of the
# answer matches PATTERN (grep). Fails the test when ipopctl fails: an absent answer is no
# evidence that something is absent.
ctl_lacks() {
  local i=$1 pattern=$2 out
  shift 2
  out=$(ctl "$i" "$@" 2>&1) || fail "ipopctl $* on node $i failed: $out"
  ! grep -q -- "$pattern" <<<"$out"
}

# Shared by the data-integrity tests (offloads_mtu, workers). They set WORK/payload (50 MB of
# random bytes) and SENT_SHA before calling check_transfer.
# counter i MODULE NAME: the value from `ipopctl counters --all` ("MODULE NAME VALUE" lines, e.g.
# drop replay, stat udp_tx_bytes, node hello_sent, dns_tcp opened), which lists every counter the
# node has, zeros included. Fails the test when ipopctl fails or the node has no such counter
# (a renamed counter must not read as 0).
counter() {
  local out v
  out=$(ctl "$1" counters --all 2>&1) || fail "ipopctl counters --all on node $1 failed: $out"
  v=$(awk -v k="$2" -v n="$3" '$1 == k && $2 == n {print $3}' <<<"$out")
  [[ $v =~ ^[0-9]+$ ]] || fail "node $1 has no counter '$2 $3' (ipopctl counters --all)"
  echo "$v"
}

# ns_transfer SRC_NS DST_NS DST_IP FILE [SECONDS]: TCP from namespace SRC_NS to DST_IP, which
# namespace DST_NS holds, of $WORK/payload; the receiver writes FILE. With SECONDS the sender
# spreads the payload over about that long (to span rekeys).
ns_transfer() {
  local sns=$1 rns=$2 dst=$3 out=$4 secs=${5:-0} port=$((7000 + RANDOM % 1000))
  rm -f "$out"
  ip netns exec "$rns" python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.settimeout(60)
c, _ = s.accept()
c.settimeout(60)
with open(sys.argv[3], "wb") as f:
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        f.write(b)
' "$dst" "$port" "$out" &
  local rpid=$!
  PIDS+=($rpid)
  wait_for 10 "receiver listening in $rns" ip netns exec "$rns" bash -c "ss -ltn | grep -q ':$port '"
  timeout 120 ip netns exec "$sns" python3 -c '
import os, socket, sys, time
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
rate = os.path.getsize(sys.argv[3]) / float(sys.argv[4]) if float(sys.argv[4]) > 0 else 0
start, sent = time.monotonic(), 0
with open(sys.argv[3], "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        c.sendall(b)
        sent += len(b)
        if rate:
            time.sleep(max(0.0, start + sent / rate - time.monotonic()))
c.shutdown(socket.SHUT_WR)
c.close()
' "$dst" "$port" "$WORK/payload" "$secs" || return 1
  wait "$rpid"
}

# transfer SRC DST FILE [SECONDS]: ns_transfer from node SRC to node DST's virtual IP.
transfer() {
  ns_transfer "$(ns_of "$1")" "$(ns_of "$2")" "$(vip_of "$2")" "$3" "${4:-0}"
}

check_transfer() { # check_transfer SRC DST WHAT [SECONDS]
  local got
  transfer "$1" "$2" "$WORK/received" "${4:-0}" || fail "$3: transfer node $1 -> node $2 failed"
  got=$(sha256sum <"$WORK/received" | cut -d' ' -f1)
  [[ $got == "$SENT_SHA" ]] ||
    fail "$3: sha256 differs ($(stat -c %s "$WORK/received") of 52428800 bytes received)"
  log "$3: 50 MB node $1 -> node $2 intact (sha256 $got)"
}

# write_dhcp_client_scripts DHCLIENT_LEASE_FILE: $WORK/udhcpc.sh and $WORK/dhclient.sh, scripts for
# busybox udhcpc and ISC dhclient that only touch the interface they are called for and record
# the lease as "ip=... subnet=... router=... dns=... domain=... mtu=..." (never /etc/resolv.conf).
# udhcpc writes to $LEASE_FILE from its environment; dhclient clears the environment of its
# script, so its lease file path is written into the script.
write_dhcp_client_scripts() {
  cat >"$WORK/udhcpc.sh" <<'SCRIPT'
#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$subnet" dev "$interface"
    echo "ip=$ip subnet=$subnet router=$router dns=$dns domain=$domain mtu=$mtu" >"$LEASE_FILE"
    ;;
esac
exit 0
SCRIPT
  cat >"$WORK/dhclient.sh" <<'SCRIPT'
#!/bin/sh
case "$reason" in
  BOUND|RENEW|REBOOT)
    ip addr flush dev "$interface"
    ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface"
    echo "ip=$new_ip_address subnet=$new_subnet_mask router=$new_routers dns=$new_domain_name_servers domain=$new_domain_name" >"@LEASE_FILE@"
    ;;
esac
exit 0
SCRIPT
  sed -i "s|@LEASE_FILE@|$1|" "$WORK/dhclient.sh"
  chmod +x "$WORK/udhcpc.sh" "$WORK/dhclient.sh"
}
