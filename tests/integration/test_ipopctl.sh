#!/usr/bin/env bash
# ipopctl for people and scripts (issue 13): on a 6-node overlay network with no static peers,
#   - `ipopctl validate` pings every member through the overlay: a table of 5 members, every
#     probe answered, exit status 0
#   - `ipopctl ping` by node name and by VIP answers with ping-like output; a pair without an
#     overlay link between them (found by validate on every node: the all-pairs test) shows the
#     relayed path (via which node, 2+ hops)
#   - every command's `--json` reply parses with python3's json module (before and after the
#     command word)
#   - one node is killed: validate lists it as unreachable and exits 1; ping to it exits 1
# Far links are off (overlay.far-links-per-log2 = 0) so ring neighbours are the only links and
# the two nodes opposite each other on the ring have none between them.
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v python3 >/dev/null || skip "python3 missing"
net_init ctl

N=6
for ((i = 1; i <= N; i++)); do net_add_host "$i"; done
for ((i = 1; i <= N; i++)); do
  {
    ((i == 1)) || echo "bootstrap = $(underlay_ip 1):5800"
    node_sections "$i" ctlnet
    echo "[overlay]"
    echo "far-links-per-log2 = 0"
  } >"$WORK/n$i.conf"
done
for ((i = 1; i <= N; i++)); do start_node "$i"; done

joined() { ctl "$1" ring | grep -q '^joined yes' && ctl "$1" ring | grep -q 'directory published'; }
for ((i = 1; i <= N; i++)); do wait_for 60 "node $i joined and published" joined "$i"; done

# ---- validate: all members, no loss (the member list fills within one DHT write per node)
validate_ok() { ctl 1 validate -c 2 -i 50 >"$WORK/validate.out" 2>&1; }
wait_for 60 "validate on node 1 to pass" validate_ok
ctl 1 validate -c 3 -i 100 >"$WORK/validate.out" 2>&1 ||
  fail "validate failed (exit $?) on a healthy network: $(cat "$WORK/validate.out")"
log "validate on node 1:"
cat "$WORK/validate.out"
rows=$(grep -cE '^[0-9a-f]{12} ' "$WORK/validate.out")
((rows == N - 1)) || fail "validate listed $rows members, expected $((N - 1))"
for ((i = 2; i <= N; i++)); do
  grep -qE "^[0-9a-f]{12} +$(vip_of "$i") +$(node_name "$i") +(direct|via [^ ]+) .* 3 +3 +0% " \
    "$WORK/validate.out" || fail "validate row of node $i is not a loss-free answer"
done
tail -n 1 "$WORK/validate.out" | grep -q '^ok: ' || fail "validate summary is not ok"
# Columns line up: every row has the VIP column at the same offset as the header.
col=$(head -n 1 "$WORK/validate.out" | awk '{print index($0, "VIP")}')
while read -r line; do
  [[ ${line:$((col - 1)):6} == "10.77." ]] || fail "validate columns are not aligned: '$line'"
done < <(grep -E '^[0-9a-f]{12} ' "$WORK/validate.out")

# ---- ping by name and by VIP
out=$(ctl 1 ping "$(node_name 3)" -c 3 -i 100) || fail "ping by name failed: $out"
echo "$out"
grep -q "^PING $(node_name 3) ($(vip_of 3)): node " <<<"$out" || fail "ping header: $out"
[[ $(grep -c "^reply from $(node_name 3) ($(vip_of 3)): seq=[123] path=" <<<"$out") == 3 ]] ||
  fail "ping by name: not 3 replies"
grep -q '^3 probes sent, 3 received, 0% loss' <<<"$out" || fail "ping summary: $out"
grep -qE '^rtt min/avg/max = [0-9.]+/[0-9.]+/[0-9.]+ ms$' <<<"$out" || fail "ping rtt: $out"
out=$(ctl 2 ping "$(vip_of 5)" -c 2 -i 50) || fail "ping by VIP failed: $out"
grep -q '^2 probes sent, 2 received, 0% loss' <<<"$out" || fail "ping by VIP: $out"
log "ping by VIP from node 2:"
echo "$out"

