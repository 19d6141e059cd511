// Fuzzes the last inbound stage, DeliverInner, and the TCP MSS clamp it applies, on bursts of
// decrypted inner packets (what OpenDatagrams hands on), against references written from the
// RFCs (fuzz_dp_reference.h):
//   - a packet is delivered iff its IPv4 header is sound, its source is routed to the sending
//     peer by the fixed table below and there is room for the Ethernet header; otherwise it is
//     dropped with the named reason, counted, and left byte for byte as it was;
//   - a delivered frame is the IPv4 packet (trimmed to its total length) behind an Ethernet
//     header from the gateway MAC to the TAP MAC, a group MAC (multicast) or broadcast;
//   - MSS clamping: a SYN's first MSS option above mtu - 40 becomes exactly mtu - 40 and the TCP
//     checksum verifies as before; nothing else changes, in any packet;
//   - delivered packets are compacted to the front in order; rx and mss_clamped counters add up.
// ClampTcpMss is also run alone on every record that holds a sound IPv4 header.
//
// Input: mtu (2 bytes, big endian: 0 = no clamping, else folded into 576..9000), then records
// [ctl][len: 2, big endian][inner packet]: ctl & 3 picks the sending peer (0: the one the source
// is routed to, k: peer k - 1), ctl & 4 leaves only 13 bytes of headroom.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "dataplane/inbound.h"
#include "dataplane/mss_clamp.h"
#include "tests/fuzz/fuzz_dp_reference.h"

