#include "controlplane/overlay/overlay_node.h"

#include <algorithm>
#include <cmath>

namespace ipop::cp::overlay {
namespace {

constexpr size_t kJoinPayloadSize = 12;  // kind(1) reserved(3) token(8)
constexpr uint64_t kFarDrawTimeoutNs = 5'000'000'000ull;
constexpr size_t kMaxLost = 16;
constexpr size_t kMaxLostRetriesPerRound = 8;
constexpr uint32_t kMaxBootstrapBatch = 32;

size_t TypeIndex(MsgType t) {
  return size_t(t) - size_t(MsgType::kLinkRequest);
}

}  // namespace

OverlayNode::OverlayNode(const RingAddress& self, const Endpoint& self_endpoint,
                         const OverlayOptions& options, Clock& clock, RandomSource& random,
                         OverlayTransport& transport)
    : self_(self),
      self_endpoint_(self_endpoint),
      options_(options),
      clock_(clock),
      random_(random),
      transport_(transport),
      links_(self, options.near_per_side, options.timers) {
  // Our own entry in a shared bootstrap list would only waste a round.
  std::erase_if(options_.bootstrap, [&](const Endpoint& e) { return e == self_endpoint_; });
}

uint64_t OverlayNode::RandomU64() {
  uint8_t b[8];
  random_.Fill(b);
  return wire::LoadBe64(b);
}

double OverlayNode::RandomUnit() {
  return double(RandomU64() >> 11) * 0x1.0p-53;
}

void OverlayNode::Start() {
  if (started_) return;
  started_ = true;
  const uint64_t now = clock_.NowNs();
  // Spread periodic work so nodes started together do not act in lockstep.
  auto jitter = [&](uint64_t period) { return now + uint64_t(RandomUnit() * double(period)); };
  stabilize_backoff_ns_ = options_.stabilize_min_ns;
  next_stabilize_ns_ = jitter(options_.stabilize_min_ns) + options_.stabilize_min_ns;
  self_lookup_backoff_ns_ = options_.repair_min_ns;
  next_self_lookup_ns_ = jitter(options_.repair_min_ns) + options_.repair_min_ns;
  next_lost_retry_ns_ = jitter(options_.lost_retry_interval_ns);
  next_far_ns_ = now;
  repair_backoff_ns_ = options_.repair_min_ns;
  next_repair_ns_ = now + repair_backoff_ns_;
  if (!options_.bootstrap.empty()) ContactBootstrap();
  next_tick_ns_ = now + options_.tick_interval_ns;
}

void OverlayNode::Stop() {
  if (!started_) return;
  uint8_t buf[kMaxOverlayDatagram];
  const size_t n = EncodeLinkClose(self_, {CloseReason::kShutdown}, buf);
  for (const Link& l : links_.links()) Send(l.endpoint, l.address, {buf, n});
  while (links_.size() > 0) links_.Remove(links_.links().front().address);
  pending_.clear();
  started_ = false;
}

uint64_t OverlayNode::next_wake_ns() const {
  uint64_t t = next_tick_ns_;
  if (announce_due_ns_ != 0) t = std::min(t, announce_due_ns_);
  return t;
}

const Link* OverlayNode::successor() const {
  const auto s = links_.Successors(1);
  return s.empty() ? nullptr : s.front();
}
const Link* OverlayNode::predecessor() const {
  const auto p = links_.Predecessors(1);
  return p.empty() ? nullptr : p.front();
}

size_t OverlayNode::far_target() const {
  const double n = links_.EstimateSize();
  if (n < 2 * double(options_.near_per_side) + 2) return 0;  // the near set already covers all
  if (options_.far_links_per_log2 <= 0) return 0;            // configured: ring links only
  const double t = std::round(options_.far_links_per_log2 * std::log2(n));
  return size_t(std::clamp(t, 1.0, 32.0));
}

size_t OverlayNode::StateBytes() const {
  return sizeof(*this) + (links_.StateBytes() - sizeof(LinkTable)) +
         pending_.capacity() * sizeof(PendingRequest) + far_draws_.capacity() * sizeof(FarDraw) +
         lost_.capacity() * sizeof(LostPeer) + options_.bootstrap.capacity() * sizeof(Endpoint);
}

void OverlayNode::Send(const Endpoint& to, const RingAddress& to_address,
                       std::span<const uint8_t> datagram) {
  if (datagram.empty()) return;
  ++counters_.sent;
  const uint8_t type = datagram[wire::kHeaderSize];
  ++counters_.sent_by_type[type - uint8_t(MsgType::kLinkRequest)];
  if (!transport_.Send(to, to_address, datagram)) ++counters_.send_failed;
}

// The only datagram that ever goes to an endpoint we have not heard from: one LINK_REQUEST per
// address while it is pending, smaller than any message that can name an endpoint. Everything
// else waits for the authenticated LINK_ACCEPT that proves the endpoint is the node.
void OverlayNode::RequestLink(const RingAddress& expected, const Endpoint& to, LinkKind kind,
                              uint64_t token, bool neighbours_on_accept) {
  if (!expected.IsZero()) {
    if (expected == self_) return;
    for (PendingRequest& q : pending_) {
      if (q.expected != expected) continue;
      q.neighbours_on_accept = q.neighbours_on_accept || neighbours_on_accept;
      return;
    }
  }
  PendingRequest p;
  p.token = token != 0 ? token : RandomU64() | 1;
  p.to = to;
  p.expected = expected;
  p.kind = kind;
  p.sent_ns = clock_.NowNs();
  p.neighbours_on_accept = neighbours_on_accept;
  pending_.push_back(p);
  uint8_t buf[kMaxOverlayDatagram];
  Send(to, expected, {buf, EncodeLinkRequest(self_, {kind, p.token, expected}, buf)});
}

void OverlayNode::ContactBootstrap() {
  const uint64_t now = clock_.NowNs();
  ++counters_.bootstrap_rounds;
  // Any live entry will do; widen the net each round so a long list of mostly dead entries
  // still finds the live ones quickly.
  const uint32_t batch = std::min<uint32_t>(
      kMaxBootstrapBatch, options_.bootstrap_parallel << std::min<uint32_t>(bootstrap_round_, 4));
  ++bootstrap_round_;
  const size_t n = options_.bootstrap.size();
  for (uint32_t i = 0; i < std::min<size_t>(batch, n); ++i) {
    const Endpoint& to = options_.bootstrap[RandomU64() % n];
    RequestLink(RingAddress(), to, LinkKind::kLeaf, 0);
  }
  // Peers we lost are as good a way back in as the bootstrap list.
  for (const LostPeer& lp : lost_) RequestLink(lp.address, lp.endpoint, LinkKind::kNear, 0);
  next_bootstrap_ns_ = now + options_.request_timeout_ns;
}

Routed OverlayNode::Originate(const RingAddress& key, DeliveryMode mode, uint8_t payload_type,
                              std::span<const uint8_t> payload) {
  Routed r;
  r.mode = mode;
  r.hop_limit = options_.hop_limit;
  r.loop_id = RandomU64();
  r.source = self_;
  r.source_endpoint = self_endpoint_;
  r.key = key;
  r.payload_type = payload_type;
  r.payload = payload;
  return r;
}

void OverlayNode::SendJoin(bool via_random_link) {
  ++counters_.self_lookups;
  uint8_t payload[kJoinPayloadSize] = {uint8_t(LinkKind::kNear)};
  wire::StoreBe64(payload + 4, RandomU64());
  Routed r = Originate(self_, DeliveryMode::kBothNeighbours, kPayloadJoin, payload);
  r.flags = kRoutedExcludeSource;
  uint8_t buf[kMaxOverlayDatagram];
  ++counters_.routed_originated;
  // Greedy routing from here always descends through our own near neighbours, so a wrong
  // neighbourhood (an arc interleaved with another that it never met, as left by concurrent
  // joins through a half-built ring or by a partition) would only find itself again. Starting
  // at a random link, usually a far one, approaches our address from elsewhere each time.
  std::vector<const Link*> starts;
  if (via_random_link)
    for (const Link& l : links_.links())
      if (l.structured() && !(l.roles & kRoleNear)) starts.push_back(&l);
  if (starts.empty()) {
    const size_t n = EncodeRouted(self_, r, buf);
    RouteMessage({buf, n}, r);
    return;
  }
  r.hops = 1;
  const size_t n = EncodeRouted(self_, r, buf);
  SeenBefore(r);
  const Link* start = starts[RandomU64() % starts.size()];
  Send(start->endpoint, start->address, {buf, n});
}

void OverlayNode::DrawFarLink() {
  ++counters_.far_draws;
  const double n = std::max(2.0, links_.EstimateSize());
  // Symphony: distance x in [1/N, 1) of the ring with density 1 / (x ln N).
  const double x = std::exp(std::log(n) * (RandomUnit() - 1.0));
  FarDraw d{RandomU64() | 1, clock_.NowNs()};
  far_draws_.push_back(d);
  uint8_t payload[kJoinPayloadSize] = {uint8_t(LinkKind::kFar)};
  wire::StoreBe64(payload + 4, d.token);
  Routed r;
  r.mode = DeliveryMode::kNearest;
  r.flags = kRoutedExcludeSource;
  r.hop_limit = options_.hop_limit;
  r.loop_id = RandomU64();
  r.source = self_;
  r.source_endpoint = self_endpoint_;
  r.key = self_ + RingAddress::FromFraction(x);
  r.payload_type = kPayloadFarConnect;
  r.payload = payload;
  uint8_t buf[kMaxOverlayDatagram];
  const size_t len = EncodeRouted(self_, r, buf);
  ++counters_.routed_originated;
  RouteMessage({buf, len}, r);
}

bool OverlayNode::SendRouted(const RingAddress& key, DeliveryMode mode, uint8_t payload_type,
                             std::span<const uint8_t> payload) {
  if (payload_type < kFirstAppPayload || payload.size() > kMaxRoutedPayload) return false;
  const Routed r = Originate(key, mode, payload_type, payload);
  uint8_t buf[kMaxOverlayDatagram];
  const size_t n = EncodeRouted(self_, r, buf);
  if (n == 0) return false;
  ++counters_.routed_originated;
  const uint64_t no_route = counters_.routed_no_route;
  RouteMessage({buf, n}, r);
  return counters_.routed_no_route == no_route;
}

void OverlayNode::RequestShortcut(const RingAddress& a, const Endpoint& ep) {
  if (a == self_) return;
  if (Link* l = links_.Find(a)) {
    if ((l->roles & kRoleShortcut) == 0)
      links_.Upsert(a, l->endpoint, kRoleShortcut, clock_.NowNs());
    return;
  }
  RequestLink(a, ep, LinkKind::kShortcut, 0);
}

void OverlayNode::ReleaseShortcut(const RingAddress& a) {
  if (const Link* l = links_.Find(a); l != nullptr && (l->roles & kRoleShortcut) != 0)
    links_.ClearRole(a, kRoleShortcut, clock_.NowNs());
}

void OverlayNode::SetSelfEndpoint(const Endpoint& ep) {
  self_endpoint_ = ep;
  ProbeAllLinks();
}

void OverlayNode::ProbeAllLinks() {
  uint8_t buf[kMaxOverlayDatagram];
  const size_t n = EncodeKeepalive(self_, {false, RandomU64()}, buf);
  for (const Link& l : links_.links()) Send(l.endpoint, l.address, {buf, n});
}

void OverlayNode::DropBrokenLink(const RingAddress& a) {
  const Link* l = links_.Find(a);
  if (l == nullptr) return;
  uint8_t buf[kMaxOverlayDatagram];
  Send(l->endpoint, a, {buf, EncodeLinkClose(self_, {CloseReason::kShutdown}, buf)});
  ++counters_.links_dead;
  DropLink(a, false);
}

void OverlayNode::PunchProbe(const RingAddress& a, std::span<const Endpoint> to) {
  // Also to a linked node: a probe over a link that stopped working moves its endpoint on both
  // sides once it gets through (a rebinding).
  if (a == self_ || to.empty()) return;
  auto it = std::find_if(pending_.begin(), pending_.end(),
                         [&](const PendingRequest& p) { return p.expected == a; });
  if (it == pending_.end()) {
    PendingRequest p;
    p.token = RandomU64() | 1;
    p.to = to.front();
    p.expected = a;
    p.kind = LinkKind::kShortcut;
    pending_.push_back(p);
    it = pending_.end() - 1;
  }
  it->sent_ns = clock_.NowNs();  // the punch keeps it pending while it probes
  uint8_t buf[kMaxOverlayDatagram];
  const size_t n = EncodeLinkRequest(self_, {LinkKind::kShortcut, it->token, a}, buf);
  for (const Endpoint& e : to) {
    ++counters_.punch_probes;
    Send(e, a, {buf, n});
  }
}

void OverlayNode::OnObservation(const RingAddress& reporter, const Endpoint& from,
                                const Endpoint& observed) {
  ++counters_.observations;
  if (!nat_.Report(reporter, from, observed, clock_.NowNs())) return;
  // Our mapping moved: the links that have not seen us since still hold the old one; a
  // keepalive to each lets every one of them report (and follow) the new mapping.
  ++counters_.mapping_moved;
  if (nat_.Classify(clock_.NowNs()) != NatClass::kNone) self_endpoint_ = observed;
  ProbeAllLinks();
}

// Near lists (up to 16 entries, the largest overlay message) go to linked nodes only: a link's
// endpoint has answered us, so the list cannot be aimed at a bystander.
void OverlayNode::SendNeighbours(const Link& to, uint8_t flags) {
  NeighbourEntry entries[kMaxNeighbours];
  size_t n = 0;
  for (const Link& l : links_.links())
    if ((l.roles & kRoleNear) && n < kMaxNeighbours) entries[n++] = {l.address, l.endpoint};
  uint8_t buf[kMaxOverlayDatagram];
  Send(to.endpoint, to.address, {buf, EncodeNeighbours(self_, flags, {entries, n}, buf)});
}

void OverlayNode::AnnounceToNear() {
  for (const Link& l : links_.links())
    if (l.roles & kRoleNear) SendNeighbours(l, 0);
}

void OverlayNode::ScheduleAnnounce() {
  if (announce_due_ns_ == 0) announce_due_ns_ = clock_.NowNs() + options_.announce_delay_ns;
}

void OverlayNode::NearChanged() {
  if (!links_.RecomputeNear(clock_.NowNs())) return;
  ScheduleAnnounce();
  // A changed neighbourhood may still be a wrong one (two interleaved arcs that each look
  // consistent, common after a mass join or a merge): look ourselves up again soon, through the
  // far links, and back off while nothing changes.
  self_lookup_backoff_ns_ = options_.repair_min_ns;
  next_self_lookup_ns_ = std::min(next_self_lookup_ns_, clock_.NowNs() + options_.repair_min_ns);
  stabilize_backoff_ns_ = options_.stabilize_min_ns;
  next_stabilize_ns_ = std::min(next_stabilize_ns_, clock_.NowNs() + options_.stabilize_min_ns);
}

size_t OverlayNode::NearDeficit() const {
  const size_t want = options_.near_per_side;
  const size_t s = links_.Successors(want).size(), p = links_.Predecessors(want).size();
  return (want - std::min(want, s)) + (want - std::min(want, p));
}

void OverlayNode::CloseLink(const RingAddress& a) {
  const Link* l = links_.Find(a);
  if (!l) return;
  uint8_t buf[kMaxOverlayDatagram];
  Send(l->endpoint, a, {buf, EncodeLinkClose(self_, {CloseReason::kShutdown}, buf)});
  DropLink(a, false);
}

void OverlayNode::DropLink(const RingAddress& a, bool lost) {
  const Link* l = links_.Find(a);
  if (!l) return;
  const bool was_near = l->roles & kRoleNear;
  if (lost && l->structured()) {
    std::erase_if(lost_, [&](const LostPeer& p) { return p.address == a; });
    if (lost_.size() >= kMaxLost) lost_.erase(lost_.begin());
    lost_.push_back({a, l->endpoint, clock_.NowNs()});
  }
  links_.Remove(a);
  if (was_near) {
    // Look for a replacement soon rather than at the next self-lookup.
    repair_backoff_ns_ = options_.repair_min_ns;
    next_repair_ns_ = std::min(next_repair_ns_, clock_.NowNs() + options_.repair_min_ns);
  }
  NearChanged();
}

void OverlayNode::Tick() {
  if (!started_) return;
  const uint64_t now = clock_.NowNs();
  uint8_t buf[kMaxOverlayDatagram];

  const size_t timed_out = size_t(std::erase_if(pending_, [&](const PendingRequest& p) {
    return now >= p.sent_ns + options_.request_timeout_ns;
  }));
  counters_.requests_timed_out += timed_out;
  std::erase_if(far_draws_, [&](const FarDraw& d) { return now >= d.sent_ns + kFarDrawTimeoutNs; });
  std::erase_if(lost_, [&](const LostPeer& p) {
    return now >= p.lost_ns + options_.lost_memory_ns || links_.Find(p.address) != nullptr;
  });

  if (links_.size() == 0) {
    if ((!options_.bootstrap.empty() || !lost_.empty()) && now >= next_bootstrap_ns_)
      ContactBootstrap();
  } else {
    bootstrap_round_ = 0;
  }

  LinkTable::LivenessActions live;
  links_.CheckLiveness(now, &live);
  for (const RingAddress& a : live.probe) {
    const Link* l = links_.Find(a);
    Send(l->endpoint, a, {buf, EncodeKeepalive(self_, {false, RandomU64()}, buf)});
  }
  for (const RingAddress& a : live.dead) {
    ++counters_.links_dead;
    DropLink(a, true);
  }

  // Leaf links have served their purpose once the node is in the ring.
  if (links_.CountWithRole(kRoleNear) > 0) {
    for (const Link& l : links_.links())
      if ((l.roles & kRoleLeaf) && now >= l.created_ns + options_.leaf_hold_ns)
        links_.ClearRole(l.address, kRoleLeaf, now);
  }
  const size_t far_target = this->far_target();
  for (const RingAddress& a : links_.FarOutBeyond(far_target))
    links_.ClearRole(a, kRoleFarOut, now);
  for (const RingAddress& a : links_.Surplus(now)) {
    const Link* l = links_.Find(a);
    Send(l->endpoint, a, {buf, EncodeLinkClose(self_, {CloseReason::kSurplus}, buf)});
    ++counters_.links_trimmed;
    DropLink(a, false);
  }

  if (announce_due_ns_ != 0 && now >= announce_due_ns_) {
    announce_due_ns_ = 0;
    AnnounceToNear();
  }
  if (now >= next_stabilize_ns_) {
    stabilize_backoff_ns_ = std::min(2 * stabilize_backoff_ns_, options_.stabilize_interval_ns);
    next_stabilize_ns_ = now + stabilize_backoff_ns_;
    AnnounceToNear();
  }
  if (links_.size() > 0) {
    if (now >= next_self_lookup_ns_) {
      self_lookup_backoff_ns_ =
          std::min(2 * self_lookup_backoff_ns_, options_.self_lookup_interval_ns);
      next_self_lookup_ns_ = now + self_lookup_backoff_ns_;
      SendJoin(true);
    } else if (NearDeficit() > 0 && now >= next_repair_ns_) {
      // Too few neighbours on a side: either the ring is that small or some died. Back off so a
      // small ring does not keep asking.
      const Link* s = successor();
      const Link* p = predecessor();
      if (s) SendNeighbours(*s, kNeighboursReplyWanted);
      if (p && p != s) SendNeighbours(*p, kNeighboursReplyWanted);
      SendJoin(true);
      repair_backoff_ns_ = std::min(2 * repair_backoff_ns_, options_.self_lookup_interval_ns);
      next_repair_ns_ = now + repair_backoff_ns_;
    }
    if (now >= next_far_ns_ && links_.CountWithRole(kRoleNear) > 0) {
      next_far_ns_ = now + options_.far_interval_ns;
      if (links_.CountWithRole(kRoleFarOut) + far_draws_.size() < far_target) DrawFarLink();
    }
  }
  if (!lost_.empty() && now >= next_lost_retry_ns_) {
    next_lost_retry_ns_ = now + options_.lost_retry_interval_ns;
    size_t n = 0;
    for (const LostPeer& p : lost_) {
      if (n++ >= kMaxLostRetriesPerRound) break;
      ++counters_.lost_retries;
      RequestLink(p.address, p.endpoint, LinkKind::kNear, 0);
    }
  }
  next_tick_ns_ = now + options_.tick_interval_ns;
}

void OverlayNode::OnDatagram(const Endpoint& from, std::span<const uint8_t> datagram, bool bound) {
  if (!started_) return;
  ++counters_.received;
  MessageView m;
  const MsgError e = ParseMessage(datagram, &m);
  if (e != MsgError::kNone) {
    ++counters_.parse_errors[size_t(e)];
    return;
  }
  ++counters_.received_by_type[TypeIndex(m.type)];
  if (m.sender == self_) return;
  Link* l = links_.Find(m.sender);
  if (l) {
    links_.Heard(*l, clock_.NowNs());
    // A linked peer that speaks from a new endpoint has moved (ROUTED messages too come straight
    // from the previous hop, which is the linked sender). Only a message bound to us says so: an
    // unbound one may be a copy of what the peer sent to someone else.
    if (bound && l->endpoint != from) {
      l->endpoint = from;
      ++counters_.endpoint_changes;
    }
  }
  switch (m.type) {
    case MsgType::kLinkRequest:
      OnLinkRequest(from, m, bound);
      break;
    case MsgType::kLinkAccept:
      OnLinkAccept(from, m);
      break;
    case MsgType::kKeepalive:
      OnKeepalive(from, m, l != nullptr);
      break;
    case MsgType::kLinkClose:
      if (l) {
        ++counters_.links_closed_by_peer;
        DropLink(m.sender, false);
      }
      break;
    case MsgType::kNeighbours:
      OnNeighbours(from, m);
      break;
    case MsgType::kRouted: {
      uint8_t buf[kMaxOverlayDatagram];
      std::copy(datagram.begin(), datagram.end(), buf);
      // Re-parse over our copy so payload spans stay valid while we patch the header.
      MessageView copy;
      ParseMessage({buf, datagram.size()}, &copy);
      RouteMessage({buf, datagram.size()}, copy.routed);
      break;
    }
    case MsgType::kObserved:
      // Only a linked peer's report, bound to us, counts (an unbound one may be a copy).
      if (l && bound) OnObservation(m.sender, from, m.observed.endpoint);
      break;
  }
  // Tell a linked peer where its datagrams come from whenever that is news to it: on a new link
  // and after its mapping moved (docs/nat.md). Bound only: an unbound datagram may be a copy
  // sent from elsewhere.
  if (!bound) return;
  if (Link* now = links_.Find(m.sender); now != nullptr && now->told != from) {
    now->told = from;
    uint8_t buf[kMaxOverlayDatagram];
    Send(from, m.sender, {buf, EncodeObserved(self_, {from}, buf)});
  }
}

void OverlayNode::OnLinkRequest(const Endpoint& from, const MessageView& m, bool bound) {
  const LinkRequest& rq = m.link_request;
  LinkAccept acc;
  acc.kind = rq.kind;
  acc.token = rq.token;
  acc.observed = from;
  uint8_t buf[kMaxOverlayDatagram];
  Link* existing = links_.Find(m.sender);
  if (!rq.receiver.IsZero() && rq.receiver != self_) {
    acc.status = AcceptStatus::kRefusedWrongAddress;
  } else if (!existing && (links_.size() >= options_.max_links ||
                           (rq.kind == LinkKind::kLeaf &&
                            links_.CountWithRole(kRoleLeaf) >= options_.max_leaf_links))) {
    acc.status = AcceptStatus::kRefusedFull;
  }
  if (acc.status != AcceptStatus::kAccepted) {
    ++counters_.requests_refused;
    Send(from, m.sender, {buf, EncodeLinkAccept(self_, acc, buf)});
    return;
  }
  uint8_t roles = 0;
  switch (rq.kind) {
    case LinkKind::kLeaf:
      roles = kRoleLeaf;
      break;
    case LinkKind::kNear:
      break;
    case LinkKind::kFar: {
      // The node that answered our far draw asks us to link: the link is one of OUR far links.
      const auto it = std::find_if(far_draws_.begin(), far_draws_.end(),
                                   [&](const FarDraw& d) { return d.token == rq.token; });
      if (it != far_draws_.end()) {
        far_draws_.erase(it);
        roles = kRoleFarOut;
      } else {
        roles = kRoleFarIn;
      }
      break;
    }
    case LinkKind::kShortcut:
      roles = kRoleShortcut;
      break;
  }
  if (!existing) ++counters_.links_added;
  Link& l = links_.Upsert(m.sender, existing != nullptr && !bound ? existing->endpoint : from,
                          roles, clock_.NowNs());
  // The LINK_ACCEPT tells the requester its endpoint; an OBSERVED as well would answer an endpoint
  // that has not proven itself with more bytes than it sent.
  if (bound || existing == nullptr) l.told = from;
  std::erase_if(pending_, [&](const PendingRequest& p) { return p.expected == m.sender; });
  NearChanged();
  Send(from, m.sender, {buf, EncodeLinkAccept(self_, acc, buf)});
}

void OverlayNode::OnLinkAccept(const Endpoint& from, const MessageView& m) {
  const LinkAccept& a = m.link_accept;
  const auto it = std::find_if(pending_.begin(), pending_.end(),
                               [&](const PendingRequest& p) { return p.token == a.token; });
  if (it == pending_.end()) {
    ++counters_.unexpected_accepts;
    return;
  }
  const bool send_neighbours = it->neighbours_on_accept;
  pending_.erase(it);
  if (a.status != AcceptStatus::kAccepted) return;
  uint8_t roles = 0;
  switch (a.kind) {
    case LinkKind::kLeaf:
      roles = kRoleLeaf;
      break;
    case LinkKind::kNear:
      break;
    case LinkKind::kFar:
      roles = kRoleFarIn;  // we answered the acceptor's draw
      break;
    case LinkKind::kShortcut:
      roles = kRoleShortcut;
      break;
  }
  const bool was_alone = links_.size() == 0;
  if (!links_.Find(m.sender)) ++counters_.links_added;
  links_.Upsert(m.sender, from, roles, clock_.NowNs());
  if (a.kind == LinkKind::kLeaf) self_endpoint_ = a.observed;
  OnObservation(m.sender, from, a.observed);
  NearChanged();
  if (send_neighbours) SendNeighbours(*links_.Find(m.sender), kNeighboursIsReply);
  if (was_alone) SendJoin(false);
}

void OverlayNode::OnKeepalive(const Endpoint& from, const MessageView& m, bool linked) {
  uint8_t buf[kMaxOverlayDatagram];
  if (!linked) {
    // The peer still thinks we are linked (our close was lost, or we restarted): tell it.
    if (!m.keepalive.reply) {
      ++counters_.keepalive_unknown_link;
      Send(from, m.sender, {buf, EncodeLinkClose(self_, {CloseReason::kUnknownLink}, buf)});
    }
    return;
  }
  if (!m.keepalive.reply)
    Send(from, m.sender, {buf, EncodeKeepalive(self_, {true, m.keepalive.token}, buf)});
}

void OverlayNode::OnNeighbours(const Endpoint& from, const MessageView& m) {
  // A list from an unlinked node that belongs near us (it kept a link we lost): link back. A
  // genuine list names at least us, which makes it larger than our LINK_REQUEST; an empty one
  // gets nothing, so it cannot buy a larger datagram toward a forged source.
  if (!links_.Find(m.sender) && m.neighbours.count > 0 && links_.WouldBeNear(m.sender))
    RequestLink(m.sender, from, LinkKind::kNear, 0);
  for (size_t i = 0; i < m.neighbours.count; ++i) {
    const NeighbourEntry e = m.neighbours.Entry(i);
    if (e.address == self_ || links_.Find(e.address)) continue;
    if (links_.WouldBeNear(e.address)) RequestLink(e.address, e.endpoint, LinkKind::kNear, 0);
  }
  // A sender that counts us as its near neighbour while we do not count it as ours has a gap in
  // its view (two interleaved arcs that never met): our list closes it. Replies are not answered.
  // Likewise when we know a node between the sender and us that its list lacks: it would be the
  // sender's neighbour too.
  const Link* sender = links_.Find(m.sender);
  const bool sender_near = sender && (sender->roles & kRoleNear);
  // Only a linked sender gets our list: an unlinked one gets the LINK_REQUEST above (if it
  // belongs near us) and our list once it accepted.
  if ((m.neighbours.flags & kNeighboursIsReply) || sender == nullptr) return;
  bool reply = (m.neighbours.flags & kNeighboursReplyWanted) || !sender_near;
  if (!reply) {
    const bool we_are_clockwise =
        ClockwiseDistance(m.sender, self_) < ClockwiseDistance(self_, m.sender);
    const RingAddress gap =
        we_are_clockwise ? ClockwiseDistance(m.sender, self_) : ClockwiseDistance(self_, m.sender);
    for (const Link& l : links_.links()) {
      if (!(l.roles & kRoleNear) || l.address == m.sender) continue;
      const RingAddress d = we_are_clockwise ? ClockwiseDistance(m.sender, l.address)
                                             : ClockwiseDistance(l.address, m.sender);
      if (!(d < gap)) continue;
      bool listed = false;
      for (size_t i = 0; i < m.neighbours.count && !listed; ++i)
        listed = m.neighbours.Entry(i).address == l.address;
      if (!listed) {
        reply = true;
        break;
      }
    }
  }
  if (reply) SendNeighbours(*sender, kNeighboursIsReply);
}

bool OverlayNode::SeenBefore(const Routed& r) {
  const uint64_t id = r.loop_id ^ (uint64_t{r.source.word(0)} << 32 | r.source.word(1));
  for (uint64_t s : seen_)
    if (s == id) return true;
  seen_[seen_next_] = id;
  seen_next_ = (seen_next_ + 1) % seen_.size();
  return false;
}

void OverlayNode::RouteMessage(std::span<uint8_t> datagram, const Routed& r) {
  if (!(r.flags & kRoutedLastHop) && SeenBefore(r)) {
    ++counters_.routed_loop;
    return;
  }
  const RouteDecision d =
      DecideRoute(links_, r.key, r.mode, r.flags, r.source, r.hops, r.hop_limit);
  using Action = RouteDecision::Action;
  auto send_to = [&](const RingAddress& next, uint8_t flags) {
    const Link* l = links_.Find(next);
    PatchRoutedForward(datagram, self_, uint8_t(r.hops + 1), flags);
    Send(l->endpoint, next, datagram);
  };
  switch (d.action) {
    case Action::kForward:
      ++counters_.routed_forwarded;
      send_to(d.next, r.flags);
      return;
    case Action::kDeliverAndCopy: {
      // Deliver first: send_to rewrites the buffer the payload span points into (header only).
      Deliver(r);
      if (r.hops < r.hop_limit) send_to(d.next, uint8_t(r.flags | kRoutedLastHop));
      return;
    }
    case Action::kDeliver:
      Deliver(r);
      return;
    case Action::kDropNoRoute:
      ++counters_.routed_no_route;
      return;
    case Action::kDropNoSuchNode:
      ++counters_.routed_no_such_node;
      return;
    case Action::kDropHopLimit:
      ++counters_.routed_hop_limit;
      return;
  }
}

void OverlayNode::Deliver(const Routed& r) {
  ++counters_.routed_delivered;
  if (r.payload_type >= kFirstAppPayload) {
    if (deliver_) deliver_(r);
    return;
  }
  if ((r.payload_type != kPayloadJoin && r.payload_type != kPayloadFarConnect) ||
      r.payload.size() != kJoinPayloadSize || r.source == self_) {
    ++counters_.routed_bad_payload;
    return;
  }
  const uint64_t token = wire::LoadBe64(r.payload.data() + 4);
  if (r.payload_type == kPayloadJoin) {
    // The joiner's endpoint is only what the message says: ask it to link first; our list follows
    // its accept. A joiner we are linked to already gets the list at its proven endpoint.
    if (const Link* l = links_.Find(r.source))
      SendNeighbours(*l, kNeighboursIsReply);
    else
      RequestLink(r.source, r.source_endpoint, LinkKind::kNear, token,
                  /*neighbours_on_accept=*/true);
    return;
  }
  // Far-link draw: accept being the far end unless we already carry our share of them.
  if (links_.CountWithRole(kRoleFarIn) >= 2 * std::max<size_t>(far_target(), 1) + 4) return;
  RequestLink(r.source, r.source_endpoint, LinkKind::kFar, token);
}

}  // namespace ipop::cp::overlay
