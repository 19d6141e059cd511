// ARP for IPv4 over Ethernet (RFC 826): parse a request punted from the TAP, build the reply.
//
//   Ethernet: dst[6] src[6] ethertype 0x0806
//   ARP:      htype 1 | ptype 0x0800 | hlen 6 | plen 4 | oper (1 request, 2 reply)
//             sender hw[6] sender ip[4] target hw[6] target ip[4]      (28 bytes)
// Frames may be longer than 42 bytes (Ethernet minimum-size padding); the tail is ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "shared/ether.h"

namespace ipop::arp {

inline constexpr size_t kEthHeaderSize = ether::kHeaderSize;
inline constexpr size_t kArpIpv4Size = 28;
inline constexpr size_t kFrameSize = kEthHeaderSize + kArpIpv4Size;  // 42
inline constexpr uint16_t kEtherTypeArp = ether::kTypeArp;
inline constexpr uint16_t kEtherTypeIpv4 = ether::kTypeIpv4;
inline constexpr uint16_t kOpRequest = 1;
inline constexpr uint16_t kOpReply = 2;

enum class ParseError : uint8_t {
  kNone = 0,
  kTooShort,     // shorter than Ethernet header + 28-byte ARP body
  kNotArp,       // ethertype is not ARP (VLAN tags are not expected on a TAP)
  kBadHardware,  // htype != Ethernet or hlen != 6
  kBadProtocol,  // ptype != IPv4 or plen != 4
  kNotRequest,   // a well-formed ARP packet that is not a request
};

// Values copied out of a length-checked frame; IPs in host byte order.
struct Request {
  uint8_t eth_src[6];
  uint8_t sender_mac[6];
  uint32_t sender_ip;
  uint8_t target_mac[6];
  uint32_t target_ip;
};

ParseError ParseRequest(std::span<const uint8_t> frame, Request* out);

// Writes the 42-byte reply saying "target_ip is at `mac`" to the requester. Returns the frame
// size, or 0 if `out` is smaller than kFrameSize.
size_t BuildReply(const Request& request, const uint8_t mac[6], std::span<uint8_t> out);

}  // namespace ipop::arp
