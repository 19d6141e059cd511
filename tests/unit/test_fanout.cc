// Multicast and broadcast on the dataplane: classify sends group frames to their table entry (or
// punts them), FanOutGroups makes one packet per member, the unicast stages seal them, and the
// receiving node delivers the frame to its TAP with the group's Ethernet address.
#include "dataplane/fanout.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/inbound.h"
#include "dataplane/outbound.h"
#include "shared/igmp.h"
#include "shared/token_bucket.h"
#include "tests/unit/dp_test_nodes.h"

namespace ipop::dp {
namespace {

using namespace ::ipop::dp::test_nodes;

constexpr uint32_t kVipA = Ip(10, 0, 0, 1);
constexpr uint32_t kVipB = Ip(10, 0, 0, 2);
constexpr uint32_t kVipC = Ip(10, 0, 0, 3);
constexpr uint32_t kVipD = Ip(10, 0, 0, 4);  // not tx-ready
constexpr uint32_t kGroup = Ip(239, 1, 2, 3);
constexpr uint32_t kEmptyGroup = Ip(239, 1, 2, 4);  // an entry with no members
constexpr uint32_t kUnknownGroup = Ip(239, 9, 9, 9);
constexpr uint32_t kMtu = 1400;
constexpr uint64_t kInstanceA = 0xa11ce;
constexpr uint64_t kInstanceB = 0xb0b;
constexpr uint32_t kIndexAtB = 7, kIndexAtC = 8;
constexpr uint8_t kTapMac[6] = {0x02, 0, 0, 0, 0, 0x0a};
constexpr uint8_t kGwMac[6] = {0x02, 0, 0, 0, 0xff, 0x0a};
const Key kKeyAB = MakeKey(0x10);
const Key kKeyAC = MakeKey(0x30);

shm::GroupEntry Entry(uint32_t group, uint16_t counter, std::vector<uint32_t> members) {
  shm::GroupEntry e{};
  e.group = group;
  e.counter = counter;
  for (uint32_t m : members) e.members[e.n_members++] = m;
  return e;
}

shm::TableSpec SpecA() {
  shm::TableSpec s = NodeSpec(kVipA, kMtu, kGwMac);
  s.peers = {Peer(kVipB, kReady, kIndexAtB, 100, kKeyAB, kInstanceA),
             Peer(kVipC, kReady, kIndexAtC, 101, kKeyAC, kInstanceA),
             Peer(kVipD, shm::kPeerValid, 0, 0, kKeyAB, kInstanceA)};
  s.routes = {{kVipB, 32, 0}, {kVipC, 32, 1}, {kVipD, 32, 2}};
  s.groups = {Entry(kGroup, 3, {0, 1, 2}), Entry(igmp::kBroadcastGroup, 5, {1, 0}),
              Entry(kEmptyGroup, 6, {})};
  return s;
}

shm::TableSpec SpecB() {
  shm::TableSpec s = NodeSpec(kVipB, kMtu, kGwMac);
  s.peers = {Peer(kVipA, kReady, 5, 200, kKeyAB, kInstanceB)};
  s.sessions = {Session(kIndexAtB, 0, 100, kKeyAB)};
  s.routes = {{kVipA, 32, 0}};
  return s;
}

Bytes Frame(uint32_t dst, size_t payload = 40, uint8_t protocol = 17) {
  Bytes ip = Ipv4Packet(kVipA, dst, payload);
  ip[9] = protocol;
  Bytes f(ether::kHeaderSize + ip.size());
  uint8_t dst_mac[6];
  igmp::GroupMac(dst, dst_mac);
  ether::WriteEthernetHeader(f.data(), dst_mac, kTapMac, ether::kTypeIpv4);
  std::copy(ip.begin(), ip.end(), f.begin() + ether::kHeaderSize);
  return f;
}

class FanOutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_.Publish(SpecA());
    b_.Publish(SpecB());
    for (uint32_t i = 0; i < 8; ++i) {
      mem_.push_back(std::make_unique<std::array<uint8_t, 2048>>());
      free_.push_back(CopyBuffer{100 + i, mem_.back()->data(), 2048});
    }
  }
  OutboundContext Ctx(TokenBucket* punts = nullptr) {
    return {a_.gen, kMtu, kInstanceA, &a_.crypto, a_.counters.get(), nullptr, punts};
  }
  // Classify + fan out + the unicast stages; the datagrams by destination peer.
  std::vector<Packet> Send(const std::vector<Bytes>& frames, size_t free_buffers = 8,
                           size_t capacity = 16) {
    batches_.push_back(std::make_unique<PacketBuffers>());
    PacketBuffers& bufs = *batches_.back();
    for (const Bytes& f : frames) bufs.Add(f);
    std::vector<Packet*> span = bufs.All();
    EXPECT_EQ(ClassifyTapFrames(span, Ctx()), 0u);
    std::vector<Packet*> group_frames;
    for (Packet* p : bufs.All())
      if (p->verdict == Verdict::kFanOut) group_frames.push_back(p);
    out_.assign(capacity, Packet{});
    const FanOutResult r =
        FanOutGroups(group_frames, Ctx(), {free_.data(), free_buffers}, out_.data(), capacity);
    used_ = r.buffers_used;
    std::vector<Packet*> pkts;
    for (size_t i = 0; i < r.packets; ++i) pkts.push_back(&out_[i]);
    size_t n = ResolveMemberPaths(pkts, Ctx());
    n = SealPackets(std::span(pkts).first(n), Ctx());
    n = WrapRelayed(std::span(pkts).first(n), Ctx());
    std::vector<Packet> sent;
    for (size_t i = 0; i < n; ++i) sent.push_back(*pkts[i]);
    return sent;
  }

