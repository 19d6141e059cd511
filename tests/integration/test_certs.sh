#!/usr/bin/env bash
# Certificate mode (issue 15, docs/pki.md): a CA made with ipop-cert, nodes with no network secret.
#   - nodes 1, 2, 4 are certified for their own VIP (static, a mesh of static peers), node 3 for a
#     pool it claims an address from through the DHT; all four ping each other (node 3 is found
#     through the overlay), and each node's overlay address is SHA-256("ipop ring address v1" ||
#     its public key), first 160 bits, computed here with openssl
#   - ipopctl peers (text and --json) names each peer as its certificate does
#   - node 6 holds a valid certificate for .3 but is configured as .2: its HELLOs are refused
#     (hello_vip_not_allowed moves on the others), node 1 keeps .2 at node 2's endpoint and
#     pings .2 with no loss while node 6 keeps trying
#   - node 5 has a certificate of another CA: no session with node 1 in either direction
#     (hello_cert_unknown_issuer), no ping
#   - a node whose certificate has expired does not start (exit status 1, the error names the file)
#   - node 2's certificate is renewed (same key, new serial) and reloaded without a restart;
#     node 1 keeps reaching it
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v openssl >/dev/null || skip "openssl missing"
CERT=$IPOP_BUILD/tools/ipop-cert
[[ -x $CERT ]] || fail "$CERT not built"
net_init crt

PKI=$WORK/pki
mkdir -p "$PKI"
OVERLAY_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
NET=certnet
"$CERT" ca --network "$NET" --name root --key "$PKI/ca.key" --cert "$PKI/ca.crt" \
  --vip 10.77.0.0/24 >/dev/null || fail "ipop-cert ca"
"$CERT" ca --network "$NET" --name rogue --key "$PKI/rogue.key" --cert "$PKI/rogue.crt" \
  >/dev/null || fail "ipop-cert ca (second CA)"

# certify i VIP [CA]: key and certificate for node i
certify() {
  local i=$1 vip=$2 ca=${3:-ca}
  "$CERT" keygen --key "$PKI/n$i.key" --pub "$PKI/n$i.pub" >/dev/null || fail "keygen n$i"
  "$CERT" sign --ca-key "$PKI/$ca.key" --ca-cert "$PKI/$ca.crt" --pub "$PKI/n$i.pub" \
    --name "$(node_name "$i")" --vip "$vip" --out "$PKI/n$i.crt" >/dev/null || fail "sign n$i"
}

# node_config i VIP|none OVERLAY(true|false) [top-level lines...]: certificate mode, no secret;
# the node trusts the root $NODE_CA (default ca).
node_config() {
  local i=$1 vip=$2 overlay=$3
  shift 3
  {
    for line in "$@"; do echo "$line"; done
    echo "[node]"
    echo "name = $(node_name "$i")"
    [[ $vip == none ]] || echo "vip = $vip"
    echo "tap = ipop0"
    echo "listen = 0.0.0.0:5800"
    echo "mgmt-socket = $WORK/n$i.sock"
    echo "cert-file = $PKI/n$i.crt"
    echo "key-file = $PKI/n$i.key"
    echo "[network]"
    echo "name = $NET"
    echo "ca-file = $PKI/${NODE_CA:-ca}.crt"
    echo "subnet = 10.77.0.0/24"
    [[ $vip == none ]] && echo "pool = 10.77.0.10-10.77.0.20"
    echo "hello-interval-ms = 500"
    echo "peer-timeout-ms = 3000"
    echo "[overlay]"
    echo "enabled = $overlay"
    [[ $overlay == true ]] && echo "secret = $OVERLAY_SECRET"
  } >"$WORK/n$i.conf"
}

