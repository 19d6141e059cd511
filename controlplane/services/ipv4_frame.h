// The Ethernet + IPv4 layers of the frames the control plane's services read from and write to
// the TAP: UDP (DHCP, DNS) and TCP (DNS over TCP) parse and build their own header on top.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ipop::ipv4frame {

enum class Error : uint8_t {
  kNone = 0,
  kNotIpv4,        // shorter than an Ethernet header, or another ethertype
  kBadIpv4,        // structurally broken IPv4 header (ether::ParseIpv4)
  kOtherProtocol,  // IPv4 carrying another protocol than the one asked for
  kFragment,       // a fragment (MF set or offset non-zero): not reassembled here
};

struct L4View {
  const uint8_t* dst_mac = nullptr;  // ether::kMacSize bytes
  const uint8_t* src_mac = nullptr;
  uint32_t src_ip = 0;  // host byte order
  uint32_t dst_ip = 0;
  const uint8_t* ip = nullptr;  // the IPv4 header, for pseudo-header checksums
  std::span<const uint8_t> l4;  // from the transport header to the IPv4 total length
};

// An unfragmented IPv4 packet of `protocol` in `frame`, read without going outside it; *out is
// valid only on kNone.
Error ParseL4(std::span<const uint8_t> frame, uint8_t protocol, L4View* out);

// One end of a UDP or TCP exchange on the TAP.
struct Address {
  const uint8_t* mac;  // ether::kMacSize bytes
  uint32_t ip;         // host byte order
  uint16_t port;       // host byte order
};

// Writes Ethernet (from -> to) and a 20-byte IPv4 header (TTL 64, DF, checksum) for `l4_len`
// bytes of `protocol` at the start of `out`. Returns where the transport header goes, or nullptr
// if the packet would exceed 65535 bytes or `out` cannot hold the whole frame.
uint8_t* WriteHeaders(const Address& from, const Address& to, uint8_t protocol, size_t l4_len,
                      std::span<uint8_t> out);

// The frame size WriteHeaders prepared for `l4_len` transport bytes.
size_t FrameSize(size_t l4_len);

}  // namespace ipop::ipv4frame
