// The overlay and the DHT inside ipop-controlplane (docs/overlay.md, "In the process").
//
// OverlayNode and DhtService are pure logic; this class gives them the process's clock and a
// transport over the dataplane's inject ring, and guards what reaches them:
//   send     every overlay datagram gets a stamp (the sender's wall-clock timestamp, strictly
//            increasing, and the receiver's ring address) and an authenticator tag over message
//            and stamp appended (the network's pre-shared secret today, HelloAuthenticator, so
//            certificates can replace it)
//   receive  a CONTROL datagram with an overlay type byte is checked for size, per-source rate
//            (token bucket per underlay endpoint, bounded table), tag, receiver (ours; only a
//            LINK_REQUEST may name another or none) and freshness (ReplayGuard per sender
//            address) before the overlay sees it; each rejection is counted
//   certificates  with a NodeIdentity (SetIdentity) the overlay secret is not used: handshakes
//            are signed by node keys and every other datagram carries a per-link key's tag
//            (LinkGuard, link_auth.h); links are closed when the peer's chain expires or is
//            revoked (re-checked every cert_recheck_ns) and by CloseLinksOf
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

#include "controlplane/dht/dht_rate_limiter.h"
#include "controlplane/dht/dht_service.h"
#include "controlplane/directory/address_claim.h"
#include "controlplane/directory/link_auth.h"
#include "controlplane/directory/overlay_echo.h"
#include "controlplane/directory/route_signature.h"
#include "controlplane/overlay/hole_punch.h"
#include "controlplane/overlay/overlay_node.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/log.h"
#include "controlplane/runtime/port.h"
#include "controlplane/runtime/random_source.h"
#include "controlplane/services/dns_responder.h"
#include "controlplane/sessions/hello_authenticator.h"
#include "controlplane/sessions/hello_relay.h"
#include "controlplane/sessions/replay_guard.h"
#include "shared/config.h"
#include "shared/table.h"
#include "shared/token_bucket.h"

namespace ipop::cp {

// Routed payload type of a data-session HELLO sent through the overlay.
inline constexpr uint8_t kPayloadHello = 0x11;
// Routed payload type of hole-punching candidate exchanges (overlay/hole_punch.h, docs/nat.md).
inline constexpr uint8_t kPayloadPunch = 0x13;

// Between an overlay message and its tag: the sender's timestamp (8 bytes, ns since the Unix
// epoch, big endian) and the receiver's ring address (20 bytes, zero if unknown).
inline constexpr size_t kOverlayStampSize = 8 + overlay::RingAddress::kBytes;

struct OverlayHostOptions {
  overlay::RingAddress address;
  Endpoint listen;  // node.listen; a wildcard address is replaced once a route is known
  std::string network;
  // This node's address, kept current by the claim (0 while none is held): static (node.vip) or
  // allocated from claim.pool_* (docs/networks.md). The directory record is the claim.
  uint32_t vip = 0;
  AddressClaimOptions claim;  // pool_first == 0 && fixed == 0: no address, no directory entry
  uint64_t settle_ns = 2'000'000'000ull;  // near set unchanged this long before claiming
  std::string dns_name;  // registered as <name> -> vip (lower case, full name); empty: none
  // The node's name in the network's member list (ipopctl validate) and in echo replies.
  std::string member_name;
  OverlayEchoOptions echo;
  std::vector<PrefixConfig> announce;  // router mode: subnets behind this node
  uint64_t routes_poll_ns = 5'000'000'000ull;
  // Certificate mode: how often the links' certificates are checked against clock and revocations.
  uint64_t cert_recheck_ns = 10'000'000'000ull;
  overlay::OverlayOptions overlay;
  overlay::PunchOptions punch;
  DhtServiceOptions dht;
  DhtRateLimit source_limit{400, 800, 4096};  // overlay datagrams per underlay source
  // Names and route announcements. Refreshed well inside the TTL: a record whose replicas left
  // together (two ring neighbours stopped at once) is back within one refresh period.
  uint32_t directory_ttl_ms = 90'000;
  uint64_t directory_refresh_ns = 20'000'000'000ull;
  uint64_t resolve_cache_ns = 30'000'000'000ull;
  uint64_t resolve_negative_ns = 2'000'000'000ull;
  // A host behind the TAP starts a lookup with every ARP request for an unknown address of the
  // subnet (a scan of a /8 would be 16 M of them): answers cached for at most this many VIPs,
  // new DHT lookups limited to resolve_per_second on average (resolve_burst at once) and
  // resolve_in_flight at a time, and at most resolve_waiters callers waiting on one of them.
  size_t resolve_cache_max = 4096;
  uint32_t resolve_per_second = 50;
  uint32_t resolve_burst = 100;
  size_t resolve_in_flight = 256;
  size_t resolve_waiters = 16;

