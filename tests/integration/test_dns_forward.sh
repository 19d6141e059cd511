#!/usr/bin/env bash
# DNS forwarding (network.dns-forward) and the zone's SOA/NS: names outside the zone reach a tiny
# upstream server (tests/integration/dns_upstream.py) running in the node's namespace, through a
# configured upstream list on node 1 and through the namespace's resolv.conf on node 2 (whose
# first nameserver is the node's own service address, which must be skipped: a loop); a reply too
# large for the TAP arrives truncated (TC); a reload to `refuse` makes the same names REFUSED.
# DNS over TCP (RFC 7766): dig +tcp to the node for a forwarded name; an answer too large for
# UDP (the upstream sends TC over UDP) is fetched by the forwarder from the upstream over TCP and
# reaches dig truncated over UDP, which then asks the node again over TCP by itself.
set -uo pipefail
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
command -v dig >/dev/null || skip "dig (bind9-dnsutils) missing"
[[ -x /usr/bin/python3 ]] || skip "/usr/bin/python3 missing"
net_init dfw

N=2
SERVICE=10.77.0.254
for i in 1 2; do net_add_host "$i"; done
write_config 1 $N "dns-forward = 127.0.0.1:5300" "[overlay]" "enabled = false" >/dev/null
write_config 2 $N "dns-forward = resolv-conf" "[overlay]" "enabled = false" >/dev/null
# ip netns exec bind-mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf for what it runs.
NETNS_ETC="/etc/netns/$(ns_of 2)"
mkdir -p "$NETNS_ETC"
printf 'nameserver %s\nnameserver 127.0.0.1\n' "$SERVICE" >"$NETNS_ETC/resolv.conf"
trap 'rc=$?; rm -rf "$NETNS_ETC"; (exit $rc); net_cleanup' EXIT
in_ns 2 grep -q 127.0.0.1 /etc/resolv.conf || skip "ip netns exec does not bind /etc/netns files here"

UPSTREAM="$(dirname "$0")/dns_upstream.py"
in_ns 1 /usr/bin/python3 "$UPSTREAM" 127.0.0.1 5300 "$WORK/up1.ready" >"$WORK/up1.log" 2>&1 &
PIDS+=($!)
in_ns 2 /usr/bin/python3 "$UPSTREAM" 127.0.0.1 53 "$WORK/up2.ready" >"$WORK/up2.log" 2>&1 &
PIDS+=($!)
wait_for 10 "upstream servers" test -e "$WORK/up1.ready" -a -e "$WORK/up2.ready"

for i in 1 2; do start_node "$i"; done
for i in 1 2; do wait_for 30 "node $i sees its peer" peers_ready "$i" $N; done
assigned() { ctl "$1" status | grep -q 'tap-address *assigned'; }
for i in 1 2; do wait_for 20 "node $i TAP address" assigned "$i"; done

q() { in_ns "$1" dig +time=2 +tries=2 @"$SERVICE" "${@:2}"; }
a=$(q 1 +short fwd.example A)
[[ $a == 192.0.2.99 ]] || fail "node 1: fwd.example resolved to '$a' (configured upstream)"
log "node 1: fwd.example -> $a through upstream 127.0.0.1:5300"
a=$(q 2 +short FWD.example A)
[[ $a == 192.0.2.99 ]] || fail "node 2: FWD.example resolved to '$a' (resolv.conf upstream)"
log "node 2: FWD.example -> $a through the namespace's resolv.conf (service address skipped)"
q 1 nothere.example A | grep -q 'status: NXDOMAIN' || fail "upstream NXDOMAIN not passed on"
big=$(q 1 +ignore big.example TXT)
grep -q 'flags:.* tc' <<<"$big" || fail "oversize reply not truncated: $big"
log "upstream NXDOMAIN passed on; an oversize reply arrives with TC set"
a=$(q 1 +short C077000002.ipop A)
[[ $a == 10.77.0.2 ]] || fail "zone names must stay local, C077000002.ipop gave '$a'"

