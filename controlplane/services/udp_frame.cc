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
  ipv4frame::L4View l4;
  switch (ipv4frame::ParseL4(frame, kProtocolUdp, &l4)) {
    case ipv4frame::Error::kNone:
      break;
    case ipv4frame::Error::kNotIpv4:
      return FrameError::kNotIpv4;
    case ipv4frame::Error::kBadIpv4:
      return FrameError::kBadIpv4;
    case ipv4frame::Error::kOtherProtocol:
      return FrameError::kNotUdp;
    case ipv4frame::Error::kFragment:
      return FrameError::kFragment;
  }
  if (l4.l4.size() < kUdpHeaderSize) return FrameError::kBadLength;
  const uint8_t* udph = l4.l4.data();
  const uint16_t udp_len = LoadBe16(udph + 4);
  if (udp_len < kUdpHeaderSize || udp_len > l4.l4.size()) return FrameError::kBadLength;
  // Zero means the sender did not compute one (RFC 768). Summed with its checksum field, a
  // valid datagram folds to all ones.
  if (LoadBe16(udph + 6) != 0 && ChecksumFold(UdpChecksumSum(l4.ip, udph, udp_len)) != 0xffff)
    return FrameError::kBadChecksum;
  out->dst_mac = l4.dst_mac;
  out->src_mac = l4.src_mac;
  out->src_ip = l4.src_ip;
  out->dst_ip = l4.dst_ip;
  out->src_port = LoadBe16(udph);
  out->dst_port = LoadBe16(udph + 2);
  out->payload = {udph + kUdpHeaderSize, size_t(udp_len) - kUdpHeaderSize};
  return FrameError::kNone;
}

size_t BuildFrame(const FrameAddress& from, const FrameAddress& to,
                  std::span<const uint8_t> payload, std::span<uint8_t> out) {
  const size_t udp_len = kUdpHeaderSize + payload.size();
  uint8_t* udph = ipv4frame::WriteHeaders(from, to, kProtocolUdp, udp_len, out);
  if (udph == nullptr) return 0;
  StoreBe16(udph, from.port);
  StoreBe16(udph + 2, to.port);
  StoreBe16(udph + 4, uint16_t(udp_len));
  StoreBe16(udph + 6, 0);
  if (!payload.empty()) std::memcpy(udph + kUdpHeaderSize, payload.data(), payload.size());
  StoreChecksum(udph + 6, UdpChecksumSum(udph - ether::kIpv4MinHeader, udph, udp_len));
  if (udph[6] == 0 && udph[7] == 0) udph[6] = udph[7] = 0xff;  // RFC 768: 0 means "none"
  return ipv4frame::FrameSize(udp_len);
}

}  // namespace ipop::udp