  // Overlay defaults for a node in ipop-controlplane; `address` from the config or derived.
  static OverlayHostOptions FromConfig(const NodeConfig& cfg);
};

// The key overlay datagrams from `ep` are rate-limited under (OverlayHostOptions::source_limit):
// its whole address and its port.
DhtKey RateKeyOf(const Endpoint& ep);

struct OverlayHostCounters {
  uint64_t received = 0, accepted = 0;
  uint64_t too_short = 0, too_long = 0, bad_tag = 0, rate_limited = 0;
  // Authenticated but refused: for another node, a copy or older than the sender's newer ones,
  // stamped before we started, stamped minutes in our future.
  uint64_t wrong_receiver = 0, replayed = 0, too_old = 0, clock_ahead = 0;
  uint64_t sent = 0, send_failed = 0, sign_failed = 0;
  uint64_t hello_routed_sent = 0, hello_routed_received = 0, routed_unknown_payload = 0;
  uint64_t link_messages = 0, link_message_unlinked = 0;
  uint64_t names_published = 0, name_conflicts = 0, name_lookups = 0, name_misses = 0;
  uint64_t names_released = 0;
  uint64_t routes_announced = 0, routes_polls = 0, routes_bad_records = 0;
  uint64_t members_published = 0, member_bad_records = 0;
  // Router-mode records refused by network.router-pubkey-file (route_signature.h).
  uint64_t routes_unsigned = 0, routes_bad_signature = 0, routes_expired = 0;
  uint64_t resolves = 0, resolve_hits = 0, resolve_misses = 0, resolve_bad_records = 0;
  // Lookups refused by the resolve_* limits, and live cache entries dropped to make room.
  uint64_t resolve_throttled = 0, resolve_cache_evicted = 0;
};

inline constexpr CounterDesc kOverlayHostCounterDescs[] = {
    IPOP_COUNTER(OverlayHostCounters, received, "overlay datagrams offered to the authenticator"),
    IPOP_COUNTER(OverlayHostCounters, accepted,
                 "overlay datagrams authenticated and passed to the overlay node"),
    IPOP_COUNTER(OverlayHostCounters, too_short, "datagrams shorter than header and tag: dropped"),
    IPOP_COUNTER(OverlayHostCounters, too_long,
                 "datagrams longer than an overlay message can be: dropped"),
    IPOP_COUNTER(OverlayHostCounters, bad_tag,
                 "datagrams whose authentication tag did not verify: dropped"),
    IPOP_COUNTER(OverlayHostCounters, rate_limited,
                 "datagrams over their source address budget: dropped"),
    IPOP_COUNTER(OverlayHostCounters, wrong_receiver,
                 "authenticated datagrams bound to another node: dropped"),
    IPOP_COUNTER(
        OverlayHostCounters, replayed,
        "authenticated datagrams already seen or older than the sender's newer ones: dropped"),
    IPOP_COUNTER(OverlayHostCounters, too_old,
                 "authenticated datagrams stamped before this process started: dropped"),
    IPOP_COUNTER(OverlayHostCounters, clock_ahead,
                 "authenticated datagrams stamped minutes in our future: dropped"),
    IPOP_COUNTER(OverlayHostCounters, sent, "overlay datagrams signed and sent"),
    IPOP_COUNTER(OverlayHostCounters, send_failed, "overlay datagrams the port refused"),
    IPOP_COUNTER(OverlayHostCounters, sign_failed, "overlay datagrams that could not be signed"),
    IPOP_COUNTER(OverlayHostCounters, hello_routed_sent,
                 "HELLOs sent as routed overlay messages (to peers without a direct path)"),
    IPOP_COUNTER(OverlayHostCounters, hello_routed_received,
                 "HELLOs received as routed overlay messages"),
    IPOP_COUNTER(OverlayHostCounters, routed_unknown_payload,
                 "routed messages delivered with a payload type nobody handles"),
    IPOP_COUNTER(OverlayHostCounters, link_messages,
                 "link-local messages (REVOKE, REVOKE_DIGEST) passed to their handler"),
    IPOP_COUNTER(OverlayHostCounters, link_message_unlinked,
                 "link-local messages from a node we hold no link with: dropped"),
    IPOP_COUNTER(OverlayHostCounters, names_published, "node name records written to the DHT"),
    IPOP_COUNTER(OverlayHostCounters, name_conflicts,
                 "name records refused because another node holds the name"),
    IPOP_COUNTER(OverlayHostCounters, name_lookups, "name lookups in the DHT directory"),
    IPOP_COUNTER(OverlayHostCounters, name_misses, "name lookups that found no record"),
    IPOP_COUNTER(OverlayHostCounters, names_released, "name records removed (clean stop)"),
    IPOP_COUNTER(OverlayHostCounters, members_published,
                 "member list entries written to the DHT (ipopctl validate)"),
    IPOP_COUNTER(OverlayHostCounters, member_bad_records,
                 "member list records that did not decode"),
    IPOP_COUNTER(OverlayHostCounters, routes_announced,
                 "router-mode prefix records written to the DHT"),
    IPOP_COUNTER(OverlayHostCounters, routes_polls, "polls of the router-mode prefix records"),
    IPOP_COUNTER(OverlayHostCounters, routes_bad_records,
                 "router-mode records that did not decode"),
    IPOP_COUNTER(OverlayHostCounters, routes_unsigned,
                 "router-mode records refused: unsigned while a router key is configured"),
    IPOP_COUNTER(OverlayHostCounters, routes_bad_signature,
                 "router-mode records refused: signature did not verify"),
    IPOP_COUNTER(OverlayHostCounters, routes_expired,
                 "router-mode records refused: signature expired"),
    IPOP_COUNTER(OverlayHostCounters, resolves, "VIP directory lookups started"),
    IPOP_COUNTER(OverlayHostCounters, resolve_hits,
                 "VIP directory lookups answered from the cache"),
    IPOP_COUNTER(OverlayHostCounters, resolve_misses, "VIP directory lookups that found no record"),
    IPOP_COUNTER(OverlayHostCounters, resolve_bad_records,
                 "VIP directory records that did not decode"),
    IPOP_COUNTER(OverlayHostCounters, resolve_throttled,
                 "VIP directory lookups refused by the lookup limits"),
    IPOP_COUNTER(OverlayHostCounters, resolve_cache_evicted,
                 "live VIP directory cache entries dropped to make room"),
};
static_assert(CoversEveryField<OverlayHostCounters>(kOverlayHostCounterDescs));

// Router mode: `prefix/length` is reached through the member whose VIP is `via`.
struct AnnouncedRoute {
  uint32_t prefix = 0;
  uint8_t length = 0;
  uint32_t via = 0;
  bool operator==(const AnnouncedRoute&) const = default;
};

// An entry of the network's member list (MembersKey): every node holding an address puts one,
// refreshed like its name, so `ipopctl validate` knows whom to ping. A node that stopped stays
// listed until the entry's TTL (directory_ttl_ms) runs out.
struct MemberEntry {
  uint32_t vip = 0;
  overlay::RingAddress node;
  std::string name;
  bool operator==(const MemberEntry&) const = default;
};
// The member list is spread over this many DHT keys (by VIP), each holding at most
// DhtStoreLimits::max_values_per_key entries: 512 members with the defaults.
inline constexpr uint32_t kMemberBuckets = 32;

// A directory entry: the overlay node that holds a VIP and its underlay endpoint; since NAT
// traversal also the node's NAT class and candidate endpoints (docs/nat.md).
struct VipLocation {
  overlay::RingAddress node;
  Endpoint endpoint;
  overlay::NatClass nat = overlay::NatClass::kUnknown;
  std::vector<overlay::Candidate> candidates;
};

class OverlayHost final : public HelloRelay, public NameSource {
 public:
  // A HELLO that arrived through the overlay from node `source` (whose endpoint it reported).
  using HelloFn =
      std::function<void(const overlay::RingAddress& source, const Endpoint& source_endpoint,
                         std::span<const uint8_t> hello)>;
  using ResolveFn = std::function<void(uint32_t vip, const std::optional<VipLocation>& where)>;
  using RoutesFn = std::function<void(const std::vector<AnnouncedRoute>& routes)>;
  using AddressFn = std::function<void(uint32_t vip)>;

