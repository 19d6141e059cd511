// Ethernet + IPv4 + TCP segments as they cross the TAP (RFC 9293 header, RFC 791): the control
// plane parses the segments the host sends to the node's DNS responder over TCP and builds the
// ones it answers with. Only the MSS option is read and written; the others are skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "controlplane/services/ipv4_frame.h"
#include "shared/ether.h"

namespace ipop::tcp {

inline constexpr size_t kHeaderSize = 20;  // without options
inline constexpr uint8_t kProtocolTcp = 6;
// Ethernet + 20-byte IPv4 header + 20-byte TCP header, as BuildSegment writes them (+4 with MSS).
inline constexpr size_t kFrameOverhead = ether::kHeaderSize + ether::kIpv4MinHeader + kHeaderSize;

inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;

enum class SegmentError : uint8_t {
  kNone = 0,
  kNotIpv4,      // shorter than an Ethernet header, or another ethertype
  kBadIpv4,      // structurally broken IPv4 header (ether::ParseIpv4)
  kNotTcp,       // another protocol
  kFragment,     // a fragment (MF set or offset non-zero): not reassembled here
  kBadHeader,    // shorter than a TCP header, or a data offset below 5 or past the packet
  kBadOptions,   // an option whose length is below 2 or runs past the header
  kBadChecksum,  // the TCP checksum does not verify (it is mandatory for TCP)
};
const char* SegmentErrorName(SegmentError e);

struct SegmentView {
  const uint8_t* dst_mac = nullptr;  // ether::kMacSize bytes
  const uint8_t* src_mac = nullptr;
  uint32_t src_ip = 0;  // host byte order
  uint32_t dst_ip = 0;
  uint16_t src_port = 0;  // host byte order
  uint16_t dst_port = 0;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;  // kFin .. kAck (and URG, ECE, CWR, which nothing here uses)
  uint16_t window = 0;
  uint16_t mss = 0;                  // the MSS option's value; 0 without one
  std::span<const uint8_t> payload;  // after the TCP header, within the IPv4 total length
};

// Parses `frame` without reading outside it; *out is valid only on kNone.
SegmentError ParseSegment(std::span<const uint8_t> frame, SegmentView* out);

using FrameAddress = ipv4frame::Address;

struct SegmentSpec {
  FrameAddress from;
  FrameAddress to;
  uint32_t seq = 0;
  uint32_t ack = 0;
  uint8_t flags = 0;
  uint16_t window = 0;
  uint16_t mss = 0;  // non-zero: an MSS option (SYN segments)
  std::span<const uint8_t> payload;
};

// Writes Ethernet, IPv4 (TTL 64, DF, header checksum) and TCP headers (checksum over the pseudo
// header) and the payload into `out`. Returns the frame size, or 0 if `out` is too small.
size_t BuildSegment(const SegmentSpec& spec, std::span<uint8_t> out);

// Sequence-number order modulo 2^32 (RFC 9293 3.4).
inline bool SeqLt(uint32_t a, uint32_t b) {
  return int32_t(a - b) < 0;
}
inline bool SeqLe(uint32_t a, uint32_t b) {
  return int32_t(a - b) <= 0;
}

}  // namespace ipop::tcp
