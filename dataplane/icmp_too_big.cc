#include "dataplane/icmp_too_big.h"

#include <algorithm>
#include <cstring>

#include "shared/checksum.h"
#include "shared/wire.h"

namespace ipop::dp {
namespace {

// Header length of a structurally valid IPv4 header at the start of `p`, else 0. The total
// length may exceed what is there: a frame cut short by the TAP read still gets an answer.
size_t HeaderLength(std::span<const uint8_t> p) {
  if (p.size() < ether::kIpv4MinHeader || (p[0] >> 4) != 4) return 0;
  const size_t ihl = size_t(p[0] & 0x0f) * 4;
  if (ihl < ether::kIpv4MinHeader || ihl > p.size()) return 0;
  if (ether::LoadBe16(p.data() + 2) < ihl) return 0;
  return ihl;
}

bool IsIcmpError(uint8_t type) {
  return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

}  // namespace

bool MayAnswerWithIcmpError(std::span<const uint8_t> original) {
  const size_t ihl = HeaderLength(original);
  if (ihl == 0) return false;
  const uint8_t* ip = original.data();
  if ((ether::LoadBe16(ip + 6) & 0x1fff) != 0) return false;  // only the first fragment
  const uint32_t src = wire::LoadBe32(ip + 12);
  if (src == 0 || (src >> 24) == 127 || ether::IsMulticastOrLimitedBroadcast(src)) return false;
  if (ip[9] == kProtoIcmp) {
    // An error about an error could loop between two nodes; without the type, assume it is one.
    if (original.size() <= ihl || IsIcmpError(ip[ihl])) return false;
  }
  return true;
}

size_t BuildIcmpTooBig(std::span<const uint8_t> original, const IcmpTooBigParams& params,
                       uint8_t* out, size_t out_capacity) {
  if (!MayAnswerWithIcmpError(original)) return 0;
  const size_t ihl = HeaderLength(original);
  const size_t total = ether::LoadBe16(original.data() + 2);
  const size_t quote_len = std::min({ihl + 8, total, original.size()});
  const size_t icmp_len = kIcmpHeaderSize + quote_len;
  const size_t ip_len = ether::kIpv4MinHeader + icmp_len;
  if (out_capacity < ether::kHeaderSize + ip_len) return 0;

  uint8_t quote[kIcmpQuoteMax];
  std::memcpy(quote, original.data(), quote_len);
  const uint32_t dst = wire::LoadBe32(quote + 12);
  IcmpTooBigParams p = params;  // the caller's MACs may live in the frame we overwrite

  ether::WriteEthernetHeader(out, p.dst_mac, p.src_mac, ether::kTypeIpv4);
  uint8_t* ip = out + ether::kHeaderSize;
  ip[0] = 0x45;
  ip[1] = 0xc0;  // internetwork control, as stacks mark their ICMP errors
  ether::StoreBe16(ip + 2, uint16_t(ip_len));
  ether::StoreBe16(ip + 4, 0);
  ether::StoreBe16(ip + 6, 0);
  ip[8] = 64;
  ip[9] = kProtoIcmp;
  wire::StoreBe32(ip + 12, p.source);
  wire::StoreBe32(ip + 16, dst);
  RefreshIpv4Checksum(ip, ether::kIpv4MinHeader);

  uint8_t* icmp = ip + ether::kIpv4MinHeader;
  icmp[0] = kIcmpDestUnreachable;
  icmp[1] = kIcmpFragNeeded;
  icmp[2] = icmp[3] = 0;
  ether::StoreBe16(icmp + 4, 0);  // unused
  ether::StoreBe16(icmp + 6, p.next_hop_mtu);
  std::memcpy(icmp + kIcmpHeaderSize, quote, quote_len);
  StoreChecksum(icmp + 2, ChecksumAdd(0, icmp, icmp_len));
  return ether::kHeaderSize + ip_len;
}

}  // namespace ipop::dp