  OverlayHost(const OverlayHostOptions& options, Clock& clock, RandomSource& random, Port& port,
              const HelloAuthenticator& auth);
  ~OverlayHost() override;
  OverlayHost(const OverlayHost&) = delete;
  OverlayHost& operator=(const OverlayHost&) = delete;

  // Certificate mode (docs/pki.md): call before Start; `id` outlives this object. Null: PSK.
  void SetIdentity(const identity::NodeIdentity* id);
  // Closes every link to a node whose certificate's subject key id is `id` (revocation);
  // returns how many were closed.
  size_t CloseLinksOf(const identity::KeyId& id);
  const LinkGuard* link_guard() const { return guard_.get(); }
  LinkGuard* link_guard() { return guard_.get(); }
  const LinkAuthCounters& link_auth_counters() const { return link_counters_; }

  void Start();
  void Stop();  // graceful leave: closes every link
  // Gives the address back (DHT Remove); `done` runs once that finished. Call before Stop.
  void ReleaseAddress(std::function<void()> done);
  // Removes this node's DNS name record from the DHT and stops renewing it (a clean stop: the
  // name must not point at an address that is about to be free); `done` runs once that finished
  // (after a registration still in flight was answered). Call before Stop.
  void ReleaseName(std::function<void()> done);
  // Feed every punted CONTROL datagram; false if it is not an overlay message (HELLO), true if it
  // was one (accepted or dropped and counted).
  bool OnControlDatagram(const Endpoint& from, std::span<const uint8_t> datagram);
  void Tick();

