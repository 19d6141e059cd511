#include "controlplane/directory/overlay_host.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <utility>

#include "controlplane/overlay/messages.h"
#include "controlplane/overlay/router.h"
#include "controlplane/runtime/local_address.h"
#include "shared/byte_order.h"

namespace ipop::cp {
namespace {

using overlay::Link;
using overlay::RingAddress;

constexpr uint64_t kNameRetryNs = 5'000'000'000ull;
constexpr size_t kVipLocationSize = RingAddress::kBytes + overlay::kEndpointSize;
constexpr uint8_t kLocationExtVersion = 1;
constexpr size_t kLocationExtFixed = 3;  // version, NAT class, count
constexpr size_t kCandidateSize = 1 + overlay::kEndpointSize;

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

}  // namespace

DhtKey RateKeyOf(const Endpoint& ep) {
  DhtKey k{};
  std::memcpy(k.data(), ep.addr, sizeof(ep.addr));
  k[16] = uint8_t(ep.port >> 8);
  k[17] = uint8_t(ep.port);
  return k;
}

class OverlayHost::PunchEnv final : public overlay::HolePunch::Env {
 public:
  PunchEnv(OverlayHost& host) : host_(host) {}
  bool SendPunch(const RingAddress& to, std::span<const uint8_t> payload) override {
    return host_.node_->SendRouted(to, overlay::DeliveryMode::kExact, kPayloadPunch, payload);
  }
  void Probe(const RingAddress& to, std::span<const Endpoint> candidates) override {
    host_.node_->PunchProbe(to, candidates);
  }
  bool Linked(const RingAddress& a) const override { return host_.HasLink(a); }
  uint64_t HeardNs(const RingAddress& a) const override {
    const Link* l = host_.node_->links().Find(a);
    return l ? l->last_heard_ns : 0;
  }
  uint64_t LinkedSinceNs(const RingAddress& a) const override {
    const Link* l = host_.node_->links().Find(a);
    return l ? l->created_ns : 0;
  }
  void LinkBroken(const RingAddress& a) override {
    host_.node_->DropBrokenLink(a);
    host_.node_->ProbeAllLinks();
  }
  std::vector<Endpoint> OurCandidates() const override {
    std::vector<Endpoint> out;
    for (const overlay::Candidate& c : host_.node_->nat().Candidates(host_.clock_.NowNs()))
      out.push_back(c.endpoint);
    if (out.empty()) out.push_back(host_.node_->endpoint());
    return out;
  }
  overlay::NatClass OurClass() const override { return host_.nat_class(); }

 private:
  OverlayHost& host_;
};

class OverlayHost::ClaimStoreAdapter final : public ClaimStore {
 public:
  explicit ClaimStoreAdapter(DhtService& dht) : dht_(dht) {}
  void Create(const DhtKey& key, std::span<const uint8_t> value, uint32_t ttl_ms,
              DhtCreateMode mode, DhtDoneFn done) override {
    dht_.Create(key, value, ttl_ms, std::move(done), mode);
  }
  void Remove(const DhtKey& key, std::span<const uint8_t> value, DhtDoneFn done) override {
    dht_.Remove(key, value, std::move(done));
  }

 private:
  DhtService& dht_;
};

// Stamps and signs on the way out; the Port is the dataplane's inject ring. In certificate mode
// the LinkGuard appends the handshake signature or the link key's tag instead of the PSK tag.
class OverlayHost::Transport final : public overlay::OverlayTransport {
 public:
  Transport(Port& port, const HelloAuthenticator& auth, const Clock& clock,
            OverlayHostCounters& counters, const std::unique_ptr<LinkGuard>& guard)
      : port_(port), auth_(auth), clock_(clock), counters_(counters), guard_(guard) {}
  bool Send(const Endpoint& to, const RingAddress& receiver,
            std::span<const uint8_t> datagram) override {
    uint8_t buf[std::max(overlay::kMaxOverlayDatagram + kOverlayStampSize + kMaxHelloTagSize,
                         kMaxLinkHandshake)];
    if (datagram.size() > overlay::kMaxOverlayDatagram) return false;
    std::memcpy(buf, datagram.data(), datagram.size());
    uint8_t* stamp = buf + datagram.size();
    StoreBe64(stamp, NextTimestamp());
    receiver.ToBytes(std::span<uint8_t, RingAddress::kBytes>(stamp + 8, RingAddress::kBytes));
    const size_t signed_len = datagram.size() + kOverlayStampSize;
    size_t total = 0;
    if (guard_) {
      total = guard_->Seal(buf, signed_len, sizeof(buf), receiver, clock_.NowNs());
    } else {
      const size_t tag = auth_.tag_size();
      if (auth_.Sign({buf, signed_len}, {buf + signed_len, tag})) total = signed_len + tag;
    }
    if (total == 0) {
      ++counters_.sign_failed;
      return false;
    }
    if (!port_.SendUnderlay(to, {buf, total})) {
      ++counters_.send_failed;
      return false;
    }
    ++counters_.sent;
    return true;
  }

 private:
  // Strictly increasing even if the wall clock stalls or steps back a little.
  uint64_t NextTimestamp() {
    last_ts_ = std::max(clock_.WallNs(), last_ts_ + 1);
    return last_ts_;
  }

