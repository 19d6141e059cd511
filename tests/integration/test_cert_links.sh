#!/usr/bin/env bash
# Overlay links in certificate mode (docs/pki.md, "Overlay links"): a CA made with ipop-cert signs
# three nodes; they join one overlay through node 1 with no static peers, link with certificates
# and per-link keys (no overlay-secret tag is accepted), find each other through the DHT and ping
# every pair. A fourth node whose certificate comes from another CA (same network name) gets no
# link: node 1 refuses its link requests and counts them (link_auth refused{reason=untrusted_ca}).
# HELLOs still use the network secret (certificates in HELLO are a later step).
set -uo pipefail
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
net_init crt
CERT=$IPOP_BUILD/tools/ipop-cert
[[ -x $CERT ]] || fail "ipop-cert not built at $CERT"
NET=demo
cert() { "$CERT" "$@" >>"$WORK/ipop-cert.log" 2>&1 || fail "ipop-cert $*: $(tail -1 "$WORK/ipop-cert.log")"; }

cert ca --network "$NET" --name demo-root --key "$WORK/ca.key" --cert "$WORK/ca.crt" --vip 10.77.0.0/16
cert ca --network "$NET" --name rogue-root --key "$WORK/rogue.key" --cert "$WORK/rogue.crt" \
  --vip 10.77.0.0/16
for i in 1 2 3 4; do
  ca=ca
  ((i == 4)) && ca=rogue
  cert keygen --key "$WORK/n$i.key" --pub "$WORK/n$i.pub"
  cert sign --ca-key "$WORK/$ca.key" --ca-cert "$WORK/$ca.crt" --pub "$WORK/n$i.pub" \
    --name "$(node_name "$i")" --vip "$(vip_of "$i")" --out "$WORK/n$i.crt"
done

for i in 1 2 3 4; do
  net_add_host "$i"
  ca=ca
  ((i == 4)) && ca=rogue
  {
    ((i == 1)) || echo "bootstrap = $(underlay_ip 1):5800"
    node_sections "$i" "$NET"
    echo "ca-file = $WORK/$ca.crt"
    echo "[node]"
    echo "cert-file = $WORK/n$i.crt"
    echo "key-file = $WORK/n$i.key"
  } >"$WORK/n$i.conf"
done
for i in 1 2 3 4; do start_node "$i"; done

links() { ctl "$1" links | grep -c '^link ' || true; }
has_links() { (($(links "$1") >= $2)); }
for i in 1 2 3; do wait_for 40 "node $i linked to the other two" has_links "$i" 2; done
log "three certified nodes linked"

# Every link was keyed by a certified handshake and nothing was refused among them.
for i in 1 2 3; do
  keyed=$(counter "$i" link_auth links_keyed)
  ((keyed >= 2)) || fail "node $i derived $keyed link keys, expected at least 2"
  for r in bad_signature address_not_from_key bad_link_tag unbound_accept; do
    v=$(counter "$i" link_auth "refused{reason=$r}")
    ((v == 0)) || fail "node $i refused $v datagrams of the certified nodes ($r)"
  done
done

for i in 1 2 3; do
  for j in 1 2 3; do
    ((i == j)) && continue
    wait_for 30 "node $i pings $(vip_of "$j")" ping_ok "$i" "$(vip_of "$j")"
  done
done
log "every ordered pair of certified nodes pings"

# The node of the other CA: no link anywhere, its requests refused and counted on node 1.
refused_untrusted() { (($(counter 1 link_auth 'refused{reason=untrusted_ca}') >= 2)); }
wait_for 30 "node 1 refused node 4's link requests" refused_untrusted
(($(links 4) == 0)) || fail "node 4 (another CA) has links: $(ctl 4 links)"
for i in 1 2 3; do
  (($(links "$i") == 2)) || fail "node $i has $(links "$i") links, expected the 2 certified ones"
done
ping_none 4 "$(vip_of 1)" || fail "node 4 (another CA) reaches node 1"
log "node 4 (another CA): no links, $(counter 1 link_auth 'refused{reason=untrusted_ca}') requests refused on node 1"
log "PASS"
