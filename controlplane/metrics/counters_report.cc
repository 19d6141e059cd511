#include "controlplane/metrics/counters_report.h"

namespace ipop::cp {

DataplaneTotals CountersReport::DataplaneSum() const {
  DataplaneTotals sum;
  for (const DataplaneTotals& w : workers) {
    for (uint32_t i = 0; i < kNumDropReasons; ++i) sum.drops[i] += w.drops[i];
    for (uint32_t i = 0; i < kNumStats; ++i) sum.stats[i] += w.stats[i];
  }
  return sum;
}

std::vector<CounterBlock> CounterBlocks(const CountersReport& r) {
  std::vector<CounterBlock> b;
  b.push_back({&kNodeCounterModule, &r.cp});
  b.push_back({&kNodeGaugeModule, &r.node});
  if (r.overlay) {
    const OverlayCountersReport& o = *r.overlay;
    b.push_back({&kOverlayHostModule, &o.host});
    if (o.link_auth) b.push_back({&kLinkAuthModule, &*o.link_auth});
    b.push_back({&kOverlayEchoModule, &o.echo});
    b.push_back({&kOverlayLimitModule, &o.host_limit});
    b.push_back({&kOverlayCounterModule, &o.node});
    b.push_back({&kOverlayGaugeModule, &o.node_gauges});
    b.push_back({&kPunchModule, &o.punch});
    if (o.claim) b.push_back({&kAddressModule, &*o.claim});
    b.push_back({&kDhtCounterModule, &o.dht});
    b.push_back({&kDhtGaugeModule, &o.dht_gauges});
    b.push_back({&kDhtStoreModule, &o.dht_store});
    b.push_back({&kDhtLimitModule, &o.dht_limit});
  }
  if (r.multicast) b.push_back({&kMulticastModule, &*r.multicast});
  if (r.dhcp) b.push_back({&kDhcpModule, &*r.dhcp});
  if (r.dns) b.push_back({&kDnsModule, &*r.dns});
  if (r.dns_forwarder) b.push_back({&kDnsForwardModule, &*r.dns_forwarder});
  if (r.dns_tcp) b.push_back({&kDnsTcpModule, &*r.dns_tcp});
  if (r.metrics_server) b.push_back({&kMetricsServerModule, &*r.metrics_server});
  if (r.revocation) b.push_back({&kRevocationModule, &*r.revocation});
  return b;
}

std::string PrometheusName(const CounterModule& module, const CounterDesc& d) {
  std::string name = std::string("ipop_cp_") + module.name + "_" + d.name;
  if (d.kind == MetricKind::kCounter) name += "_total";
  return name;
}

}  // namespace ipop::cp