  Node a_{"fanA"};
  Node b_{"fanB"};
  PacketBuffers bufs_;
  std::vector<std::unique_ptr<PacketBuffers>> batches_;
  std::vector<std::unique_ptr<std::array<uint8_t, 2048>>> mem_;
  std::vector<CopyBuffer> free_;
  std::vector<Packet> out_;
  size_t used_ = 0;
};

TEST_F(FanOutTest, ClassifySortsGroupFrames) {
  TokenBucket punts(1, 2);
  const std::vector<Bytes> frames = {Frame(kGroup),
                                     Frame(Ip(10, 0, 0, 255)),
                                     Frame(Ip(224, 0, 0, 22), 8, igmp::kProtocolIgmp),
                                     Frame(kUnknownGroup),
                                     Frame(kUnknownGroup),
                                     Frame(kUnknownGroup),
                                     Frame(kGroup, kMtu)};
  for (const Bytes& f : frames) bufs_.Add(f);
  std::vector<Packet*> span = bufs_.All();
  EXPECT_EQ(ClassifyTapFrames(span, Ctx(&punts)), 0u);
  const std::vector<Packet*> p = bufs_.All();
  EXPECT_EQ(p[0]->verdict, Verdict::kFanOut);
  EXPECT_EQ(p[0]->peer, 0u);  // entry index of kGroup
  EXPECT_EQ(p[1]->verdict, Verdict::kFanOut);
  EXPECT_EQ(p[1]->peer, 1u);                 // the subnet broadcast is the broadcast group
  EXPECT_EQ(p[2]->verdict, Verdict::kPunt);  // IGMP: the control plane's
  EXPECT_EQ(p[3]->verdict, Verdict::kPunt);  // unknown group: looked up, while tokens last
  EXPECT_EQ(p[4]->verdict, Verdict::kPunt);
  EXPECT_EQ(p[5]->verdict, Verdict::kDrop);
  EXPECT_EQ(p[5]->drop, DropReason::mcast_no_group);
  EXPECT_EQ(a_.stat(Stat::mcast_punted), 2u);
  EXPECT_EQ(p[6]->verdict, Verdict::kDrop);  // too big: no ICMP error about a group packet
  EXPECT_EQ(p[6]->drop, DropReason::too_big);
  EXPECT_EQ(a_.stat(Stat::icmp_too_big_sent), 0u);
}

TEST_F(FanOutTest, OneSealedCopyPerReadyMemberAndTheReceiverGetsTheGroupMac) {
  const Bytes frame = Frame(kGroup, 100);
  const std::vector<Packet> sent = Send({frame});
  ASSERT_EQ(sent.size(), 2u);  // B and C; D is not ready
  EXPECT_EQ(used_, 2u);        // B got the frame itself, C and D copies
  EXPECT_EQ(a_.drop(DropReason::peer_not_ready), 1u);
  EXPECT_EQ(sent[0].peer, 0u);
  EXPECT_EQ(sent[1].peer, 1u);
  EXPECT_EQ(wire::LoadBe32(sent[0].data + 4), kIndexAtB);
  EXPECT_EQ(wire::LoadBe32(sent[1].data + 4), kIndexAtC);
  EXPECT_NE(sent[0].data, sent[1].data);
  EXPECT_EQ(a_.stat(Stat::mcast_tx_frames), 1u);
  EXPECT_EQ(a_.stat(Stat::mcast_tx_copies), 3u);
  EXPECT_EQ(a_.counters->group[3].tx_frames.load(), 1u);
  EXPECT_EQ(a_.counters->group[3].tx_copies.load(), 3u);
  EXPECT_EQ(a_.counters->peer[0].tx_packets.load(), 1u);
  EXPECT_EQ(a_.counters->peer[1].tx_packets.load(), 1u);

  // B opens its copy: the inner packet, to the group's Ethernet address.
  PacketBuffers rx;
  rx.Add(Bytes(sent[0].data, sent[0].data + sent[0].len), kIpOffset - 16);
  std::vector<Packet*> span = rx.All();
  InboundContext ictx{b_.gen, {}, &b_.crypto, b_.counters.get()};
  std::memcpy(ictx.tap_mac, kTapMac, 6);
  ASSERT_EQ(RunInbound(span, ictx), 1u);
  const Bytes delivered(span[0]->data, span[0]->data + span[0]->len);
  const uint8_t group_mac[6] = {0x01, 0x00, 0x5e, 0x01, 0x02, 0x03};
  EXPECT_TRUE(std::equal(group_mac, group_mac + 6, delivered.begin()));
  EXPECT_TRUE(std::equal(frame.begin() + 14, frame.end(), delivered.begin() + 14));
}