namespace {

using namespace ipop;
using fuzz::Require;

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

// This node 10.77.0.1/24; peer 0 holds 10.77.0.2, peer 1 the prefix 10.78.0.0/16, peer 2 (not
// valid) 10.79.0.0/24.
constexpr uint32_t kLocal = Ip(10, 77, 0, 1);
constexpr uint32_t kDirectedBroadcast = Ip(10, 77, 0, 255);
constexpr uint8_t kGateway[6] = {0x02, 0x49, 0x50, 1, 2, 3};
constexpr uint8_t kTapMac[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
constexpr uint32_t kPeers = 3;
constexpr uint32_t kNone = ~0u;

const shm::Generation& Table() {
  static const shm::Generation* const g = [] {
    std::vector<shm::PeerEntry> peers(kPeers);
    peers[0].flags = peers[1].flags = shm::kPeerValid;
    peers[0].vip = Ip(10, 77, 0, 2);
    peers[1].vip = Ip(10, 78, 0, 1);
    peers[2].vip = Ip(10, 79, 0, 1);
    return fuzz::BuildGeneration(
        peers, {{Ip(10, 77, 0, 2), 32, 0}, {Ip(10, 78, 0, 0), 16, 1}, {Ip(10, 79, 0, 0), 24, 2}},
        kLocal, 24, 1400, kGateway);
  }();
  return *g;
}

uint32_t PeerOf(uint32_t src) {
  if (src == Ip(10, 77, 0, 2)) return 0;
  if ((src >> 16) == (Ip(10, 78, 0, 0) >> 16)) return 1;
  return kNone;  // 10.79.0.0/24 routes to a peer that is not valid
}

void ExpectedDstMac(uint32_t dst, uint8_t mac[6]) {
  if ((dst >> 28) == 0xe) {  // RFC 1112 6.4: 01:00:5e + the low 23 bits of the group
    const uint8_t m[6] = {0x01,        0x00, 0x5e, uint8_t((dst >> 16) & 0x7f), uint8_t(dst >> 8),
                          uint8_t(dst)};
    std::memcpy(mac, m, 6);
  } else if (dst == 0xffffffffu || dst == kDirectedBroadcast) {
    std::memset(mac, 0xff, 6);
  } else {
    std::memcpy(mac, kTapMac, 6);
  }
}

struct Record {
  std::vector<uint8_t> original;  // the inner packet as received
  std::unique_ptr<uint8_t[]> buf;
  uint32_t headroom = 0;
  dp::Packet p;
};

constexpr uint32_t kTailroom = 16;

uint32_t FoldMtu(uint32_t raw) {
  if (raw == 0) return 0;
  return raw >= 576 && raw <= 9000 ? raw : 576 + raw % (9000 - 576 + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint32_t mtu = FoldMtu(fuzz::Be16(data));
  const uint16_t limit = dp::MssForMtu(mtu);

  std::vector<Record> recs;
  for (size_t pos = 2; pos + 3 <= size && recs.size() < 64;) {
    const uint8_t ctl = data[pos];
    const size_t len = std::min<size_t>(fuzz::Be16(data + pos + 1), size - pos - 3);
    const uint8_t* bytes = data + pos + 3;
    pos += 3 + len;
    Record& r = recs.emplace_back();
    r.original.assign(bytes, bytes + len);
    r.headroom = (ctl & 4) ? 13 : dp::kIpOffset;
    // Exactly the room the descriptor states: ASan reports any access outside it.
    r.buf = std::make_unique<uint8_t[]>(r.headroom + len + kTailroom);
    if (len) std::memcpy(r.buf.get() + r.headroom, bytes, len);
    r.p.data = r.buf.get() + r.headroom;
    r.p.len = uint32_t(len);
    r.p.headroom = r.headroom;
    r.p.tailroom = kTailroom;
    const std::optional<fuzz::Ipv4Ref> ip = fuzz::ParseIpv4Ref(bytes, len);
    const uint32_t routed = ip ? PeerOf(ip->src) : kNone;
    r.p.peer = (ctl & 3) == 0 ? (routed == kNone ? 0 : routed) : uint32_t((ctl & 3) - 1);

    // The clamp on its own: the caller has checked the IPv4 header and trims to total length.
    if (ip) {
      std::vector<uint8_t> copy(bytes, bytes + ip->total);
      const bool changed = dp::ClampTcpMss(copy.data(), copy.size(), limit);
      Require(changed == fuzz::CheckClamp(bytes, copy.data(), ip->total, limit, true));
    }
  }
  if (recs.empty()) return 0;

  auto counters = std::make_unique<shm::WorkerCounters>();
  std::vector<dp::Packet*> span;
  for (Record& r : recs) span.push_back(&r.p);
  dp::InboundContext ctx{&Table(), {}, nullptr, counters.get(), mtu};
  std::memcpy(ctx.tap_mac, kTapMac, 6);
  const size_t n = dp::DeliverInner(span, ctx);

  size_t delivered = 0, bad_ipv4 = 0, not_allowed = 0, clamped = 0;
  uint64_t rx_packets[kPeers] = {}, rx_bytes[kPeers] = {};
  for (Record& r : recs) {
    const dp::Packet& p = r.p;
    const std::vector<uint8_t>& in = r.original;
    uint8_t* const start = r.buf.get() + r.headroom;
    const std::optional<fuzz::Ipv4Ref> ip = fuzz::ParseIpv4Ref(in.data(), in.size());
    const bool allowed = ip && PeerOf(ip->src) == p.peer;
    if (!ip || !allowed || r.headroom < 14) {
      Require(p.verdict == dp::Verdict::kDrop);
      const bool reason_ipv4 = !ip || (allowed && r.headroom < 14);
      Require(p.drop == (reason_ipv4 ? DropReason::inner_bad_ipv4 : DropReason::src_not_allowed));
      ++(reason_ipv4 ? bad_ipv4 : not_allowed);
      Require(p.data == start && p.len == in.size());
      Require(std::memcmp(start, in.data(), in.size()) == 0);
      continue;
    }
    Require(p.verdict == dp::Verdict::kForward);
    Require(delivered < n && span[delivered] == &p);  // compacted, in order
    ++delivered;
    Require(p.data == start - 14 && p.len == 14 + ip->total);
    Require(p.headroom == r.headroom - 14 && p.tailroom == kTailroom + in.size() - ip->total);
    uint8_t dst_mac[6];
    ExpectedDstMac(ip->dst, dst_mac);
    Require(std::memcmp(p.data, dst_mac, 6) == 0 && std::memcmp(p.data + 6, kGateway, 6) == 0);
    Require(p.data[12] == 0x08 && p.data[13] == 0x00);
    // Bytes past the total length (padding) stay; the packet may only have its MSS clamped.
    Require(std::memcmp(start + ip->total, in.data() + ip->total, in.size() - ip->total) == 0);
    clamped += fuzz::CheckClamp(in.data(), start, ip->total, limit, mtu != 0);
    ++rx_packets[p.peer];
    rx_bytes[p.peer] += ip->total;
  }
  Require(delivered == n);
  Require(counters->drop[uint32_t(DropReason::inner_bad_ipv4)].load() == bad_ipv4);
  Require(counters->drop[uint32_t(DropReason::src_not_allowed)].load() == not_allowed);
  Require(counters->stat[uint32_t(Stat::mss_clamped)].load() == clamped);
  for (uint32_t i = 0; i < kPeers; ++i) {
    Require(counters->peer[i].rx_packets.load() == rx_packets[i]);
    Require(counters->peer[i].rx_bytes.load() == rx_bytes[i]);
  }
  return 0;
}
