// No overlay message makes a node a reflector: an endpoint that has not answered us (the source
// address of a datagram from an unlinked node, or an endpoint named in a message body) gets
// nothing larger than the message that named it, and nothing but a LINK_REQUEST. Lists and other
// large answers go to linked nodes only.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

#include "controlplane/overlay/messages.h"
#include "controlplane/overlay/overlay_node.h"
#include "tests/unit/cp_fakes.h"

namespace ipop::cp::overlay {
namespace {

using testing::Ep4;
using testing::FakeClock;
using testing::FakeRandom;

struct Sent {
  Endpoint to;
  RingAddress receiver;
  std::vector<uint8_t> bytes;
  MsgType type() const { return MsgType(bytes[wire::kHeaderSize]); }
};

class RecordingTransport final : public OverlayTransport {
 public:
  bool Send(const Endpoint& to, const RingAddress& receiver,
            std::span<const uint8_t> datagram) override {
    sent.push_back({to, receiver, {datagram.begin(), datagram.end()}});
    return true;
  }
  std::vector<Sent> sent;
};

RingAddress Addr(double fraction) {
  return RingAddress::FromFraction(fraction);
}

class AmplificationTest : public ::testing::Test {
 protected:
  AmplificationTest()
      : random_(5), node_(Addr(0.5), Ep4(0xac100001, 5800), {}, clock_, random_, t_) {
    node_.Start();
    // Neighbours on both sides, linked by their own (bound) requests: the node has a near list.
    for (int i = 1; i <= 4; ++i) {
      const RingAddress a = Addr(0.5 + (i % 2 ? 1 : -1) * 0.01 * i);
      uint8_t buf[kMaxOverlayDatagram];
      const size_t n = EncodeLinkRequest(a, {LinkKind::kNear, uint64_t(i), node_.address()}, buf);
      node_.OnDatagram(Ep4(0xac100010 + i, 5800), {buf, n});
    }
    EXPECT_EQ(node_.links().CountWithRole(kRoleNear), 4u);
    t_.sent.clear();
  }

  // Bytes the node sent to `to`, and whether all of them were LINK_REQUESTs.
  size_t BytesTo(const Endpoint& to, bool* only_requests = nullptr) const {
    size_t n = 0;
    bool only = true;
    for (const Sent& s : t_.sent) {
      if (!(s.to == to)) continue;
      n += s.bytes.size();
      only = only && s.type() == MsgType::kLinkRequest;
    }
    if (only_requests != nullptr) *only_requests = only;
    return n;
  }

