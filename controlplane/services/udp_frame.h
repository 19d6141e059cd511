// Ethernet + IPv4 + UDP frames as they cross the TAP: the control plane parses what the host sends
// to the node's own services (DHCP, DNS) and builds the replies it writes back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "controlplane/services/ipv4_frame.h"
#include "shared/ether.h"

namespace ipop::udp {

inline constexpr size_t kUdpHeaderSize = 8;
// Ethernet + 20-byte IPv4 header (no options) + UDP header, as BuildFrame writes them.
inline constexpr size_t kFrameOverhead =
    ether::kHeaderSize + ether::kIpv4MinHeader + kUdpHeaderSize;
inline constexpr uint8_t kProtocolUdp = 17;

enum class FrameError : uint8_t {
  kNone = 0,
  kNotIpv4,      // shorter than an Ethernet header, or another ethertype
  kBadIpv4,      // structurally broken IPv4 header (ether::ParseIpv4)
  kNotUdp,       // another protocol
  kFragment,     // a fragment (MF set or offset non-zero): not reassembled here
  kBadLength,    // UDP length smaller than its header or past the IPv4 payload
  kBadChecksum,  // non-zero UDP checksum that does not verify
};
const char* FrameErrorName(FrameError e);

struct FrameView {
  const uint8_t* dst_mac = nullptr;  // ether::kMacSize bytes
  const uint8_t* src_mac = nullptr;
  uint32_t src_ip = 0;  // host byte order
  uint32_t dst_ip = 0;
  uint16_t src_port = 0;  // host byte order
  uint16_t dst_port = 0;
  std::span<const uint8_t> payload;  // the UDP payload
};

// Parses `frame` without reading outside it; *out is valid only on kNone.
FrameError ParseFrame(std::span<const uint8_t> frame, FrameView* out);

using FrameAddress = ipv4frame::Address;

// Writes Ethernet (from.mac -> to.mac), IPv4 (TTL 64, DF, checksum) and UDP (checksum) headers
// and `payload` into `out`. Returns the frame size, or 0 if `out` is too small or the payload
// does not fit one datagram.
size_t BuildFrame(const FrameAddress& from, const FrameAddress& to,
                  std::span<const uint8_t> payload, std::span<uint8_t> out);

}  // namespace ipop::udp