for i in 1 2 3 4 5 6; do net_add_host "$i"; done
certify 1 10.77.0.1
certify 2 10.77.0.2
certify 3 10.77.0.0/24
certify 4 10.77.0.4
certify 5 10.77.0.5 rogue
certify 6 10.77.0.3
peer() { echo "peer = $(vip_of "$1") $(underlay_ip "$1"):5800"; }
boot="bootstrap = $(underlay_ip 1):5800"
node_config 1 10.77.0.1/24 true "$(peer 2)" "$(peer 4)" "$(peer 5)"
node_config 2 10.77.0.2/24 true "$(peer 1)" "$(peer 4)" "$boot"
node_config 3 none true "$boot"
node_config 4 10.77.0.4/24 true "$(peer 1)" "$(peer 2)" "$boot"
for i in 1 2 3 4; do start_node "$i"; done

for i in 1 2 4; do
  for j in 1 2 4; do
    ((i == j)) || wait_for 30 "node $i sees node $j up" peer_up "$i" "$j"
  done
done
allocated() { ctl 3 status | grep -q '^address .*(allocated)'; }
wait_for 60 "node 3 allocated an address" allocated
VIP3=$(ctl 3 status | awk '$1 == "address" { print $2 }')
[[ $VIP3 =~ ^10\.77\.0\.(1[0-9]|20)$ ]] || fail "node 3 got '$VIP3', outside its pool"
in_ns 3 ip link set ipop0 up 2>/dev/null || true
for i in 1 2 4; do
  wait_for 40 "node $i pings node 3 at $VIP3" ping_ok "$i" "$VIP3" 2
  wait_for 20 "node 3 pings node $i" ping_ok 3 "$(vip_of "$i")" 2
done
for i in 1 2 4; do
  for j in 1 2 4; do
    ((i == j)) || ping_ok "$i" "$(vip_of "$j")" 3 || fail "node $i cannot ping node $j"
  done
done
log "four certified nodes (one with a DHT-allocated address from its pool) reach each other"

# ---- overlay address derived from the certified key
for i in 1 3; do
  want=$( (printf 'ipop ring address v1'; openssl pkey -in "$PKI/n$i.key" -pubout -outform DER |
    tail -c 32) | openssl dgst -sha256 -binary | head -c 20 | od -An -tx1 | tr -d ' \n')
  got=$(ctl "$i" ring | awk '$1 == "overlay" && $2 == "address" { print $3 }')
  [[ $got == "$want" ]] || fail "node $i overlay address $got, expected $want from its key"
done
log "overlay addresses are derived from the certified keys"

# ---- the certificate name in ipopctl peers
ctl 1 peers | grep -q "^peer $(vip_of 2) .* cert-name $(node_name 2)\$" ||
  fail "ipopctl peers lacks node 2's certificate name: $(ctl 1 peers)"
ctl 1 --json peers | python3 -c '
import json, sys
peers = {p["vip"]: p for p in json.load(sys.stdin)["peers"]}
assert peers[sys.argv[1]]["cert_name"] == sys.argv[2], peers[sys.argv[1]]
' "$(vip_of 2)" "$(node_name 2)" || fail "ipopctl --json peers lacks cert_name"
log "ipopctl peers shows the peers' certificate names"

# ---- node 6: certified for .3, configured as .2
before=$(counter 1 node hello_vip_not_allowed)
node_config 6 10.77.0.2/24 false "$(peer 1)" "$(peer 4)"
start_node 6
ep2="$(underlay_ip 2):5800"
result=$(ping_summary "$(ns_of 1)" "$(vip_of 2)" 40) || fail "ping from node 1 did not run"
[[ $result == "40 40" ]] || fail "node 1 -> .2 during the takeover attempt: $result (sent received)"
after=$(counter 1 node hello_vip_not_allowed)
((after - before >= 5)) || fail "node 1 counted $((after - before)) HELLOs with a VIP not allowed"
(($(counter 4 node hello_vip_not_allowed) > 0)) || fail "node 4 refused none of node 6's HELLOs"
ctl 1 peers | grep -q "^peer $(vip_of 2) \+endpoint $ep2 " ||
  fail "node 1 moved .2 away from node 2: $(ctl 1 peers)"
ctl_lacks 6 " up " peers || fail "node 6 got a session: $(ctl 6 peers)"
log "node 6 (certified for .3) sent $((after - before)) HELLOs as .2 to node 1, all refused; .2 lost no ping"

