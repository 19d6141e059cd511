// IPOP underlay wire format, version 1 (docs/wire-format.md is the normative description).
//
//   0       1       2       3       4               8                              16
//   +-------+-------+-------+-------+---------------+-------------------------------+
//   |ver|typ| flags | hops  | rsvd  | receiver idx  | counter (64-bit, big endian)  |
//   +-------+-------+-------+-------+---------------+-------------------------------+
//   | DATA: sealed inner IPv4 packet ...                          | 16-byte AEAD tag |
//   | CONTROL / HANDSHAKE: plain control-plane message (punted to the control plane) |
//
// A RELAY datagram carries a whole DATA datagram to a node with no direct link, hop by hop
// through the dataplanes in between (greedy on the 160-bit overlay ring, see relay.h):
//
//   0       1       2       3       4                                              24
//   +-------+-------+-------+-------+----------------------------------------------+
//   |ver|typ| flags | hops  | rsvd  | destination ring address (160-bit, big end.) |
//   +-------+-------+-------+-------+----------------------------------------------+
//   | inner DATA datagram: 16-byte header, ciphertext, 16-byte tag (never re-sealed) |
//
// The 16 header bytes are the AEAD associated data of a DATA packet except `hops`, which is
// zeroed in the AAD copy. The counter is the AEAD nonce (IV = 4-byte session salt || counter)
// and the replay-window index. Relays count hops in the RELAY header, outside the sealed part.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

#include "shared/byte_order.h"

namespace ipop::wire {

inline constexpr uint8_t kVersion = 1;
inline constexpr size_t kHeaderSize = 16;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kMaxDatagram = 65507;   // largest UDP payload over IPv4
inline constexpr size_t kRingAddressSize = 20;  // overlay ring address: 160 bits, big endian
inline constexpr size_t kRelayHeaderSize = 4 + kRingAddressSize;
inline constexpr uint8_t kRelayHopLimit = 32;  // relays a datagram may cross

enum class PacketType : uint8_t {
  kData = 1,       // sealed inner packet for a session (receiver_index names it)
  kControl = 2,    // control-plane message, punted unopened
  kHandshake = 3,  // session set-up message, punted unopened
  kRelay = 4,      // relay header + a whole DATA datagram for another node (or for us)
};

// Why a datagram was rejected by Parse(); each maps to a named dataplane drop counter.
enum class ParseError : uint8_t {
  kNone = 0,
  kTooShort,     // shorter than the header (DATA: + tag; RELAY: + a minimal DATA datagram)
  kBadVersion,   // version nibble is not kVersion
  kBadType,      // unknown packet type
  kBadReserved,  // reserved byte not zero
};

using ipop::LoadBe32;
using ipop::LoadBe64;
using ipop::StoreBe32;
using ipop::StoreBe64;

// A parsed, length-checked view into a received datagram. Spans point into the caller's buffer.
struct PacketView {
  PacketType type{};
  uint8_t flags = 0;
  uint8_t hops = 0;
  uint32_t receiver_index = 0;         // 0 for RELAY
  uint64_t counter = 0;                // 0 for RELAY
  std::span<const uint8_t> header;     // the 16 header bytes (RELAY: the 24 relay header bytes)
  std::span<const uint8_t> payload;    // DATA: ciphertext without tag; RELAY: the inner datagram
                                       // (not yet checked to be DATA); others: message body
  std::span<const uint8_t> tag;        // DATA only: the 16-byte tag; empty otherwise
  std::span<const uint8_t> relay_dst;  // RELAY only: the 20-byte destination; empty otherwise
};

// Parses `datagram` into `out`. Never reads outside the span.
inline ParseError Parse(std::span<const uint8_t> datagram, PacketView& out) {
  if (datagram.size() < kHeaderSize) [[unlikely]]
    return ParseError::kTooShort;
  const uint8_t* p = datagram.data();
  if ((p[0] >> 4) != kVersion) [[unlikely]]
    return ParseError::kBadVersion;
  const uint8_t type = p[0] & 0x0f;
  if (type < uint8_t(PacketType::kData) || type > uint8_t(PacketType::kRelay)) [[unlikely]]
    return ParseError::kBadType;
  if (p[3] != 0) [[unlikely]]
    return ParseError::kBadReserved;
  out.type = PacketType(type);
  out.flags = p[1];
  out.hops = p[2];
  out.receiver_index = LoadBe32(p + 4);
  out.counter = LoadBe64(p + 8);
  out.header = datagram.first(kHeaderSize);
  out.relay_dst = {};
  if (out.type == PacketType::kData) [[likely]] {
    if (datagram.size() < kHeaderSize + kTagSize) [[unlikely]]
      return ParseError::kTooShort;
    out.payload = datagram.subspan(kHeaderSize, datagram.size() - kHeaderSize - kTagSize);
    out.tag = datagram.last(kTagSize);
  } else if (out.type == PacketType::kRelay) {
    if (datagram.size() < kRelayHeaderSize + kHeaderSize + kTagSize) [[unlikely]]
      return ParseError::kTooShort;
    out.receiver_index = 0;
    out.counter = 0;
    out.header = datagram.first(kRelayHeaderSize);
    out.relay_dst = datagram.subspan(4, kRingAddressSize);
    out.payload = datagram.subspan(kRelayHeaderSize);
    out.tag = {};
  } else {
    out.payload = datagram.subspan(kHeaderSize);
    out.tag = {};
  }
  return ParseError::kNone;
}

// Writes a header into `dst` (at least kHeaderSize bytes).
inline void WriteHeader(uint8_t* dst, PacketType type, uint32_t receiver_index, uint64_t counter,
                        uint8_t hops = 0, uint8_t flags = 0) {
  dst[0] = uint8_t((kVersion << 4) | uint8_t(type));
  dst[1] = flags;
  dst[2] = hops;
  dst[3] = 0;
  StoreBe32(dst + 4, receiver_index);
  StoreBe64(dst + 8, counter);
}

// Writes a RELAY header into `dst` (at least kRelayHeaderSize bytes) for destination `ring`.
inline void WriteRelayHeader(uint8_t* dst, const uint8_t ring[kRingAddressSize], uint8_t hops = 0) {
  dst[0] = uint8_t((kVersion << 4) | uint8_t(PacketType::kRelay));
  dst[1] = 0;
  dst[2] = hops;
  dst[3] = 0;
  std::memcpy(dst + 4, ring, kRingAddressSize);
}

// The associated data of a DATA packet: the header with the mutable hop byte zeroed.
inline void AadOf(const uint8_t* header, uint8_t aad[kHeaderSize]) {
  std::memcpy(aad, header, kHeaderSize);
  aad[2] = 0;
}

}  // namespace ipop::wire
