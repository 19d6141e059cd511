// MulticastGroups: local membership from IGMP frames Linux sent (test_igmp_captures.h), its
// publication in a fake directory, the querier, and the group entries a sender's table gets.
#include "controlplane/services/multicast_groups.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "controlplane/mgmt/render_multicast.h"
#include "controlplane/services/udp_frame.h"
#include "shared/byte_order.h"
#include "shared/checksum.h"
#include "shared/igmp.h"
#include "tests/unit/cp_fakes.h"
#include "tests/unit/test_igmp_captures.h"

namespace ipop::cp {
namespace {

using testing::FakeClock;
using testing::FakePort;
using testing::Ip;
namespace cap = igmp_captures;

constexpr uint32_t kGroup = Ip(239, 1, 2, 3);
constexpr uint32_t kMdns = Ip(224, 0, 0, 251);
constexpr uint32_t kVip = Ip(10, 99, 0, 1);  // the captures' host
constexpr uint32_t kService = Ip(10, 99, 0, 254);
constexpr uint32_t kBroadcast = igmp::kBroadcastGroup;
constexpr uint64_t kSecond = 1'000'000'000ull;

std::vector<uint8_t> Hex(const std::string& h) {
  std::vector<uint8_t> v;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    v.push_back(uint8_t(std::stoi(h.substr(i, 2), nullptr, 16)));
  return v;
}

// Answers later (Complete*), as the DHT does, and records every call.
class FakeDirectory final : public GroupDirectory {
 public:
  struct Call {
    std::string op;  // "join", "leave"
    uint32_t group;
    uint32_t vip;
    uint32_t ttl_ms;
  };
  void Join(uint32_t group, uint32_t vip, uint32_t ttl_ms, DoneFn done) override {
    calls.push_back({"join", group, vip, ttl_ms});
    pending_writes.push_back(std::move(done));
  }
  void Leave(uint32_t group, uint32_t vip, DoneFn done) override {
    calls.push_back({"leave", group, vip, 0});
    pending_writes.push_back(std::move(done));
  }
  void Members(uint32_t group, MembersFn done) override {
    ++gets[group];
    pending_gets.emplace_back(group, std::move(done));
  }
  void CompleteWrites(bool ok = true) {
    auto p = std::move(pending_writes);
    pending_writes.clear();
    for (auto& fn : p) fn(ok);
  }
  void CompleteGets(bool ok = true) {
    auto p = std::move(pending_gets);
    pending_gets.clear();
    for (auto& [group, fn] : p) fn(ok, members[group]);
  }
  std::vector<Call> Take() {
    std::vector<Call> c = std::move(calls);
    calls.clear();
    return c;
  }

  std::map<uint32_t, std::vector<uint32_t>> members;
  std::map<uint32_t, int> gets;
  std::vector<Call> calls;
  std::vector<DoneFn> pending_writes;
  std::vector<std::pair<uint32_t, MembersFn>> pending_gets;
};

shm::PeerEntry PeerWithVip(uint32_t vip) {
  shm::PeerEntry p{};
  p.flags = shm::kPeerValid;
  p.vip = vip;
  return p;
}

// A UDP datagram from the host to `dst`, as the dataplane punts it.
std::vector<uint8_t> DataFrame(uint32_t dst, uint16_t port = 5353) {
  const uint8_t host_mac[6] = {0x02, 0, 0, 0, 0, 1};
  uint8_t dst_mac[6];
  igmp::GroupMac(dst, dst_mac);
  std::vector<uint8_t> f(200);
  const uint8_t payload[4] = {1, 2, 3, 4};
  f.resize(udp::BuildFrame({host_mac, kVip, 40000}, {dst_mac, dst, port}, payload, f));
  return f;
}

class MulticastGroupsTest : public ::testing::Test {
 protected:
  MulticastGroupsTest() {
    auto dir = std::make_unique<FakeDirectory>();
    dir_ = dir.get();
    MulticastOptions o;
    o.network = "net";
    groups_ = std::make_unique<MulticastGroups>(o, clock_, port_, std::move(dir));
    groups_->SetLearnHandler([this](uint32_t vip) { learned_.push_back(vip); });
    groups_->SetTrafficSource([this](uint32_t c) { return frames_[c]; });
  }