  void SetHelloHandler(HelloFn fn) { hello_ = std::move(fn); }
  // Link-local messages the overlay node does not handle (REVOKE, REVOKE_DIGEST: types
  // kLinkMessageFirst..kLinkMessageLast), authenticated and fresh like every overlay datagram
  // and accepted only from a node we hold a link with; `body` starts at the wire header.
  using LinkMessageFn =
      std::function<void(const overlay::RingAddress& from, std::span<const uint8_t> body)>;
  static constexpr uint8_t kLinkMessageFirst = 0x30, kLinkMessageLast = 0x31;
  void SetLinkMessageHandler(LinkMessageFn fn) { link_message_ = std::move(fn); }
  // Sends `msg` (wire header first, no stamp or tag) to the linked node `to`; false without a
  // link or when the port refuses it.
  bool SendToLink(const overlay::RingAddress& to, std::span<const uint8_t> msg);
  std::vector<overlay::RingAddress> LinkAddresses() const;
  // Router mode: every routes_poll interval, the subnets other members announce (never ours).
  void SetRoutesHandler(RoutesFn fn) { routes_ = std::move(fn); }
  // Router mode authorization: `signer` (node.router-key-file) signs our announcements,
  // `verifier` (network.router-pubkey-file) makes us accept only signed ones. Either may be null.
  void SetRouteAuthority(std::shared_ptr<const RouteSigner> signer,
                         std::shared_ptr<const RouteVerifier> verifier) {
    route_signer_ = std::move(signer);
    route_verifier_ = std::move(verifier);
  }
  // The node's address changed (0: withdrawn): allocated, lost, or a static one in conflict.
  void SetAddressHandler(AddressFn fn) { address_ = std::move(fn); }
  uint32_t vip() const { return options_.vip; }
  // A DHCP client renewed: renew the DHT claim now.
  void RenewAddress();
  const AddressClaim* claim() const { return claim_.get(); }
  // Sends a HELLO to node `to` through the overlay (exact delivery). false if there is no route.
  bool SendHello(const overlay::RingAddress& to, std::span<const uint8_t> hello);
  bool SendHello(const NodeAddress& to, std::span<const uint8_t> hello) override;
  // Looks `vip` up in the directory (cached; one lookup per VIP in flight). `done` runs once:
  // later with the answer, or at once with no location when the resolve_* limits refuse a new
  // lookup (counted in resolve_throttled; the caller's next attempt may get through).
  void Resolve(uint32_t vip, ResolveFn done);
  // Drops the cached answer for `vip`: the next Resolve asks the DHT.
  void ForgetResolved(uint32_t vip) { resolved_.erase(vip); }
  // DNS names registered by nodes (`dns_name`): name -> VIP through the DHT.
  void Lookup(const std::string& name,
              std::function<void(std::optional<uint32_t> ipv4)> done) override;