# ---- node 5: a certificate of another CA
NODE_CA=rogue node_config 5 10.77.0.5/24 false "$(peer 1)"
start_node 5
sleep 3
(($(counter 1 node hello_cert_unknown_issuer) > 0)) || fail "node 1 counted no HELLO of an unknown CA"
(($(counter 5 node hello_cert_unknown_issuer) > 0)) || fail "node 5 counted no HELLO of an unknown CA"
ctl_lacks 1 "^peer $(vip_of 5) .* up " peers || fail "node 1 has node 5 up"
ping_none 5 "$(vip_of 1)" 3 || fail "node 5 (other CA) reached node 1"
log "node 5 (another CA) has no session"

# ---- an expired certificate: the node does not start
net_add_host 7
# A root valid since 2019 (a node certificate lies within its issuer's validity).
"$CERT" ca --network "$NET" --name old --key "$PKI/old.key" --cert "$PKI/old.crt" \
  --not-before 2019-12-01 --days 3650 >/dev/null || fail "ipop-cert ca (old root)"
"$CERT" keygen --key "$PKI/n7.key" --pub "$PKI/n7.pub" >/dev/null
"$CERT" sign --ca-key "$PKI/old.key" --ca-cert "$PKI/old.crt" --pub "$PKI/n7.pub" \
  --name "$(node_name 7)" --vip 10.77.0.7 --not-before 2020-01-01 --not-after 2020-02-01 \
  --out "$PKI/n7.crt" >/dev/null || fail "sign an expired certificate"
NODE_CA=old node_config 7 10.77.0.7/24 false "$(peer 1)"
status=0
in_ns 7 timeout 20 "$IPOP_BUILD/controlplane/ipop-controlplane" --config "$WORK/n7.conf" \
  >"$WORK/n7.start" 2>&1 || status=$?
((status == 1)) || fail "node 7 with an expired certificate: exit status $status, expected 1"
grep -q "$PKI/n7.crt: node '$(node_name 7)': expired at 2020-02-01" "$WORK/n7.start" ||
  fail "node 7's error does not name its certificate: $(cat "$WORK/n7.start")"
log "a node with an expired certificate refuses to start: $(tail -n 1 "$WORK/n7.start")"

# ---- renewal without a restart
# hello_refusals i: HELLOs node i refused for their signature or chain, except those of node 5
# (another CA, hello_cert_unknown_issuer), which keeps trying.
hello_refusals() {
  ctl "$1" counters --all | awk '$1 == "node" && $2 != "hello_cert_unknown_issuer" &&
    $2 ~ /^hello_(cert_|bad_mac|bad_chain|chain_missing)/ { s += $3 } END { print s + 0 }'
}
"$CERT" sign --ca-key "$PKI/ca.key" --ca-cert "$PKI/ca.crt" --pub "$PKI/n2.pub" \
  --name "$(node_name 2)" --vip 10.77.0.2 --days 30 --out "$PKI/n2-renewed.crt" >/dev/null ||
  fail "sign the renewal"
mv "$PKI/n2-renewed.crt" "$PKI/n2.crt"
refused_before=$(hello_refusals 1)
out=$(ctl 2 reload) || fail "reload after renewal: $out"
grep -q '^ok' <<<"$out" || fail "reload after renewal: $out"
grep -q "certificate renewed" "$WORK/n2.log" || fail "node 2 did not log the renewal"
# Longer than the peer timeout (3 s): had node 1 refused the new chain, .2 would be down by now.
sleep 4
refused_after=$(hello_refusals 1)
((refused_after == refused_before)) ||
  fail "node 1 refused HELLOs after node 2's renewal ($refused_before -> $refused_after)"
peer_up 1 2 || fail "node 1 has node 2 down after its renewal"
ping_ok 1 "$(vip_of 2)" 10 || fail "node 1 lost node 2 after its renewal"
ping_ok 2 "$(vip_of 4)" 5 || fail "node 2 lost node 4 after its renewal"
log "node 2's certificate renewed without a restart; its peers still reach it"
log "PASS"