  // The table spec the control plane would publish, after FillTable.
  shm::TableSpec Spec(uint32_t vip = kVip, std::vector<uint32_t> peers = {}) {
    shm::TableSpec s;
    s.local_vip = vip;
    s.local_prefix_len = 24;
    s.service_ip = kService;
    const uint8_t mac[6] = {0x02, 0x49, 0x50, 1, 2, 3};
    std::memcpy(s.gateway_mac, mac, 6);
    for (uint32_t p : peers) s.peers.push_back(PeerWithVip(p));
    groups_->FillTable(&s);
    return s;
  }
  void Feed(const char* hex) { EXPECT_TRUE(groups_->OnTapFrame(Hex(hex))); }
  void Advance(uint64_t ns) {
    clock_.now_ns += ns;
    groups_->Tick();
  }

  FakeClock clock_;
  FakePort port_;
  FakeDirectory* dir_ = nullptr;
  std::unique_ptr<MulticastGroups> groups_;
  std::vector<uint32_t> learned_;
  std::map<uint32_t, uint64_t> frames_;
};

TEST_F(MulticastGroupsTest, BroadcastGroupIsAlwaysJoinedAndPublishedOnceTheVipIsKnown) {
  EXPECT_EQ(groups_->joined(), std::vector<uint32_t>{kBroadcast});
  Advance(kSecond);
  EXPECT_TRUE(dir_->Take().empty()) << "no VIP yet: nothing to publish";
  Spec(kVip);
  Advance(1);
  const auto calls = dir_->Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].op, "join");
  EXPECT_EQ(calls[0].group, kBroadcast);
  EXPECT_EQ(calls[0].vip, kVip);
  EXPECT_EQ(calls[0].ttl_ms, 90'000u);
  dir_->CompleteWrites();
  EXPECT_EQ(groups_->counters().joins_published, 1u);
  // A leave of 224.0.0.1 (all hosts = the broadcast group) never takes us out of it.
  std::vector<uint8_t> leave = Hex(cap::kV2LeaveHex);
  StoreBe32(&leave[14 + 24 + 4], igmp::kAllHosts);
  leave[14 + 24 + 2] = leave[14 + 24 + 3] = 0;
  StoreChecksum(&leave[14 + 24 + 2], ChecksumAdd(0, &leave[14 + 24], 8));
  EXPECT_TRUE(groups_->OnTapFrame(leave));
  EXPECT_EQ(groups_->counters().igmp_leaves, 1u);
  EXPECT_EQ(groups_->joined(), std::vector<uint32_t>{kBroadcast});
  EXPECT_TRUE(dir_->Take().empty());
}

TEST_F(MulticastGroupsTest, ReportedGroupsArePublishedRefreshedAndRemovedOnLeave) {
  Spec(kVip);
  Feed(cap::kV3JoinHex);
  Feed(cap::kV2ReportHex);
  EXPECT_EQ(groups_->joined(), (std::vector<uint32_t>{kMdns, kGroup, kBroadcast}));
  Advance(1);
  auto calls = dir_->Take();
  ASSERT_EQ(calls.size(), 3u);
  for (const auto& c : calls) EXPECT_EQ(c.op, "join");
  dir_->CompleteWrites();
  EXPECT_EQ(groups_->counters().joins_published, 3u);

  Advance(29 * kSecond);
  EXPECT_TRUE(dir_->Take().empty());
  Feed(cap::kV3CurrentStateHex);  // the answer to a query keeps them
  Advance(kSecond + 1);
  calls = dir_->Take();
  // Refreshed after 30 s, and 232.1.1.1 (first seen in that report) published.
  ASSERT_EQ(calls.size(), 4u);
  dir_->CompleteWrites();

  Feed(cap::kV3LeaveHex);
  calls = dir_->Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].op, "leave");
  EXPECT_EQ(calls[0].group, kGroup);
  EXPECT_EQ(calls[0].vip, kVip);
  dir_->CompleteWrites();
  EXPECT_EQ(groups_->counters().leaves_published, 1u);
  Feed(cap::kV2LeaveHex);  // already gone: nothing more
  EXPECT_TRUE(dir_->Take().empty());
  EXPECT_EQ(groups_->counters().igmp_leaves, 1u);
  // 232.1.1.1 came in the current-state report (INCLUDE with a source).
  EXPECT_EQ(groups_->joined(), (std::vector<uint32_t>{kMdns, Ip(232, 1, 1, 1), kBroadcast}));
}

