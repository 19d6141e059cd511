// Overlay messages (docs/overlay.md), carried in wire CONTROL packets on the data port.
//
//   wire header (16 bytes): version 1, type CONTROL, every other field zero
//   body  off size
//          0    1  message type (0x20..0x25; HELLO of the static-peer protocol is 1)
//          1    1  overlay version (1)
//          2    2  reserved, zero
//          4   20  sender ring address (the previous hop for ROUTED)
//         24       type-specific fields, all integers big endian:
//   LINK_REQUEST  kind(1) rsvd(3) token(8) receiver address(20, zero = unknown)       = 56
//   LINK_ACCEPT   kind(1) status(1) rsvd(2) token(8) observed endpoint of requester(18) = 54
//   KEEPALIVE     flags(1: bit0 reply) rsvd(3) token(8)                                = 36
//   LINK_CLOSE    reason(1) rsvd(3)                                                    = 28
//   NEIGHBOURS    flags(1: bit0 reply wanted, bit1 is a reply) count(1, <= 16) rsvd(2)
//                 count x [address(20) endpoint(18)]                                   = 28+38n
//   ROUTED        mode(1) flags(1) hops(1) hop limit(1) loop id(8) source address(20)
//                 source endpoint(18) destination key(20) payload type(1) rsvd(1)
//                 payload length(2, <= 1200) payload                                   = 98+n
//   OBSERVED      rsvd(4) endpoint the receiver's datagrams come from, as we see it(18) = 46
// An endpoint is 16 address bytes (IPv6 or IPv4-mapped) then a 2-byte port.
// Parsing is a view over the caller's bytes; every length is checked, the datagram must be
// exactly as long as its fields say, and each rejection has a named reason.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "controlplane/overlay/address.h"
#include "shared/endpoint.h"
#include "shared/wire.h"

