#include "controlplane/services/udp_frame.h"

#include <cstring>

#include "shared/byte_order.h"
#include "shared/checksum.h"

namespace ipop::udp {
namespace {

uint64_t UdpChecksumSum(const uint8_t* ip, const uint8_t* udp, size_t udp_len) {
  uint64_t sum = PseudoHeaderSum(ip, kProtocolUdp, uint16_t(udp_len));
  return ChecksumAdd(sum, udp, udp_len);
}

}  // namespace

const char* FrameErrorName(FrameError e) {
  switch (e) {
    case FrameError::kNone:
      return "none";
    case FrameError::kNotIpv4:
      return "not_ipv4";
    case FrameError::kBadIpv4:
      return "bad_ipv4";
    case FrameError::kNotUdp:
      return "not_udp";
    case FrameError::kFragment:
      return "fragment";
    case FrameError::kBadLength:
      return "bad_length";
    case FrameError::kBadChecksum:
      return "bad_checksum";
  }
  return "unknown";
}

FrameError ParseFrame(std::span<const uint8_t> frame, FrameView* out) {
  ether::EthernetView eth;
  if (!ether::ParseEthernet(frame, eth) || eth.type != ether::kTypeIpv4)
    return FrameError::kNotIpv4;
  ether::Ipv4View ip;
  if (ether::ParseIpv4(eth.payload, ip) != ether::Ipv4Error::kNone) return FrameError::kBadIpv4;
  if (ip.protocol != kProtocolUdp) return FrameError::kNotUdp;
  const uint8_t* iph = eth.payload.data();
  if ((LoadBe16(iph + 6) & 0x3fff) != 0) return FrameError::kFragment;
  const size_t l4_len = size_t(ip.total_length) - ip.header_length;
  if (l4_len < kUdpHeaderSize) return FrameError::kBadLength;
  const uint8_t* udph = iph + ip.header_length;
  const uint16_t udp_len = LoadBe16(udph + 4);
  if (udp_len < kUdpHeaderSize || udp_len > l4_len) return FrameError::kBadLength;
  // Zero means the sender did not compute one (RFC 768). Summed with its checksum field, a
  // valid datagram folds to all ones.
  if (LoadBe16(udph + 6) != 0 && ChecksumFold(UdpChecksumSum(iph, udph, udp_len)) != 0xffff)
    return FrameError::kBadChecksum;
  out->dst_mac = eth.dst;
  out->src_mac = eth.src;
  out->src_ip = ip.src;
  out->dst_ip = ip.dst;
  out->src_port = LoadBe16(udph);
  out->dst_port = LoadBe16(udph + 2);
  out->payload = {udph + kUdpHeaderSize, size_t(udp_len) - kUdpHeaderSize};
  return FrameError::kNone;
}

size_t BuildFrame(const FrameAddress& from, const FrameAddress& to,
                  std::span<const uint8_t> payload, std::span<uint8_t> out) {
  const size_t udp_len = kUdpHeaderSize + payload.size();
  const size_t ip_len = ether::kIpv4MinHeader + udp_len;
  if (ip_len > 65535 || out.size() < ether::kHeaderSize + ip_len) return 0;
  uint8_t* p = out.data();
  ether::WriteEthernetHeader(p, to.mac, from.mac, ether::kTypeIpv4);
  uint8_t* ip = p + ether::kHeaderSize;
  ip[0] = 0x45;
  ip[1] = 0;
  StoreBe16(ip + 2, uint16_t(ip_len));
  StoreBe16(ip + 4, 0);       // identification: DF set, never fragmented
  StoreBe16(ip + 6, 0x4000);  // DF
  ip[8] = 64;
  ip[9] = kProtocolUdp;
  StoreBe16(ip + 10, 0);
  StoreBe32(ip + 12, from.ip);
  StoreBe32(ip + 16, to.ip);
  RefreshIpv4Checksum(ip, ether::kIpv4MinHeader);
  uint8_t* udph = ip + ether::kIpv4MinHeader;
  StoreBe16(udph, from.port);
  StoreBe16(udph + 2, to.port);
  StoreBe16(udph + 4, uint16_t(udp_len));
  StoreBe16(udph + 6, 0);
  if (!payload.empty()) std::memcpy(udph + kUdpHeaderSize, payload.data(), payload.size());
  StoreChecksum(udph + 6, UdpChecksumSum(ip, udph, udp_len));
  if (udph[6] == 0 && udph[7] == 0) udph[6] = udph[7] = 0xff;  // RFC 768: 0 means "none"
  return ether::kHeaderSize + ip_len;
}

}  // namespace ipop::udp
