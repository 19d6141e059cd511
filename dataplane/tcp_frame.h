// A parsed view of an Ethernet/IPv4/TCP frame, shared by the TSO split and TCP coalescing
// stages (tap_offload.h).
#pragma once

#include <cstddef>
#include <cstdint>

#include "shared/ether.h"

namespace ipop::dp {

inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpCwr = 0x80;
inline constexpr size_t kTcpMinHeader = 20;

struct TcpFrame {  // offsets into an Ethernet frame holding IPv4 + TCP
  uint32_t ip_header = 0;
  uint32_t tcp_header = 0;
  uint32_t payload = 0;  // payload bytes (after the TCP header, within the IPv4 total length)
};

// An IPv4/TCP frame without IP fragmentation whose headers fit the IPv4 total length; false for
// anything else.
inline bool ParseTcpFrame(const uint8_t* frame, uint32_t len, TcpFrame* out) {
  ether::EthernetView eth;
  if (!ether::ParseEthernet({frame, len}, eth) || eth.type != ether::kTypeIpv4) return false;
  ether::Ipv4View ip;
  if (ether::ParseIpv4(eth.payload, ip) != ether::Ipv4Error::kNone) return false;
  if (ip.protocol != kProtoTcp) return false;
  const uint8_t* iph = frame + ether::kHeaderSize;
  if ((ether::LoadBe16(iph + 6) & 0x3fff) != 0) return false;  // MF or fragment offset
  if (ip.total_length < ip.header_length + kTcpMinHeader) return false;
  const uint8_t* tcp = iph + ip.header_length;
  const uint32_t thl = uint32_t(tcp[12] >> 4) * 4;
  if (thl < kTcpMinHeader || ip.header_length + thl > ip.total_length) return false;
  out->ip_header = ip.header_length;
  out->tcp_header = thl;
  out->payload = ip.total_length - ip.header_length - thl;
  return true;
}

}  // namespace ipop::dp
