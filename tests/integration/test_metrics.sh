#!/usr/bin/env bash
# Prometheus metrics (docs/metrics.md): node 1 serves /metrics on 127.0.0.1:9323 in its
# namespace, node 2 has no metrics.listen (off by default). Checked:
#   - node 1's real output passes `promtool check metrics` (no lint finding either) and holds the
#     families a scrape needs: per-worker dataplane counters, the peer's up/relayed/traffic series,
#     overlay and DHT gauges; other paths get 404, other methods 405; node 2 listens on nothing;
#   - `ipopctl counters --json` is JSON with the same modules;
#   - a real Prometheus server (its own config and --storage.tsdb.path in the work directory, on
#     loopback inside node 1's namespace, killed by PID on exit) scrapes node 1 every second
#     while iperf3 runs from node 1 to node 2, and rate() of node 1's underlay tx bytes and of
#     its per-peer tx bytes, asked through /api/v1/query, is above zero and of the order of what
#     iperf3 measured.
# Skips (77) only when the prometheus or promtool binary is absent (Debian package prometheus).
set -uo pipefail
source "$(dirname "$0")/../../tools/netns/lib.sh"
net_require
for b in prometheus promtool; do
  command -v "$b" >/dev/null || skip "$b missing (Debian package prometheus; tools/install-deps.sh)"
done
command -v iperf3 >/dev/null || skip "iperf3 missing"
command -v curl >/dev/null || skip "curl missing"
command -v python3 >/dev/null || skip "python3 missing"
net_init met
for i in 1 2; do net_add_host "$i"; done
write_config 1 2 "[metrics]" "listen = 127.0.0.1:9323" >/dev/null
write_config 2 2 >/dev/null
start_node 1
start_node 2
for i in 1 2; do wait_for 30 "node $i sees its peer ready" peers_ready "$i" 2; done
joined() { ctl 1 counters | grep -Eq '^overlay +joined +1$'; }
wait_for 20 "node 1 joins the overlay" joined

url=http://127.0.0.1:9323
http() { in_ns 1 curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@"; }
in_ns 1 curl -sf --max-time 5 "$url/metrics" >"$WORK/m1.txt" || fail "GET /metrics on node 1 failed"
lint=$(promtool check metrics <"$WORK/m1.txt" 2>&1) ||
  fail "promtool check metrics refused node 1's output: $lint"
[[ -z $lint ]] || fail "promtool check metrics has findings: $lint"
log "node 1: $(grep -c '^# TYPE' "$WORK/m1.txt") families, $(grep -vc '^#' "$WORK/m1.txt") samples; promtool: ok"
for want in 'ipop_dp_udp_tx_bytes_total{worker="0"} ' 'ipop_dp_drops_total{worker="0",reason="replay"} ' \
  "ipop_peer_up{peer=\"$(vip_of 2)\"} 1" "ipop_peer_relayed{peer=\"$(vip_of 2)\"} 0" \
  "ipop_peer_last_handshake_age_seconds{peer=\"$(vip_of 2)\"} " 'ipop_cp_node_hello_sent_total ' \
  'ipop_cp_overlay_ring_size_estimate ' 'ipop_cp_overlay_links_by_role{role="near"} ' \
  'ipop_cp_dht_keys_stored ' 'ipop_cp_node_peers 1' 'ipop_cp_node_peers_up 1' "ipop_node_info{node=\"$(node_name 1)\",network=\"demo\",vip=\"$(vip_of 1)\"} 1"; do
  grep -qF -- "$want" "$WORK/m1.txt" || fail "node 1's /metrics lacks '$want'"
done
[[ $(http "$url/") == 404 ]] || fail "GET / did not answer 404"
[[ $(http -X POST "$url/metrics") == 405 ]] || fail "POST /metrics did not answer 405"
[[ $(http -I "$url/metrics") == 200 ]] || fail "HEAD /metrics did not answer 200"
in_ns 2 bash -c "ss -ltnH | grep -q ':9323 '" && fail "node 2 listens on 9323 without metrics.listen"
ctl 1 counters --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
for m in ("drop", "stat", "node", "overlay", "dht", "metrics", "workers"):
    assert m in d, m
assert d["stat"]["udp_tx_bytes"] == sum(w["stat"]["udp_tx_bytes"] for w in d["workers"])
' || fail "ipopctl counters --json is not the expected JSON"

# A real Prometheus, scraping every second.
mkdir -p "$WORK/prom"
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ipop
    static_configs:
      - targets: ['127.0.0.1:9323']
EOF
in_ns 1 prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
  --web.listen-address=127.0.0.1:9090 --log.level=warn >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)
wait_for 30 "Prometheus ready" in_ns 1 curl -sf --max-time 2 http://127.0.0.1:9090/-/ready
# query EXPR: the first result's value of an instant query ("" when there is none).
query() {
  in_ns 1 python3 - "$1" <<'EOF'
import json, sys, urllib.parse, urllib.request
u = "http://127.0.0.1:9090/api/v1/query?" + urllib.parse.urlencode({"query": sys.argv[1]})
d = json.load(urllib.request.urlopen(u, timeout=5))
assert d["status"] == "success", d
r = d["data"]["result"]
print(r[0]["value"][1] if r else "")
EOF
}
scraped() { [[ $(query 'up{job="ipop"}') == 1 ]]; }
wait_for 20 "Prometheus scraped node 1 (up == 1)" scraped

port=$((5201 + RANDOM % 500))
in_ns 2 iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
PIDS+=($!)
wait_for 5 "iperf3 server in node 2" in_ns 2 bash -c "ss -ltn | grep -q ':$port '"
in_ns 1 timeout 60 iperf3 -c "$(vip_of 2)" -p "$port" -t 12 -J >"$WORK/iperf.json" 2>&1 &
iperf_pid=$!
PIDS+=($iperf_pid)
sleep 9 # the rate windows below lie inside the transfer
tx_rate=$(query 'sum(rate(ipop_dp_udp_tx_bytes_total{job="ipop"}[5s]))')
peer_rate=$(query "rate(ipop_peer_tx_bytes_total{job=\"ipop\",peer=\"$(vip_of 2)\"}[5s])")
wait "$iperf_pid" || fail "iperf3 failed: $(cat "$WORK/iperf.json")"
iperf_bps=$(python3 -c 'import json,sys; print(int(json.load(sys.stdin)["end"]["sum_sent"]["bits_per_second"] / 8))' \
  <"$WORK/iperf.json") || fail "iperf3 gave no result: $(cat "$WORK/iperf.json")"
log "iperf3 sent $iperf_bps B/s; Prometheus: underlay tx rate $tx_rate B/s, peer tx rate $peer_rate B/s"
python3 - "$tx_rate" "$peer_rate" "$iperf_bps" <<'EOF' || fail "rates from Prometheus do not match the transfer"
import sys
tx, peer, iperf = (float(x) if x else 0.0 for x in sys.argv[1:])
assert tx > 0, "underlay tx rate is zero"
assert peer > 0, "peer tx rate is zero"
# Within an order of magnitude of iperf3's average (bursts and the 5 s window differ).
assert iperf / 10 < tx < iperf * 10, (tx, iperf)
assert iperf / 10 < peer < iperf * 10, (peer, iperf)
EOF
log "PASS: promtool accepts node 1's metrics; Prometheus measured the transfer through rate()"
