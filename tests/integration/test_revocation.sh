#!/usr/bin/env bash
# Revocation network-wide (issue 15 item 4, docs/pki.md "Revocation: storage, flooding, expiry"):
#   - five certified nodes in a mesh of static peers with the overlay on; node 3 is certified by an
#     issuing CA (site), the others by the root
#   - `ipopctl revoke` on node 5 ONLY, with site's revocation of node 3 and site's certificate:
#     within 30 s every other node has learned it over the overlay (revocation learned_link),
#     ended node 3's sessions (revocation sessions_dropped) and node 3 reaches nobody, while pings
#     between surviving pairs, running across the revocation, lose nothing
#   - node 1, restarted, knows the revocation from node.state-dir (revocation learned_state)
#   - a forged revocation (signed by a node key) is refused by ipopctl revoke (exit status 1)
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
CERT=$IPOP_BUILD/tools/ipop-cert
[[ -x $CERT ]] || fail "$CERT not built"
net_init rev

PKI=$WORK/pki
mkdir -p "$PKI"
OVERLAY_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
NET=revnet
"$CERT" ca --network "$NET" --name root --key "$PKI/ca.key" --cert "$PKI/ca.crt" \
  --vip 10.77.0.0/24 >/dev/null || fail "ipop-cert ca"
"$CERT" keygen --key "$PKI/site.key" --pub "$PKI/site.pub" >/dev/null || fail "keygen site"
"$CERT" sign --ca-key "$PKI/ca.key" --ca-cert "$PKI/ca.crt" --pub "$PKI/site.pub" --name site \
  --issuing --vip 10.77.0.0/28 --out "$PKI/site.crt" >/dev/null || fail "sign site"

# certify i CA: key and certificate (then the issuing CA's, if any) for node i
certify() {
  local i=$1 ca=$2
  "$CERT" keygen --key "$PKI/n$i.key" --pub "$PKI/n$i.pub" >/dev/null || fail "keygen n$i"
  "$CERT" sign --ca-key "$PKI/$ca.key" --ca-cert "$PKI/$ca.crt" --pub "$PKI/n$i.pub" \
    --name "$(node_name "$i")" --vip "$(vip_of "$i")" --out "$PKI/n$i.only" >/dev/null ||
    fail "sign n$i"
  cat "$PKI/n$i.only" >"$PKI/n$i.crt"
  [[ $ca == ca ]] || cat "$PKI/$ca.crt" >>"$PKI/n$i.crt"
}

N=5
node_config() {
  local i=$1 j
  {
    for ((j = 1; j <= N; j++)); do
      ((j == i)) || echo "peer = $(vip_of "$j") $(underlay_ip "$j"):5800"
    done
    ((i == 1)) || echo "bootstrap = $(underlay_ip 1):5800"
    echo "[node]"
    echo "name = $(node_name "$i")"
    echo "vip = $(vip_of "$i")/24"
    echo "tap = ipop0"
    echo "listen = 0.0.0.0:5800"
    echo "mgmt-socket = $WORK/n$i.sock"
    echo "state-dir = $WORK/state$i"
    echo "cert-file = $PKI/n$i.crt"
    echo "key-file = $PKI/n$i.key"
    echo "[network]"
    echo "name = $NET"
    echo "ca-file = $PKI/ca.crt"
    echo "subnet = 10.77.0.0/24"
    echo "hello-interval-ms = 500"
    echo "peer-timeout-ms = 3000"
    echo "[overlay]"
    echo "enabled = true"
    echo "secret = $OVERLAY_SECRET"
  } >"$WORK/n$i.conf"
}

for ((i = 1; i <= N; i++)); do
  net_add_host "$i"
  if ((i == 3)); then certify "$i" site; else certify "$i" ca; fi
  node_config "$i"
done
for ((i = 1; i <= N; i++)); do start_node "$i"; done
for ((i = 1; i <= N; i++)); do
  wait_for 40 "node $i sees all $((N - 1)) peers up" peers_ready "$i" "$N"
done
links_up() { [[ $(counter "$1" overlay links) -ge 1 ]]; }
for ((i = 1; i <= N; i++)); do wait_for 40 "node $i has an overlay link" links_up "$i"; done
for i in 1 2 4 5; do ping_ok 3 "$(vip_of "$i")" 2 || fail "node 3 cannot ping node $i before"; done
log "$N certified nodes up (node 3 certified by the issuing CA site)"

