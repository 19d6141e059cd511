// The data the management replies show, gathered from the control plane's parts into the plain
// reports the renderers take (render_*.h). Reading only: collecting changes nothing. Anything
// else that reports on the node (a metrics exporter) collects the same way.
#pragma once

#include <cstdint>
#include <vector>

#include "controlplane/directory/overlay_host.h"
#include "controlplane/directory/revocation_flood.h"
#include "controlplane/metrics/metrics_server.h"
#include "controlplane/metrics/prometheus_text.h"
#include "controlplane/mgmt/render_counters.h"
#include "controlplane/mgmt/render_firewall.h"
#include "controlplane/mgmt/render_overlay.h"
#include "controlplane/mgmt/render_peers.h"
#include "controlplane/mgmt/render_status.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/cp_counters.h"
#include "controlplane/runtime/dataplane_counters.h"
#include "controlplane/runtime/kernel_routes.h"
#include "controlplane/runtime/tap_address.h"
#include "controlplane/services/dhcp_server.h"
#include "controlplane/services/dns_forwarder.h"
#include "controlplane/services/dns_responder.h"
#include "controlplane/services/dns_tcp.h"
#include "controlplane/services/multicast_groups.h"
#include "controlplane/sessions/peer_sessions.h"
#include "shared/config.h"
#include "shared/shm_region.h"
#include "shared/table.h"

namespace ipop::cp {

// The parts of a running control plane, by reference; a null pointer is a part that is off.
// All of them outlive the MgmtParts (ControlPlane owns them).
struct MgmtParts {
  const NodeConfig& cfg;  // the running config (a reload replaces it in place)
  shm::ShmRegion& region;
  const shm::TableWriter& writer;
  const Clock& clock;
  uint64_t start_ns = 0;  // clock.NowNs() when the control plane started
  const CpCounters& counters;
  const PeerSessions& sessions;
  const PeerTrafficMeter& traffic;
  const KernelRoutes& kernel_routes;
  const TapAddressKeeper& tap_address;
  OverlayHost* overlay = nullptr;  // overlay.enabled = false
  const MulticastGroups* multicast = nullptr;
  const DhcpServer* dhcp = nullptr;
  const DnsResponder* dns = nullptr;
  const DnsForwarder* dns_forwarder = nullptr;
  const DnsTcpServer* dns_tcp = nullptr;
  const MetricsServer* metrics = nullptr;  // metrics.listen unset
  RevocationFlood* revocations = nullptr;  // certificate mode only
};

NodeStatus CollectStatus(const MgmtParts& p);
std::vector<PeerRow> CollectPeers(const MgmtParts& p);
CountersReport CollectCounters(const MgmtParts& p);
// The configured rules with the dataplane workers' hit counts summed.
FirewallReport CollectFirewall(const MgmtParts& p);
MetricsReport CollectMetrics(const MgmtParts& p);
RoutesReport CollectRoutes(const MgmtParts& p);
RingReport CollectRing(const OverlayHost& overlay, uint64_t now_ns);
std::vector<LinkRow> CollectLinks(const OverlayHost& overlay, uint64_t now_ns);
ClaimStatus CollectClaim(const AddressClaim& claim);

}  // namespace ipop::cp
