#include "controlplane/services/multicast_groups.h"

#include <algorithm>
#include <cstring>

#include "controlplane/dht/dht_key.h"
#include "controlplane/runtime/log.h"
#include "shared/byte_order.h"
#include "shared/endpoint.h"
#include "shared/ether.h"

namespace ipop::cp {
namespace {

constexpr uint64_t kFirstPollRetryNs = 1'000'000'000ull;  // a failed first lookup: try soon
constexpr uint16_t kDhcpServerPort = 67;
constexpr uint8_t kProtocolUdp = 17;

std::string GroupName(uint32_t group) {
  return group == igmp::kBroadcastGroup ? "255.255.255.255 (broadcast)" : FormatIpv4(group);
}

}  // namespace

// ---- The directory on the DHT ----

DhtKey MulticastKey(const std::string& network, uint32_t group, uint32_t shard) {
  std::string name = "mcast:";
  name += network;
  name += ':';
  name += FormatIpv4(group);
  if (shard != 0) {
    name += '#';
    name += std::to_string(shard);
  }
  return HashDhtKey(name);
}

void DhtGroupDirectory::Join(uint32_t group, uint32_t vip, uint32_t ttl_ms, DoneFn done) {
  uint8_t value[4];
  StoreBe32(value, vip);
  dht_.Put(MulticastKey(network_, group, vip % kMemberShards), value, ttl_ms,
           [done = std::move(done)](const DhtResult& r) { done(r.outcome == DhtOutcome::kOk); });
}

void DhtGroupDirectory::Leave(uint32_t group, uint32_t vip, DoneFn done) {
  uint8_t value[4];
  StoreBe32(value, vip);
  dht_.Remove(MulticastKey(network_, group, vip % kMemberShards), value,
              [done = std::move(done)](const DhtResult& r) { done(r.outcome == DhtOutcome::kOk); });
}

void DhtGroupDirectory::Members(uint32_t group, MembersFn done) {
  struct Gathered {
    uint32_t answered = 0;
    bool ok = true;
    std::vector<uint32_t> members;
    MembersFn done;
  };
  auto g = std::make_shared<Gathered>();
  g->done = std::move(done);
  for (uint32_t shard = 0; shard < kMemberShards; ++shard) {
    dht_.Get(MulticastKey(network_, group, shard), [g](const DhtResult& r) {
      g->ok = g->ok && r.outcome == DhtOutcome::kOk;
      for (const DhtRecord& rec : r.values)
        if (rec.value.size() == 4) g->members.push_back(LoadBe32(rec.value.data()));
      if (++g->answered == kMemberShards) g->done(g->ok, g->members);
    });
  }
}

uint64_t GroupFramesSent(shm::ShmRegion& region, uint32_t counter) {
  uint64_t n = 0;
  for (uint32_t w = 0; w < region.layout().n_workers; ++w)
    n += region.counters(w).group[counter % shm::kMaxGroups].tx_frames.load(
        std::memory_order_relaxed);
  return n;
}

// ---- MulticastGroups ----

MulticastGroups::MulticastGroups(const MulticastOptions& options, Clock& clock, Port& port,
                                 std::unique_ptr<GroupDirectory> directory)
    : options_(options), clock_(clock), port_(port), directory_(std::move(directory)) {
  // Every member receives the network's broadcasts, whatever its host joined.
  joined_[igmp::kBroadcastGroup] = Joined{};
}

uint64_t MulticastGroups::membership_timeout_ns() const {
  // RFC 3376 8.4: robustness variable (2) x query interval + query response interval.
  return 2 * options_.query_interval_ns + uint64_t{options_.query_response_ds} * 100'000'000ull;
}

bool MulticastGroups::OnTapFrame(std::span<const uint8_t> frame) {
  ether::EthernetView eth;
  if (!ether::ParseEthernet(frame, eth) || eth.type != ether::kTypeIpv4) return false;
  ether::Ipv4View ip;
  if (ether::ParseIpv4(eth.payload, ip) != ether::Ipv4Error::kNone) return false;
  const uint32_t group = igmp::GroupOfDestination(ip.dst, directed_broadcast_);
  if (group == 0) return false;
  if (ip.protocol == igmp::kProtocolIgmp) {
    igmp::Message m;
    const igmp::ParseError e = igmp::Parse(frame, &m);
    if (e != igmp::ParseError::kNone) {
      ++counters_.igmp_malformed;
      return true;
    }
    OnIgmp(m);
    return true;
  }
  // DHCP broadcasts belong to the DHCP server (punted for it, never forwarded).
  if (ip.protocol == kProtocolUdp && ip.total_length >= ip.header_length + 8u &&
      LoadBe16(eth.payload.data() + ip.header_length + 2) == kDhcpServerPort)
    return false;
  OnGroupFrame(group);
  return true;
}

void MulticastGroups::OnIgmp(const igmp::Message& m) {
  if (m.type == igmp::kTypeQuery) {
    ++counters_.igmp_queries_seen;
    return;
  }
  if (m.type == igmp::kTypeV2Leave) {
    ++counters_.igmp_leaves;
  } else {
    ++counters_.igmp_reports;
  }
  for (const igmp::GroupChange& c : m.changes) {
    // 224.0.0.1 is the broadcast group, which every node is in anyway.
    const uint32_t group = igmp::GroupOfDestination(c.group, 0);
    if (c.change == igmp::Change::kJoin) {
      JoinLocal(group);
    } else {
      LeaveLocal(group, false);
    }
  }
}

void MulticastGroups::JoinLocal(uint32_t group) {
  const uint64_t now = clock_.NowNs();
  auto it = joined_.find(group);
  if (it == joined_.end()) {
    if (joined_.size() >= kMaxJoinedGroups + 1) {
      ++counters_.joins_refused;
      return;
    }
    it = joined_.emplace(group, Joined{}).first;
    it->second.next_publish_ns = now;
    IPOP_LOG_INFO("multicast: the host joined %s", GroupName(group).c_str());
  }
  // Without queries the host never re-reports, so a membership can only end by a leave.
  if (group != igmp::kBroadcastGroup)
    it->second.expires_ns = service_ip_ != 0 ? now + membership_timeout_ns() : 0;
}

void MulticastGroups::LeaveLocal(uint32_t group, bool expired) {
  if (group == igmp::kBroadcastGroup) return;
  auto it = joined_.find(group);
  if (it == joined_.end()) return;
  const uint32_t vip = it->second.published_vip;
  joined_.erase(it);
  if (expired) ++counters_.joins_expired;
  IPOP_LOG_INFO("multicast: the host left %s%s", GroupName(group).c_str(),
                expired ? " (no report to our queries)" : "");
  if (vip != 0 && directory_) {
    directory_->Leave(group, vip, [this](bool ok) {
      if (ok) ++counters_.leaves_published;
    });
  }
}

void MulticastGroups::OnGroupFrame(uint32_t group) {
  ++counters_.group_frames;
  const uint64_t now = clock_.NowNs();
  if (auto it = sending_.find(group); it != sending_.end()) {
    it->second.last_traffic_ns = now;
    return;
  }
  if (sending_.size() >= shm::kMaxGroups) {
    ++counters_.groups_refused;
    return;
  }
  uint16_t counter = 0;
  while (std::any_of(sending_.begin(), sending_.end(),
                     [&](const auto& kv) { return kv.second.counter == counter; }))
    ++counter;
  Sending s;
  s.counter = counter;
  s.next_poll_ns = now;
  s.last_traffic_ns = now;
  s.frames = traffic_ ? traffic_(counter) : 0;
  sending_.emplace(group, std::move(s));
}

void MulticastGroups::SendQuery() {
  uint8_t frame[igmp::kGeneralQueryFrameSize];
  const uint8_t interval_s =
      uint8_t(std::min<uint64_t>(options_.query_interval_ns / 1'000'000'000ull, 127));
  const size_t n = igmp::BuildGeneralQuery(gateway_mac_, service_ip_,
                                           std::min<uint8_t>(options_.query_response_ds, 127),
                                           interval_s, frame);
  if (n != 0 && port_.WriteTapFrame({frame, n})) ++counters_.queries_sent;
  ++queries_;
  // RFC 3376 8.6/8.7: the startup queries come a quarter interval apart.
  next_query_ns_ =
      clock_.NowNs() + (queries_ < 2 ? options_.query_interval_ns / 4 : options_.query_interval_ns);
}

void MulticastGroups::Publish(uint32_t group, Joined& j) {
  j.in_flight = true;
  const uint32_t vip = local_vip_;
  directory_->Join(group, vip, options_.member_ttl_ms, [this, group, vip](bool ok) {
    auto it = joined_.find(group);
    if (it == joined_.end() || vip != local_vip_) {
      // Left, or our address changed, while the write was on its way: take it back.
      if (ok) directory_->Leave(group, vip, [](bool) {});
      if (it != joined_.end()) {
        it->second.in_flight = false;
        it->second.next_publish_ns = clock_.NowNs();
      }
      return;
    }
    Joined& joined = it->second;
    joined.in_flight = false;
    if (!ok) {
      ++counters_.publish_failures;
      joined.next_publish_ns = clock_.NowNs() + options_.retry_ns;
      return;
    }
    if (joined.published_vip == 0)
      IPOP_LOG_INFO("multicast: %s is a member of %s", FormatIpv4(vip).c_str(),
                    GroupName(group).c_str());
    ++counters_.joins_published;
    joined.published_vip = vip;
    joined.next_publish_ns = clock_.NowNs() + options_.member_refresh_ns;
  });
}

void MulticastGroups::Poll(uint32_t group, Sending& s) {
  s.in_flight = true;
  ++counters_.polls;
  directory_->Members(group, [this, group](bool ok, const std::vector<uint32_t>& found) {
    auto it = sending_.find(group);
    if (it == sending_.end()) return;  // went idle meanwhile
    Sending& sending = it->second;
    const uint64_t now = clock_.NowNs();
    sending.in_flight = false;
    sending.next_poll_ns = now + options_.poll_ns;
    if (!ok) {
      ++counters_.poll_failures;
      if (!sending.polled) sending.next_poll_ns = now + kFirstPollRetryNs;
      return;  // keep the members we know
    }
    std::vector<uint32_t> members;
    for (uint32_t v : found)
      if (v != 0 && v != local_vip_) members.push_back(v);
    std::sort(members.begin(), members.end());
    members.erase(std::unique(members.begin(), members.end()), members.end());
    if (members.size() > shm::kMaxGroupMembers) ++counters_.members_cut;
    if (!sending.polled || members != sending.members) {
      sending.members = std::move(members);
      sending.polled = true;
      ++table_version_;
    }
    if (!learn_) return;
    for (uint32_t v : sending.members) {
      if (std::binary_search(peer_vips_.begin(), peer_vips_.end(), v)) continue;
      ++counters_.members_learned;
      learn_(v);
    }
  });
}

void MulticastGroups::SetLocalVip(uint32_t vip) {
  if (vip == local_vip_) return;
  local_vip_ = vip;
  const uint64_t now = clock_.NowNs();
  for (auto& [group, j] : joined_) {
    if (j.published_vip != 0 && directory_) directory_->Leave(group, j.published_vip, [](bool) {});
    j.published_vip = 0;
    j.next_publish_ns = now;
  }
  // Our own address may be a member we listed.
  for (auto& [group, s] : sending_) {
    auto self = std::find(s.members.begin(), s.members.end(), vip);
    if (self == s.members.end()) continue;
    s.members.erase(self);
    ++table_version_;
  }
}

void MulticastGroups::Tick() {
  const uint64_t now = clock_.NowNs();
  if (spec_seen_ && service_ip_ != 0 && now >= next_query_ns_) SendQuery();

  std::vector<uint32_t> expired;
  for (const auto& [group, j] : joined_)
    if (j.expires_ns != 0 && now >= j.expires_ns) expired.push_back(group);
  for (uint32_t group : expired) LeaveLocal(group, true);

  if (directory_ && local_vip_ != 0) {
    for (auto& [group, j] : joined_)
      if (!j.in_flight && now >= j.next_publish_ns) Publish(group, j);
  }

  for (auto it = sending_.begin(); it != sending_.end();) {
    Sending& s = it->second;
    const uint64_t frames = traffic_ ? traffic_(s.counter) : 0;
    if (frames != s.frames) {
      s.frames = frames;
      s.last_traffic_ns = now;
    }
    if (now - s.last_traffic_ns >= options_.idle_ns) {
      ++counters_.groups_idle;
      if (s.polled) ++table_version_;
      it = sending_.erase(it);
      continue;
    }
    if (directory_ && !s.in_flight && now >= s.next_poll_ns) Poll(it->first, s);
    ++it;
  }
}

void MulticastGroups::FillTable(shm::TableSpec* spec) {
  if (!spec_seen_) {
    spec_seen_ = true;
    next_query_ns_ = clock_.NowNs() + options_.first_query_ns;
  }
  SetLocalVip(spec->local_vip);
  directed_broadcast_ =
      spec->local_vip != 0 ? ether::DirectedBroadcast(spec->local_vip, spec->local_prefix_len) : 0;
  service_ip_ = spec->service_ip;
  std::memcpy(gateway_mac_, spec->gateway_mac, sizeof(gateway_mac_));

  std::vector<std::pair<uint32_t, uint32_t>> index;  // (vip, peer index), ascending
  for (uint32_t i = 0; i < spec->peers.size(); ++i)
    if (spec->peers[i].flags & shm::kPeerValid) index.emplace_back(spec->peers[i].vip, i);
  std::sort(index.begin(), index.end());
  peer_vips_.clear();
  for (const auto& [vip, i] : index) peer_vips_.push_back(vip);

  for (const auto& [group, s] : sending_) {
    if (!s.polled) continue;
    shm::GroupEntry e{};
    e.group = group;
    e.counter = s.counter;
    for (uint32_t vip : s.members) {
      if (e.n_members == shm::kMaxGroupMembers) break;
      auto at = std::lower_bound(index.begin(), index.end(), std::make_pair(vip, uint32_t{0}));
      if (at != index.end() && at->first == vip) e.members[e.n_members++] = at->second;
    }
    spec->groups.push_back(e);
  }
}

std::vector<uint32_t> MulticastGroups::joined() const {
  std::vector<uint32_t> out;
  for (const auto& [group, j] : joined_) out.push_back(group);
  return out;
}

MulticastView MulticastGroups::View() const {
  const uint64_t now = clock_.NowNs();
  MulticastView v;
  v.querier_ip = service_ip_;
  v.queries_sent = counters_.queries_sent;
  for (const auto& [group, j] : joined_)
    v.joined.push_back(
        {group, j.published_vip, j.expires_ns != 0, j.expires_ns - std::min(now, j.expires_ns)});
  for (const auto& [group, s] : sending_) {
    MulticastView::Sending& out = v.sending.emplace_back();
    out.group = group;
    out.polled = s.polled;
    out.frames = s.frames;
    for (uint32_t vip : s.members) {
      const bool peer = std::binary_search(peer_vips_.begin(), peer_vips_.end(), vip);
      if (peer && out.in_table < shm::kMaxGroupMembers) ++out.in_table;
      out.members.push_back({vip, peer});
    }
  }
  return v;
}

}  // namespace ipop::cp