  Port& port_;
  const HelloAuthenticator& auth_;
  const Clock& clock_;
  OverlayHostCounters& counters_;
  const std::unique_ptr<LinkGuard>& guard_;
  uint64_t last_ts_ = 0;
};

OverlayHostOptions OverlayHostOptions::FromConfig(const NodeConfig& cfg) {
  OverlayHostOptions o;
  if (cfg.overlay_address_set) {
    o.address = RingAddress::FromBytes(cfg.overlay_address);
  } else {
    const std::string identity = "ipop node\n" + cfg.network + "\n" + cfg.name;
    o.address = RingAddress::FromIdentity(
        {reinterpret_cast<const uint8_t*>(identity.data()), identity.size()});
  }
  o.listen = cfg.listen;
  o.network = cfg.network;
  o.vip = cfg.vip;
  o.claim.network = cfg.network;
  o.claim.identity = cfg.name;
  o.member_name = cfg.name;
  o.claim.fixed = cfg.vip;
  if (cfg.vip == 0) {
    o.claim.pool_first = cfg.pool_first;
    o.claim.pool_last = cfg.pool_last;
  }
  if (cfg.service_ip != 0) o.claim.excluded.push_back(cfg.service_ip);
  o.claim.lease_ms = cfg.lease_s * 1000;
  // Renewed three times per lease, and at least every 20 s: the record is also the directory
  // entry, which must come back quickly on a new replica set after its replicas left.
  o.claim.refresh_ns =
      std::min<uint64_t>(20'000'000'000ull, uint64_t{cfg.lease_s} * 333'000'000ull);
  if (cfg.service_ip != 0) {
    o.dns_name = cfg.name + "." + cfg.network + "." + cfg.dns_suffix;
    for (char& ch : o.dns_name) ch = char(std::tolower(static_cast<unsigned char>(ch)));
  }
  o.overlay.bootstrap = cfg.bootstrap;
  o.announce = cfg.announce;
  o.overlay.far_links_per_log2 = cfg.far_links_per_log2;
  // An idle link is probed this often, which also refreshes the NAT mappings on its path
  // (docs/nat.md); death still takes dead_after_missed probes 5 s apart.
  o.overlay.timers.probe_idle_ns = uint64_t{cfg.keepalive_s} * 1'000'000'000ull;
  // Without a bootstrap list the static peers are the obvious way in.
  if (o.overlay.bootstrap.empty())
    for (const PeerConfig& p : cfg.peers) o.overlay.bootstrap.push_back(p.endpoint);
  return o;
}

OverlayHost::OverlayHost(const OverlayHostOptions& options, Clock& clock, RandomSource& random,
                         Port& port, const HelloAuthenticator& auth)
    : options_(options),
      clock_(clock),
      auth_(auth),
      transport_(std::make_unique<Transport>(port, auth, clock, counters_, guard_)),
      source_limiter_(options.source_limit),
      replay_guard_(clock.WallNs(), options.source_limit.max_sources),
      random_(random),
      resolve_bucket_(options.resolve_per_second, options.resolve_burst) {
  Endpoint self = options_.listen;
  if (IsUnspecified(self)) {
    for (const Endpoint& b : options_.overlay.bootstrap) {
      if (auto local = LocalEndpointToward(b, options_.listen.port)) {
        self = *local;
        self_endpoint_known_ = true;
        break;
      }
    }
  } else {
    self_endpoint_known_ = true;
  }
  node_ = std::make_unique<overlay::OverlayNode>(options_.address, self, options_.overlay, clock,
                                                 random, *transport_);
  if (self_endpoint_known_) node_->SetLocalEndpoint(self);
  punch_env_ = std::make_unique<PunchEnv>(*this);
  punch_ = std::make_unique<overlay::HolePunch>(options_.punch, clock, random, *punch_env_);
  dht_ = std::make_unique<DhtService>(*node_, clock, random, options_.dht);
  node_->SetDeliverHandler([this](const overlay::Routed& r) { OnRouted(r); });
  echo_ = std::make_unique<OverlayEcho>(
      options_.echo, clock, random,
      [this](const RingAddress& to, std::span<const uint8_t> payload) {
        return node_->SendRouted(to, overlay::DeliveryMode::kExact, kPayloadEcho, payload);
      },
      [this](const RingAddress& to) {
        const overlay::RouteDecision d =
            overlay::DecideRoute(node_->links(), to, overlay::DeliveryMode::kExact, 0,
                                 options_.address, 0, options_.overlay.hop_limit);
        return d.action == overlay::RouteDecision::Action::kForward ? d.next : RingAddress{};
      },
      [this] { return std::pair<uint32_t, std::string>(options_.vip, options_.member_name); });
  if (options_.claim.fixed != 0 || options_.claim.pool_first != 0) {
    claim_store_ = std::make_unique<ClaimStoreAdapter>(*dht_);
    const std::string network = options_.network;
    claim_ = std::make_unique<AddressClaim>(
        options_.claim, *claim_store_, clock,
        [network](uint32_t vip) { return VipDirectoryKey(network, vip); });
    options_.vip = claim_->vip();
    claim_->SetChangedHandler([this](uint32_t vip) { OnAddressChanged(vip); });
  } else {
    options_.vip = 0;
  }
}

OverlayHost::~OverlayHost() = default;

void OverlayHost::SetIdentity(const identity::NodeIdentity* id) {
  identity_ = id;
  guard_ =
      id ? std::make_unique<LinkGuard>(*id, options_.address, random_, link_counters_) : nullptr;
}

size_t OverlayHost::CloseLinksOf(const identity::KeyId& id) {
  if (!guard_) return 0;
  const std::vector<RingAddress> peers = guard_->PeersWithKey(id);
  for (const RingAddress& a : peers) CloseCertifiedLink(a);
  return peers.size();
}

void OverlayHost::CloseCertifiedLink(const RingAddress& a) {
  node_->CloseLink(a);  // the LINK_CLOSE still carries the old key's tag
  guard_->Forget(a);
  ++link_counters_.links_cert_closed;
}

void OverlayHost::Start() {
  if (started_) return;
  started_ = true;
  node_->Start();
  IPOP_LOG_INFO("overlay: address %s endpoint %s, %zu bootstrap entries",
                options_.address.ToHex().c_str(), node_->endpoint().ToString().c_str(),
                options_.overlay.bootstrap.size());
}

void OverlayHost::Stop() {
  if (started_) node_->Stop();
  started_ = false;
}

void OverlayHost::LearnSelfEndpoint(const Endpoint& toward) {
  auto local = LocalEndpointToward(toward, options_.listen.port);
  if (!local) return;
  self_endpoint_known_ = true;
  node_->SetLocalEndpoint(*local);
  node_->SetSelfEndpoint(*local);
  IPOP_LOG_INFO("overlay: this node's endpoint is %s", local->ToString().c_str());
}

bool OverlayHost::OnControlDatagram(const Endpoint& from, std::span<const uint8_t> datagram) {
  const bool link_message = datagram.size() > wire::kHeaderSize &&
                            (datagram[0] & 0x0f) == uint8_t(wire::PacketType::kControl) &&
                            datagram[wire::kHeaderSize] >= kLinkMessageFirst &&
                            datagram[wire::kHeaderSize] <= kLinkMessageLast;
  if (!link_message && !overlay::LooksLikeOverlay(datagram)) return false;
  ++counters_.received;
  // Certificate mode: the shortest trailer is a link key's tag, the longest a handshake's.
  const size_t tag = guard_ ? kLinkTagSize : auth_.tag_size();
  const size_t max_size =
      guard_ ? std::max(overlay::kMaxOverlayDatagram + kOverlayStampSize + kMaxHelloTagSize,
                        kMaxLinkHandshake)
             : overlay::kMaxOverlayDatagram + kOverlayStampSize + tag;
  if (datagram.size() < wire::kHeaderSize + overlay::kCommonSize + kOverlayStampSize + tag) {
    ++counters_.too_short;
    return true;
  }
  if (datagram.size() > max_size) {
    ++counters_.too_long;
    return true;
  }
  // Rate before MAC: a flood from one source must not cost an HMAC per datagram.
  if (!source_limiter_.Allow(RateKeyOf(from), clock_.NowNs())) {
    ++counters_.rate_limited;
    return true;
  }
  std::span<const uint8_t> signed_part;
  if (guard_) {
    const size_t head = guard_->Open(datagram, clock_.NowNs(), clock_.WallNs() / 1'000'000'000ull);
    if (head == 0) {
      ++counters_.bad_tag;
      return true;
    }
    signed_part = datagram.first(head);
  } else {
    signed_part = datagram.first(datagram.size() - tag);
    if (!auth_.Verify(signed_part, datagram.last(tag))) {
      ++counters_.bad_tag;
      uint64_t suppressed = 0;
      if (log_limit_.Allow(clock_.NowNs(), &suppressed))
        IPOP_LOG_WARN(
            "overlay: dropped a message from %s with a bad tag (wrong network secret?) "
            "(%llu similar suppressed)",
            from.ToString().c_str(), (unsigned long long)suppressed);
      return true;
    }
  }
  // Authenticated: now whether it was meant for us, and only once.
  const std::span<const uint8_t> body = signed_part.first(signed_part.size() - kOverlayStampSize);
  const std::span<const uint8_t> stamp = signed_part.last(kOverlayStampSize);
  const RingAddress receiver = RingAddress::FromBytes(stamp.subspan<8, RingAddress::kBytes>());
  const bool bound = receiver == options_.address;
  const bool link_request = body[wire::kHeaderSize] == uint8_t(overlay::MsgType::kLinkRequest);
  if (!bound && !link_request) {
    ++counters_.wrong_receiver;  // shown to us, made for another node
    return true;
  }
  const auto sender = body.subspan(wire::kHeaderSize + 4, RingAddress::kBytes);
  const uint64_t now_wall = clock_.WallNs();
  const ReplayVerdict fresh =
      replay_guard_.Check(ReplayGuard::KeyOf(sender), LoadBe64(stamp.data()), now_wall);
  if (fresh != ReplayVerdict::kFresh) {
    ++(fresh == ReplayVerdict::kReplayed ? counters_.replayed
       : fresh == ReplayVerdict::kTooOld ? counters_.too_old
                                         : counters_.clock_ahead);
    uint64_t suppressed = 0;
    if (fresh == ReplayVerdict::kAhead && log_limit_.Allow(clock_.NowNs(), &suppressed))
      IPOP_LOG_WARN(
          "overlay: message from %s is stamped %.0f s in our future; synchronise the clocks "
          "(%llu similar suppressed)",
          from.ToString().c_str(), double(LoadBe64(stamp.data()) - now_wall) / 1e9,
          (unsigned long long)suppressed);
    return true;
  }
  const uint8_t type = body[wire::kHeaderSize];
  // The sender is authenticated by its link key, so a routed message at its first hop (hop
  // count 1) must name the sender as its source: nobody originates in another's name through
  // its own link. Later hops are not checked (docs/pki.md, "Not yet wired").
  constexpr size_t kHopsOffset = wire::kHeaderSize + overlay::kCommonSize + 2;
  constexpr size_t kSourceOffset = wire::kHeaderSize + overlay::kCommonSize + 12;
  if (guard_ && type == uint8_t(overlay::MsgType::kRouted) &&
      body.size() >= kSourceOffset + RingAddress::kBytes && body[kHopsOffset] == 1 &&
      !std::equal(sender.begin(), sender.end(), body.begin() + kSourceOffset)) {
    ++link_counters_.forged_origin;
    return true;
  }
  ++counters_.accepted;
  if (!self_endpoint_known_) LearnSelfEndpoint(from);
  if (link_message) {
    const RingAddress from_node = RingAddress::FromBytes(sender.first<RingAddress::kBytes>());
    if (!bound || node_->links().Find(from_node) == nullptr || !link_message_) {
      ++counters_.link_message_unlinked;
      return true;
    }
    ++counters_.link_messages;
    link_message_(from_node, body);
    return true;
  }
  node_->OnDatagram(from, body, bound);
  // A closed link's keys go at once (Stop, surplus, unknown link: any LINK_CLOSE).
  if (guard_ && type == uint8_t(overlay::MsgType::kLinkClose))
    guard_->Forget(RingAddress::FromBytes(sender.first<RingAddress::kBytes>()));
  return true;
}

bool OverlayHost::SendToLink(const RingAddress& to, std::span<const uint8_t> msg) {
  const Link* l = node_->links().Find(to);
  if (l == nullptr) return false;
  return transport_->Send(l->endpoint, to, msg);
}

std::vector<RingAddress> OverlayHost::LinkAddresses() const {
  std::vector<RingAddress> out;
  for (const Link& l : node_->links().links()) out.push_back(l.address);
  return out;
}

void OverlayHost::OnRouted(const overlay::Routed& r) {
  if (dht_->OnRouted(r)) return;
  if (r.payload_type == kPayloadEcho) {
    echo_->OnDelivered(r);
    return;
  }
  if (r.payload_type == kPayloadPunch) {
    punch_->OnMessage(r.source, r.payload);
    return;
  }
  if (r.payload_type == kPayloadHello) {
    ++counters_.hello_routed_received;
    if (hello_) hello_(r.source, r.source_endpoint, r.payload);
    return;
  }
  ++counters_.routed_unknown_payload;
}

bool OverlayHost::SendHello(const RingAddress& to, std::span<const uint8_t> hello) {
  if (!node_->SendRouted(to, overlay::DeliveryMode::kExact, kPayloadHello, hello)) return false;
  ++counters_.hello_routed_sent;
  return true;
}

bool OverlayHost::SendHello(const NodeAddress& to, std::span<const uint8_t> hello) {
  return SendHello(RingAddress::FromBytes(to), hello);
}

void OverlayHost::Tick() {
  if (!started_) return;
  const uint64_t now = clock_.NowNs();
  if (now >= node_->next_wake_ns()) node_->Tick();
  if (guard_) CheckLinks(now);
  if (now >= dht_->next_wake_ns()) dht_->Tick();
  if (claim_ && node_->joined() && (claim_->held() || NeighbourhoodSettled())) {
    claim_->SetValue(EncodeVipLocation(VipLocation{options_.address, node_->endpoint(), nat_class(),
                                                   node_->nat().Candidates(now)}));
    claim_->Tick();
  }
  if (options_.vip != 0 && !options_.dns_name.empty() && node_->joined() && !name_in_flight_ &&
      !name_released_ && now >= next_name_ns_)
    PublishName();
  if (options_.vip != 0 && node_->joined() && !member_in_flight_ && now >= next_member_ns_)
    PublishMember();
  echo_->Tick();
  punch_->Tick();
  if (!options_.announce.empty() && options_.vip != 0 && node_->joined() &&
      now >= next_announce_ns_)
    AnnounceRoutes();
  if (routes_ && node_->joined() && !routes_poll_in_flight_ && now >= next_routes_poll_ns_)
    PollRoutes();
  UpdateTableVersion();
}

void OverlayHost::CheckLinks(uint64_t now) {
  if (now >= next_link_expire_ns_) {
    next_link_expire_ns_ = now + 1'000'000'000ull;
    guard_->Expire(now, [this](const RingAddress& a) { return node_->links().Find(a) != nullptr; });
  }
  if (now < next_recheck_ns_) return;
  next_recheck_ns_ = now + options_.cert_recheck_ns;
  for (const RingAddress& a : guard_->Recheck(clock_.WallNs() / 1'000'000'000ull)) {
    IPOP_LOG_WARN("overlay: closing the link to %s: its certificate expired or was revoked",
                  a.ToHex().c_str());
    CloseCertifiedLink(a);
  }
}

void OverlayHost::OnAddressChanged(uint32_t vip) {
  options_.vip = vip;
  next_name_ns_ = 0;  // the name record follows the address at once
  next_member_ns_ = 0;
  next_announce_ns_ = 0;
  if (address_) address_(vip);
}

void OverlayHost::ReleaseAddress(std::function<void()> done) {
  if (!claim_ || !node_->joined()) {
    if (done) done();
    return;
  }
  claim_->Release(std::move(done));
}

void OverlayHost::ReleaseName(std::function<void()> done) {
  name_released_ = true;
  if (name_written_ == 0 || !node_->joined()) {
    if (done) done();
    return;
  }
  // A registration still in flight could land after the removal and bring the record back.
  if (name_in_flight_) {
    name_release_done_ = std::move(done);
    return;
  }
  RemoveName(std::move(done));
}

void OverlayHost::RemoveName(std::function<void()> done) {
  uint8_t value[4];
  StoreBe32(value, name_written_);
  dht_->Remove(DnsNameKey(options_.dns_name), value,
               [this, done = std::move(done)](const DhtResult& res) {
                 if (res.outcome == DhtOutcome::kOk) {
                   ++counters_.names_released;
                   IPOP_LOG_INFO("overlay: name %s removed", options_.dns_name.c_str());
                 }
                 if (done) done();
               });
}

void OverlayHost::RenewAddress() {
  if (claim_) claim_->RenewSoon();
}

void OverlayHost::PublishName() {
  name_in_flight_ = true;
  name_written_ = options_.vip;
  uint8_t value[4];
  StoreBe32(value, options_.vip);
  // Claimed until it is ours, then renewed (DhtCreateMode).
  const DhtCreateMode mode =
      counters_.names_published == 0 ? DhtCreateMode::kClaim : DhtCreateMode::kRenew;
  dht_->Create(
      DnsNameKey(options_.dns_name), value, options_.directory_ttl_ms,
      [this](const DhtResult& res) {
        name_in_flight_ = false;
        if (name_release_done_) {  // ReleaseName waited for this answer
          RemoveName(std::exchange(name_release_done_, nullptr));
          return;
        }
        const uint64_t now = clock_.NowNs();
        if (res.outcome == DhtOutcome::kOk) {
          if (counters_.names_published++ == 0)
            IPOP_LOG_INFO("overlay: name %s registered", options_.dns_name.c_str());
          next_name_ns_ = now + options_.directory_refresh_ns;
          return;
        }
        next_name_ns_ = now + kNameRetryNs;
        if (res.outcome == DhtOutcome::kRejected && res.reason == DhtStatus::kKeyExists) {
          ++counters_.name_conflicts;
          IPOP_LOG_ERROR(
              "overlay: DNS name %s is registered by another node; rename "
              "node.name (retrying every 5 s)",
              options_.dns_name.c_str());
        }
      },
      mode);
}

void OverlayHost::PublishMember() {
  member_in_flight_ = true;
  const MemberEntry m{options_.vip, options_.address, options_.member_name};
  dht_->Put(MembersKey(options_.network, m.vip % kMemberBuckets), EncodeMember(m),
            options_.directory_ttl_ms, [this](const DhtResult& res) {
              member_in_flight_ = false;
              const bool ok = res.outcome == DhtOutcome::kOk;
              if (ok) ++counters_.members_published;
              next_member_ns_ =
                  clock_.NowNs() + (ok ? options_.directory_refresh_ns : kNameRetryNs);
            });
}

void OverlayHost::Members(MembersFn done) {
  struct Gather {
    std::vector<MemberEntry> members;
    std::vector<uint32_t> ttl_ms;  // per member: the entry's remaining TTL
    uint32_t answered = 0;
    bool complete = true;
    MembersFn done;
  };
  auto g = std::make_shared<Gather>();
  g->done = std::move(done);
  for (uint32_t b = 0; b < kMemberBuckets; ++b) {
    dht_->Get(MembersKey(options_.network, b), [this, g](const DhtResult& res) {
      if (res.outcome != DhtOutcome::kOk) g->complete = false;
      for (const DhtRecord& rec : res.values) {
        std::optional<MemberEntry> m = DecodeMember(rec.value);
        if (!m) {
          ++counters_.member_bad_records;
          continue;
        }
        // One entry per node: after an address change its entry under the old VIP lives on
        // until its TTL; the fresher one (more TTL left) is the node's current address.
        auto same = std::find_if(g->members.begin(), g->members.end(),
                                 [&](const MemberEntry& x) { return x.node == m->node; });
        if (same == g->members.end()) {
          g->members.push_back(std::move(*m));
          g->ttl_ms.push_back(rec.ttl_ms);
        } else if (const size_t k = size_t(same - g->members.begin()); rec.ttl_ms > g->ttl_ms[k]) {
          *same = std::move(*m);
          g->ttl_ms[k] = rec.ttl_ms;
        }
      }
      if (++g->answered < kMemberBuckets) return;
      std::sort(g->members.begin(), g->members.end(),
                [](const MemberEntry& x, const MemberEntry& y) {
                  return x.vip != y.vip ? x.vip < y.vip : x.node < y.node;
                });
      g->done(g->members, g->complete);
    });
  }
}

void OverlayHost::AnnounceRoutes() {
  next_announce_ns_ = clock_.NowNs() + options_.directory_refresh_ns;
  const uint64_t now_s = clock_.WallNs() / 1'000'000'000ull;
  for (const PrefixConfig& p : options_.announce) {
    const AnnouncedRoute r{p.prefix, p.length, options_.vip};
    std::vector<uint8_t> value = EncodeRoute(r);
    if (route_signer_) {
      value = route_signer_->SignedRecord(options_.network,
                                          {r.prefix, r.length, r.via, RouteExpiryFor(now_s)});
      if (value.empty()) {
        IPOP_LOG_ERROR("overlay: cannot sign the announcement of %s/%u",
                       FormatIpv4(r.prefix).c_str(), unsigned(r.length));
        continue;
      }
    }
    dht_->Put(RoutesKey(options_.network), value, options_.directory_ttl_ms,
              [this, r](const DhtResult& res) {
                if (res.outcome != DhtOutcome::kOk) return;
                if (counters_.routes_announced++ == 0)
                  IPOP_LOG_INFO("overlay: announced %s/%u behind this node",
                                FormatIpv4(r.prefix).c_str(), unsigned(r.length));
              });
  }
}

void OverlayHost::PollRoutes() {
  routes_poll_in_flight_ = true;
  ++counters_.routes_polls;
  dht_->Get(RoutesKey(options_.network), [this](const DhtResult& res) {
    routes_poll_in_flight_ = false;
    next_routes_poll_ns_ = clock_.NowNs() + options_.routes_poll_ns;
    if (res.outcome != DhtOutcome::kOk) return;  // keep the routes we have; ask again later
    std::vector<AnnouncedRoute> routes;
    const uint64_t now_s = clock_.WallNs() / 1'000'000'000ull;
    for (const DhtRecord& rec : res.values) {
      const std::optional<RouteRecord> record = DecodeRouteRecord(rec.value);
      if (!record) {
        ++counters_.routes_bad_records;
        continue;
      }
      const AnnouncedRoute r{record->claim.prefix, record->claim.length, record->claim.via};
      if (r.via == options_.vip || std::find(routes.begin(), routes.end(), r) != routes.end())
        continue;
      const RouteVerdict verdict =
          CheckRoute(*record, route_verifier_.get(), options_.network, now_s);
      if (verdict != RouteVerdict::kAccepted) {
        ++(verdict == RouteVerdict::kUnsigned       ? counters_.routes_unsigned
           : verdict == RouteVerdict::kBadSignature ? counters_.routes_bad_signature
                                                    : counters_.routes_expired);
        uint64_t suppressed = 0;
        if (route_reject_log_.Allow(clock_.NowNs(), &suppressed))
          IPOP_LOG_WARN("router mode: ignoring %s/%u via %s: %s (%llu similar suppressed)",
                        FormatIpv4(r.prefix).c_str(), unsigned(r.length), FormatIpv4(r.via).c_str(),
                        RouteVerdictName(verdict), (unsigned long long)suppressed);
        continue;
      }
      if (!route_verifier_ && !warned_open_routes_) {
        warned_open_routes_ = true;
        IPOP_LOG_WARN(
            "router mode: accepting announcements without authorization (any member may "
            "announce any prefix); set network.router-pubkey-file to require signed ones");
      }
      routes.push_back(r);
    }
    if (routes_) routes_(routes);
  });
}

void OverlayHost::Lookup(const std::string& name,
                         std::function<void(std::optional<uint32_t> ipv4)> done) {
  ++counters_.name_lookups;
  dht_->Get(DnsNameKey(name), [this, done = std::move(done)](const DhtResult& res) {
    for (const DhtRecord& rec : res.values) {
      if (rec.value.size() == 4) {
        done(LoadBe32(rec.value.data()));
        return;
      }
    }
    ++counters_.name_misses;
    done(std::nullopt);
  });
}

void OverlayHost::Resolve(uint32_t vip, ResolveFn done) {
  const uint64_t now = clock_.NowNs();
  if (auto it = resolved_.find(vip); it != resolved_.end()) {
    if (it->second.expires_ns > now) {
      ++counters_.resolve_hits;
      done(vip, it->second.where);
      return;
    }
    resolved_.erase(it);
  }
  if (auto it = resolving_.find(vip); it != resolving_.end()) {
    if (it->second.waiting.size() < options_.resolve_waiters) {
      it->second.waiting.push_back(std::move(done));
      return;
    }
  } else if (resolving_.size() < options_.resolve_in_flight && resolve_bucket_.Take(now)) {
    resolving_[vip].waiting.push_back(std::move(done));
    StartResolve(vip);
    return;
  }
  // Not cached and over the limits: no DHT lookup, no state. The host asks again (ARP retries).
  ++counters_.resolve_throttled;
  uint64_t suppressed = 0;
  if (resolve_log_.Allow(now, &suppressed))
    IPOP_LOG_WARN(
        "overlay: directory lookup of %s refused: over %u new lookups/s or %zu in flight "
        "(a host scanning the subnet?) (%llu similar suppressed)",
        FormatIpv4(vip).c_str(), options_.resolve_per_second, options_.resolve_in_flight,
        (unsigned long long)suppressed);
  done(vip, std::nullopt);
}

void OverlayHost::StartResolve(uint32_t vip) {
  ++counters_.resolves;
  dht_->Get(VipDirectoryKey(options_.network, vip), [this, vip](const DhtResult& res) {
    std::optional<VipLocation> where;
    uint64_t best_version = 0;
    for (const DhtRecord& rec : res.values) {
      auto loc = DecodeVipLocation(rec.value);
      if (!loc) {
        ++counters_.resolve_bad_records;
        continue;
      }
      if (!where || rec.version > best_version) {
        where = loc;
        best_version = rec.version;
      }
    }
    if (!where) ++counters_.resolve_misses;
    const uint64_t ttl = where ? options_.resolve_cache_ns : options_.resolve_negative_ns;
    CacheResolved(vip, CachedLocation{where, clock_.NowNs() + ttl});
    auto node = resolving_.extract(vip);
    if (node.empty()) return;
    for (ResolveFn& fn : node.mapped().waiting) fn(vip, where);
  });
}

// Bounded: expired answers go first, then the live ones that expire soonest (misses before
// locations, which live 15 times longer and name peers actually in use).
void OverlayHost::CacheResolved(uint32_t vip, const CachedLocation& entry) {
  if (options_.resolve_cache_max == 0) return;
  if (resolved_.size() >= options_.resolve_cache_max && resolved_.count(vip) == 0) {
    const uint64_t now = clock_.NowNs();
    std::erase_if(resolved_, [now](const auto& kv) { return kv.second.expires_ns <= now; });
    while (resolved_.size() >= options_.resolve_cache_max) {
      const auto soonest = std::min_element(
          resolved_.begin(), resolved_.end(),
          [](const auto& a, const auto& b) { return a.second.expires_ns < b.second.expires_ns; });
      resolved_.erase(soonest);
      ++counters_.resolve_cache_evicted;
    }
  }
  resolved_[vip] = entry;
}

void OverlayHost::DhtPut(const std::string& name, std::span<const uint8_t> value, uint32_t ttl_ms,
                         DhtDoneFn done) {
  dht_->Put(OperatorKey(options_.network, name), value, ttl_ms, std::move(done));
}

void OverlayHost::DhtGet(const std::string& name, DhtDoneFn done) {
  dht_->Get(OperatorKey(options_.network, name), std::move(done));
}

bool OverlayHost::HasLink(const RingAddress& a) const {
  return node_->links().Find(a) != nullptr;
}

overlay::NatClass OverlayHost::nat_class() const {
  return node_->nat().Classify(clock_.NowNs());
}

void OverlayHost::WantDirect(const RingAddress& a, const Endpoint& hint) {
  node_->RequestShortcut(a, hint);
  punch_->Want(a, hint);
}

void OverlayHost::DirectBroken(const RingAddress& a, const Endpoint& hint) {
  // The link is as dead as the data path (they share the mappings): routed messages and relayed
  // data must go around it, and the punch that follows makes a new one. Our own mapping may be
  // what moved: a keepalive to every other link gets it reported (OBSERVED) while we punch.
  node_->DropBrokenLink(a);
  node_->ProbeAllLinks();
  punch_->Restart(a, hint);
}

RingAddress OverlayHost::RelayVia(const RingAddress& a) const {
  const overlay::RouteDecision d =
      overlay::DecideRoute(node_->links(), a, overlay::DeliveryMode::kExact, 0, options_.address, 0,
                           options_.overlay.hop_limit);
  return d.action == overlay::RouteDecision::Action::kForward ? d.next : RingAddress{};
}

void OverlayHost::FillTable(shm::TableSpec* spec) const {
  options_.address.ToBytes(spec->self_ring);
  spec->links.clear();
  const auto& links = node_->links().links();
  // The same candidates greedy routing uses: structured links, or leaf links while joining.
  const bool any_structured =
      std::any_of(links.begin(), links.end(), [](const Link& l) { return l.structured(); });
  for (const Link& l : links) {
    if (any_structured && !l.structured()) continue;
    if (spec->links.size() >= shm::kMaxLinks) break;
    shm::LinkEntry e{};
    l.address.ToBytes(e.ring);
    std::memcpy(e.underlay_addr, l.endpoint.addr, sizeof(e.underlay_addr));
    e.underlay_port = l.endpoint.port;
    e.flags = shm::kLinkValid;
    spec->links.push_back(e);
  }
}

// Claims wait until this node's ring neighbourhood stopped changing: a DHT write made while the
// near set still moves may land on nodes that are not the key's final replicas.
bool OverlayHost::NeighbourhoodSettled() {
  const overlay::LinkTable& t = node_->links();
  uint64_t h = 0;
  for (const auto& side : {t.Successors(t.near_per_side()), t.Predecessors(t.near_per_side())})
    for (const Link* l : side)
      for (size_t i = 0; i < RingAddress::kWords; ++i) h = Mix(h, l->address.word(i));
  const uint64_t now = clock_.NowNs();
  if (h != near_hash_) {
    near_hash_ = h;
    near_changed_ns_ = now;
  }
  return now - near_changed_ns_ >= options_.settle_ns;
}

void OverlayHost::UpdateTableVersion() {
  uint64_t h = 0;
  for (const Link& l : node_->links().links()) {
    for (size_t i = 0; i < RingAddress::kWords; ++i) h = Mix(h, l.address.word(i));
    uint64_t a = 0;
    std::memcpy(&a, l.endpoint.addr + 8, 8);
    h = Mix(h, a ^ l.endpoint.port);
    h = Mix(h, l.structured() ? 1 : 2);
  }
  if (h != table_hash_) {
    table_hash_ = h;
    ++table_version_;
  }
}

DhtKey VipDirectoryKey(const std::string& network, uint32_t vip) {
  return HashDhtKey("vip:" + network + ":" + FormatIpv4(vip));
}

DhtKey RoutesKey(const std::string& network) {
  return HashDhtKey("routes:" + network);
}

DhtKey MembersKey(const std::string& network, uint32_t bucket) {
  return HashDhtKey("members:" + network + ":" + std::to_string(bucket));
}

std::vector<uint8_t> EncodeMember(const MemberEntry& m) {
  const size_t name = std::min(m.name.size(), kEchoMaxName);
  std::vector<uint8_t> v(4 + RingAddress::kBytes + name);
  StoreBe32(v.data(), m.vip);
  m.node.ToBytes(std::span<uint8_t, RingAddress::kBytes>(v.data() + 4, RingAddress::kBytes));
  std::memcpy(v.data() + 4 + RingAddress::kBytes, m.name.data(), name);
  return v;
}

std::optional<MemberEntry> DecodeMember(std::span<const uint8_t> value) {
  if (value.size() < 4 + RingAddress::kBytes ||
      value.size() > 4 + RingAddress::kBytes + kEchoMaxName)
    return std::nullopt;
  MemberEntry m;
  m.vip = LoadBe32(value.data());
  m.node = RingAddress::FromBytes(value.subspan<4, RingAddress::kBytes>());
  for (uint8_t c : value.subspan(4 + RingAddress::kBytes)) {
    if (c <= 0x20 || c >= 0x7f) return std::nullopt;
    m.name.push_back(char(c));
  }
  if (m.vip == 0 || m.node.IsZero()) return std::nullopt;
  return m;
}

std::vector<uint8_t> EncodeRoute(const AnnouncedRoute& r) {
  std::vector<uint8_t> v(9);
  StoreBe32(v.data(), r.prefix);
  v[4] = r.length;
  StoreBe32(v.data() + 5, r.via);
  return v;
}

std::optional<AnnouncedRoute> DecodeRoute(std::span<const uint8_t> value) {
  const std::optional<RouteRecord> record = DecodeRouteRecord(value);  // unsigned or signed
  if (!record) return std::nullopt;
  return AnnouncedRoute{record->claim.prefix, record->claim.length, record->claim.via};
}

DhtKey DnsNameKey(const std::string& full_name) {
  return HashDhtKey("name:" + full_name);
}

DhtKey OperatorKey(const std::string& network, const std::string& name) {
  return HashDhtKey("user:" + network + ":" + name);
}

std::vector<uint8_t> EncodeVipLocation(const VipLocation& where) {
  const size_t n = std::min(where.candidates.size(), overlay::kMaxCandidates);
  const bool ext = n > 0 || where.nat != overlay::NatClass::kUnknown;
  std::vector<uint8_t> v(kVipLocationSize + (ext ? kLocationExtFixed + n * kCandidateSize : 0));
  where.node.ToBytes(std::span<uint8_t, RingAddress::kBytes>(v.data(), RingAddress::kBytes));
  overlay::StoreEndpoint(v.data() + RingAddress::kBytes, where.endpoint);
  if (!ext) return v;
  uint8_t* e = v.data() + kVipLocationSize;
  e[0] = kLocationExtVersion;
  e[1] = uint8_t(where.nat);
  e[2] = uint8_t(n);
  for (size_t i = 0; i < n; ++i) {
    uint8_t* c = e + kLocationExtFixed + i * kCandidateSize;
    c[0] = uint8_t(where.candidates[i].kind);
    overlay::StoreEndpoint(c + 1, where.candidates[i].endpoint);
  }
  return v;
}

std::optional<VipLocation> DecodeVipLocation(std::span<const uint8_t> value) {
  if (value.size() < kVipLocationSize) return std::nullopt;
  VipLocation w;
  w.node = RingAddress::FromBytes(value.first<RingAddress::kBytes>());
  w.endpoint = overlay::LoadEndpoint(value.data() + RingAddress::kBytes);
  if (w.node.IsZero() || w.endpoint.port == 0) return std::nullopt;
  if (value.size() == kVipLocationSize) return w;
  const std::span<const uint8_t> ext = value.subspan(kVipLocationSize);
  if (ext.size() < kLocationExtFixed) return std::nullopt;
  if (ext[0] != kLocationExtVersion) return w;  // a later extension: the base fields still hold
  const size_t n = ext[2];
  if (n > overlay::kMaxCandidates || ext.size() != kLocationExtFixed + n * kCandidateSize)
    return std::nullopt;
  w.nat = ext[1] <= uint8_t(overlay::NatClass::kAddressPortDependent) ? overlay::NatClass(ext[1])
                                                                      : overlay::NatClass::kUnknown;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* c = ext.data() + kLocationExtFixed + i * kCandidateSize;
    if (c[0] != uint8_t(overlay::CandidateKind::kLocal) &&
        c[0] != uint8_t(overlay::CandidateKind::kReflexive))
      continue;  // a kind from a later version
    const Endpoint e = overlay::LoadEndpoint(c + 1);
    if (e.port == 0) return std::nullopt;
    w.candidates.push_back({overlay::CandidateKind(c[0]), e});
  }
  return w;
}

}  // namespace ipop::cp
