#include "shared/arp.h"

#include <cstring>

#include "shared/ether.h"
#include "shared/wire.h"

namespace ipop::arp {

using ether::LoadBe16;
using ether::StoreBe16;

ParseError ParseRequest(std::span<const uint8_t> frame, Request* out) {
  if (frame.size() < kFrameSize) return ParseError::kTooShort;
  const uint8_t* p = frame.data();
  if (LoadBe16(p + 12) != kEtherTypeArp) return ParseError::kNotArp;
  const uint8_t* a = p + kEthHeaderSize;
  if (LoadBe16(a) != 1 || a[4] != 6) return ParseError::kBadHardware;
  if (LoadBe16(a + 2) != kEtherTypeIpv4 || a[5] != 4) return ParseError::kBadProtocol;
  if (LoadBe16(a + 6) != kOpRequest) return ParseError::kNotRequest;
  std::memcpy(out->eth_src, p + 6, 6);
  std::memcpy(out->sender_mac, a + 8, 6);
  out->sender_ip = wire::LoadBe32(a + 14);
  std::memcpy(out->target_mac, a + 18, 6);
  out->target_ip = wire::LoadBe32(a + 24);
  return ParseError::kNone;
}

size_t BuildReply(const Request& request, const uint8_t mac[6], std::span<uint8_t> out) {
  if (out.size() < kFrameSize) return 0;
  uint8_t* p = out.data();
  // Unicast back to the hardware address the requester put in its ARP body (RFC 826).
  std::memcpy(p, request.sender_mac, 6);
  std::memcpy(p + 6, mac, 6);
  StoreBe16(p + 12, kEtherTypeArp);
  uint8_t* a = p + kEthHeaderSize;
  StoreBe16(a, 1);
  StoreBe16(a + 2, kEtherTypeIpv4);
  a[4] = 6;
  a[5] = 4;
  StoreBe16(a + 6, kOpReply);
  std::memcpy(a + 8, mac, 6);
  wire::StoreBe32(a + 14, request.target_ip);
  std::memcpy(a + 18, request.sender_mac, 6);
  wire::StoreBe32(a + 24, request.sender_ip);
  return kFrameSize;
}

}  // namespace ipop::arp
