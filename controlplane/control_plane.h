// The ipop-controlplane process: wiring and the loop only. It connects the parts (sessions/:
// PeerSessions and PeerPathPolicy; directory/: OverlayHost with the DHT and address claims;
// services/: ARP, DHCP, DNS over UDP and TCP, multicast; runtime/: KernelRoutes, TapAddressKeeper,
// dataplane counters; mgmt/: MgmtHandler and its renderers) to the shared region (punt rings in,
// inject ring out, table generations), the management socket and signals, and runs the loop:
//
//   poll(signalfd, mgmt socket, DNS upstream socket, timeout controlplane.poll-ms)
//     -> signals: SIGTERM/SIGINT stop (records released first), SIGHUP reloads the config file
//     -> management requests, answered by MgmtHandler (docs/operations.md, "ipopctl")
//     -> drain every worker's punt ring: CONTROL datagrams to PeerSessions or the overlay, TAP
//        frames to ARP, DHCP, DNS (UDP and TCP) and multicast
//     -> notice a dataplane restart (dp_instance), send due HELLOs, rekey, expire sessions
//     -> once per path interval: PeerPathPolicy's decisions applied (relayed/direct, shortcuts)
//     -> publish a new table generation when the spec changed
//     -> TAP address and kernel routes kept; heartbeat
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/directory/overlay_host.h"
#include "controlplane/directory/revocation_flood.h"
#include "controlplane/firewall/firewall_compiler.h"
#include "controlplane/identity/node_identity.h"
#include "controlplane/metrics/metrics_server.h"
#include "controlplane/mgmt/mgmt_handler.h"
#include "controlplane/mgmt/mgmt_server.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/cp_counters.h"
#include "controlplane/runtime/dataplane_counters.h"
#include "controlplane/runtime/kernel_routes.h"
#include "controlplane/runtime/log.h"
#include "controlplane/runtime/random_source.h"
#include "controlplane/runtime/shm_port.h"
#include "controlplane/runtime/tap_address.h"
#include "controlplane/services/arp_responder.h"
#include "controlplane/services/dhcp_server.h"
#include "controlplane/services/dns_forwarder.h"
#include "controlplane/services/dns_responder.h"
#include "controlplane/services/dns_tcp.h"
#include "controlplane/services/dns_upstream_socket.h"
#include "controlplane/services/multicast_groups.h"
#include "controlplane/sessions/cert_hello_authenticator.h"
#include "controlplane/sessions/hello_authenticator.h"
#include "controlplane/sessions/key_derivation.h"
#include "controlplane/sessions/peer_path_policy.h"
#include "controlplane/sessions/peer_sessions.h"
#include "shared/config.h"
#include "shared/shm_region.h"
#include "shared/table.h"

namespace ipop::cp {

class ControlPlane {
 public:
  // `args` are the command-line arguments the config came from (without argv[0]); a reload parses
  // them again so the file is re-read and flags keep winning. nullptr + *error says what to fix.
  static std::unique_ptr<ControlPlane> Start(const NodeConfig& cfg, std::vector<std::string> args,
                                             std::string* error);
  ~ControlPlane();
  ControlPlane(const ControlPlane&) = delete;
  ControlPlane& operator=(const ControlPlane&) = delete;

  // Runs until SIGTERM or SIGINT; returns the process exit code.
  int Run();

