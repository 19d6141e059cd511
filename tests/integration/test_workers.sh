#!/usr/bin/env bash
# Several dataplane workers (node.workers = 2): a multi-queue TAP with one queue per worker, one
# SO_REUSEPORT socket per worker with the session-steering program, a nonce space shared by the
# workers. Two real nodes: (a) both with 2 workers, (b) 2 workers against 1. In each: 50 MB TCP
# transfers both ways arrive intact (sha256), iperf3 -P 4 runs through the overlay (when
# installed), and no datagram is dropped as a replay (nonces interleaved by two sender workers
# must fit the receiver's one window), fails authentication or misses its owner worker.
# (c) 2/2 again with every datagram steered to the wrong worker (IPOP_DP_MISSTEER=1), so all of
# them reach their session's owner through the handoff rings: each node's handoff_in equals the
# DATA datagrams it took in (its peer's rx-packets plus the DATA drops), not one fewer.
set -uo pipefail
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v python3 >/dev/null || skip "python3 missing"
command -v sha256sum >/dev/null || skip "sha256sum missing"
command -v ss >/dev/null || skip "ss missing"
net_init wrk
net_add_host 1
net_add_host 2
head -c 50M /dev/urandom >"$WORK/payload"
SENT_SHA=$(sha256sum <"$WORK/payload" | cut -d' ' -f1)


# check_node i WORKERS WHAT: the dataplane runs WORKERS workers on as many TAP queues.
check_node() {
  local i=$1 n=$2 what=$3 queues threads dp
  grep -q "ipop-dataplane: .* $n worker(s)" "$WORK/n$i.log" ||
    fail "$what: node $i dataplane does not report $n worker(s): $(grep 'ipop-dataplane:' "$WORK/n$i.log" | tail -n 3)"
  queues=$(in_ns "$i" ls /sys/class/net/ipop0/queues | grep -c '^rx-')
  ((queues == n)) || fail "$what: node $i TAP has $queues queues, want $n"
  dp=$(child_pid "$i" dataplane)
  threads=$(ls "/proc/$dp/task" | wc -l)
  ((threads >= n)) || fail "$what: node $i dataplane has $threads threads, want >= $n"
  log "$what: node $i: $n worker(s), $queues TAP queues, $threads threads;" \
    "$(grep -o 'datagrams steered[^,]*\|steering [^,]*\|no steering[^,]*' "$WORK/n$i.log" | tail -n1)"
}

# data_taken_in i: DATA datagrams node i's workers took in: delivered (rx-packets of its peers)
# or dropped after their owner was found.
data_taken_in() {
  local i=$1 out delivered dropped=0 r
  out=$(ctl "$i" peers) || fail "ipopctl peers on node $i failed: $out"
  delivered=$(awk '{for (k = 1; k < NF; k++) if ($k == "rx-packets") s += $(k + 1)} END {print s + 0}' <<<"$out")
  for r in unknown_session replay auth_failed inner_bad_ipv4 src_not_allowed; do
    dropped=$((dropped + $(counter "$i" drop "$r")))
  done
  echo $((delivered + dropped))
}

thread_ticks() { # thread_ticks i: utime+stime of each dataplane thread of node i, one line
  local dp t
  dp=$(child_pid "$1" dataplane)
  for t in /proc/"$dp"/task/*; do awk '{printf "%d ", $14 + $15}' "$t/stat"; done
}

run_phase() { # run_phase W1 W2 [missteer]
  local w1=$1 w2=$2 what="workers $1/$2${3:+ $3}" i gbit json retr
  : >"$WORK/n1.log"
  : >"$WORK/n2.log"
  write_config 1 2 "[node]" "workers = $w1" >/dev/null
  write_config 2 2 "[node]" "workers = $w2" >/dev/null
  start_node 1
  start_node 2
  for i in 1 2; do wait_for 30 "node $i sees its peer ready" peers_ready "$i" 2; done
  check_node 1 "$w1" "$what"
  check_node 2 "$w2" "$what"
  check_transfer 1 2 "$what"
  check_transfer 2 1 "$what"
  if command -v iperf3 >/dev/null; then
    local port=$((5201 + RANDOM % 500)) spid
    in_ns 2 iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
    spid=$!
    PIDS+=($spid)
    wait_for 5 "iperf3 server" in_ns 2 bash -c "ss -ltn | grep -q ':$port '"
    local before1 before2
    before1=$(thread_ticks 1)
    before2=$(thread_ticks 2)
    json=$(in_ns 1 timeout 60 iperf3 -c "$(vip_of 2)" -p "$port" -t 4 -P 4 -J 2>&1)
    wait "$spid" 2>/dev/null
    read -r gbit retr < <(python3 -c 'import json, sys
d = json.loads(sys.stdin.read())
if "error" in d: sys.exit("iperf3: " + d["error"])
print("%.3f %d" % (d["end"]["sum_received"]["bits_per_second"] / 1e9,
                   d["end"]["sum_sent"].get("retransmits", 0)))' <<<"$json") ||
      fail "$what: iperf3 -P 4 failed: $(head -c 300 <<<"$json")"
    log "$what: iperf3 -P 4: $gbit Gbit/s, $retr TCP retransmits"
    log "$what: dataplane thread CPU ticks (main, workers...) before/after: node 1 [$before1]" \
      "[$(thread_ticks 1)], node 2 [$before2] [$(thread_ticks 2)]"
  else
    log "$what: iperf3 not installed; -P 4 run skipped"
  fi
  for i in 1 2; do
    local replay auth handoff_failed rx
    replay=$(counter "$i" drop replay)
    auth=$(counter "$i" drop auth_failed)
    handoff_failed=$(counter "$i" drop handoff_failed)
    rx=$(counter "$i" stat udp_rx_datagrams)
    log "$what: node $i: udp_rx_datagrams=$rx replay=$replay auth_failed=$auth" \
      "handoff_out=$(counter "$i" stat handoff_out) handoff_in=$(counter "$i" stat handoff_in)" \
      "handoff_failed=$handoff_failed"
    ((rx > 30000)) || fail "$what: node $i received only $rx datagrams"
    ((replay == 0)) || fail "$what: node $i dropped $replay datagrams as replays"
    ((auth == 0)) || fail "$what: node $i: $auth datagrams failed authentication"
    ((handoff_failed == 0)) || fail "$what: node $i: $handoff_failed datagrams missed their owner"
    if [[ ${3:-} == missteer ]]; then
      # Read until no datagram arrived in between (a late HELLO does not count; DATA would).
      local hin taken again
      for _ in 1 2 3 4 5; do
        hin=$(counter "$i" stat handoff_in)
        taken=$(data_taken_in "$i")
        again=$(counter "$i" stat handoff_in)
        ((hin == again)) && break
        sleep 0.5
      done
      ((hin > 30000 && hin == taken)) ||
        fail "$what: node $i: $hin datagrams crossed a handoff ring, but it took in $taken DATA"
      log "$what: node $i: all $taken DATA datagrams crossed a handoff ring"
    fi
  done
  for i in 1 2; do stop_node "$i" || fail "node $i did not stop"; done
}

run_phase 2 2
run_phase 2 1
# Every DATA datagram lands on the worker after its owner and must cross a handoff ring.
export IPOP_DP_MISSTEER=1
run_phase 2 2 missteer
echo "PASS"