TEST_F(MulticastGroupsTest, AGroupLeftWhileItsJoinIsInFlightIsTakenBack) {
  Spec(kVip);
  Advance(1);
  dir_->CompleteWrites();
  dir_->Take();
  Feed(cap::kV3JoinHex);
  Advance(1);
  ASSERT_EQ(dir_->Take().size(), 1u);
  Feed(cap::kV3LeaveHex);
  EXPECT_TRUE(dir_->Take().empty()) << "nothing published yet, nothing to remove";
  dir_->CompleteWrites();  // the join lands after the leave
  const auto calls = dir_->Take();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].op, "leave");
  EXPECT_EQ(calls[0].group, kGroup);
}

TEST_F(MulticastGroupsTest, QuerierSendsGeneralQueriesAndUnreportedGroupsExpire) {
  Spec(kVip);
  Feed(cap::kV3JoinHex);
  Advance(1);
  dir_->CompleteWrites();
  dir_->Take();
  EXPECT_TRUE(port_.frames.empty());
  Advance(kSecond);
  ASSERT_EQ(port_.frames.size(), 1u);
  igmp::Message q;
  ASSERT_EQ(igmp::Parse(port_.frames[0], &q), igmp::ParseError::kNone);
  EXPECT_EQ(q.type, igmp::kTypeQuery);
  EXPECT_EQ(q.version, 3);
  EXPECT_EQ(q.query_group, 0u);
  EXPECT_EQ(q.src_ip, kService);
  EXPECT_EQ(q.max_resp_ds, 100u);
  Advance(15 * kSecond);  // second startup query a quarter interval later
  EXPECT_EQ(port_.frames.size(), 2u);
  Advance(59 * kSecond);
  EXPECT_EQ(port_.frames.size(), 2u);
  Advance(kSecond);
  EXPECT_EQ(port_.frames.size(), 3u);
  // The join was at t=0; no report since: gone after 2 x 60 s + 10 s.
  Advance(130 * kSecond - 76 * kSecond - 2);
  EXPECT_EQ(groups_->joined().size(), 2u);
  Advance(2);
  EXPECT_EQ(groups_->joined(), std::vector<uint32_t>{kBroadcast});
  EXPECT_EQ(groups_->counters().joins_expired, 1u);
  bool left = false;
  for (const auto& c : dir_->Take()) left |= c.op == "leave" && c.group == kGroup;
  EXPECT_TRUE(left);
}

TEST_F(MulticastGroupsTest, WithoutServiceAddressNoQueriesAndNoExpiry) {
  shm::TableSpec s;
  s.local_vip = kVip;
  s.local_prefix_len = 24;
  groups_->FillTable(&s);
  Feed(cap::kV3JoinHex);
  Advance(1000 * kSecond);
  EXPECT_TRUE(port_.frames.empty());
  EXPECT_EQ(groups_->joined().size(), 2u);
}

TEST_F(MulticastGroupsTest, AChangedVipMovesEveryMembership) {
  Spec(kVip);
  Feed(cap::kV3JoinHex);
  Advance(1);
  dir_->CompleteWrites();
  dir_->Take();
  Spec(Ip(10, 99, 0, 7));
  Advance(1);
  int leaves = 0, joins = 0;
  for (const auto& c : dir_->Take()) {
    if (c.op == "leave") {
      EXPECT_EQ(c.vip, kVip);
      ++leaves;
    } else {
      EXPECT_EQ(c.vip, Ip(10, 99, 0, 7));
      ++joins;
    }
  }
  EXPECT_EQ(leaves, 2);
  EXPECT_EQ(joins, 2);
}