TEST_F(FanOutTest, BroadcastIsDeliveredToTheBroadcastMac) {
  const std::vector<Packet> sent = Send({Frame(Ip(10, 0, 0, 255))});
  ASSERT_EQ(sent.size(), 2u);
  const Packet& to_b = sent[0].peer == 0 ? sent[0] : sent[1];
  PacketBuffers rx;
  rx.Add(Bytes(to_b.data, to_b.data + to_b.len), kIpOffset - 16);
  std::vector<Packet*> span = rx.All();
  InboundContext ictx{b_.gen, {}, &b_.crypto, b_.counters.get()};
  std::memcpy(ictx.tap_mac, kTapMac, 6);
  ASSERT_EQ(RunInbound(span, ictx), 1u);
  EXPECT_TRUE(std::equal(ether::kBroadcastMac, ether::kBroadcastMac + 6, span[0]->data));
}

TEST_F(FanOutTest, CopiesBeyondBuffersOrRoomAreCutAndCounted) {
  std::vector<Packet> sent = Send({Frame(kGroup)}, /*free_buffers=*/1);
  EXPECT_EQ(used_, 1u);
  EXPECT_EQ(sent.size(), 2u);  // B (the frame) and C (the one copy); D cut
  EXPECT_EQ(a_.drop(DropReason::mcast_fanout_cut), 1u);

  // No room at all: the whole frame is cut, one count per member.
  sent = Send({Frame(kGroup)}, 8, /*capacity=*/0);
  EXPECT_TRUE(sent.empty());
  EXPECT_EQ(a_.drop(DropReason::mcast_fanout_cut), 4u);
  EXPECT_EQ(batches_.back()->All().back()->verdict, Verdict::kDrop);
}

TEST_F(FanOutTest, EntryWithoutMembersOrBadIndexDropsAndStillCountsTheGroup) {
  EXPECT_TRUE(Send({Frame(kEmptyGroup)}).empty());
  EXPECT_EQ(a_.drop(DropReason::mcast_no_members), 1u);
  EXPECT_EQ(a_.counters->group[6].tx_frames.load(), 1u);  // the control plane sees the sender
  // An index past n_groups (a garbage generation) names no entry.
  Packet* p = bufs_.Add(Frame(kGroup));
  p->verdict = Verdict::kFanOut;
  p->peer = 40;
  Packet* frames[1] = {p};
  out_.assign(4, Packet{});
  EXPECT_EQ(FanOutGroups(frames, Ctx(), free_, out_.data(), 4).packets, 0u);
  EXPECT_EQ(a_.drop(DropReason::mcast_no_members), 2u);
  EXPECT_EQ(FanOutCopiesWanted(frames, Ctx()), 0u);
}

TEST_F(FanOutTest, CopiesWantedSizesTheBuffers) {
  Packet* a = bufs_.Add(Frame(kGroup));
  Packet* b = bufs_.Add(Frame(Ip(10, 0, 0, 255)));
  a->peer = 0;
  b->peer = 1;
  Packet* frames[2] = {a, b};
  EXPECT_EQ(FanOutCopiesWanted(frames, Ctx()), 2u + 1u);
}

TEST(GroupTable, WriterChecksEveryGroupEntryAndLookupFindsThem) {
  Node n("fanT");
  std::string err;
  const auto refused = [&](auto&& change) {
    shm::TableSpec s = SpecA();
    change(s);
    return !n.writer->Publish(s, &err);
  };
  EXPECT_TRUE(refused([](shm::TableSpec& s) { s.groups.push_back(Entry(kGroup, 9, {0})); }))
      << "duplicate group";
  EXPECT_TRUE(refused([](shm::TableSpec& s) { s.groups[0].counter = 5; })) << "counter taken";
  EXPECT_TRUE(refused([](shm::TableSpec& s) { s.groups[0].counter = shm::kMaxGroups; }));
  EXPECT_TRUE(refused([](shm::TableSpec& s) { s.groups[0].members[0] = 3; })) << "no such peer";
  EXPECT_TRUE(
      refused([](shm::TableSpec& s) { s.groups[0].n_members = shm::kMaxGroupMembers + 1; }));
  EXPECT_TRUE(refused([](shm::TableSpec& s) {
    s.groups.resize(shm::kMaxGroups + 1);
    for (uint32_t i = 0; i < s.groups.size(); ++i) s.groups[i] = Entry(i + 1, uint16_t(i), {});
  }));
  n.Publish(SpecA());
  EXPECT_EQ(n.gen->hdr.n_groups, 3u);
  EXPECT_EQ(shm::LookupGroup(*n.gen, kGroup), 0u);
  EXPECT_EQ(shm::LookupGroup(*n.gen, igmp::kBroadcastGroup), 1u);
  EXPECT_EQ(shm::LookupGroup(*n.gen, kUnknownGroup), shm::kNoGroup);
  EXPECT_TRUE(shm::ValidateGeneration(*n.gen, n.gen->hdr.seq));
}

}  // namespace
}  // namespace ipop::dp
