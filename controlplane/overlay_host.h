// The overlay and the DHT inside ipop-controlplane (docs/overlay.md, "In the process").
//
// OverlayNode and DhtService are pure logic; this class gives them the process's clock and a
// transport over the dataplane's inject ring, and guards what reaches them:
//   send     every overlay datagram gets an authenticator tag appended (the network's pre-shared
//            secret today, HelloAuthenticator, so certificates can replace it)
//   receive  a CONTROL datagram with an overlay type byte is checked for size, per-source rate
//            (token bucket per underlay endpoint, bounded table) and tag before the overlay sees
//            it; each rejection is counted
// On top it keeps this node's entry in the VIP directory (a DHT record per virtual IP: which
// overlay node holds it and where it listens), resolves other VIPs through it, and carries
// HELLOs of the data-session protocol as routed overlay messages for peers without a direct link.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "controlplane/clock.h"
#include "controlplane/dht/dht_rate_limiter.h"
#include "controlplane/dht/dht_service.h"
#include "controlplane/dns_responder.h"
#include "controlplane/hello_authenticator.h"
#include "controlplane/hello_relay.h"
#include "controlplane/log.h"
#include "controlplane/overlay/overlay_node.h"
#include "controlplane/port.h"
#include "controlplane/random_source.h"
#include "shared/config.h"
#include "shared/table.h"

namespace ipop::cp {

// Routed payload type of a data-session HELLO sent through the overlay.
inline constexpr uint8_t kPayloadHello = 0x11;

struct OverlayHostOptions {
  overlay::RingAddress address;
  Endpoint listen;  // node.listen; a wildcard address is replaced once a route is known
  std::string network;
  uint32_t vip = 0;      // 0: nothing to publish in the directory
  std::string dns_name;  // registered as <name> -> vip (lower case, full name); empty: none
  std::vector<PrefixConfig> announce;  // router mode: subnets behind this node
  uint64_t routes_poll_ns = 5'000'000'000ull;
  overlay::OverlayOptions overlay;
  DhtServiceOptions dht;
  DhtRateLimit source_limit{400, 800, 4096};  // overlay datagrams per underlay source
  // Refreshed well inside the TTL: a record whose replicas left together (two ring neighbours
  // stopped at once) is back on the new replica set within one refresh period.
  uint32_t directory_ttl_ms = 90'000;
  uint64_t directory_refresh_ns = 20'000'000'000ull;
  uint64_t resolve_cache_ns = 30'000'000'000ull;
  uint64_t resolve_negative_ns = 2'000'000'000ull;

  // Overlay defaults for a node in ipop-controlplane; `address` from the config or derived.
  static OverlayHostOptions FromConfig(const NodeConfig& cfg);
};

struct OverlayHostCounters {
  uint64_t received = 0, accepted = 0;
  uint64_t too_short = 0, too_long = 0, bad_tag = 0, rate_limited = 0;
  uint64_t sent = 0, send_failed = 0, sign_failed = 0;
  uint64_t hello_routed_sent = 0, hello_routed_received = 0, routed_unknown_payload = 0;
  uint64_t directory_published = 0, directory_conflicts = 0, directory_failures = 0;
  uint64_t names_published = 0, name_conflicts = 0, name_lookups = 0, name_misses = 0;
  uint64_t routes_announced = 0, routes_polls = 0, routes_bad_records = 0;
  uint64_t resolves = 0, resolve_hits = 0, resolve_misses = 0, resolve_bad_records = 0;
};

// Router mode: `prefix/length` is reached through the member whose VIP is `via`.
struct AnnouncedRoute {
  uint32_t prefix = 0;
  uint8_t length = 0;
  uint32_t via = 0;
  bool operator==(const AnnouncedRoute&) const = default;
};

// A directory entry: the overlay node that holds a VIP and its underlay endpoint.
struct VipLocation {
  overlay::RingAddress node;
  Endpoint endpoint;
};

class OverlayHost final : public HelloRelay, public NameSource {
 public:
  // A HELLO that arrived through the overlay from node `source` (whose endpoint it reported).
  using HelloFn =
      std::function<void(const overlay::RingAddress& source, const Endpoint& source_endpoint,
                         std::span<const uint8_t> hello)>;
  using ResolveFn = std::function<void(uint32_t vip, const std::optional<VipLocation>& where)>;
  using RoutesFn = std::function<void(const std::vector<AnnouncedRoute>& routes)>;