# A pair without an overlay link: the probe is relayed through a node both are linked to. The
# all-pairs run (validate on every node) finds one; then ping shows the relay by name.
relayed_pair() {
  local i line
  for ((i = 2; i <= N; i++)); do
    line=$(ctl "$i" validate -c 1 -i 10 | grep -E '^[0-9a-f]{12} .* via ' | head -n 1) || continue
    [[ -n $line ]] || continue
    echo "$i $(awk '{print $2}' <<<"$line")"
    return 0
  done
  return 1
}
relayed_ping() {
  local pair a vip
  pair=$(relayed_pair) || return 1
  read -r a vip <<<"$pair"
  out=$(ctl "$a" ping "$vip" -c 2 -i 50) || return 1
  grep -qE "path=via [^ ]+ hops=([2-9]|[1-9][0-9])/" <<<"$out" || return 1
  echo "$out" >"$WORK/relayed.out"
  log "node $a reaches $vip (no overlay link between them) relayed:"
}
relayed_ping || relayed_ping || relayed_ping ||
  fail "no pair of nodes answered over a relayed path (far links are off: opposite nodes have no link)"
cat "$WORK/relayed.out"

# ---- --json on every command parses
json_ok() { # json_ok NODE EXPECT-EXIT COMMAND...: the reply is one JSON object, python3 reads it
  local i=$1 want=$2 got
  shift 2
  out=$(ctl "$i" --json "$@")
  got=$?
  ((got == want)) || fail "ipopctl --json $* exited $got, expected $want: $out"
  python3 -c 'import json, sys; v = json.loads(sys.stdin.read()); assert isinstance(v, dict)' \
    <<<"$out" || fail "ipopctl --json $* is not a JSON object: $out"
}
json_ok 1 0 status
json_ok 1 0 peers
json_ok 1 0 routes
json_ok 1 0 ring
json_ok 1 0 links
json_ok 1 0 multicast
json_ok 1 0 dht put "probe" "v-$RUN" 60
json_ok 1 0 dht get probe
python3 -c "import json,sys; v=json.load(sys.stdin); assert any(x['value']=='v-$RUN' for x in v['values'])" \
  <<<"$out" || fail "dht get --json lacks the value: $out"
json_ok 1 0 reload
json_ok 1 0 ping "$(node_name 2)" -c 1
python3 -c "import json,sys; v=json.load(sys.stdin); assert v['ok'] and v['received']==1" <<<"$out" ||
  fail "ping --json: $out"
json_ok 1 0 validate -c 1 -i 50
python3 -c "import json,sys; v=json.load(sys.stdin); assert v['ok'] and len(v['members'])==$((N - 1))" \
  <<<"$out" || fail "validate --json: $out"
json_ok 1 0 counters
# the probes of the validate and ping runs above are counted
python3 -c "import json,sys; v=json.load(sys.stdin); assert v['overlay_echo']['probes_sent'] > 0" \
  <<<"$out" || fail "counters --json does not count the echo probes sent: $out"
json_ok 1 1 frobnicate
# --json may follow the command too
out=$(ctl 1 peers --json) || fail "ipopctl peers --json failed: $out"
python3 -c 'import json, sys; assert isinstance(json.load(sys.stdin)["peers"], list)' <<<"$out" ||
  fail "ipopctl peers --json (option after the command) is not the JSON reply: $out"
log "--json replies of every command parse"

# ---- kill node 6: validate reports it, exits 1
dp6=$(child_pid 6 dataplane)
cp6=$(child_pid 6 controlplane)
[[ -n $dp6 && -n $cp6 ]] || fail "node 6's processes not found"
kill -KILL "${NODE_PID[6]}" "$cp6" "$dp6"
unset "NODE_PID[6]"
sleep 1
ctl 1 validate -c 2 -i 50 >"$WORK/validate.out" 2>&1
rc=$?
cat "$WORK/validate.out"
((rc == 1)) || fail "validate exited $rc with node 6 dead, expected 1"
grep -qE "^[0-9a-f]{12} +$(vip_of 6) +$(node_name 6) +unreachable .* 2 +0 +100% " "$WORK/validate.out" ||
  fail "validate does not list node 6 as unreachable"
for ((i = 2; i <= N - 1; i++)); do
  grep -qE "^[0-9a-f]{12} +$(vip_of "$i") .* 2 +2 +0% " "$WORK/validate.out" ||
    fail "node $i lost probes after node 6 died"
done
grep -q '^fail: 1 of 5 members lost probes' "$WORK/validate.out" || fail "validate summary"
ctl 1 ping "$(vip_of 6)" -c 1 >/dev/null 2>&1
rc=$?
((rc == 1)) || fail "ping to the dead node exited $rc, expected 1"
json_ok 1 1 validate -c 1 -i 50
python3 -c "import json,sys; v=json.load(sys.stdin); assert not v['ok'] and v['unreachable']==1" \
  <<<"$out" || fail "validate --json after the kill: $out"
log "node 6 killed: validate reports it unreachable and exits 1"
log "PASS"
