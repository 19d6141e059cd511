// Internet checksum (RFC 1071): the dataplane's offload stages (TCP segments cut from a TSO
// super-frame and coalesced super-frames) and the control plane's DHCP/DNS replies build headers
// with it.
//
// Sums are accumulated over raw memory in native byte order (RFC 1071 section 2(B): the sum is
// byte-order independent), so the folded result is stored back with memcpy, never with htons,
// and pseudo-header fields are added as the bytes they are on the wire.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace ipop {

// Adds `len` bytes at `p` to a running one's-complement sum (64-bit accumulator, fold later).
// `p` must start at an even offset of the checksummed range (every caller sums whole headers /
// payloads in order). 32-bit words are added into 64-bit accumulators, so no carry can be lost
// before 2^32 additions, and the independent accumulators let the compiler vectorise the loop.
inline uint64_t ChecksumAdd(uint64_t sum, const uint8_t* p, size_t len) {
  uint64_t acc[4] = {sum, 0, 0, 0};
  while (len >= 16) {
    uint32_t w[4];
    std::memcpy(w, p, sizeof(w));
    acc[0] += w[0];
    acc[1] += w[1];
    acc[2] += w[2];
    acc[3] += w[3];
    p += 16;
    len -= 16;
  }
  uint64_t total = 0;
  for (uint64_t a : acc) {  // fold each to 33 bits first so the sum cannot overflow
    a = (a & 0xffffffffu) + (a >> 32);
    total += a;
  }
  while (len >= 4) {
    uint32_t w;
    std::memcpy(&w, p, 4);
    total += w;
    p += 4;
    len -= 4;
  }
  if (len > 0) {
    uint32_t w = 0;
    std::memcpy(&w, p, len);  // little-endian: trailing bytes are the low-order words
    total += w;
  }
  return total;
}

// Folds to 16 bits (not inverted).
inline uint16_t ChecksumFold(uint64_t sum) {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}

// The IPv4 pseudo header of a TCP/UDP checksum: addresses as on the wire, protocol, length.
inline uint64_t PseudoHeaderSum(const uint8_t* ip_header, uint8_t protocol, uint16_t l4_length) {
  uint8_t tail[4] = {0, protocol, uint8_t(l4_length >> 8), uint8_t(l4_length)};
  return ChecksumAdd(ChecksumAdd(0, ip_header + 12, 8), tail, sizeof(tail));
}

// Stores ~fold(sum) at `field` (2 bytes, as on the wire).
inline void StoreChecksum(uint8_t* field, uint64_t sum) {
  const uint16_t c = uint16_t(~ChecksumFold(sum));
  std::memcpy(field, &c, 2);
}

// Recomputes the IPv4 header checksum in place.
inline void RefreshIpv4Checksum(uint8_t* ip, size_t header_length) {
  ip[10] = ip[11] = 0;
  StoreChecksum(ip + 10, ChecksumAdd(0, ip, header_length));
}

}  // namespace ipop