# ---- a forged revocation: signed by a node key posing as a CA is refused
"$CERT" revoke --ca-key "$PKI/site.key" --ca-cert "$PKI/site.crt" --cert "$PKI/n3.only" \
  --out "$PKI/n3.rev" >/dev/null || fail "ipop-cert revoke"
cp "$PKI/n3.rev" "$PKI/n3-alone.rev"
status=0
out=$(ctl 5 revoke "$PKI/n3-alone.rev" 2>&1) || status=$?
((status == 1)) || fail "revoke without the issuing CA certificate: status $status: $out"
grep -q "neither a trusted root nor a known issuing CA" <<<"$out" || fail "unexpected refusal: $out"
(($(counter 5 revocation invalid) == 1)) || fail "node 5 did not count the refused revocation"
peer_up 1 3 || fail "node 1 lost node 3 after a refused revocation"
log "a revocation whose signer is unknown is refused: $(head -n 1 <<<"$out")"

# ---- surviving pairs ping across the revocation
survivors=(1:2 2:4 4:5 5:1 1:4)
ping_pids=()
for pair in "${survivors[@]}"; do
  a=${pair%:*} b=${pair#*:}
  ping_summary "$(ns_of "$a")" "$(vip_of "$b")" 150 >"$WORK/ping$a-$b" &
  ping_pids+=($!)
done
sleep 3

cat "$PKI/n3.rev" "$PKI/site.crt" >"$PKI/n3-revocation.pem"
t0=$SECONDS
out=$(ctl 5 revoke "$PKI/n3-revocation.pem") || fail "ipopctl revoke: $out"
grep -q "^revoke: 1 added" <<<"$out" || fail "ipopctl revoke: $out"
json=$(ctl 5 --json revoke "$PKI/n3-revocation.pem") || fail "ipopctl --json revoke: $json"
python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["ok"] and d["known"]==1 and d["live"]==1, d' \
  "$json" || fail "ipopctl --json revoke: $json"

cut_off() { # cut_off i: node i learned it and has no session with node 3
  [[ $(counter "$1" revocation live) -eq 1 ]] && ! peer_up "$1" 3
}
for i in 1 2 4 5; do wait_for 30 "node $i cut node 3 off" cut_off "$i"; done
cut_s=$((SECONDS - t0))
for i in 1 2 4; do
  (($(counter "$i" revocation learned_link) == 1)) || fail "node $i did not learn it from a link"
done
for i in 1 2 4 5; do
  (($(counter "$i" revocation sessions_dropped) >= 1)) || fail "node $i dropped no session of node 3"
done
for i in 1 2 4 5; do
  ping_none 3 "$(vip_of "$i")" 3 || fail "node 3 still reaches node $i"
  ping_none "$i" "$(vip_of 3)" 2 || fail "node $i still reaches node 3"
done
log "node 3 cut off everywhere within ${cut_s} s of ipopctl revoke on node 5 alone"
# Its overlay links close too: the nodes that held one count it, and node 3 keeps none (others
# refuse its link requests from then on).
closed=0
for i in 1 2 4 5; do closed=$((closed + $(counter "$i" link_auth links_cert_closed))); done
((closed >= 1)) || fail "no node closed its overlay link to node 3"
no_links() { [[ $(counter "$1" overlay links) -eq 0 ]]; }
wait_for 30 "node 3 holds no overlay link" no_links 3
(($(counter 1 node hello_cert_revoked) > 0)) || fail "node 1 refused none of node 3's HELLOs"

wait "${ping_pids[@]}"
for pair in "${survivors[@]}"; do
  a=${pair%:*} b=${pair#*:}
  read -r tx rx <"$WORK/ping$a-$b" || fail "no ping summary $a -> $b"
  ((tx == 150 && rx == 150)) || fail "node $a -> node $b lost pings across the revocation: $tx $rx"
done
log "surviving pairs lost no ping (${survivors[*]})"

# ---- restart: the revocation comes back from node.state-dir
stop_node 1
start_node 1
wait_for 40 "node 1 back with its peers" peer_up 1 2
(($(counter 1 revocation learned_state) == 1)) || fail "node 1 did not reload the revocation"
ping_none 3 "$(vip_of 1)" 3 || fail "node 3 reaches the restarted node 1"
log "node 1 restarted knows the revocation from its state directory"
log "PASS"