namespace ipop::cp::overlay {

enum class MsgType : uint8_t {
  kLinkRequest = 0x20,
  kLinkAccept = 0x21,
  kKeepalive = 0x22,
  kLinkClose = 0x23,
  kNeighbours = 0x24,
  kRouted = 0x25,
  // "Your datagrams reach me from this endpoint" (reflexive address discovery, docs/nat.md).
  kObserved = 0x26,
};
inline constexpr size_t kMsgTypeCount = 7;  // 0x20..0x26
inline constexpr uint8_t kOverlayVersion = 1;

enum class LinkKind : uint8_t { kLeaf = 1, kNear = 2, kFar = 3, kShortcut = 4 };
enum class AcceptStatus : uint8_t { kAccepted = 0, kRefusedFull = 1, kRefusedWrongAddress = 2 };
enum class CloseReason : uint8_t { kSurplus = 1, kShutdown = 2, kUnknownLink = 3 };
enum class DeliveryMode : uint8_t { kExact = 1, kNearest = 2, kBothNeighbours = 3 };

// ROUTED flags.
inline constexpr uint8_t kRoutedExcludeSource = 0x01;  // the source itself is never the result
inline constexpr uint8_t kRoutedLastHop = 0x02;        // both-neighbours copy: deliver, no routing
inline constexpr uint8_t kRoutedFlagsMask = 0x03;

// NEIGHBOURS flags.
inline constexpr uint8_t kNeighboursReplyWanted = 0x01;
inline constexpr uint8_t kNeighboursIsReply = 0x02;

inline constexpr size_t kCommonSize = 24;
inline constexpr size_t kEndpointSize = 18;
inline constexpr size_t kNeighbourEntrySize = RingAddress::kBytes + kEndpointSize;
inline constexpr size_t kMaxNeighbours = 16;
inline constexpr size_t kRoutedHeaderSize = 98;
inline constexpr size_t kMaxRoutedPayload = 1200;
inline constexpr size_t kMaxOverlayDatagram =
    wire::kHeaderSize + kRoutedHeaderSize + kMaxRoutedPayload;

enum class MsgError : uint8_t {
  kNone = 0,
  kTooShort,        // fewer bytes than the wire header + common header or the type's fixed part
  kBadHeader,       // not a version 1 CONTROL packet with zero header fields
  kBadType,         // not an overlay message type
  kBadVersion,      // overlay version not 1
  kBadReserved,     // a reserved field or undefined flag bit is set
  kBadKind,         // link kind, accept status, close reason or delivery mode out of range
  kBadCount,        // NEIGHBOURS count above kMaxNeighbours
  kPayloadTooBig,   // ROUTED payload length above kMaxRoutedPayload
  kBadHops,         // ROUTED hop count above its hop limit
  kLengthMismatch,  // datagram longer or shorter than its fields say
};
const char* MsgErrorName(MsgError e);
inline constexpr size_t kMsgErrorCount = size_t(MsgError::kLengthMismatch) + 1;

struct LinkRequest {
  LinkKind kind = LinkKind::kNear;
  uint64_t token = 0;
  RingAddress receiver;  // zero when the requester does not know it (bootstrap)
};
struct LinkAccept {
  LinkKind kind = LinkKind::kNear;
  AcceptStatus status = AcceptStatus::kAccepted;
  uint64_t token = 0;
  Endpoint observed;  // where the request came from, as the acceptor saw it
};
struct Keepalive {
  bool reply = false;
  uint64_t token = 0;
};
struct LinkClose {
  CloseReason reason = CloseReason::kSurplus;
};
struct Observed {
  Endpoint endpoint;  // the receiver's datagrams arrive from here (its public mapping)
};
struct NeighbourEntry {
  RingAddress address;
  Endpoint endpoint;
};
struct Neighbours {
  uint8_t flags = 0;
  size_t count = 0;
  std::span<const uint8_t> entries;  // count x kNeighbourEntrySize bytes
  NeighbourEntry Entry(size_t i) const;
};
struct Routed {
  DeliveryMode mode = DeliveryMode::kNearest;
  uint8_t flags = 0;
  uint8_t hops = 0;
  uint8_t hop_limit = 0;
  uint64_t loop_id = 0;
  RingAddress source;
  Endpoint source_endpoint;
  RingAddress key;
  uint8_t payload_type = 0;
  std::span<const uint8_t> payload;
};

// A parsed message; only the member named by `type` is meaningful.
struct MessageView {
  MsgType type = MsgType::kKeepalive;
  RingAddress sender;
  LinkRequest link_request;
  LinkAccept link_accept;
  Keepalive keepalive;
  LinkClose link_close;
  Neighbours neighbours;
  Routed routed;
  Observed observed;
};

// True if `datagram` claims to be an overlay message (CONTROL packet, overlay type byte), so a
// receiver can tell it apart from HELLO before parsing.
bool LooksLikeOverlay(std::span<const uint8_t> datagram);
MsgError ParseMessage(std::span<const uint8_t> datagram, MessageView* out);

// Encoders write the whole datagram (wire header included) and return its size, or 0 if `out` is
// too small or a field is out of range.
size_t EncodeLinkRequest(const RingAddress& sender, const LinkRequest& m, std::span<uint8_t> out);
size_t EncodeLinkAccept(const RingAddress& sender, const LinkAccept& m, std::span<uint8_t> out);
size_t EncodeKeepalive(const RingAddress& sender, const Keepalive& m, std::span<uint8_t> out);
size_t EncodeLinkClose(const RingAddress& sender, const LinkClose& m, std::span<uint8_t> out);
size_t EncodeNeighbours(const RingAddress& sender, uint8_t flags,
                        std::span<const NeighbourEntry> entries, std::span<uint8_t> out);
size_t EncodeRouted(const RingAddress& sender, const Routed& m, std::span<uint8_t> out);
// Rewrites a parsed ROUTED datagram in place for the next hop: new sender, hop count and flags.
size_t EncodeObserved(const RingAddress& sender, const Observed& m, std::span<uint8_t> out);
void PatchRoutedForward(std::span<uint8_t> datagram, const RingAddress& sender, uint8_t hops,
                        uint8_t flags);

void StoreEndpoint(uint8_t* p, const Endpoint& e);
Endpoint LoadEndpoint(const uint8_t* p);

}  // namespace ipop::cp::overlay