  // Operator DHT access (ipopctl dht ...): names are hashed within this network's namespace.
  void DhtPut(const std::string& name, std::span<const uint8_t> value, uint32_t ttl_ms,
              DhtDoneFn done);
  void DhtGet(const std::string& name, DhtDoneFn done);

  // Echo probes through the overlay (ipopctl ping / validate).
  OverlayEcho& echo() { return *echo_; }
  const OverlayEcho& echo() const { return *echo_; }
  uint64_t echo_timeout_ns() const { return options_.echo.timeout_ns; }
  // The network's member list, sorted by VIP; `done` runs once every bucket answered (`complete`
  // false: a bucket could not be read, the list may lack members).
  using MembersFn = std::function<void(const std::vector<MemberEntry>& members, bool complete)>;
  void Members(MembersFn done);

  // The overlay's view for the forwarding table: our address and the links a relay may use.
  void FillTable(shm::TableSpec* spec) const;
  // Changes whenever FillTable would write something else.
  uint64_t table_version() const { return table_version_; }

  const overlay::OverlayNode& node() const { return *node_; }
  overlay::OverlayNode& node() { return *node_; }
  const DhtService& dht() const { return *dht_; }
  DhtService& dht() { return *dht_; }
  bool HasLink(const overlay::RingAddress& a) const;
  // NAT traversal (docs/nat.md): a direct link to node `a` is wanted (relayed traffic, or the
  // relay failing); `hint` is where the node was last seen. Asks for a shortcut link and punches.
  void WantDirect(const overlay::RingAddress& a, const Endpoint& hint);
  // The direct path to `a` stopped carrying anything: punch again at once (NAT rebinding).
  void DirectBroken(const overlay::RingAddress& a, const Endpoint& hint);
  std::optional<overlay::HolePunch::Status> PunchStatus(const overlay::RingAddress& a) const {
    return punch_->StatusOf(a);
  }
  const overlay::PunchCounters& punch_counters() const { return punch_->counters(); }
  // The link a routed message to `a` leaves through (zero: none): who relays for us.
  overlay::RingAddress RelayVia(const overlay::RingAddress& a) const;
  overlay::NatClass nat_class() const;
  const OverlayHostCounters& counters() const { return counters_; }
  const DhtRateLimiter& source_limiter() const { return source_limiter_; }
  bool name_write_in_flight() const { return name_in_flight_; }
  size_t resolve_cache_size() const { return resolved_.size(); }
  size_t resolves_in_flight() const { return resolving_.size(); }

 private:
  class Transport;
  class ClaimStoreAdapter;
  class PunchEnv;
  struct PendingResolve {
    std::vector<ResolveFn> waiting;
  };
  struct CachedLocation {
    std::optional<VipLocation> where;
    uint64_t expires_ns = 0;
  };

  void OnAddressChanged(uint32_t vip);
  bool NeighbourhoodSettled();
  void PublishName();
  void PublishMember();
  void RemoveName(std::function<void()> done);
  void StartResolve(uint32_t vip);
  void CacheResolved(uint32_t vip, const CachedLocation& entry);
  void AnnounceRoutes();
  void PollRoutes();
  void LearnSelfEndpoint(const Endpoint& toward);
  void OnRouted(const overlay::Routed& r);
  void UpdateTableVersion();
  void CheckLinks(uint64_t now);
  // Closes the link to `a` because its certificate no longer counts, wipes its keys, counts it.
  void CloseCertifiedLink(const overlay::RingAddress& a);