TEST_F(MulticastGroupsTest, TooManyJoinedGroupsAreRefused) {
  Spec(kVip);
  std::vector<uint8_t> f = Hex(cap::kV2ReportHex);
  for (uint32_t i = 0; i < kMaxJoinedGroups + 5; ++i) {
    f[14 + 24 + 7] = uint8_t(i);  // 224.0.0.i: the checksum no longer matches, so fix it
    f[14 + 24 + 6] = 1;           // 224.0.1.i keeps clear of 224.0.0.1
    f[14 + 24 + 2] = f[14 + 24 + 3] = 0;
    StoreChecksum(&f[14 + 24 + 2], ChecksumAdd(0, &f[14 + 24], 8));
    EXPECT_TRUE(groups_->OnTapFrame(f));
  }
  EXPECT_EQ(groups_->joined().size(), kMaxJoinedGroups + 1);
  EXPECT_EQ(groups_->counters().joins_refused, 5u);
}

TEST_F(MulticastGroupsTest, MalformedIgmpIsCountedAndOtherFramesAreNotOurs) {
  std::vector<uint8_t> bad = Hex(cap::kV3JoinHex);
  bad.back() ^= 1;
  EXPECT_TRUE(groups_->OnTapFrame(bad));
  EXPECT_EQ(groups_->counters().igmp_malformed, 1u);
  EXPECT_FALSE(groups_->OnTapFrame(DataFrame(Ip(10, 99, 0, 2))));  // unicast
  EXPECT_FALSE(groups_->OnTapFrame(DataFrame(kBroadcast, 67)));    // DHCP: the server's
  std::vector<uint8_t> arp(42, 0);
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_FALSE(groups_->OnTapFrame(arp));
  EXPECT_EQ(groups_->counters().group_frames, 0u);
}

TEST_F(MulticastGroupsTest, SenderLooksMembersUpLearnsThemAndPublishesTheGroup) {
  const uint32_t b = Ip(10, 99, 0, 2), c = Ip(10, 99, 0, 3), d = Ip(10, 99, 0, 4);
  Spec(kVip, {b, d});
  const uint64_t v0 = groups_->table_version();
  EXPECT_TRUE(groups_->OnTapFrame(DataFrame(kGroup)));
  EXPECT_TRUE(groups_->OnTapFrame(DataFrame(kGroup)));
  Advance(1);
  EXPECT_EQ(dir_->gets[kGroup], 1);
  EXPECT_EQ(groups_->table_version(), v0) << "nothing to publish before the lookup answers";
  EXPECT_TRUE(Spec(kVip, {b, d}).groups.empty());

  dir_->members[kGroup] = {c, kVip, b, b};  // ourselves and a duplicate among them
  dir_->CompleteGets();
  EXPECT_GT(groups_->table_version(), v0);
  EXPECT_EQ(learned_, std::vector<uint32_t>{c}) << "b is a peer already";

  shm::TableSpec s = Spec(kVip, {b, d, c});  // c learned: now a peer (index 2)
  ASSERT_EQ(s.groups.size(), 1u);
  EXPECT_EQ(s.groups[0].group, kGroup);
  ASSERT_EQ(s.groups[0].n_members, 2u);
  EXPECT_EQ(s.groups[0].members[0], 0u);  // b
  EXPECT_EQ(s.groups[0].members[1], 2u);  // c; never d (not a member), never us
  const std::string text = RenderMulticast(groups_->View());
  EXPECT_TRUE(text.find("sending 239.1.2.3 members 2 in-table 2") != std::string::npos) << text;
}

