#include "dataplane/mss_clamp.h"

#include <cstring>

#include "dataplane/tcp_frame.h"
#include "shared/ether.h"

namespace ipop::dp {
namespace {

constexpr uint8_t kTcpSyn = 0x02;
constexpr uint8_t kOptEnd = 0;
constexpr uint8_t kOptNop = 1;
constexpr uint8_t kOptMss = 2;
constexpr uint8_t kOptMssLength = 4;

}  // namespace

uint16_t ChecksumReplace16(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  uint32_t sum = uint32_t(uint16_t(~checksum)) + uint16_t(~old_word) + new_word;
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

bool ClampTcpMss(uint8_t* ip, size_t ip_len, uint16_t max_mss) {
  if (ip_len < ether::kIpv4MinHeader || ip[9] != kProtoTcp) return false;
  if ((ether::LoadBe16(ip + 6) & 0x3fff) != 0) return false;  // MF or offset: no full header
  const size_t ihl = size_t(ip[0] & 0x0f) * 4;
  if (ihl < ether::kIpv4MinHeader || ihl + kTcpMinHeader > ip_len) return false;
  uint8_t* tcp = ip + ihl;
  if ((tcp[13] & kTcpSyn) == 0) return false;
  const size_t thl = size_t(tcp[12] >> 4) * 4;
  if (thl < kTcpMinHeader || ihl + thl > ip_len) return false;

  for (size_t off = kTcpMinHeader; off < thl;) {
    const uint8_t kind = tcp[off];
    if (kind == kOptEnd) break;
    if (kind == kOptNop) {
      ++off;
      continue;
    }
    if (off + 1 >= thl) break;
    const uint8_t len = tcp[off + 1];
    if (len < 2 || off + len > thl) break;
    if (kind == kOptMss && len == kOptMssLength) {
      uint8_t* value = tcp + off + 2;
      if (ether::LoadBe16(value) <= max_mss) return false;
      // The option may start at an odd offset; update the checksum over the (at most two)
      // 16-bit words of the TCP header that the value touches.
      const size_t first = (off + 2) & ~size_t{1};
      const size_t words = ((off + 2) & 1) ? 2 : 1;
      uint16_t before[2];
      std::memcpy(before, tcp + first, words * 2);
      ether::StoreBe16(value, max_mss);
      uint16_t after[2];
      std::memcpy(after, tcp + first, words * 2);
      uint16_t checksum;
      std::memcpy(&checksum, tcp + 16, 2);
      for (size_t w = 0; w < words; ++w)
        checksum = ChecksumReplace16(checksum, before[w], after[w]);
      std::memcpy(tcp + 16, &checksum, 2);
      return true;
    }
    off += len;
  }
  return false;
}

}  // namespace ipop::dp
