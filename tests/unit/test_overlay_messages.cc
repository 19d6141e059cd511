// Overlay codec: every message type round-trips, every truncation and every extension of a valid
// datagram is rejected with a named reason, and malformed fields are caught.
#include "controlplane/overlay/messages.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/unit/cp_fakes.h"

namespace ipop::cp::overlay {
namespace {

using Bytes = std::vector<uint8_t>;

RingAddress Addr(uint64_t seed) {
  testing::FakeRandom r(seed);
  return RingAddress::Random(r);
}

template <typename Fn>
Bytes Encode(Fn&& fn) {
  Bytes b(kMaxOverlayDatagram);
  const size_t n = fn(std::span<uint8_t>(b));
  b.resize(n);
  return b;
}

std::vector<Bytes> AllSamples() {
  const RingAddress s = Addr(1);
  const NeighbourEntry entries[] = {{Addr(2), testing::Ep4(testing::Ip(10, 0, 0, 2), 5800)},
                                    {Addr(3), testing::Ep4(testing::Ip(10, 0, 0, 3), 5801)}};
  const uint8_t payload[] = {1, 2, 3, 4, 5};
  Routed r;
  r.mode = DeliveryMode::kBothNeighbours;
  r.flags = kRoutedExcludeSource;
  r.hops = 3;
  r.hop_limit = 9;
  r.loop_id = 0x1122334455667788ull;
  r.source = Addr(4);
  r.source_endpoint = testing::Ep4(testing::Ip(10, 0, 0, 4), 5802);
  r.key = Addr(5);
  r.payload_type = 0x10;
  r.payload = payload;
  return {
      Encode([&](auto o) {
        return EncodeLinkRequest(s, {LinkKind::kFar, 42, Addr(9)}, o);
      }),
      Encode([&](auto o) {
        return EncodeLinkAccept(
            s, {LinkKind::kLeaf, AcceptStatus::kRefusedFull, 43, entries[0].endpoint}, o);
      }),
      Encode([&](auto o) {
        return EncodeKeepalive(s, {true, 44}, o);
      }),
      Encode([&](auto o) { return EncodeLinkClose(s, {CloseReason::kShutdown}, o); }),
      Encode([&](auto o) { return EncodeNeighbours(s, kNeighboursReplyWanted, entries, o); }),
      Encode([&](auto o) { return EncodeRouted(s, r, o); }),
  };
}

TEST(OverlayMessages, RoundTrip) {
  const auto samples = AllSamples();
  MessageView m;
  ASSERT_EQ(ParseMessage(samples[0], &m), MsgError::kNone);
  EXPECT_EQ(m.type, MsgType::kLinkRequest);
  EXPECT_EQ(m.sender, Addr(1));
  EXPECT_EQ(m.link_request.kind, LinkKind::kFar);
  EXPECT_EQ(m.link_request.token, 42u);
  EXPECT_EQ(m.link_request.receiver, Addr(9));

  ASSERT_EQ(ParseMessage(samples[1], &m), MsgError::kNone);
  EXPECT_EQ(m.link_accept.kind, LinkKind::kLeaf);
  EXPECT_EQ(m.link_accept.status, AcceptStatus::kRefusedFull);
  EXPECT_EQ(m.link_accept.token, 43u);
  EXPECT_TRUE(m.link_accept.observed == testing::Ep4(testing::Ip(10, 0, 0, 2), 5800));

  ASSERT_EQ(ParseMessage(samples[2], &m), MsgError::kNone);
  EXPECT_TRUE(m.keepalive.reply);
  EXPECT_EQ(m.keepalive.token, 44u);

  ASSERT_EQ(ParseMessage(samples[3], &m), MsgError::kNone);
  EXPECT_EQ(m.link_close.reason, CloseReason::kShutdown);

  ASSERT_EQ(ParseMessage(samples[4], &m), MsgError::kNone);
  EXPECT_EQ(m.neighbours.flags, kNeighboursReplyWanted);
  ASSERT_EQ(m.neighbours.count, 2u);
  EXPECT_EQ(m.neighbours.Entry(1).address, Addr(3));
  EXPECT_EQ(m.neighbours.Entry(1).endpoint.port, 5801);
  EXPECT_TRUE(m.neighbours.Entry(2).address.IsZero());  // out of range: empty, no read

  ASSERT_EQ(ParseMessage(samples[5], &m), MsgError::kNone);
  EXPECT_EQ(m.routed.mode, DeliveryMode::kBothNeighbours);
  EXPECT_EQ(m.routed.flags, kRoutedExcludeSource);
  EXPECT_EQ(m.routed.hops, 3);
  EXPECT_EQ(m.routed.hop_limit, 9);
  EXPECT_EQ(m.routed.loop_id, 0x1122334455667788ull);
  EXPECT_EQ(m.routed.source, Addr(4));
  EXPECT_EQ(m.routed.source_endpoint.port, 5802);
  EXPECT_EQ(m.routed.key, Addr(5));
  EXPECT_EQ(m.routed.payload_type, 0x10);
  EXPECT_EQ(Bytes(m.routed.payload.begin(), m.routed.payload.end()), (Bytes{1, 2, 3, 4, 5}));
  EXPECT_TRUE(LooksLikeOverlay(samples[5]));
}

TEST(OverlayMessages, EveryTruncationAndExtensionRejected) {
  for (const Bytes& full : AllSamples()) {
    for (size_t n = 0; n < full.size(); ++n) {
      MessageView m;
      const MsgError e = ParseMessage(std::span(full).first(n), &m);
      EXPECT_TRUE(e == MsgError::kTooShort || e == MsgError::kLengthMismatch)
          << "type " << int(full[16]) << " len " << n << " -> " << MsgErrorName(e);
    }
    Bytes longer = full;
    longer.push_back(0);
    MessageView m;
    EXPECT_EQ(ParseMessage(longer, &m), MsgError::kLengthMismatch);
  }
}

TEST(OverlayMessages, MalformedFields) {
  const auto samples = AllSamples();
  MessageView m;
  auto with = [](Bytes b, size_t off, uint8_t v) {
    b[off] = v;
    return b;
  };
  constexpr size_t kBody = wire::kHeaderSize, kF = kBody + kCommonSize;
  EXPECT_EQ(ParseMessage(with(samples[0], 1, 1), &m), MsgError::kBadHeader);     // wire flags
  EXPECT_EQ(ParseMessage(with(samples[0], 0, 0x13), &m), MsgError::kBadHeader);  // HANDSHAKE type
  EXPECT_EQ(ParseMessage(with(samples[0], kBody, 0x30), &m), MsgError::kBadType);
  EXPECT_EQ(ParseMessage(with(samples[0], kBody + 1, 2), &m), MsgError::kBadVersion);
  EXPECT_EQ(ParseMessage(with(samples[0], kBody + 2, 1), &m), MsgError::kBadReserved);
  EXPECT_EQ(ParseMessage(with(samples[0], kF, 9), &m), MsgError::kBadKind);
  EXPECT_EQ(ParseMessage(with(samples[1], kF + 1, 7), &m), MsgError::kBadKind);
  EXPECT_EQ(ParseMessage(with(samples[2], kF, 4), &m), MsgError::kBadReserved);
  EXPECT_EQ(ParseMessage(with(samples[3], kF, 0), &m), MsgError::kBadKind);
  EXPECT_EQ(ParseMessage(with(samples[4], kF + 1, 17), &m), MsgError::kBadCount);
  EXPECT_EQ(ParseMessage(with(samples[4], kF + 1, 3), &m), MsgError::kTooShort);
  EXPECT_EQ(ParseMessage(with(samples[5], kF, 4), &m), MsgError::kBadKind);
  EXPECT_EQ(ParseMessage(with(samples[5], kF + 1, 4), &m), MsgError::kBadReserved);
  EXPECT_EQ(ParseMessage(with(samples[5], kF + 2, 10), &m), MsgError::kBadHops);
  EXPECT_EQ(ParseMessage(with(samples[5], kF + 72, 0x05), &m), MsgError::kPayloadTooBig);
  EXPECT_EQ(ParseMessage(with(samples[5], kF + 73, 6), &m), MsgError::kTooShort);
  EXPECT_EQ(ParseMessage(with(samples[5], kF + 73, 4), &m), MsgError::kLengthMismatch);
}

TEST(OverlayMessages, EncodersRefuseBadInput) {
  uint8_t small[20];
  EXPECT_EQ(EncodeKeepalive(Addr(1), {}, small), 0u);
  uint8_t buf[kMaxOverlayDatagram];
  Routed r;
  r.hops = 2;
  r.hop_limit = 1;
  EXPECT_EQ(EncodeRouted(Addr(1), r, buf), 0u);
  std::vector<uint8_t> big(kMaxRoutedPayload + 1);
  r.hops = 0;
  r.payload = big;
  EXPECT_EQ(EncodeRouted(Addr(1), r, buf), 0u);
  std::vector<NeighbourEntry> many(kMaxNeighbours + 1);
  EXPECT_EQ(EncodeNeighbours(Addr(1), 0, many, buf), 0u);
}

TEST(OverlayMessages, PatchForward) {
  Bytes b = AllSamples()[5];
  PatchRoutedForward(b, Addr(77), 4, kRoutedExcludeSource | kRoutedLastHop);
  MessageView m;
  ASSERT_EQ(ParseMessage(b, &m), MsgError::kNone);
  EXPECT_EQ(m.sender, Addr(77));
  EXPECT_EQ(m.routed.hops, 4);
  EXPECT_EQ(m.routed.flags, kRoutedExcludeSource | kRoutedLastHop);
  EXPECT_EQ(m.routed.key, Addr(5));
}

}  // namespace
}  // namespace ipop::cp::overlay
