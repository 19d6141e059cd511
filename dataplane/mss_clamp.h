// TCP MSS clamping: the MSS option of a SYN or SYN-ACK crossing the overlay is lowered to
// what one overlay packet can carry (overlay MTU - 40), in both directions, so neither end
// sends segments that would only be answered with "fragmentation needed" - the classic fix for
// paths where ICMP is filtered. The checksum is updated incrementally (RFC 1624, eqn. 3), so it
// stays exactly as valid as it was.
#pragma once

#include <cstddef>
#include <cstdint>

#include "shared/ether.h"

namespace ipop::dp {

// Largest MSS an IPv4 packet of `mtu` bytes carries with minimal IPv4 and TCP headers.
inline constexpr uint16_t MssForMtu(uint32_t mtu) {
  return mtu > 40 ? uint16_t(mtu - 40 > 0xffff ? 0xffff : mtu - 40) : 0;
}

// The cheap test the stages run on every packet before calling ClampTcpMss: TCP with the SYN
// flag, the fixed TCP header within the packet.
inline bool IsTcpSyn(const uint8_t* ip, const ether::Ipv4View& v) {
  return v.protocol == 6 && v.total_length >= v.header_length + 20u &&
         (ip[v.header_length + 13] & 0x02) != 0;
}

// `ip`: an IPv4 packet of `ip_len` bytes (the caller checked the IPv4 header and total length).
// When it is an unfragmented TCP SYN whose MSS option exceeds `max_mss`, rewrites the option
// and the TCP checksum in place and returns true. Malformed options are left alone.
bool ClampTcpMss(uint8_t* ip, size_t ip_len, uint16_t max_mss);

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m') for one 16-bit word changing from `old_word` to
// `new_word`; all three in the same (wire) byte order as read with memcpy.
uint16_t ChecksumReplace16(uint16_t checksum, uint16_t old_word, uint16_t new_word);

}  // namespace ipop::dp
