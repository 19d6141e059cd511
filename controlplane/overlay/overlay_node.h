// One node's overlay state machine (docs/overlay.md). It sees the world only through a Clock, an
// OverlayTransport and a RandomSource, so the process, unit tests and the simulator run the same
// code.
//
// Life of a node:
//   join     link (leaf) to a few bootstrap entries, more each round until one answers; route a
//            JOIN to our own address (both-neighbours, excluding ourselves): the two nodes that
//            bracket it ask us for near links and send their near lists, from which we link to
//            any node that belongs among our near neighbours.
//   ring     whenever our near set changes we tell our near neighbours (NEIGHBOURS), and every
//            stabilize interval anyway; a node hearing of one that belongs in its near set links
//            to it. A self-lookup (JOIN to our own address) runs periodically and after losses.
//   far      once in the ring, draw far links from Symphony's harmonic distribution until we
//            hold about log2(N) of them, N estimated from the spacing of our near neighbours.
//   liveness keepalives on idle links (LinkTable); dead near neighbours are replaced from the
//            remaining ones' lists and by a self-lookup.
//   heal     peers lost by timeout are retried for a while: after a partition heals, every node
//            reconnects to the neighbours it lost, which merges the two rings where they meet.
//   moved    SetSelfEndpoint: we tell every link at once; peers follow a link's address.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <span>
#include <vector>

#include "controlplane/overlay/address.h"
#include "controlplane/overlay/link_table.h"
#include "controlplane/overlay/messages.h"
#include "controlplane/overlay/nat_observer.h"
#include "controlplane/overlay/router.h"
#include "controlplane/overlay/transport.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/random_source.h"
#include "shared/endpoint.h"

