// Text of `ipopctl counters`: one counter per line, "<kind or prefix><name> <value>":
//   drop  no_route                         12      dataplane drops (shared/counters.h)
//   stat  / cp    ...                              dataplane statistics, control-plane counters
//   overlay.<name> n, mcast.<name> n, dhcp_<name> n, dns_<name> n
// drop/stat/cp and dhcp lines only when non-zero unless `all` (tests tell a zero from a name that
// does not exist); the others always.
#pragma once

#include <optional>
#include <string>

#include "controlplane/dht/dht_service.h"
#include "controlplane/directory/address_claim.h"
#include "controlplane/directory/overlay_host.h"
#include "controlplane/overlay/overlay_node.h"
#include "controlplane/runtime/cp_counters.h"
#include "controlplane/runtime/dataplane_counters.h"
#include "controlplane/services/dhcp_server.h"
#include "controlplane/services/dns_forwarder.h"
#include "controlplane/services/dns_responder.h"
#include "controlplane/services/dns_tcp.h"
#include "controlplane/services/multicast_groups.h"

namespace ipop::cp {

struct OverlayCountersReport {
  OverlayHostCounters host;
  overlay::OverlayCounters node;
  DhtServiceCounters dht;
  std::optional<AddressClaimCounters> claim;  // with an address in the DHT
};

// Every part that is not running is absent.
struct CountersReport {
  DataplaneTotals dataplane;
  CpCounters cp;
  std::optional<OverlayCountersReport> overlay;
  std::optional<MulticastCounters> multicast;
  std::optional<DhcpCounters> dhcp;
  std::optional<DnsCounters> dns;
  std::optional<DnsForwarderCounters> dns_forwarder;  // shown with dns only
  std::optional<DnsTcpCounters> dns_tcp;              // shown with dns only
};
std::string RenderCounters(const CountersReport& r, bool all = false);

}  // namespace ipop::cp
