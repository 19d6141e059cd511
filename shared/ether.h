// Ethernet and IPv4 header views and checks used on both sides of the TAP: the dataplane's
// classify / inner-packet stages and the control plane's ARP responder. Views point into the
// caller's buffer; every accessor is bounds-checked by the parser that produced the view.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "shared/wire.h"

namespace ipop::ether {

inline constexpr size_t kMacSize = 6;
inline constexpr size_t kHeaderSize = 14;  // dst MAC, src MAC, ethertype (no VLAN tag)
inline constexpr uint16_t kTypeIpv4 = 0x0800;
inline constexpr uint16_t kTypeArp = 0x0806;
inline constexpr uint16_t kTypeIpv6 = 0x86dd;

inline constexpr size_t kIpv4MinHeader = 20;
inline constexpr uint8_t kBroadcastMac[kMacSize] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

using ipop::LoadBe16;
using ipop::StoreBe16;

struct EthernetView {
  const uint8_t* dst = nullptr;  // kMacSize bytes
  const uint8_t* src = nullptr;  // kMacSize bytes
  uint16_t type = 0;
  std::span<const uint8_t> payload;
};

// False when the frame is shorter than an Ethernet header.
inline bool ParseEthernet(std::span<const uint8_t> frame, EthernetView& out) {
  if (frame.size() < kHeaderSize) [[unlikely]]
    return false;
  out.dst = frame.data();
  out.src = frame.data() + kMacSize;
  out.type = LoadBe16(frame.data() + 2 * kMacSize);
  out.payload = frame.subspan(kHeaderSize);
  return true;
}

// Writes the 14 header bytes at `dst`.
inline void WriteEthernetHeader(uint8_t* dst, const uint8_t dst_mac[kMacSize],
                                const uint8_t src_mac[kMacSize], uint16_t type) {
  std::memcpy(dst, dst_mac, kMacSize);
  std::memcpy(dst + kMacSize, src_mac, kMacSize);
  StoreBe16(dst + 2 * kMacSize, type);
}

enum class Ipv4Error : uint8_t {
  kNone = 0,
  kTooShort,         // fewer bytes than a minimal IPv4 header
  kBadVersion,       // version nibble is not 4
  kBadHeaderLength,  // IHL < 5 or the options run past the buffer
  kBadTotalLength,   // total length smaller than the header or larger than the buffer
};

struct Ipv4View {
  uint32_t src = 0;  // host byte order
  uint32_t dst = 0;  // host byte order
  uint16_t total_length = 0;
  uint8_t header_length = 0;  // bytes
  uint8_t protocol = 0;
};

// Checks the structural fields of an IPv4 header at the start of `packet`. The buffer may hold
// trailing bytes after total_length (Ethernet padding); callers trim to total_length. The
// checksum is left to the receiving stack: tampering on the overlay is caught by the AEAD tag.
inline Ipv4Error ParseIpv4(std::span<const uint8_t> packet, Ipv4View& out) {
  if (packet.size() < kIpv4MinHeader) [[unlikely]]
    return Ipv4Error::kTooShort;
  const uint8_t* p = packet.data();
  if ((p[0] >> 4) != 4) [[unlikely]]
    return Ipv4Error::kBadVersion;
  const uint8_t header_length = uint8_t((p[0] & 0x0f) * 4);
  if (header_length < kIpv4MinHeader || header_length > packet.size()) [[unlikely]]
    return Ipv4Error::kBadHeaderLength;
  const uint16_t total_length = LoadBe16(p + 2);
  if (total_length < header_length || total_length > packet.size()) [[unlikely]]
    return Ipv4Error::kBadTotalLength;
  out.header_length = header_length;
  out.total_length = total_length;
  out.protocol = p[9];
  out.src = wire::LoadBe32(p + 12);
  out.dst = wire::LoadBe32(p + 16);
  return Ipv4Error::kNone;
}

// 224.0.0.0/4 (multicast) and 255.255.255.255 (limited broadcast); host byte order.
inline bool IsMulticastOrLimitedBroadcast(uint32_t addr) {
  return (addr >> 28) == 0xe || addr == 0xffffffffu;
}

// The directed broadcast address of `addr`/`prefix_len` (host order); 0 for /31 and /32, which
// have no broadcast address (RFC 3021).
inline uint32_t DirectedBroadcast(uint32_t addr, uint32_t prefix_len) {
  if (prefix_len >= 31) return 0;
  const uint32_t host_mask = prefix_len == 0 ? 0xffffffffu : (0xffffffffu >> prefix_len);
  return addr | host_mask;
}

// ARP for IPv4 over Ethernet (RFC 826): the only layout the ARP proxy answers.
inline constexpr size_t kArpIpv4Size = 28;
inline constexpr uint16_t kArpHwEthernet = 1;
inline constexpr uint16_t kArpOpRequest = 1;
inline constexpr uint16_t kArpOpReply = 2;

}  // namespace ipop::ether