namespace ipop::cp::overlay {

// Payload types below kFirstAppPayload belong to the overlay itself.
inline constexpr uint8_t kPayloadJoin = 1;        // "link to me as a near neighbour"
inline constexpr uint8_t kPayloadFarConnect = 2;  // "link to me as my far link"
inline constexpr uint8_t kFirstAppPayload = 0x10;

struct OverlayOptions {
  std::vector<Endpoint> bootstrap;
  size_t near_per_side = 2;
  LinkTimers timers;
  uint64_t tick_interval_ns = 1'000'000'000ull;
  uint64_t request_timeout_ns = 2'000'000'000ull;
  uint32_t bootstrap_parallel = 2;  // entries tried in the first round; doubles per round
  uint64_t announce_delay_ns = 200'000'000ull;  // coalesces near-set changes
  // Near lists go to the near neighbours 1 s after the near set changed, then at doubling
  // intervals up to this.
  uint64_t stabilize_interval_ns = 20'000'000'000ull;
  uint64_t stabilize_min_ns = 1'000'000'000ull;
  // Self-lookups start `repair_min` after the near set last changed and back off to this.
  uint64_t self_lookup_interval_ns = 60'000'000'000ull;
  uint64_t repair_min_ns = 2'000'000'000ull;  // first self-lookup after a near deficit
  uint64_t far_interval_ns = 1'000'000'000ull;
  double far_links_per_log2 = 1.0;
  uint64_t leaf_hold_ns = 20'000'000'000ull;
  uint64_t lost_retry_interval_ns = 30'000'000'000ull;
  uint64_t lost_memory_ns = 600'000'000'000ull;
  uint8_t hop_limit = 48;
  size_t max_links = 4096;
  size_t max_leaf_links = 2048;
};

struct OverlayCounters {
  uint64_t sent = 0, received = 0, send_failed = 0;
  std::array<uint64_t, kMsgTypeCount> sent_by_type{}, received_by_type{};  // index: type - 0x20
  std::array<uint64_t, kMsgErrorCount> parse_errors{};
  uint64_t routed_originated = 0, routed_forwarded = 0, routed_delivered = 0;
  uint64_t routed_no_route = 0, routed_no_such_node = 0, routed_hop_limit = 0, routed_loop = 0;
  uint64_t routed_bad_payload = 0;
  uint64_t links_added = 0, links_dead = 0, links_trimmed = 0, links_closed_by_peer = 0;
  uint64_t requests_refused = 0, requests_timed_out = 0, unexpected_accepts = 0;
  uint64_t endpoint_changes = 0, keepalive_unknown_link = 0;
  uint64_t bootstrap_rounds = 0, self_lookups = 0, far_draws = 0, lost_retries = 0;
  uint64_t observations = 0, mapping_moved = 0, punch_probes = 0;
};

// Label values of OverlayCounters::sent_by_type/received_by_type (index: type - 0x20).
inline const char* OverlayMsgTypeName(size_t index) {
  static constexpr const char* kNames[] = {"link_request", "link_accept", "keepalive", "link_close",
                                           "neighbours",   "routed",      "observed"};
  return index < std::size(kNames) ? kNames[index] : "unknown";
}

inline constexpr CounterDesc kOverlayCounterDescs[] = {
    IPOP_COUNTER(OverlayCounters, sent, "overlay messages sent"),
    IPOP_COUNTER(OverlayCounters, received, "overlay messages received"),
    IPOP_COUNTER(OverlayCounters, send_failed, "overlay messages the transport refused"),
    IPOP_COUNTER_BY(OverlayCounters, sent_by_type, "type", OverlayMsgTypeName, 0,
                    "overlay messages sent, by type"),
    IPOP_COUNTER_BY(OverlayCounters, received_by_type, "type", OverlayMsgTypeName, 0,
                    "overlay messages received, by type"),
    IPOP_COUNTER_BY(
        OverlayCounters, parse_errors, "error", [](size_t i) { return MsgErrorName(MsgError(i)); },
        1, "overlay messages that did not parse, by error"),
    IPOP_COUNTER(OverlayCounters, routed_originated, "routed messages this node started"),
    IPOP_COUNTER(OverlayCounters, routed_forwarded, "routed messages passed on to a nearer node"),
    IPOP_COUNTER(OverlayCounters, routed_delivered, "routed messages delivered to this node"),
    IPOP_COUNTER(OverlayCounters, routed_no_route,
                 "routed messages dropped: no link to pass them on"),
    IPOP_COUNTER(OverlayCounters, routed_no_such_node,
                 "routed messages for an exact address no node holds"),
    IPOP_COUNTER(OverlayCounters, routed_hop_limit, "routed messages dropped at the hop limit"),
    IPOP_COUNTER(OverlayCounters, routed_loop,
                 "routed messages dropped: they came back to a node they passed"),
    IPOP_COUNTER(OverlayCounters, routed_bad_payload,
                 "routed messages with a payload that did not decode"),
    IPOP_COUNTER(OverlayCounters, links_added, "overlay links made"),
    IPOP_COUNTER(OverlayCounters, links_dead, "overlay links dropped after their peer fell silent"),
    IPOP_COUNTER(OverlayCounters, links_trimmed, "surplus overlay links closed"),
    IPOP_COUNTER(OverlayCounters, links_closed_by_peer, "overlay links the other node closed"),
    IPOP_COUNTER(OverlayCounters, requests_refused,
                 "link requests refused (table full or wrong address)"),
    IPOP_COUNTER(OverlayCounters, requests_timed_out, "link requests that got no answer"),
    IPOP_COUNTER(OverlayCounters, unexpected_accepts, "link accepts for no pending request"),
    IPOP_COUNTER(OverlayCounters, endpoint_changes,
                 "links whose peer moved to a new underlay endpoint"),
    IPOP_COUNTER(OverlayCounters, keepalive_unknown_link,
                 "keepalives for a link this node does not have"),
    IPOP_COUNTER(OverlayCounters, bootstrap_rounds, "rounds of contacting the bootstrap endpoints"),
    IPOP_COUNTER(OverlayCounters, self_lookups, "lookups of our own address (near links)"),
    IPOP_COUNTER(OverlayCounters, far_draws, "far link targets drawn"),
    IPOP_COUNTER(OverlayCounters, lost_retries,
                 "retries after the node found itself without links"),
    IPOP_COUNTER(OverlayCounters, observations,
                 "reports from links of the endpoint our datagrams come from (NAT mapping)"),
    IPOP_COUNTER(OverlayCounters, mapping_moved,
                 "times a link reported our public mapping moved (NAT rebinding, roaming)"),
    IPOP_COUNTER(OverlayCounters, punch_probes,
                 "hole-punching probes (link requests to a peer's candidate endpoints) sent"),
};
static_assert(CoversEveryField<OverlayCounters>(kOverlayCounterDescs));

class OverlayNode {
 public:
  // Called for every delivered routed message with an application payload type.
  using DeliverFn = std::function<void(const Routed& message)>;

  OverlayNode(const RingAddress& self, const Endpoint& self_endpoint, const OverlayOptions& options,
              Clock& clock, RandomSource& random, OverlayTransport& transport);

  void Start();
  // Graceful leave: closes every link.
  void Stop();
  // `bound`: the datagram was addressed to this node (the process checks the receiver bound into
  // its tag). An unbound one (a LINK_REQUEST to a bootstrap entry, which any node could be shown)
  // never moves an existing link's endpoint.
  void OnDatagram(const Endpoint& from, std::span<const uint8_t> datagram, bool bound = true);
  void Tick();
  // When Tick next has work; the process may tick more often, the simulator ticks exactly then.
  uint64_t next_wake_ns() const;

