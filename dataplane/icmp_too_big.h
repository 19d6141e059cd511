// ICMPv4 "fragmentation needed and DF set" (type 3 code 4, RFC 792) with the next-hop MTU of
// RFC 1191, built as an Ethernet frame for the TAP. The dataplane never fragments, so a packet
// larger than the overlay MTU gets one of these instead of vanishing: the sender's stack lowers
// its path MTU and retransmits smaller (TCP) or reports EMSGSIZE (ping -M do, UDP with DF).
// Pure functions: no clock, no I/O; the caller rate-limits with a TokenBucket.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "shared/ether.h"

namespace ipop::dp {

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kIcmpDestUnreachable = 3;
inline constexpr uint8_t kIcmpFragNeeded = 4;
inline constexpr size_t kIcmpHeaderSize = 8;
// RFC 792: the offending header (up to 60 bytes with options) and the first 8 bytes after it.
inline constexpr size_t kIcmpQuoteMax = 60 + 8;
inline constexpr size_t kIcmpTooBigMaxFrame =
    ether::kHeaderSize + ether::kIpv4MinHeader + kIcmpHeaderSize + kIcmpQuoteMax;

struct IcmpTooBigParams {
  uint8_t dst_mac[ether::kMacSize];  // the frame's sender (the TAP)
  uint8_t src_mac[ether::kMacSize];  // the gateway MAC the TAP expects overlay frames from
  uint32_t source = 0;               // host order: the address the offending packet was for
  uint16_t next_hop_mtu = 0;         // the overlay MTU
};

// True when `original` (an IPv4 packet, possibly cut short after its header) may be answered
// with an ICMP error at all (RFC 1122 3.2.2 / RFC 1812 4.3.2.7): not a non-initial fragment,
// not from a multicast, broadcast, zero or loopback source, not itself an ICMP error.
bool MayAnswerWithIcmpError(std::span<const uint8_t> original);

// Writes the Ethernet frame answering `original` to `out` and returns its length; 0 when
// MayAnswerWithIcmpError says no, the header is malformed, or `out_capacity` is too small
// (kIcmpTooBigMaxFrame always suffices). `out` may overlap `original`: the quote is copied first.
size_t BuildIcmpTooBig(std::span<const uint8_t> original, const IcmpTooBigParams& params,
                       uint8_t* out, size_t out_capacity);

}  // namespace ipop::dp
