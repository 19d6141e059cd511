// Every counter and gauge of a node as one plain report (mgmt/collect.cc gathers it), and the
// registry of modules that describes it: `ipopctl counters` (text and JSON) and the Prometheus
// exporter walk CounterBlocks() and the dataplane tables below, never a field by name.
//
// Modules (the first word of an `ipopctl counters` line, ipop_cp_<module>_... in Prometheus):
//   node          HELLOs, sessions, ARP, punts, table publication (runtime/cp_counters.h)
//   node (gauges) peers, uptime, dataplane workers
//   overlay_host  overlay datagram authentication, names, routes, VIP lookups
//   link_auth     certificate mode: refused link handshakes and datagrams, link keys
//   overlay_echo  echo probes (ipopctl ping, validate) and the replies to others' probes
//   overlay_limit per-source budget of overlay datagrams
//   overlay       ring maintenance and routed messages; gauges: ring size, links by role
//   address       the address claim in the DHT
//   dht           DHT client and server operations; gauges: records stored, pending operations
//   dht_store     the records this node holds for others
//   dht_limit     per-source budget of DHT requests
//   mcast dhcp dns dns_forward dns_tcp   the TAP services
//   metrics       the exporter's own HTTP server (with metrics.listen)
// The dataplane's counters come from shared/counters.h: "drop <reason>" and "stat <name>" in
// ipopctl (summed over workers), ipop_dp_drops_total{reason} and ipop_dp_<name>_total per worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "controlplane/dht/dht_rate_limiter.h"
#include "controlplane/dht/dht_service.h"
#include "controlplane/dht/dht_store.h"
#include "controlplane/directory/address_claim.h"
#include "controlplane/directory/overlay_host.h"
#include "controlplane/directory/revocation_flood.h"
#include "controlplane/metrics/metrics_server.h"
#include "controlplane/overlay/overlay_node.h"
#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/cp_counters.h"
#include "controlplane/runtime/dataplane_counters.h"
#include "controlplane/services/dhcp_server.h"
#include "controlplane/services/dns_forwarder.h"
#include "controlplane/services/dns_responder.h"
#include "controlplane/services/dns_tcp.h"
#include "controlplane/services/multicast_groups.h"