  OverlayHostOptions options_;
  Clock& clock_;
  const HelloAuthenticator& auth_;
  std::unique_ptr<Transport> transport_;
  std::unique_ptr<overlay::OverlayNode> node_;
  std::unique_ptr<DhtService> dht_;
  std::unique_ptr<OverlayEcho> echo_;
  std::unique_ptr<PunchEnv> punch_env_;
  std::unique_ptr<overlay::HolePunch> punch_;
  DhtRateLimiter source_limiter_;
  ReplayGuard replay_guard_;  // by sender ring address
  RandomSource& random_;
  const identity::NodeIdentity* identity_ = nullptr;
  std::unique_ptr<LinkGuard> guard_;  // certificate mode only
  LinkAuthCounters link_counters_;
  uint64_t next_recheck_ns_ = 0;
  uint64_t next_link_expire_ns_ = 0;
  OverlayHostCounters counters_;
  HelloFn hello_;
  LinkMessageFn link_message_;
  RoutesFn routes_;
  AddressFn address_;
  std::unique_ptr<ClaimStoreAdapter> claim_store_;
  std::unique_ptr<AddressClaim> claim_;
  uint64_t near_hash_ = 0;
  uint64_t near_changed_ns_ = 0;
  uint64_t next_announce_ns_ = 0;
  uint64_t next_routes_poll_ns_ = 0;
  bool routes_poll_in_flight_ = false;
  std::shared_ptr<const RouteSigner> route_signer_;
  std::shared_ptr<const RouteVerifier> route_verifier_;
  bool warned_open_routes_ = false;
  RateLimiter route_reject_log_{1, 3};
  bool self_endpoint_known_ = false;
  bool started_ = false;
  bool name_in_flight_ = false;
  bool member_in_flight_ = false;
  uint64_t next_member_ns_ = 0;
  uint64_t next_name_ns_ = 0;
  uint32_t name_written_ = 0;   // the VIP the name record was last written with (0: never)
  bool name_released_ = false;  // ReleaseName was called: never written again
  std::function<void()> name_release_done_;  // waits for the registration in flight
  std::map<uint32_t, PendingResolve> resolving_;
  std::map<uint32_t, CachedLocation> resolved_;
  TokenBucket resolve_bucket_;
  uint64_t table_version_ = 1;
  uint64_t table_hash_ = 0;
  RateLimiter log_limit_{1, 5};
  RateLimiter resolve_log_{1, 3};
};

// DHT names of the directory and of operator values (exposed for tests).
DhtKey VipDirectoryKey(const std::string& network, uint32_t vip);
DhtKey OperatorKey(const std::string& network, const std::string& name);
DhtKey DnsNameKey(const std::string& full_name);
DhtKey RoutesKey(const std::string& network);
DhtKey MembersKey(const std::string& network, uint32_t bucket);
// Member entry value: VIP (4), node address (20), then the name (at most kEchoMaxName bytes).
std::vector<uint8_t> EncodeMember(const MemberEntry& m);
std::optional<MemberEntry> DecodeMember(std::span<const uint8_t> value);
// Route record value: prefix (4), length (1), via VIP (4), big endian; DecodeRoute also takes the
// signed form (route_signature.h) without checking its signature.
std::vector<uint8_t> EncodeRoute(const AnnouncedRoute& r);
std::optional<AnnouncedRoute> DecodeRoute(std::span<const uint8_t> value);
// Directory record value: node address (20) then endpoint (18); since NAT traversal followed by
// an extension: version (1, = 1) NAT class (1) count (1, <= 4) and count x [kind (1) endpoint
// (18)]. A decoder takes the 38-byte form (no candidates), skips candidate kinds it does not
// know, and reads only the first 38 bytes of an extension version it does not know.
std::vector<uint8_t> EncodeVipLocation(const VipLocation& where);
std::optional<VipLocation> DecodeVipLocation(std::span<const uint8_t> value);

}  // namespace ipop::cp