  FakeClock clock_;
  FakeRandom random_;
  RecordingTransport t_;
  OverlayNode node_;
};

TEST_F(AmplificationTest, NeighboursFromAnUnlinkedSenderGetNoListBack) {
  const Endpoint victim = Ep4(0xc6336401, 5800);
  uint8_t buf[kMaxOverlayDatagram];
  // Asks for a reply, names nobody: the smallest message that could trigger our list.
  const size_t n = EncodeNeighbours(Addr(0.505), kNeighboursReplyWanted, {}, buf);
  node_.OnDatagram(victim, {buf, n});
  bool only_requests = false;
  EXPECT_LE(BytesTo(victim, &only_requests), n);
  EXPECT_TRUE(only_requests);
  // Once linked (its accept proved the endpoint), the same question is answered with the list.
  t_.sent.clear();
  const size_t r = EncodeLinkRequest(Addr(0.505), {LinkKind::kNear, 99, node_.address()}, buf);
  node_.OnDatagram(victim, {buf, r});
  t_.sent.clear();
  node_.OnDatagram(victim, {buf, EncodeNeighbours(Addr(0.505), kNeighboursReplyWanted, {}, buf)});
  ASSERT_FALSE(t_.sent.empty());
  EXPECT_EQ(t_.sent.back().type(), MsgType::kNeighbours);
}

TEST_F(AmplificationTest, EndpointsNamedInANeighbourListGetOneLinkRequestEach) {
  NeighbourEntry entries[kMaxNeighbours];
  for (size_t i = 0; i < kMaxNeighbours; ++i)
    entries[i] = {Addr(0.5 + 0.0001 * double(i + 1)), Ep4(0xc6336400 + uint32_t(i), 7000)};
  uint8_t buf[kMaxOverlayDatagram];
  const size_t n =
      EncodeNeighbours(node_.links().links().front().address, 0, {entries, kMaxNeighbours}, buf);
  for (int repeat = 0; repeat < 3; ++repeat)
    node_.OnDatagram(node_.links().links().front().endpoint, {buf, n});
  const size_t request_size =
      EncodeLinkRequest(entries[0].address, {LinkKind::kNear, 1, entries[0].address}, buf);
  ASSERT_LT(request_size, n);
  for (const NeighbourEntry& e : entries) {
    bool only_requests = false;
    const size_t bytes = BytesTo(e.endpoint, &only_requests);
    EXPECT_TRUE(only_requests);
    // One pending request per address, however often it is named.
    EXPECT_LE(bytes, request_size);
  }
}

TEST_F(AmplificationTest, AJoinGetsOnlyALinkRequestUntilTheJoinerAnswers) {
  const Endpoint joiner_ep = Ep4(0xc6336401, 5800);  // what the message claims
  const RingAddress joiner = node_.address() + Addr(0.0000001);
  uint8_t payload[12] = {uint8_t(LinkKind::kNear)};
  wire::StoreBe64(payload + 4, 777);
  Routed r;
  r.mode = DeliveryMode::kBothNeighbours;
  r.flags = kRoutedExcludeSource;
  r.hop_limit = 48;
  r.loop_id = 42;
  r.source = joiner;
  r.source_endpoint = joiner_ep;
  r.key = joiner;
  r.payload_type = kPayloadJoin;
  r.payload = payload;
  uint8_t buf[kMaxOverlayDatagram];
  const Link& prev = node_.links().links().front();
  const size_t n = EncodeRouted(prev.address, r, buf);
  node_.OnDatagram(prev.endpoint, {buf, n});
  bool only_requests = false;
  const size_t bytes = BytesTo(joiner_ep, &only_requests);
  EXPECT_GT(bytes, 0u);
  EXPECT_LE(bytes, n);
  EXPECT_TRUE(only_requests);
  // The joiner accepts: now it gets our near list.
  uint64_t token = 0;
  for (const Sent& s : t_.sent) {
    MessageView m;
    if (s.to == joiner_ep && ParseMessage(s.bytes, &m) == MsgError::kNone)
      token = m.link_request.token;
  }
  ASSERT_NE(token, 0u);
  t_.sent.clear();
  LinkAccept acc;
  acc.kind = LinkKind::kNear;
  acc.token = token;
  acc.observed = node_.endpoint();
  node_.OnDatagram(joiner_ep, {buf, EncodeLinkAccept(joiner, acc, buf)});
  bool list = false;
  for (const Sent& s : t_.sent)
    list = list || (s.to == joiner_ep && s.type() == MsgType::kNeighbours);
  EXPECT_TRUE(list);
}

TEST_F(AmplificationTest, AnswersToUnlinkedSendersAreNoLargerThanTheirRequests) {
  const Endpoint stranger = Ep4(0xc6336409, 5800);
  const RingAddress who = Addr(0.9);
  uint8_t buf[kMaxOverlayDatagram];
  std::vector<std::vector<uint8_t>> requests;
  auto add = [&](size_t n) { requests.emplace_back(buf, buf + n); };
  add(EncodeLinkRequest(who, {LinkKind::kFar, 1, node_.address()}, buf));
  add(EncodeLinkRequest(who, {LinkKind::kNear, 2, Addr(0.1)}, buf));  // names another node
  add(EncodeKeepalive(who, {false, 3}, buf));
  add(EncodeLinkClose(who, {CloseReason::kShutdown}, buf));
  LinkAccept acc;
  acc.token = 4;
  add(EncodeLinkAccept(who, acc, buf));
  for (const auto& req : requests) {
    t_.sent.clear();
    node_.OnDatagram(stranger, req);
    EXPECT_LE(BytesTo(stranger), req.size()) << "type " << int(req[wire::kHeaderSize]);
  }
}

}  // namespace
}  // namespace ipop::cp::overlay
