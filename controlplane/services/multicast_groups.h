// Multicast and broadcast inside a network (docs/multicast.md).
//
//   host joins a group    IGMP report on the TAP -> punted -> OnTapFrame -> joined group
//                         -> DHT multi-value Put mcast:<network>:<group> = our VIP (TTL 90 s,
//                            refreshed every 30 s; Remove when the host leaves or stops
//                            answering queries). Every node is in the broadcast group.
//   the node is querier   an IGMP general query on the TAP from network.service-ip at start and
//                         every 60 s, so the host re-reports what it joined.
//   host sends to a group the dataplane punts the first frames (no table entry) -> OnTapFrame
//                         -> DHT Get of the group's members -> each member VIP learned as a peer
//                         (resolve + HELLO, like an ARP miss) -> group entry in the table (members
//                         as peer indexes) -> the dataplane seals one copy per member. Members are
//                         read again every 5 s while frames flow; an idle group leaves the table.
// Pure logic over Clock, Port and a GroupDirectory (the DHT in the process, a fake in tests).
// The node's own VIP, subnet, gateway MAC and service address are read from each table spec
// (FillTable): the VIP may be 0 for a while and may change.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "controlplane/dht/dht_service.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/port.h"
#include "shared/igmp.h"
#include "shared/shm_region.h"
#include "shared/table.h"

namespace ipop::cp {

// Groups the host behind the TAP may join at once (besides the broadcast group).
inline constexpr size_t kMaxJoinedGroups = 64;

// Group membership as kept in the DHT: one multi-value key per (network, group); each member's
// value is its VIP (4 bytes, big endian), owned by its overlay address.
class GroupDirectory {
 public:
  virtual ~GroupDirectory() = default;
  using DoneFn = std::function<void(bool ok)>;
  using MembersFn = std::function<void(bool ok, const std::vector<uint32_t>& members)>;
  virtual void Join(uint32_t group, uint32_t vip, uint32_t ttl_ms, DoneFn done) = 0;
  virtual void Leave(uint32_t group, uint32_t vip, DoneFn done) = 0;
  virtual void Members(uint32_t group, MembersFn done) = 0;
};

// The directory on the overlay's DHT: a member's value goes to shard VIP % kMemberShards; a
// lookup reads every shard and succeeds when all of them answered.
class DhtGroupDirectory final : public GroupDirectory {
 public:
  DhtGroupDirectory(DhtService& dht, std::string network)
      : dht_(dht), network_(std::move(network)) {}
  void Join(uint32_t group, uint32_t vip, uint32_t ttl_ms, DoneFn done) override;
  void Leave(uint32_t group, uint32_t vip, DoneFn done) override;
  void Members(uint32_t group, MembersFn done) override;

 private:
  DhtService& dht_;
  std::string network_;
};

// A DHT record holds at most 16 values (DhtStoreLimits), so a group's members are spread over
// this many records by VIP: room for more members than a table entry takes (kMaxGroupMembers).
inline constexpr uint32_t kMemberShards = 2;
// DHT name of shard `shard` of a group's member set: "mcast:<network>:<dotted group>", and
// "...#<shard>" for the shards after the first.
DhtKey MulticastKey(const std::string& network, uint32_t group, uint32_t shard = 0);
// Frames the dataplane workers sent to the group entry with counter `counter`.
uint64_t GroupFramesSent(shm::ShmRegion& region, uint32_t counter);

struct MulticastOptions {
  std::string network;
  // Querier (RFC 3376 8.2-8.4): general queries every query_interval (the first one shortly after
  // start, a second one a quarter interval later); a joined group the host stops reporting is
  // left after robustness (2) intervals plus the response time.
  uint64_t query_interval_ns = 60'000'000'000ull;
  uint8_t query_response_ds = 100;  // max response time, tenths of a second
  uint64_t first_query_ns = 1'000'000'000ull;
  uint32_t member_ttl_ms = 90'000;
  uint64_t member_refresh_ns = 30'000'000'000ull;
  uint64_t retry_ns = 5'000'000'000ull;  // a failed DHT write
  uint64_t poll_ns = 5'000'000'000ull;   // members of a group we send to, while frames flow
  uint64_t idle_ns = 30'000'000'000ull;  // a group without frames this long leaves the table
};

struct MulticastCounters {
  uint64_t igmp_reports = 0, igmp_leaves = 0, igmp_queries_seen = 0, igmp_malformed = 0;
  uint64_t queries_sent = 0, joins_refused = 0, joins_expired = 0;
  uint64_t joins_published = 0, publish_failures = 0, leaves_published = 0;
  uint64_t group_frames = 0, groups_refused = 0, groups_idle = 0;
  uint64_t polls = 0, poll_failures = 0, members_cut = 0, members_learned = 0;
};

inline constexpr CounterDesc kMulticastCounterDescs[] = {
    IPOP_COUNTER(MulticastCounters, igmp_reports, "IGMP membership reports from the host"),
    IPOP_COUNTER(MulticastCounters, igmp_leaves, "IGMP leave messages from the host"),
    IPOP_COUNTER(MulticastCounters, igmp_queries_seen, "IGMP queries seen on the TAP"),
    IPOP_COUNTER(MulticastCounters, igmp_malformed, "IGMP messages that did not parse"),
    IPOP_COUNTER(MulticastCounters, queries_sent, "IGMP queries sent to the host"),
    IPOP_COUNTER(MulticastCounters, joins_refused, "joins refused (group limit)"),
    IPOP_COUNTER(MulticastCounters, joins_expired, "joins that expired without a new report"),
    IPOP_COUNTER(MulticastCounters, joins_published, "group memberships published in the DHT"),
    IPOP_COUNTER(MulticastCounters, publish_failures, "group membership publications that failed"),
    IPOP_COUNTER(MulticastCounters, leaves_published, "group memberships removed from the DHT"),
    IPOP_COUNTER(MulticastCounters, group_frames,
                 "frames to a group without a table entry seen by the control plane"),
    IPOP_COUNTER(MulticastCounters, groups_refused, "groups not sent to (group limit)"),
    IPOP_COUNTER(MulticastCounters, groups_idle, "groups dropped from the table after idling"),
    IPOP_COUNTER(MulticastCounters, polls, "member lookups of the groups sent to"),
    IPOP_COUNTER(MulticastCounters, poll_failures, "member lookups that failed"),
    IPOP_COUNTER(MulticastCounters, members_cut,
                 "members left out of a group entry (member limit)"),
    IPOP_COUNTER(MulticastCounters, members_learned,
                 "group members that were not peers yet, handed on to be learned"),
};
static_assert(CoversEveryField<MulticastCounters>(kMulticastCounterDescs));

// What `ipopctl multicast` shows (mgmt/render_multicast.h).
struct MulticastView {
  struct Joined {
    uint32_t group = 0;
    uint32_t published_vip = 0;  // the value the DHT holds for us (0: none)
    bool expires = false;        // false: the broadcast group, or no querier
    uint64_t expires_in_ns = 0;
  };
  struct Member {
    uint32_t vip = 0;
    bool peer = false;  // already a peer; else being learned
  };
  struct Sending {
    uint32_t group = 0;
    bool polled = false;  // false: the first member lookup has not answered yet
    std::vector<Member> members;
    size_t in_table = 0;  // members the group's table entry holds
    uint64_t frames = 0;
  };
  uint32_t querier_ip = 0;  // network.service-ip; 0: no querier
  uint64_t queries_sent = 0;
  std::vector<Joined> joined;    // by group
  std::vector<Sending> sending;  // by group
};

class MulticastGroups {
 public:
  // Learn a member VIP as a peer (ControlPlane::OnArpMiss: directory lookup + HELLO).
  using LearnFn = std::function<void(uint32_t vip)>;
  // Frames sent so far to the group entry with this counter (GroupFramesSent).
  using TrafficFn = std::function<uint64_t(uint32_t counter)>;

