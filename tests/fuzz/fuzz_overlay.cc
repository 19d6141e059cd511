// Fuzzes the overlay codec and the OverlayNode state machine behind it.
//
// Input: records [op][len:2 little endian][bytes]:
//   op % 4 == 0: datagram from endpoint (first byte % 8), rest = datagram bytes
//   op % 4 == 1: advance the clock by (first two bytes, little endian) x 10 ms, then Tick
//   op % 4 == 2: originate a routed message: mode (byte 0 % 3 + 1), key = next 20 bytes
//   op % 4 == 3: the node moves to another endpoint
// Each datagram is also parsed directly; an accepted one must re-encode to the same bytes. After
// every step the node's state machine is checked (fuzz_overlay_checks.h): no link to itself, valid
// roles with near exactly where the ring puts it, a full table refuses unknown requesters (the
// limits are small here so inputs reach them), a datagram from X adds or moves X's link only and
// nothing when it does not parse, a tick adds no link, originating or moving changes no link.
#include <cstdint>
#include <cstring>
#include <vector>

#include "controlplane/overlay/messages.h"
#include "controlplane/overlay/overlay_node.h"
#include "tests/fuzz/fuzz_overlay_checks.h"
#include "tests/unit/cp_fakes.h"

namespace {

using namespace ipop::cp::overlay;
using ipop::cp::testing::Ep4;
using ipop::cp::testing::FakeClock;
using ipop::cp::testing::FakeRandom;
using ipop::cp::testing::Ip;

class NullTransport final : public OverlayTransport {
 public:
  bool Send(const ipop::Endpoint&, const RingAddress&, std::span<const uint8_t> d) override {
    MessageView m;
    if (ParseMessage(d, &m) != MsgError::kNone) __builtin_trap();  // we only emit valid messages
    return true;
  }
};

void CheckReencode(std::span<const uint8_t> d) {
  MessageView m;
  if (ParseMessage(d, &m) != MsgError::kNone) return;
  uint8_t out[kMaxOverlayDatagram];
  size_t n = 0;
  switch (m.type) {
    case MsgType::kLinkRequest:
      n = EncodeLinkRequest(m.sender, m.link_request, out);
      break;
    case MsgType::kLinkAccept:
      n = EncodeLinkAccept(m.sender, m.link_accept, out);
      break;
    case MsgType::kKeepalive:
      n = EncodeKeepalive(m.sender, m.keepalive, out);
      break;
    case MsgType::kLinkClose:
      n = EncodeLinkClose(m.sender, m.link_close, out);
      break;
    case MsgType::kNeighbours: {
      std::vector<NeighbourEntry> e;
      for (size_t i = 0; i < m.neighbours.count; ++i) e.push_back(m.neighbours.Entry(i));
      n = EncodeNeighbours(m.sender, m.neighbours.flags, e, out);
      break;
    }
    case MsgType::kRouted:
      n = EncodeRouted(m.sender, m.routed, out);
      break;
    case MsgType::kObserved:
      n = EncodeObserved(m.sender, m.observed, out);
      break;
  }
  if (n != d.size() || std::memcmp(out, d.data(), n) != 0) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FakeClock clock;
  FakeRandom random(1);
  NullTransport transport;
  OverlayOptions opt;
  opt.bootstrap = {Ep4(Ip(10, 0, 0, 1), 5800), Ep4(Ip(10, 0, 0, 2), 5800)};
  opt.max_links = 8;
  opt.max_leaf_links = 3;
  OverlayNode node(RingAddress::FromFraction(0.5), Ep4(Ip(10, 0, 0, 9), 5800), opt, clock, random,
                   transport);
  node.Start();
  size_t pos = 0;
  uint16_t port = 6000;
  while (pos + 3 <= size) {
    const uint8_t op = data[pos];
    size_t len = size_t(data[pos + 1]) | size_t(data[pos + 2]) << 8;
    pos += 3;
    if (len > size - pos) len = size - pos;
    const std::span<const uint8_t> rec(data + pos, len);
    pos += len;
    const ipop::fuzz::LinkSnapshot before = ipop::fuzz::SnapLinks(node);
    switch (op % 4) {
      case 0: {
        if (rec.empty()) break;
        CheckReencode(rec.subspan(1));
        const ipop::Endpoint from = Ep4(Ip(10, 0, 0, uint8_t(1 + rec[0] % 8)), 5800);
        node.OnDatagram(from, rec.subspan(1));
        ipop::fuzz::CheckDatagramEffect(before, ipop::fuzz::SnapLinks(node), from, rec.subspan(1),
                                        opt.max_links);
        break;
      }
      case 1: {
        const uint64_t ms = rec.size() >= 2 ? 10ull * (rec[0] | rec[1] << 8) : 1000;
        clock.AdvanceMs(ms);
        node.Tick();
        ipop::fuzz::CheckTickEffect(before, ipop::fuzz::SnapLinks(node));
        break;
      }
      case 2:
        if (rec.size() >= 21) {
          const RingAddress key =
              RingAddress::FromBytes(std::span<const uint8_t, 20>(rec.data() + 1, 20));
          node.SendRouted(key, DeliveryMode(rec[0] % 3 + 1), kFirstAppPayload, rec.subspan(21));
        }
        break;
      case 3:
        node.SetSelfEndpoint(Ep4(Ip(10, 0, 1, 9), port++));
        break;
    }
    if (op % 4 >= 2 && ipop::fuzz::SnapLinks(node) != before) __builtin_trap();
    ipop::fuzz::CheckOverlayNode(node, opt.near_per_side);
  }
  return 0;
}