  // Originates a routed message with an application payload. false if no route or too big.
  bool SendRouted(const RingAddress& key, DeliveryMode mode, uint8_t payload_type,
                  std::span<const uint8_t> payload);
  void SetDeliverHandler(DeliverFn fn) { deliver_ = std::move(fn); }
  // Our underlay endpoint changed (roaming, NAT rebinding): every link is told at once.
  void SetSelfEndpoint(const Endpoint& ep);
  // Traffic-driven direct link (Brunet's shortcut) to the node `a` reachable at `ep`; an existing
  // link just gains the shortcut role. ReleaseShortcut takes the role away again: a link left
  // with no role is closed after the surplus grace period.
  void RequestShortcut(const RingAddress& a, const Endpoint& ep);
  // Closes the link to `a` now (LINK_CLOSE shutdown), e.g. its certificate was revoked.
  void CloseLink(const RingAddress& a);
  void ReleaseShortcut(const RingAddress& a);
  // Hole punching (docs/nat.md): one LINK_REQUEST(shortcut) naming `a` to each of `to`, under the
  // pending request for `a` (made if none). The first accept, from whichever candidate answered,
  // makes the link; a request from `a` meeting ours does as well. Over an existing link (a
  // repair) the answer moves the link to the endpoint that answered.
  void PunchProbe(const RingAddress& a, std::span<const Endpoint> to);
  // A KEEPALIVE to every link: a link that sees us at a new endpoint reports it (OBSERVED).
  void ProbeAllLinks();
  // The link to `a` stopped carrying anything (its NAT mapping went away): close it now rather
  // than after the missed keepalives, so routed messages and relayed data go around it.
  void DropBrokenLink(const RingAddress& a);
  // What the links report about our public mapping; `local` is the endpoint we bind.
  const NatObserver& nat() const { return nat_; }
  void SetLocalEndpoint(const Endpoint& local) { nat_.SetLocal(local); }

  const RingAddress& address() const { return self_; }
  const Endpoint& endpoint() const { return self_endpoint_; }
  const LinkTable& links() const { return links_; }
  bool joined() const { return links_.size() > 0; }
  const Link* successor() const;
  const Link* predecessor() const;
  double estimated_size() const { return links_.EstimateSize(); }
  size_t far_target() const;
  const OverlayCounters& counters() const { return counters_; }
  size_t StateBytes() const;

 private:
  struct PendingRequest {
    uint64_t token = 0;
    Endpoint to;
    RingAddress expected;  // zero for bootstrap entries
    LinkKind kind = LinkKind::kNear;
    uint64_t sent_ns = 0;
    // Answering a JOIN: our near list goes to the joiner once it accepted (its endpoint came in
    // a message body; nothing larger than the request goes there before it answered).
    bool neighbours_on_accept = false;
  };
  struct FarDraw {
    uint64_t token = 0;
    uint64_t sent_ns = 0;
  };
  struct LostPeer {
    RingAddress address;
    Endpoint endpoint;
    uint64_t lost_ns = 0;
  };

  // `to_address`: the receiver's ring address, zero only for a bootstrap entry.
  void Send(const Endpoint& to, const RingAddress& to_address, std::span<const uint8_t> datagram);
  void RequestLink(const RingAddress& expected, const Endpoint& to, LinkKind kind, uint64_t token,
                   bool neighbours_on_accept = false);
  void ContactBootstrap();
  // Routes a JOIN to our own address. `via_random_link`: hand it first to a random link so the
  // greedy descent starts somewhere else on the ring each time.
  // A routed message originated here: our address and endpoint as source, a fresh loop id.
  Routed Originate(const RingAddress& key, DeliveryMode mode, uint8_t payload_type,
                   std::span<const uint8_t> payload);
  void SendJoin(bool via_random_link);
  void DrawFarLink();
  void SendNeighbours(const Link& to, uint8_t flags);
  void AnnounceToNear();
  void ScheduleAnnounce();
  void NearChanged();
  void DropLink(const RingAddress& a, bool lost);

  void OnLinkRequest(const Endpoint& from, const MessageView& m, bool bound);
  void OnLinkAccept(const Endpoint& from, const MessageView& m);
  void OnKeepalive(const Endpoint& from, const MessageView& m, bool linked);
  void OnNeighbours(const Endpoint& from, const MessageView& m);
  void OnObservation(const RingAddress& reporter, const Endpoint& from, const Endpoint& observed);
  void RouteMessage(std::span<uint8_t> datagram, const Routed& r);
  void Deliver(const Routed& r);
  bool SeenBefore(const Routed& r);

  uint64_t RandomU64();
  double RandomUnit();
  size_t NearDeficit() const;

  RingAddress self_;
  Endpoint self_endpoint_;
  OverlayOptions options_;
  Clock& clock_;
  RandomSource& random_;
  OverlayTransport& transport_;
  LinkTable links_;
  DeliverFn deliver_;
  OverlayCounters counters_;
  NatObserver nat_;

  bool started_ = false;
  std::vector<PendingRequest> pending_;
  std::vector<FarDraw> far_draws_;
  std::vector<LostPeer> lost_;
  std::array<uint64_t, 64> seen_{};
  size_t seen_next_ = 0;
  uint32_t bootstrap_round_ = 0;

  uint64_t next_tick_ns_ = 0;
  uint64_t announce_due_ns_ = 0;  // 0: nothing to announce
  uint64_t next_bootstrap_ns_ = 0;
  uint64_t next_stabilize_ns_ = 0;
  uint64_t stabilize_backoff_ns_ = 0;
  uint64_t next_self_lookup_ns_ = 0;
  uint64_t self_lookup_backoff_ns_ = 0;
  uint64_t next_repair_ns_ = 0;
  uint64_t repair_backoff_ns_ = 0;
  uint64_t next_far_ns_ = 0;
  uint64_t next_lost_retry_ns_ = 0;
};

}  // namespace ipop::cp::overlay