  OverlayHost(const OverlayHostOptions& options, Clock& clock, RandomSource& random, Port& port,
              const HelloAuthenticator& auth);
  ~OverlayHost() override;
  OverlayHost(const OverlayHost&) = delete;
  OverlayHost& operator=(const OverlayHost&) = delete;

  void Start();
  void Stop();  // graceful leave: closes every link
  // Feed every punted CONTROL datagram; false if it is not an overlay message (HELLO), true if it
  // was one (accepted or dropped and counted).
  bool OnControlDatagram(const Endpoint& from, std::span<const uint8_t> datagram);
  void Tick();

  void SetHelloHandler(HelloFn fn) { hello_ = std::move(fn); }
  // Router mode: every routes_poll interval, the subnets other members announce (never ours).
  void SetRoutesHandler(RoutesFn fn) { routes_ = std::move(fn); }
  // Sends a HELLO to node `to` through the overlay (exact delivery). false if there is no route.
  bool SendHello(const overlay::RingAddress& to, std::span<const uint8_t> hello);
  bool SendHello(const NodeAddress& to, std::span<const uint8_t> hello) override;
  // Looks `vip` up in the directory (cached; one lookup per VIP in flight). `done` runs later.
  void Resolve(uint32_t vip, ResolveFn done);
  // DNS names registered by nodes (`dns_name`): name -> VIP through the DHT.
  void Lookup(const std::string& name,
              std::function<void(std::optional<uint32_t> ipv4)> done) override;

  // Operator DHT access (ipopctl dht ...): names are hashed within this network's namespace.
  void DhtPut(const std::string& name, std::span<const uint8_t> value, uint32_t ttl_ms,
              DhtDoneFn done);
  void DhtGet(const std::string& name, DhtDoneFn done);

  // The overlay's view for the forwarding table: our address and the links a relay may use.
  void FillTable(shm::TableSpec* spec) const;
  // Changes whenever FillTable would write something else.
  uint64_t table_version() const { return table_version_; }

  const overlay::OverlayNode& node() const { return *node_; }
  overlay::OverlayNode& node() { return *node_; }
  const DhtService& dht() const { return *dht_; }
  DhtService& dht() { return *dht_; }
  bool HasLink(const overlay::RingAddress& a) const;
  const OverlayHostCounters& counters() const { return counters_; }

  std::string RingText() const;
  std::string LinksText() const;
  std::string CountersText() const;

 private:
  class Transport;
  struct PendingResolve {
    std::vector<ResolveFn> waiting;
  };
  struct CachedLocation {
    std::optional<VipLocation> where;
    uint64_t expires_ns = 0;
  };

  void PublishDirectory();
  void PublishName();
  void AnnounceRoutes();
  void PollRoutes();
  void LearnSelfEndpoint(const Endpoint& toward);
  void OnRouted(const overlay::Routed& r);
  void UpdateTableVersion();

  OverlayHostOptions options_;
  Clock& clock_;
  const HelloAuthenticator& auth_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<overlay::OverlayNode> node_;
  std::unique_ptr<DhtService> dht_;
  DhtRateLimiter source_limiter_;
  OverlayHostCounters counters_;
  HelloFn hello_;
  RoutesFn routes_;
  uint64_t next_announce_ns_ = 0;
  uint64_t next_routes_poll_ns_ = 0;
  bool routes_poll_in_flight_ = false;
  bool self_endpoint_known_ = false;
  bool started_ = false;
  uint64_t next_directory_ns_ = 0;
  bool directory_in_flight_ = false;
  bool name_in_flight_ = false;
  uint64_t next_name_ns_ = 0;
  std::map<uint32_t, PendingResolve> resolving_;
  std::map<uint32_t, CachedLocation> resolved_;
  uint64_t table_version_ = 1;
  uint64_t table_hash_ = 0;
  RateLimiter log_limit_{1, 5};
};

// DHT names of the directory and of operator values (exposed for tests).
DhtKey VipDirectoryKey(const std::string& network, uint32_t vip);
DhtKey OperatorKey(const std::string& network, const std::string& name);
DhtKey DnsNameKey(const std::string& full_name);
DhtKey RoutesKey(const std::string& network);
// Route record value: prefix (4), length (1), via VIP (4), big endian.
std::vector<uint8_t> EncodeRoute(const AnnouncedRoute& r);
std::optional<AnnouncedRoute> DecodeRoute(std::span<const uint8_t> value);
// Directory record value: node address (20) then endpoint (18).
std::vector<uint8_t> EncodeVipLocation(const VipLocation& where);
std::optional<VipLocation> DecodeVipLocation(std::span<const uint8_t> value);

}  // namespace ipop::cp