TEST_F(MulticastGroupsTest, MembersAreReadAgainWhileFramesFlowAndAnIdleGroupLeaves) {
  const uint32_t b = Ip(10, 99, 0, 2), c = Ip(10, 99, 0, 3);
  Spec(kVip, {b, c});
  dir_->members[kGroup] = {b};
  groups_->OnTapFrame(DataFrame(kGroup));
  Advance(1);
  dir_->CompleteGets();
  ASSERT_EQ(Spec(kVip, {b, c}).groups.size(), 1u);
  const uint16_t counter = Spec(kVip, {b, c}).groups[0].counter;

  dir_->members[kGroup] = {b, c};  // c joined
  for (int i = 0; i < 5; ++i) {
    frames_[counter] += 10;  // the dataplane sends to the group
    Advance(kSecond);
  }
  EXPECT_EQ(dir_->gets[kGroup], 2) << "read again 5 s later";
  const uint64_t v = groups_->table_version();
  dir_->CompleteGets();
  EXPECT_GT(groups_->table_version(), v);
  EXPECT_EQ(Spec(kVip, {b, c}).groups[0].n_members, 2u);

  // No more frames: read a few more times, then gone after 30 s.
  for (int i = 0; i < 29; ++i) {
    Advance(kSecond);
    dir_->CompleteGets();
  }
  EXPECT_EQ(Spec(kVip, {b, c}).groups.size(), 1u);
  Advance(kSecond);
  EXPECT_TRUE(Spec(kVip, {b, c}).groups.empty());
  EXPECT_EQ(groups_->counters().groups_idle, 1u);
}

TEST_F(MulticastGroupsTest, BroadcastsMapToTheBroadcastGroup) {
  Spec(kVip);
  EXPECT_TRUE(groups_->OnTapFrame(DataFrame(Ip(10, 99, 0, 255))));  // the subnet's
  EXPECT_TRUE(groups_->OnTapFrame(DataFrame(kBroadcast)));
  EXPECT_TRUE(groups_->OnTapFrame(DataFrame(igmp::kAllHosts)));
  EXPECT_FALSE(groups_->OnTapFrame(DataFrame(Ip(10, 99, 1, 255))));  // another subnet's: unicast
  Advance(1);
  EXPECT_EQ(dir_->gets.size(), 1u);
  EXPECT_EQ(dir_->gets[kBroadcast], 1);
}

TEST_F(MulticastGroupsTest, GroupTableAndMemberListsAreBounded) {
  std::vector<uint32_t> peers;
  for (uint32_t i = 0; i < shm::kMaxGroupMembers + 10; ++i) peers.push_back(Ip(10, 99, 1, i));
  Spec(kVip, peers);
  dir_->members[kGroup] = peers;
  groups_->OnTapFrame(DataFrame(kGroup));
  Advance(1);
  dir_->CompleteGets();
  EXPECT_EQ(groups_->counters().members_cut, 1u);
  shm::TableSpec s = Spec(kVip, peers);
  ASSERT_EQ(s.groups.size(), 1u);
  EXPECT_EQ(s.groups[0].n_members, shm::kMaxGroupMembers);

  for (uint32_t i = 0; i < shm::kMaxGroups + 3; ++i)
    groups_->OnTapFrame(DataFrame(Ip(239, 9, 0, i)));
  EXPECT_EQ(groups_->counters().groups_refused, 4u);  // kGroup holds one of the slots
  Advance(1);
  dir_->CompleteGets();
  s = Spec(kVip, peers);
  EXPECT_EQ(s.groups.size(), shm::kMaxGroups);
  // The writer accepts what FillTable produced: distinct groups, distinct counters, valid peers.
  auto region_name = "/ipop-test-mcast-" + std::to_string(getpid());
  std::string err;
  shm::ShmRegion::Unlink(region_name);
  auto region = shm::ShmRegion::CreateOrAttach(region_name, 1, &err);
  ASSERT_TRUE(region) << err;
  shm::TableWriter writer(*region);
  EXPECT_TRUE(writer.Publish(s, &err)) << err;
  shm::ShmRegion::Unlink(region_name);
}

}  // namespace
}  // namespace ipop::cp