 private:
  ControlPlane(const NodeConfig& cfg, std::vector<std::string> args);
  bool Init(std::string* error);
  void StartTapServices();
  bool LoadRouteAuthority(std::string* error);
  void StartDnsForwarder();
  void UpdateDnsUpstreams();  // from cfg_ (start, reload)
  void Iterate();
  void HandleSignals();
  bool DrainPuntRings();  // true if a ring still had entries when the per-loop budget ran out
  void PublishIfChanged();
  // The overlay allocated, lost or changed this node's address.
  void OnAddressChanged(uint32_t vip);
  // Clean stop: the address and the DNS name record leave the DHT (bounded wait).
  void ReleaseRecords();
  // Long enough for a second DHT attempt (the first times out after 2 s), short enough for the
  // supervisor, which stops the dataplane 4.5 s and kills us 5 s after our SIGTERM (ipop_node.cc).
  static constexpr uint64_t kReleaseTimeoutNs = 4'000'000'000ull;
  void RefreshTrafficBaselines();
  std::string Reload();
  // Overlay peers: a VIP the host ARPs for is looked up in the directory and learned (lookups
  // bounded and throttled in OverlayHost::Resolve: a host scanning the subnet cannot flood).
  void OnArpMiss(uint32_t vip);
  void LearnLocation(uint32_t vip, const VipLocation& where);
  void RecheckSilentPeer(uint32_t vip, const overlay::RingAddress& was);
  // Once per path interval: the path policy's decisions (relayed vs direct, shortcuts, use marks
  // that keep learned peers alive, rechecks) applied to the sessions and the overlay.
  void UpdatePeerPaths();
  // Certificate mode: starts the revocation flood and wires its hooks (sessions and links).
  void StartRevocations();
  // Ends the sessions of peers whose certificate expired or was revoked (directly or through
  // its issuing CA); returns how many peers.
  size_t DropInvalidPeers(uint64_t now_s);
  // Router mode: subnets other members announced become prefix routes (and kernel routes to the
  // TAP, or DHCP option 121); the announcing member is learned like any peer.
  void OnAnnouncedRoutes(const std::vector<AnnouncedRoute>& routes);

  NodeConfig cfg_;
  std::vector<std::string> args_;
  SystemClock clock_;
  CryptoRandom random_;
  CpCounters counters_;
  uint64_t start_ns_ = 0;
  uint64_t last_punt_ns_ = 0;  // when the punt rings last held something
  static constexpr uint64_t kBusyWindowNs = 50'000'000;
  int signal_fd_ = -1;
  bool running_ = true;

  std::unique_ptr<shm::ShmRegion> region_;
  std::unique_ptr<shm::TableWriter> writer_;
  std::unique_ptr<PeerTrafficMeter> traffic_;
  std::vector<SpscRingView> punt_rings_;
  std::unique_ptr<InjectRingPort> port_;
  // Certificate mode (network.ca-file): this node's certified identity; null in PSK mode.
  std::unique_ptr<identity::NodeIdentity> identity_;
  // HELLOs and session keys: the network secret (PSK mode) or the certificates (identity_).
  std::unique_ptr<HelloAuthenticator> auth_;
  std::unique_ptr<SessionKeySource> keys_;
  std::unique_ptr<PeerSessions> sessions_;
  std::unique_ptr<ArpResponder> arp_;
  std::unique_ptr<PskHelloAuthenticator> overlay_auth_;
  std::unique_ptr<OverlayHost> overlay_;  // null with overlay.enabled = false
  // Certificate mode: revocations learned, flooded over the overlay's links and persisted.
  std::unique_ptr<RevocationFlood> revocations_;
  // The node's services on the TAP (network.service-ip): DHCP hands the host node.vip, DNS
  // answers C-names and (with the overlay) names nodes registered.
  std::unique_ptr<FixedLeaseSource> lease_;
  std::unique_ptr<DhcpServer> dhcp_;
  std::unique_ptr<DnsResponder> dns_;
  std::unique_ptr<DnsTcpServer> dns_tcp_;          // with dns_: its TCP transport
  std::unique_ptr<DnsUpstreamSocket> dns_socket_;  // with dns_: network.dns-forward
  std::unique_ptr<DnsForwarder> dns_forwarder_;
  // Multicast/broadcast groups (docs/multicast.md); null with the overlay off.
  std::unique_ptr<MulticastGroups> multicast_;
  uint64_t published_overlay_version_ = 0;
  uint64_t published_multicast_version_ = 0;
  uint64_t next_path_update_ns_ = 0;
  PeerPathPolicy path_policy_;
  KernelRoutes kernel_routes_;
  TapAddressKeeper tap_address_;
  std::unique_ptr<MgmtHandler> mgmt_handler_;
  std::unique_ptr<MgmtServer> mgmt_;
  std::unique_ptr<MetricsServer> metrics_;  // metrics.listen

  // Verified name and groups of a peer for `name:`/`group:` firewall rules (docs/firewall.md);
  // PSK mode knows none. Certificate mode replaces it with the session layer's lookup.
  PeerAttributeLookup peer_attributes_ = NoPeerAttributes;

  uint64_t seen_dp_instance_ = 0;
  RateLimiter publish_log_{1, 3};
};

}  // namespace ipop::cp
