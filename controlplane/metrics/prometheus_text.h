// The Prometheus text exposition format (version 0.0.4) of a node's metrics: every family with
// its # HELP and # TYPE lines before its samples, samples of one family together.
//   ipop_dp_drops_total{worker,reason}     dataplane drops (shared/counters.h IPOP_DROP_REASONS)
//   ipop_dp_<stat>_total{worker}            dataplane statistics (IPOP_STATS)
//   ipop_cp_<module>_<name>[_total]         control-plane counters and gauges (counters_report.h)
//   ipop_peer_*{peer}                       per peer (kPeerMetrics below)
//   ipop_node_info{node,network,vip}        1, to join on the node's name
// docs/metrics.md lists every family; a unit test keeps it complete.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "controlplane/metrics/counters_report.h"
#include "controlplane/mgmt/render_peers.h"

namespace ipop::cp {

struct MetricsReport {
  std::string node;     // node.name
  std::string network;  // network.name
  uint32_t vip = 0;     // 0 while none is held
  CountersReport counters;
  std::vector<PeerRow> peers;
};

// A per-peer family: labelled peer="<VIP>"; a peer without a value (never heard) has no sample.
struct PeerMetric {
  const char* name;
  const char* help;
  MetricKind kind;
  std::optional<double> (*value)(const PeerRow& peer);
};
extern const PeerMetric kPeerMetrics[];
extern const size_t kNumPeerMetrics;

std::string RenderPrometheus(const MetricsReport& r);

// A label value in the exposition format: \ " and newline escaped.
std::string EscapeLabelValue(std::string_view v);

}  // namespace ipop::cp