  // `directory` may be null (no overlay): local membership is tracked, nothing is published.
  MulticastGroups(const MulticastOptions& options, Clock& clock, Port& port,
                  std::unique_ptr<GroupDirectory> directory);

  void SetLearnHandler(LearnFn fn) { learn_ = std::move(fn); }
  void SetTrafficSource(TrafficFn fn) { traffic_ = std::move(fn); }

  // A frame punted from the TAP: IGMP, or a frame to a group the table has no entry for. false
  // if it is neither (ARP, DHCP, DNS: someone else's).
  bool OnTapFrame(std::span<const uint8_t> frame);
  void Tick();

  // Adds the group entries to `spec` and takes the node's VIP, subnet, gateway MAC and service
  // address from it. Call with every spec about to be published.
  void FillTable(shm::TableSpec* spec);
  // Changes whenever FillTable would add something else for the same peers.
  uint64_t table_version() const { return table_version_; }

  std::vector<uint32_t> joined() const;  // ascending; always holds the broadcast group
  const MulticastCounters& counters() const { return counters_; }
  MulticastView View() const;

 private:
  struct Joined {
    uint64_t expires_ns = 0;  // 0: never (the broadcast group; no querier)
    uint64_t next_publish_ns = 0;
    bool in_flight = false;
    uint32_t published_vip = 0;  // the value the DHT holds for us (0: none)
  };
  struct Sending {
    uint16_t counter = 0;
    std::vector<uint32_t> members;  // ascending VIPs, never ours
    bool polled = false;
    bool in_flight = false;
    uint64_t next_poll_ns = 0;
    uint64_t last_traffic_ns = 0;
    uint64_t frames = 0;  // GroupFramesSent at the last tick
  };

  void OnIgmp(const igmp::Message& m);
  void JoinLocal(uint32_t group);
  void LeaveLocal(uint32_t group, bool expired);
  void OnGroupFrame(uint32_t group);
  void SendQuery();
  void Publish(uint32_t group, Joined& j);
  void Poll(uint32_t group, Sending& s);
  void SetLocalVip(uint32_t vip);
  uint64_t membership_timeout_ns() const;

  MulticastOptions options_;
  Clock& clock_;
  Port& port_;
  std::unique_ptr<GroupDirectory> directory_;
  LearnFn learn_;
  TrafficFn traffic_;
  MulticastCounters counters_;
  std::map<uint32_t, Joined> joined_;
  std::map<uint32_t, Sending> sending_;
  uint64_t table_version_ = 1;
  uint64_t next_query_ns_ = 0;
  uint32_t queries_ = 0;
  // From the last table spec.
  uint32_t local_vip_ = 0;
  uint32_t directed_broadcast_ = 0;
  uint32_t service_ip_ = 0;
  uint8_t gateway_mac_[6] = {};
  bool spec_seen_ = false;
  std::vector<uint32_t> peer_vips_;  // ascending VIPs of the spec's valid peers
};

}  // namespace ipop::cp