namespace ipop::cp {

struct NodeGauges {
  uint64_t peers = 0;
  uint64_t peers_up = 0;
  uint64_t peers_relayed = 0;
  uint64_t uptime_seconds = 0;
  uint64_t dp_workers = 0;
  uint64_t dp_workers_running = 0;
  uint64_t table_generation = 0;
};
inline constexpr CounterDesc kNodeGaugeDescs[] = {
    IPOP_GAUGE(NodeGauges, peers, "peers known (configured and learned)"),
    IPOP_GAUGE(NodeGauges, peers_up, "peers whose HELLOs arrive (liveness up)"),
    IPOP_GAUGE(NodeGauges, peers_relayed, "peers whose data goes through the overlay"),
    IPOP_GAUGE(NodeGauges, uptime_seconds, "seconds since the control plane started"),
    IPOP_GAUGE(NodeGauges, dp_workers, "dataplane workers the shared region is laid out for"),
    IPOP_GAUGE(NodeGauges, dp_workers_running, "dataplane workers running"),
    IPOP_GAUGE(NodeGauges, table_generation, "forwarding-table generation last published"),
};
static_assert(CoversEveryField<NodeGauges>(kNodeGaugeDescs));

// Link roles as LinkTable counts them (a link with two roles counts under both).
inline constexpr uint8_t kLinkRoles[] = {overlay::kRoleLeaf, overlay::kRoleNear,
                                         overlay::kRoleFarOut, overlay::kRoleFarIn,
                                         overlay::kRoleShortcut};
inline const char* LinkRoleName(size_t i) {
  static constexpr const char* kNames[] = {"leaf", "near", "far_out", "far_in", "shortcut"};
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

struct OverlayGauges {
  uint64_t joined = 0;  // 0 or 1
  uint64_t ring_size_estimate = 0;
  uint64_t far_target = 0;
  uint64_t links = 0;
  uint64_t links_by_role[std::size(kLinkRoles)] = {};
};
inline constexpr CounterDesc kOverlayGaugeDescs[] = {
    IPOP_GAUGE(OverlayGauges, joined, "1 once the node has joined the ring, else 0"),
    IPOP_GAUGE(OverlayGauges, ring_size_estimate,
               "nodes in the ring, estimated from near-link spacing"),
    IPOP_GAUGE(OverlayGauges, far_target, "far links the node aims for"),
    IPOP_GAUGE(OverlayGauges, links, "overlay links"),
    IPOP_GAUGE_BY(OverlayGauges, links_by_role, "role", LinkRoleName, 0,
                  "overlay links by role (a link with two roles counts under both)"),
};
static_assert(CoversEveryField<OverlayGauges>(kOverlayGaugeDescs));

struct DhtGauges {
  uint64_t keys_stored = 0;
  uint64_t values_stored = 0;
  uint64_t pending_ops = 0;
  uint64_t limit_sources = 0;
};
inline constexpr CounterDesc kDhtGaugeDescs[] = {
    IPOP_GAUGE(DhtGauges, keys_stored, "DHT keys this node holds a replica of"),
    IPOP_GAUGE(DhtGauges, values_stored, "DHT values this node holds (expired ones until swept)"),
    IPOP_GAUGE(DhtGauges, pending_ops, "DHT client operations in flight"),
    IPOP_GAUGE(DhtGauges, limit_sources, "request sources the DHT rate limiter tracks"),
};
static_assert(CoversEveryField<DhtGauges>(kDhtGaugeDescs));

inline constexpr CounterModule kNodeCounterModule{"node", kCpCounterDescs};
inline constexpr CounterModule kNodeGaugeModule{"node", kNodeGaugeDescs};
inline constexpr CounterModule kOverlayHostModule{"overlay_host", kOverlayHostCounterDescs};
inline constexpr CounterModule kLinkAuthModule{"link_auth", kLinkAuthCounterDescs};
inline constexpr CounterModule kOverlayEchoModule{"overlay_echo", kOverlayEchoCounterDescs};
inline constexpr CounterModule kOverlayLimitModule{"overlay_limit", kDhtRateLimiterCounterDescs};
inline constexpr CounterModule kOverlayCounterModule{"overlay", overlay::kOverlayCounterDescs};
inline constexpr CounterModule kOverlayGaugeModule{"overlay", kOverlayGaugeDescs};
inline constexpr CounterModule kPunchModule{"punch", overlay::kPunchCounterDescs};
inline constexpr CounterModule kAddressModule{"address", kAddressClaimCounterDescs};
inline constexpr CounterModule kDhtCounterModule{"dht", kDhtServiceCounterDescs};
inline constexpr CounterModule kDhtGaugeModule{"dht", kDhtGaugeDescs};
inline constexpr CounterModule kDhtStoreModule{"dht_store", kDhtStoreCounterDescs};
inline constexpr CounterModule kDhtLimitModule{"dht_limit", kDhtRateLimiterCounterDescs};
inline constexpr CounterModule kMulticastModule{"mcast", kMulticastCounterDescs};
inline constexpr CounterModule kDhcpModule{"dhcp", kDhcpCounterDescs};
inline constexpr CounterModule kDnsModule{"dns", kDnsCounterDescs};
inline constexpr CounterModule kDnsForwardModule{"dns_forward", kDnsForwarderCounterDescs};
inline constexpr CounterModule kDnsTcpModule{"dns_tcp", kDnsTcpCounterDescs};
inline constexpr CounterModule kMetricsServerModule{"metrics", kMetricsServerCounterDescs};
inline constexpr CounterModule kRevocationModule{"revocation", kRevocationCounterDescs};

// Every module, in the order they are shown: what tests and docs/metrics.md are checked against.
inline constexpr const CounterModule* kCounterModules[] = {
    &kNodeCounterModule, &kNodeGaugeModule,    &kOverlayHostModule,    &kLinkAuthModule,
    &kOverlayEchoModule, &kOverlayLimitModule, &kOverlayCounterModule, &kOverlayGaugeModule,
    &kPunchModule,       &kAddressModule,      &kDhtCounterModule,     &kDhtGaugeModule,
    &kDhtStoreModule,    &kDhtLimitModule,     &kMulticastModule,      &kDhcpModule,
    &kDnsModule,         &kDnsForwardModule,   &kDnsTcpModule,         &kMetricsServerModule,
    &kRevocationModule,
};

// The dataplane's drops and statistics (shared/counters.h) as registry entries; their offsets
// index DataplaneTotals.
inline constexpr CounterDesc kDropDescs[] = {
#define IPOP_X(name, desc)                       \
  CounterDesc{#name, desc, MetricKind::kCounter, \
              offsetof(DataplaneTotals, drops) + sizeof(uint64_t) * uint32_t(DropReason::name)},
    IPOP_DROP_REASONS(IPOP_X)
#undef IPOP_X
};
inline constexpr CounterDesc kStatDescs[] = {
#define IPOP_X(name, desc)                       \
  CounterDesc{#name, desc, MetricKind::kCounter, \
              offsetof(DataplaneTotals, stats) + sizeof(uint64_t) * uint32_t(Stat::name)},
    IPOP_STATS(IPOP_X)
#undef IPOP_X
};
inline constexpr CounterModule kDropModule{"drop", kDropDescs};
inline constexpr CounterModule kStatModule{"stat", kStatDescs};

struct OverlayCountersReport {
  OverlayHostCounters host;
  OverlayEchoCounters echo;
  DhtRateLimiterCounters host_limit;
  overlay::OverlayCounters node;
  OverlayGauges node_gauges;
  overlay::PunchCounters punch;
  DhtServiceCounters dht;
  DhtGauges dht_gauges;
  DhtStoreCounters dht_store;
  DhtRateLimiterCounters dht_limit;
  std::optional<AddressClaimCounters> claim;  // with an address in the DHT
  std::optional<LinkAuthCounters> link_auth;  // certificate mode
};

// Every part that is not running is absent.
struct CountersReport {
  std::vector<DataplaneTotals> workers;  // by worker index
  CpCounters cp;
  NodeGauges node;
  std::optional<OverlayCountersReport> overlay;
  std::optional<MulticastCounters> multicast;
  std::optional<DhcpCounters> dhcp;
  std::optional<DnsCounters> dns;
  std::optional<DnsForwarderCounters> dns_forwarder;  // with dns only
  std::optional<DnsTcpCounters> dns_tcp;              // with dns only
  std::optional<MetricsServerCounters> metrics_server;
  std::optional<RevocationCounters> revocation;  // certificate mode

  DataplaneTotals DataplaneSum() const;
};

struct CounterBlock {
  const CounterModule* module;
  const void* values;  // the struct module->counters describes
};
// The control-plane blocks of `r` that are present, in kCounterModules order; they point into r.
std::vector<CounterBlock> CounterBlocks(const CountersReport& r);

// The full name of an entry as Prometheus sees it: ipop_cp_<module>_<name>[_total].
std::string PrometheusName(const CounterModule& module, const CounterDesc& d);

}  // namespace ipop::cp
