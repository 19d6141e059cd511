// One pass over the registry tables: the exporter names no counter itself, so a counter a module
// adds to its table appears here (and in `ipopctl counters`) without an edit.
#include "controlplane/metrics/prometheus_text.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <iterator>

namespace ipop::cp {
namespace {

constexpr uint64_t kNsPerSecond = 1'000'000'000ull;

const char* TypeName(MetricKind k) {
  return k == MetricKind::kCounter ? "counter" : "gauge";
}

// HELP text escapes only \ and newline (label values also escape ").
void AppendHelp(std::string& out, const std::string& name, const char* help, MetricKind kind) {
  out += "# HELP " + name + ' ';
  for (const char* c = help; *c != '\0'; ++c) {
    if (*c == '\\')
      out += "\\\\";
    else if (*c == '\n')
      out += "\\n";
    else
      out.push_back(*c);
  }
  out += "\n# TYPE " + name + ' ' + TypeName(kind) + '\n';
}

// A sample: name{labels} value. `labels` is empty or `a="x",b="y"` (already escaped).
void AppendSample(std::string& out, const std::string& name, const std::string& labels,
                  uint64_t v) {
  out += name;
  if (!labels.empty()) out += '{' + labels + '}';
  out += ' ' + std::to_string(v) + '\n';
}

void AppendSample(std::string& out, const std::string& name, const std::string& labels, double v) {
  char buf[64];
  // Integral values (byte and packet counts) print exactly; Prometheus parses both forms.
  if (v >= 0 && v < 9007199254740992.0 && v == std::floor(v))
    std::snprintf(buf, sizeof(buf), "%" PRIu64, uint64_t(v));
  else
    std::snprintf(buf, sizeof(buf), "%.9g", v);
  out += name;
  if (!labels.empty()) out += '{' + labels + '}';
  out += ' ';
  out += buf;
  out += '\n';
}

std::string Label(const char* name, std::string_view value) {
  return std::string(name) + "=\"" + EscapeLabelValue(value) + '"';
}

std::string Join(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  return a + ',' + b;
}

void AppendDataplane(std::string& out, const CountersReport& r) {
  const std::string drops = "ipop_dp_drops_total";
  AppendHelp(out, drops, "packets the dataplane dropped, by reason (docs/metrics.md lists them)",
             MetricKind::kCounter);
  for (size_t w = 0; w < r.workers.size(); ++w)
    for (const CounterDesc& d : kDropDescs)
      AppendSample(out, drops, Join(Label("worker", std::to_string(w)), Label("reason", d.name)),
                   ReadCounter(&r.workers[w], d));
  for (const CounterDesc& d : kStatDescs) {
    const std::string name = std::string("ipop_dp_") + d.name + "_total";
    AppendHelp(out, name, d.help, d.kind);
    for (size_t w = 0; w < r.workers.size(); ++w)
      AppendSample(out, name, Label("worker", std::to_string(w)), ReadCounter(&r.workers[w], d));
  }
}

void AppendControlPlane(std::string& out, const CountersReport& r) {
  for (const CounterBlock& b : CounterBlocks(r))
    for (const CounterDesc& d : b.module->counters) {
      const std::string name = PrometheusName(*b.module, d);
      AppendHelp(out, name, d.help, d.kind);
      for (size_t i = d.first; i < d.count; ++i)
        AppendSample(out, name, d.count > 1 ? Label(d.label, d.label_of(i)) : std::string(),
                     ReadCounter(b.values, d, i));
    }
}

void AppendPeers(std::string& out, const std::vector<PeerRow>& peers) {
  for (size_t m = 0; m < kNumPeerMetrics; ++m) {
    const PeerMetric& pm = kPeerMetrics[m];
    AppendHelp(out, pm.name, pm.help, pm.kind);
    for (const PeerRow& p : peers)
      if (const std::optional<double> v = pm.value(p))
        AppendSample(out, pm.name, Label("peer", FormatIpv4(p.status.vip)), *v);
  }
}

double Seconds(uint64_t ns) {
  return double(ns) / double(kNsPerSecond);
}

}  // namespace

const PeerMetric kPeerMetrics[] = {
    {"ipop_peer_up", "1 while the peer's HELLOs arrive, else 0", MetricKind::kGauge,
     [](const PeerRow& p) -> std::optional<double> { return p.status.up ? 1 : 0; }},
    {"ipop_peer_relayed", "1 while data to the peer goes through the overlay, 0 on a direct path",
     MetricKind::kGauge,
     [](const PeerRow& p) -> std::optional<double> { return p.status.relayed ? 1 : 0; }},
    {"ipop_peer_learned", "1 for a peer learned through the overlay, 0 for a configured one",
     MetricKind::kGauge,
     [](const PeerRow& p) -> std::optional<double> { return p.status.learned ? 1 : 0; }},
    {"ipop_peer_last_handshake_age_seconds",
     "seconds since the peer's last authenticated HELLO (absent before the first)",
     MetricKind::kGauge,
     [](const PeerRow& p) -> std::optional<double> {
       if (!p.status.heard) return std::nullopt;
       return Seconds(p.status.last_hello_age_ns);
     }},
    {"ipop_peer_tx_packets_total", "inner packets sent to the peer (since it got its table slot)",
     MetricKind::kCounter,
     [](const PeerRow& p) -> std::optional<double> { return double(p.traffic.tx_packets); }},
    {"ipop_peer_tx_bytes_total", "inner IP bytes sent to the peer (since it got its table slot)",
     MetricKind::kCounter,
     [](const PeerRow& p) -> std::optional<double> { return double(p.traffic.tx_bytes); }},
    {"ipop_peer_rx_packets_total",
     "inner packets received from the peer (since it got its table slot)", MetricKind::kCounter,
     [](const PeerRow& p) -> std::optional<double> { return double(p.traffic.rx_packets); }},
    {"ipop_peer_rx_bytes_total",
     "inner IP bytes received from the peer (since it got its table slot)", MetricKind::kCounter,
     [](const PeerRow& p) -> std::optional<double> { return double(p.traffic.rx_bytes); }},
};
const size_t kNumPeerMetrics = std::size(kPeerMetrics);

std::string EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out.push_back(c);
  }
  return out;
}

std::string RenderPrometheus(const MetricsReport& r) {
  std::string out;
  out.reserve(64 * 1024);
  AppendHelp(out, "ipop_node_info", "1, labelled with the node's name, network and address",
             MetricKind::kGauge);
  AppendSample(out, "ipop_node_info",
               Join(Join(Label("node", r.node), Label("network", r.network)),
                    Label("vip", r.vip != 0 ? FormatIpv4(r.vip) : std::string())),
               uint64_t{1});
  AppendDataplane(out, r.counters);
  AppendControlPlane(out, r.counters);
  AppendPeers(out, r.peers);
  return out;
}

}  // namespace ipop::cp
