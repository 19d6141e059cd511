#include "controlplane/services/tcp_segment.h"

#include <cstring>

#include "shared/byte_order.h"
#include "shared/checksum.h"

namespace ipop::tcp {
namespace {

constexpr uint8_t kOptionEnd = 0;
constexpr uint8_t kOptionNop = 1;
constexpr uint8_t kOptionMss = 2;

uint64_t TcpChecksumSum(const uint8_t* ip, const uint8_t* tcph, size_t tcp_len) {
  return ChecksumAdd(PseudoHeaderSum(ip, kProtocolTcp, uint16_t(tcp_len)), tcph, tcp_len);
}

// Reads the options between the fixed header and the data offset; *mss is 0 without an MSS.
bool ReadOptions(std::span<const uint8_t> options, uint16_t* mss) {
  *mss = 0;
  size_t pos = 0;
  while (pos < options.size()) {
    const uint8_t kind = options[pos];
    if (kind == kOptionEnd) return true;
    if (kind == kOptionNop) {
      ++pos;
      continue;
    }
    if (options.size() - pos < 2) return false;
    const uint8_t len = options[pos + 1];
    if (len < 2 || len > options.size() - pos) return false;
    if (kind == kOptionMss && len == 4) *mss = LoadBe16(&options[pos + 2]);
    pos += len;
  }
  return true;
}

}  // namespace

const char* SegmentErrorName(SegmentError e) {
  switch (e) {
    case SegmentError::kNone:
      return "none";
    case SegmentError::kNotIpv4:
      return "not_ipv4";
    case SegmentError::kBadIpv4:
      return "bad_ipv4";
    case SegmentError::kNotTcp:
      return "not_tcp";
    case SegmentError::kFragment:
      return "fragment";
    case SegmentError::kBadHeader:
      return "bad_header";
    case SegmentError::kBadOptions:
      return "bad_options";
    case SegmentError::kBadChecksum:
      return "bad_checksum";
  }
  return "unknown";
}

SegmentError ParseSegment(std::span<const uint8_t> frame, SegmentView* out) {
  ipv4frame::L4View l4;
  switch (ipv4frame::ParseL4(frame, kProtocolTcp, &l4)) {
    case ipv4frame::Error::kNone:
      break;
    case ipv4frame::Error::kNotIpv4:
      return SegmentError::kNotIpv4;
    case ipv4frame::Error::kBadIpv4:
      return SegmentError::kBadIpv4;
    case ipv4frame::Error::kOtherProtocol:
      return SegmentError::kNotTcp;
    case ipv4frame::Error::kFragment:
      return SegmentError::kFragment;
  }
  const size_t tcp_len = l4.l4.size();
  if (tcp_len < kHeaderSize) return SegmentError::kBadHeader;
  const uint8_t* tcph = l4.l4.data();
  const size_t data_offset = size_t(tcph[12] >> 4) * 4;
  if (data_offset < kHeaderSize || data_offset > tcp_len) return SegmentError::kBadHeader;
  uint16_t mss = 0;
  if (!ReadOptions({tcph + kHeaderSize, data_offset - kHeaderSize}, &mss))
    return SegmentError::kBadOptions;
  // Summed with its checksum field, a valid segment folds to all ones.
  if (ChecksumFold(TcpChecksumSum(l4.ip, tcph, tcp_len)) != 0xffff)
    return SegmentError::kBadChecksum;
  out->dst_mac = l4.dst_mac;
  out->src_mac = l4.src_mac;
  out->src_ip = l4.src_ip;
  out->dst_ip = l4.dst_ip;
  out->src_port = LoadBe16(tcph);
  out->dst_port = LoadBe16(tcph + 2);
  out->seq = LoadBe32(tcph + 4);
  out->ack = LoadBe32(tcph + 8);
  out->flags = tcph[13];
  out->window = LoadBe16(tcph + 14);
  out->mss = mss;
  out->payload = {tcph + data_offset, tcp_len - data_offset};
  return SegmentError::kNone;
}

size_t BuildSegment(const SegmentSpec& spec, std::span<uint8_t> out) {
  const size_t header = kHeaderSize + (spec.mss != 0 ? 4 : 0);
  const size_t tcp_len = header + spec.payload.size();
  uint8_t* tcph = ipv4frame::WriteHeaders(spec.from, spec.to, kProtocolTcp, tcp_len, out);
  if (tcph == nullptr) return 0;
  StoreBe16(tcph, spec.from.port);
  StoreBe16(tcph + 2, spec.to.port);
  StoreBe32(tcph + 4, spec.seq);
  StoreBe32(tcph + 8, spec.ack);
  tcph[12] = uint8_t((header / 4) << 4);
  tcph[13] = spec.flags;
  StoreBe16(tcph + 14, spec.window);
  StoreBe16(tcph + 16, 0);  // checksum, below
  StoreBe16(tcph + 18, 0);  // urgent pointer
  if (spec.mss != 0) {
    tcph[20] = kOptionMss;
    tcph[21] = 4;
    StoreBe16(tcph + 22, spec.mss);
  }
  if (!spec.payload.empty()) std::memcpy(tcph + header, spec.payload.data(), spec.payload.size());
  StoreChecksum(tcph + 16, TcpChecksumSum(tcph - ether::kIpv4MinHeader, tcph, tcp_len));
  return ipv4frame::FrameSize(tcp_len);
}

}  // namespace ipop::tcp
