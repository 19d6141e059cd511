#include "controlplane/overlay/messages.h"

#include <cstring>

namespace ipop::cp::overlay {
namespace {

constexpr size_t kLinkRequestSize = kCommonSize + 32;
constexpr size_t kLinkAcceptSize = kCommonSize + 12 + kEndpointSize;
constexpr size_t kKeepaliveSize = kCommonSize + 12;
constexpr size_t kLinkCloseSize = kCommonSize + 4;
constexpr size_t kNeighboursFixed = kCommonSize + 4;
constexpr size_t kObservedSize = kCommonSize + 4 + kEndpointSize;

RingAddress LoadAddress(const uint8_t* p) {
  return RingAddress::FromBytes(
      std::span<const uint8_t, RingAddress::kBytes>(p, RingAddress::kBytes));
}
void StoreAddress(uint8_t* p, const RingAddress& a) {
  a.ToBytes(std::span<uint8_t, RingAddress::kBytes>(p, RingAddress::kBytes));
}

// Writes the wire header and common header; returns the body pointer or nullptr if out is short.
uint8_t* Begin(MsgType type, const RingAddress& sender, size_t body_size, std::span<uint8_t> out) {
  if (out.size() < wire::kHeaderSize + body_size) return nullptr;
  wire::WriteHeader(out.data(), wire::PacketType::kControl, 0, 0);
  uint8_t* b = out.data() + wire::kHeaderSize;
  std::memset(b, 0, body_size);
  b[0] = uint8_t(type);
  b[1] = kOverlayVersion;
  StoreAddress(b + 4, sender);
  return b;
}

bool ValidKind(uint8_t k) {
  return k >= 1 && k <= 4;
}
bool ValidMode(uint8_t m) {
  return m >= 1 && m <= 3;
}

}  // namespace

const char* MsgErrorName(MsgError e) {
  switch (e) {
    case MsgError::kNone:
      return "none";
    case MsgError::kTooShort:
      return "too_short";
    case MsgError::kBadHeader:
      return "bad_header";
    case MsgError::kBadType:
      return "bad_type";
    case MsgError::kBadVersion:
      return "bad_version";
    case MsgError::kBadReserved:
      return "bad_reserved";
    case MsgError::kBadKind:
      return "bad_kind";
    case MsgError::kBadCount:
      return "bad_count";
    case MsgError::kPayloadTooBig:
      return "payload_too_big";
    case MsgError::kBadHops:
      return "bad_hops";
    case MsgError::kLengthMismatch:
      return "length_mismatch";
  }
  return "unknown";
}

void StoreEndpoint(uint8_t* p, const Endpoint& e) {
  std::memcpy(p, e.addr, 16);
  p[16] = uint8_t(e.port >> 8);
  p[17] = uint8_t(e.port);
}
Endpoint LoadEndpoint(const uint8_t* p) {
  Endpoint e;
  std::memcpy(e.addr, p, 16);
  e.port = uint16_t((p[16] << 8) | p[17]);
  return e;
}
NeighbourEntry Neighbours::Entry(size_t i) const {
  NeighbourEntry n;
  if (i >= count || entries.size() < (i + 1) * kNeighbourEntrySize) return n;
  const uint8_t* p = entries.data() + i * kNeighbourEntrySize;
  n.address = LoadAddress(p);
  n.endpoint = LoadEndpoint(p + RingAddress::kBytes);
  return n;
}

bool LooksLikeOverlay(std::span<const uint8_t> d) {
  return d.size() > wire::kHeaderSize && (d[0] & 0x0f) == uint8_t(wire::PacketType::kControl) &&
         d[wire::kHeaderSize] >= uint8_t(MsgType::kLinkRequest) &&
         d[wire::kHeaderSize] <= uint8_t(MsgType::kObserved);
}

MsgError ParseMessage(std::span<const uint8_t> datagram, MessageView* out) {
  wire::PacketView pv;
  if (datagram.size() < wire::kHeaderSize + kCommonSize) return MsgError::kTooShort;
  if (wire::Parse(datagram, pv) != wire::ParseError::kNone ||
      pv.type != wire::PacketType::kControl || pv.flags != 0 || pv.hops != 0 ||
      pv.receiver_index != 0 || pv.counter != 0)
    return MsgError::kBadHeader;
  const std::span<const uint8_t> body = pv.payload;
  const uint8_t* b = body.data();
  if (b[0] < uint8_t(MsgType::kLinkRequest) || b[0] > uint8_t(MsgType::kObserved))
    return MsgError::kBadType;
  if (b[1] != kOverlayVersion) return MsgError::kBadVersion;
  if (b[2] != 0 || b[3] != 0) return MsgError::kBadReserved;
  MessageView m;
  m.type = MsgType(b[0]);
  m.sender = LoadAddress(b + 4);
  const uint8_t* f = b + kCommonSize;
  size_t expected = 0;
  switch (m.type) {
    case MsgType::kLinkRequest:
      if (body.size() < kLinkRequestSize) return MsgError::kTooShort;
      if (f[1] | f[2] | f[3]) return MsgError::kBadReserved;
      if (!ValidKind(f[0])) return MsgError::kBadKind;
      m.link_request.kind = LinkKind(f[0]);
      m.link_request.token = wire::LoadBe64(f + 4);
      m.link_request.receiver = LoadAddress(f + 12);
      expected = kLinkRequestSize;
      break;
    case MsgType::kLinkAccept:
      if (body.size() < kLinkAcceptSize) return MsgError::kTooShort;
      if (f[2] | f[3]) return MsgError::kBadReserved;
      if (!ValidKind(f[0]) || f[1] > uint8_t(AcceptStatus::kRefusedWrongAddress))
        return MsgError::kBadKind;
      m.link_accept.kind = LinkKind(f[0]);
      m.link_accept.status = AcceptStatus(f[1]);
      m.link_accept.token = wire::LoadBe64(f + 4);
      m.link_accept.observed = LoadEndpoint(f + 12);
      expected = kLinkAcceptSize;
      break;
    case MsgType::kKeepalive:
      if (body.size() < kKeepaliveSize) return MsgError::kTooShort;
      if ((f[0] & ~1u) | f[1] | f[2] | f[3]) return MsgError::kBadReserved;
      m.keepalive.reply = f[0] & 1;
      m.keepalive.token = wire::LoadBe64(f + 4);
      expected = kKeepaliveSize;
      break;
    case MsgType::kLinkClose:
      if (body.size() < kLinkCloseSize) return MsgError::kTooShort;
      if (f[1] | f[2] | f[3]) return MsgError::kBadReserved;
      if (f[0] < 1 || f[0] > uint8_t(CloseReason::kUnknownLink)) return MsgError::kBadKind;
      m.link_close.reason = CloseReason(f[0]);
      expected = kLinkCloseSize;
      break;
    case MsgType::kNeighbours:
      if (body.size() < kNeighboursFixed) return MsgError::kTooShort;
      if ((f[0] & ~3u) | f[2] | f[3]) return MsgError::kBadReserved;
      if (f[1] > kMaxNeighbours) return MsgError::kBadCount;
      m.neighbours.flags = f[0];
      m.neighbours.count = f[1];
      expected = kNeighboursFixed + m.neighbours.count * kNeighbourEntrySize;
      if (body.size() < expected) return MsgError::kTooShort;
      m.neighbours.entries =
          body.subspan(kNeighboursFixed, m.neighbours.count * kNeighbourEntrySize);
      break;
    case MsgType::kRouted: {
      if (body.size() < kRoutedHeaderSize) return MsgError::kTooShort;
      Routed& r = m.routed;
      if (f[1] & ~kRoutedFlagsMask) return MsgError::kBadReserved;
      if (f[71] != 0) return MsgError::kBadReserved;
      if (!ValidMode(f[0])) return MsgError::kBadKind;
      r.mode = DeliveryMode(f[0]);
      r.flags = f[1];
      r.hops = f[2];
      r.hop_limit = f[3];
      if (r.hops > r.hop_limit) return MsgError::kBadHops;
      r.loop_id = wire::LoadBe64(f + 4);
      r.source = LoadAddress(f + 12);
      r.source_endpoint = LoadEndpoint(f + 32);
      r.key = LoadAddress(f + 50);
      r.payload_type = f[70];
      const size_t len = size_t(f[72] << 8) | f[73];
      if (len > kMaxRoutedPayload) return MsgError::kPayloadTooBig;
      expected = kRoutedHeaderSize + len;
      if (body.size() < expected) return MsgError::kTooShort;
      r.payload = body.subspan(kRoutedHeaderSize, len);
      break;
    }
    case MsgType::kObserved:
      if (body.size() < kObservedSize) return MsgError::kTooShort;
      if (f[0] | f[1] | f[2] | f[3]) return MsgError::kBadReserved;
      m.observed.endpoint = LoadEndpoint(f + 4);
      expected = kObservedSize;
      break;
  }
  if (body.size() != expected) return MsgError::kLengthMismatch;
  *out = m;
  return MsgError::kNone;
}

size_t EncodeLinkRequest(const RingAddress& sender, const LinkRequest& m, std::span<uint8_t> out) {
  uint8_t* b = Begin(MsgType::kLinkRequest, sender, kLinkRequestSize, out);
  if (!b || !ValidKind(uint8_t(m.kind))) return 0;
  uint8_t* f = b + kCommonSize;
  f[0] = uint8_t(m.kind);
  wire::StoreBe64(f + 4, m.token);
  StoreAddress(f + 12, m.receiver);
  return wire::kHeaderSize + kLinkRequestSize;
}

size_t EncodeLinkAccept(const RingAddress& sender, const LinkAccept& m, std::span<uint8_t> out) {
  uint8_t* b = Begin(MsgType::kLinkAccept, sender, kLinkAcceptSize, out);
  if (!b || !ValidKind(uint8_t(m.kind))) return 0;
  uint8_t* f = b + kCommonSize;
  f[0] = uint8_t(m.kind);
  f[1] = uint8_t(m.status);
  wire::StoreBe64(f + 4, m.token);
  StoreEndpoint(f + 12, m.observed);
  return wire::kHeaderSize + kLinkAcceptSize;
}

size_t EncodeKeepalive(const RingAddress& sender, const Keepalive& m, std::span<uint8_t> out) {
  uint8_t* b = Begin(MsgType::kKeepalive, sender, kKeepaliveSize, out);
  if (!b) return 0;
  uint8_t* f = b + kCommonSize;
  f[0] = m.reply ? 1 : 0;
  wire::StoreBe64(f + 4, m.token);
  return wire::kHeaderSize + kKeepaliveSize;
}

size_t EncodeLinkClose(const RingAddress& sender, const LinkClose& m, std::span<uint8_t> out) {
  uint8_t* b = Begin(MsgType::kLinkClose, sender, kLinkCloseSize, out);
  if (!b) return 0;
  b[kCommonSize] = uint8_t(m.reason);
  return wire::kHeaderSize + kLinkCloseSize;
}

size_t EncodeNeighbours(const RingAddress& sender, uint8_t flags,
                        std::span<const NeighbourEntry> entries, std::span<uint8_t> out) {
  if (entries.size() > kMaxNeighbours || (flags & ~3u)) return 0;
  const size_t size = kNeighboursFixed + entries.size() * kNeighbourEntrySize;
  uint8_t* b = Begin(MsgType::kNeighbours, sender, size, out);
  if (!b) return 0;
  uint8_t* f = b + kCommonSize;
  f[0] = flags;
  f[1] = uint8_t(entries.size());
  uint8_t* p = f + 4;
  for (const NeighbourEntry& e : entries) {
    StoreAddress(p, e.address);
    StoreEndpoint(p + RingAddress::kBytes, e.endpoint);
    p += kNeighbourEntrySize;
  }
  return wire::kHeaderSize + size;
}

size_t EncodeRouted(const RingAddress& sender, const Routed& m, std::span<uint8_t> out) {
  if (m.payload.size() > kMaxRoutedPayload || m.hops > m.hop_limit ||
      (m.flags & ~kRoutedFlagsMask) || !ValidMode(uint8_t(m.mode)))
    return 0;
  const size_t size = kRoutedHeaderSize + m.payload.size();
  uint8_t* b = Begin(MsgType::kRouted, sender, size, out);
  if (!b) return 0;
  uint8_t* f = b + kCommonSize;
  f[0] = uint8_t(m.mode);
  f[1] = m.flags;
  f[2] = m.hops;
  f[3] = m.hop_limit;
  wire::StoreBe64(f + 4, m.loop_id);
  StoreAddress(f + 12, m.source);
  StoreEndpoint(f + 32, m.source_endpoint);
  StoreAddress(f + 50, m.key);
  f[70] = m.payload_type;
  f[72] = uint8_t(m.payload.size() >> 8);
  f[73] = uint8_t(m.payload.size());
  if (!m.payload.empty()) std::memcpy(f + 74, m.payload.data(), m.payload.size());
  return wire::kHeaderSize + size;
}

size_t EncodeObserved(const RingAddress& sender, const Observed& m, std::span<uint8_t> out) {
  uint8_t* b = Begin(MsgType::kObserved, sender, kObservedSize, out);
  if (!b) return 0;
  StoreEndpoint(b + kCommonSize + 4, m.endpoint);
  return wire::kHeaderSize + kObservedSize;
}

void PatchRoutedForward(std::span<uint8_t> datagram, const RingAddress& sender, uint8_t hops,
                        uint8_t flags) {
  if (datagram.size() < wire::kHeaderSize + kRoutedHeaderSize) return;
  uint8_t* b = datagram.data() + wire::kHeaderSize;
  StoreAddress(b + 4, sender);
  b[kCommonSize + 1] = flags & kRoutedFlagsMask;
  b[kCommonSize + 2] = hops;
}

}  // namespace ipop::cp::overlay