# DNS over TCP. The upstream logs each query as "udp NAME" or "tcp NAME".
a=$(q 1 +tcp +short fwd.example A)
[[ $a == 192.0.2.99 ]] || fail "dig +tcp: fwd.example resolved to '$a'"
log "node 1: dig +tcp fwd.example -> $a (TCP to the node, forwarded upstream)"
many=$(q 1 many.example A)
grep -q '^;; Truncated, retrying in TCP mode' <<<"$many" ||
  fail "many.example (1.6 kB) over UDP did not come truncated: $many"
grep -qE '^;; SERVER: 10\.77\.0\.254#53.*\(TCP\)' <<<"$many" || fail "dig did not fall back to TCP: $many"
n=$(grep -cE '^many\.example\.\s+[0-9]+\s+IN\s+A\s+198\.18\.0\.[0-9]+$' <<<"$many")
((n == 100)) || fail "many.example over TCP: $n of 100 addresses: $many"
grep -q '^tcp many.example$' "$WORK/up1.log" ||
  fail "the forwarder did not fetch the truncated answer over TCP: $(cat "$WORK/up1.log")"
n=$(q 1 +tcp +short many.example A | grep -cE '^198\.18\.0\.[0-9]+$')
((n == 100)) || fail "dig +tcp many.example: $n of 100 addresses"
log "many.example (100 A records): UDP truncated, dig retried over TCP by itself, all 100 came;" \
  "the node fetched them from the upstream over TCP"
punted=$(counter 1 stat dns_tcp_punted)
((punted > 0)) || fail "the dataplane counted no TCP segments to the DNS responder"
(($(counter 1 dns_tcp queries) >= 3)) || fail "dns_tcp_queries below the 3 TCP queries"
(($(counter 1 dns_forward tcp_retries) >= 2)) || fail "dns_forward_tcp_retries below 2"
(($(counter 1 dns_forward truncated) >= 1)) || fail "dns_forward_truncated did not count"
tcp_all_closed() { (($(counter 1 dns_tcp opened) == $(counter 1 dns_tcp closed))); }
wait_for 5 "node 1 closing every DNS TCP connection (FIN both ways)" tcp_all_closed
(($(counter 1 dns_tcp resets_sent) == 0)) || fail "the DNS TCP responder reset a connection"
ctl 1 counters | grep -E '^dns_tcp +(queries|answers|opened|closed|retransmits) |^dns_forward +tcp_' |
  sed 's/^/   /'
log "node 1: $punted TCP segments punted to the DNS responder"
ctl 1 counters | grep -E '^dns_forward +(answered|sent|truncated) ' | sed 's/^/   /'
(($(counter 1 dns_forward answered) >= 3)) || fail "dns_forward answered did not count"


# The zone's SOA and NS; negative answers carry the SOA for negative caching (RFC 2308).
soa=$(q 1 +short ipop SOA)
[[ $soa == "C077000254.ipop. hostmaster.ipop. 1 3600 600 86400 5" ]] || fail "SOA is '$soa'"
ns=$(q 1 +short ipop NS)
[[ $ns == "C077000254.ipop." ]] || fail "NS is '$ns'"
[[ $(q 1 +short "$ns" A) == "$SERVICE" ]] || fail "the NS name does not resolve to $SERVICE"
neg=$(q 1 nothing.ipop A)
grep -q 'status: NXDOMAIN' <<<"$neg" || fail "nothing.ipop is not NXDOMAIN"
grep -A1 'AUTHORITY SECTION' <<<"$neg" | grep -qE '^ipop\.\s+5\s+IN\s+SOA' ||
  fail "NXDOMAIN without the zone's SOA: $neg"
neg=$(q 1 C077000002.ipop AAAA)
grep -A1 'AUTHORITY SECTION' <<<"$neg" | grep -q 'SOA' || fail "NODATA without the SOA: $neg"
log "ipop SOA: $soa; NS $ns; NXDOMAIN and NODATA carry the SOA (TTL 5)"

sed -i 's/^dns-forward = .*/dns-forward = refuse/' "$WORK/n1.conf"
ctl 1 reload | grep -q '^ok' || fail "reload failed"
q 1 fwd.example A | grep -q 'status: REFUSED' || fail "with dns-forward = refuse, not REFUSED"
log "after a reload to dns-forward = refuse: REFUSED"
log "PASS"
