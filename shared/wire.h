// IPOP underlay wire format, version 1 (docs/wire-format.md is the normative description).
//
//   0       1       2       3       4               8                              16
//   +-------+-------+-------+-------+---------------+-------------------------------+
//   |ver|typ| flags | hops  | rsvd  | receiver idx  | counter (64-bit, big endian)  |
//   +-------+-------+-------+-------+---------------+-------------------------------+
//   | DATA: sealed inner IPv4 packet ...                          | 16-byte AEAD tag |
//   | CONTROL / HANDSHAKE: plain control-plane message (punted to the control plane) |
//
// The 16 header bytes are the AEAD associated data of a DATA packet except `hops`, which relays
// (a later overlay issue) decrement without re-sealing; it is zeroed in the AAD copy.
// The counter is the AEAD nonce (IV = 4-byte session salt || counter) and the replay-window index.
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
inline constexpr size_t kMaxDatagram = 65507;  // largest UDP payload over IPv4

enum class PacketType : uint8_t {
  kData = 1,       // sealed inner packet for a session (receiver_index names it)
  kControl = 2,    // control-plane message, punted unopened
  kHandshake = 3,  // session set-up message, punted unopened
};

// Why a datagram was rejected by Parse(); each maps to a named dataplane drop counter.
enum class ParseError : uint8_t {
  kNone = 0,
  kTooShort,     // shorter than the header (or header + tag for DATA)
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
  uint32_t receiver_index = 0;
  uint64_t counter = 0;
  std::span<const uint8_t> header;   // the 16 header bytes
  std::span<const uint8_t> payload;  // DATA: ciphertext without tag; others: message body
  std::span<const uint8_t> tag;      // DATA only: the 16-byte tag; empty otherwise
};

// Parses `datagram` into `out`. Never reads outside the span.
inline ParseError Parse(std::span<const uint8_t> datagram, PacketView& out) {
  if (datagram.size() < kHeaderSize) [[unlikely]]
    return ParseError::kTooShort;
  const uint8_t* p = datagram.data();
  if ((p[0] >> 4) != kVersion) [[unlikely]]
    return ParseError::kBadVersion;
  const uint8_t type = p[0] & 0x0f;
  if (type < uint8_t(PacketType::kData) || type > uint8_t(PacketType::kHandshake)) [[unlikely]]
    return ParseError::kBadType;
  if (p[3] != 0) [[unlikely]]
    return ParseError::kBadReserved;
  out.type = PacketType(type);
  out.flags = p[1];
  out.hops = p[2];
  out.receiver_index = LoadBe32(p + 4);
  out.counter = LoadBe64(p + 8);
  out.header = datagram.first(kHeaderSize);
  if (out.type == PacketType::kData) {
    if (datagram.size() < kHeaderSize + kTagSize) [[unlikely]]
      return ParseError::kTooShort;
    out.payload = datagram.subspan(kHeaderSize, datagram.size() - kHeaderSize - kTagSize);
    out.tag = datagram.last(kTagSize);
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

// The associated data of a DATA packet: the header with the mutable hop byte zeroed.
inline void AadOf(const uint8_t* header, uint8_t aad[kHeaderSize]) {
  std::memcpy(aad, header, kHeaderSize);
  aad[2] = 0;
}

}  // namespace ipop::wire
