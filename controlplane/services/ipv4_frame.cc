#include "controlplane/services/ipv4_frame.h"

#include "shared/byte_order.h"
#include "shared/checksum.h"
#include "shared/ether.h"

namespace ipop::ipv4frame {

Error ParseL4(std::span<const uint8_t> frame, uint8_t protocol, L4View* out) {
  ether::EthernetView eth;
  if (!ether::ParseEthernet(frame, eth) || eth.type != ether::kTypeIpv4) return Error::kNotIpv4;
  ether::Ipv4View ip;
  if (ether::ParseIpv4(eth.payload, ip) != ether::Ipv4Error::kNone) return Error::kBadIpv4;
  if (ip.protocol != protocol) return Error::kOtherProtocol;
  const uint8_t* iph = eth.payload.data();
  if ((LoadBe16(iph + 6) & 0x3fff) != 0) return Error::kFragment;
  out->dst_mac = eth.dst;
  out->src_mac = eth.src;
  out->src_ip = ip.src;
  out->dst_ip = ip.dst;
  out->ip = iph;
  out->l4 = {iph + ip.header_length, size_t(ip.total_length) - ip.header_length};
  return Error::kNone;
}

size_t FrameSize(size_t l4_len) {
  return ether::kHeaderSize + ether::kIpv4MinHeader + l4_len;
}

uint8_t* WriteHeaders(const Address& from, const Address& to, uint8_t protocol, size_t l4_len,
                      std::span<uint8_t> out) {
  const size_t ip_len = ether::kIpv4MinHeader + l4_len;
  if (ip_len > 65535 || out.size() < FrameSize(l4_len)) return nullptr;
  uint8_t* p = out.data();
  ether::WriteEthernetHeader(p, to.mac, from.mac, ether::kTypeIpv4);
  uint8_t* ip = p + ether::kHeaderSize;
  ip[0] = 0x45;
  ip[1] = 0;
  StoreBe16(ip + 2, uint16_t(ip_len));
  StoreBe16(ip + 4, 0);       // identification: DF set, never fragmented
  StoreBe16(ip + 6, 0x4000);  // DF
  ip[8] = 64;
  ip[9] = protocol;
  StoreBe16(ip + 10, 0);
  StoreBe32(ip + 12, from.ip);
  StoreBe32(ip + 16, to.ip);
  RefreshIpv4Checksum(ip, ether::kIpv4MinHeader);
  return ip + ether::kIpv4MinHeader;
}

}  // namespace ipop::ipv4frame
