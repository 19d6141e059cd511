#include "shared/igmp.h"

#include <cstring>

#include "shared/byte_order.h"
#include "shared/checksum.h"

namespace ipop::igmp {
namespace {

// RFC 3376 section 4.1.1: codes from 128 up are a floating-point value.
uint32_t DecodeCode(uint8_t code) {
  if (code < 128) return code;
  const uint32_t mant = code & 0x0f;
  const uint32_t exp = (code >> 4) & 0x07;
  return (mant | 0x10) << (exp + 3);
}

bool ChecksumOk(const uint8_t* msg, size_t len) {
  return ChecksumFold(ChecksumAdd(0, msg, len)) == 0xffff;
}

// Any-source view of one v3 record: nullopt-like `false` when it changes nothing.
bool RecordChange(uint8_t type, uint16_t n_sources, Change* out) {
  switch (type) {
    case kModeIsExclude:
    case kChangeToExclude:
      *out = Change::kJoin;  // all sources but a few: the group's traffic is wanted
      return true;
    case kModeIsInclude:
    case kChangeToInclude:
      *out = n_sources > 0 ? Change::kJoin : Change::kLeave;
      return true;
    case kAllowNewSources:
      if (n_sources == 0) return false;
      *out = Change::kJoin;
      return true;
    default:  // BLOCK, or a type a later RFC defines: nothing we can act on
      return false;
  }
}

ParseError ParseV3Report(const uint8_t* msg, size_t len, Message* out) {
  if (len < kV3ReportHeaderSize) return ParseError::kTooShort;
  const uint16_t n_records = LoadBe16(msg + 6);
  size_t off = kV3ReportHeaderSize;
  for (uint32_t r = 0; r < n_records; ++r) {
    if (len - off < kGroupRecordHeaderSize) return ParseError::kBadRecord;
    const uint8_t* rec = msg + off;
    const uint8_t type = rec[0];
    const size_t aux_bytes = size_t(rec[1]) * 4;
    const uint16_t n_sources = LoadBe16(rec + 2);
    const uint32_t group = LoadBe32(rec + 4);
    const size_t rec_len = kGroupRecordHeaderSize + size_t(n_sources) * 4 + aux_bytes;
    if (len - off < rec_len) return ParseError::kBadRecord;
    if (!IsMulticast(group)) return ParseError::kBadGroup;
    Change c;
    if (RecordChange(type, n_sources, &c)) out->changes.push_back({group, c});
    off += rec_len;
  }
  return ParseError::kNone;
}

}  // namespace

const char* ParseErrorName(ParseError e) {
  switch (e) {
    case ParseError::kNone:
      return "none";
    case ParseError::kNotIgmp:
      return "not_igmp";
    case ParseError::kBadIpv4:
      return "bad_ipv4";
    case ParseError::kFragment:
      return "fragment";
    case ParseError::kTooShort:
      return "too_short";
    case ParseError::kBadChecksum:
      return "bad_checksum";
    case ParseError::kBadRecord:
      return "bad_record";
    case ParseError::kBadGroup:
      return "bad_group";
    case ParseError::kUnknownType:
      return "unknown_type";
  }
  return "unknown";
}

ParseError Parse(std::span<const uint8_t> frame, Message* out) {
  ether::EthernetView eth;
  if (!ether::ParseEthernet(frame, eth) || eth.type != ether::kTypeIpv4)
    return ParseError::kNotIgmp;
  ether::Ipv4View ip;
  if (ether::ParseIpv4(eth.payload, ip) != ether::Ipv4Error::kNone) return ParseError::kBadIpv4;
  if (ip.protocol != kProtocolIgmp) return ParseError::kNotIgmp;
  const uint8_t* iph = eth.payload.data();
  if ((LoadBe16(iph + 6) & 0x3fff) != 0) return ParseError::kFragment;
  const uint8_t* msg = iph + ip.header_length;
  const size_t len = size_t(ip.total_length) - ip.header_length;
  if (len < kV2Size) return ParseError::kTooShort;
  if (!ChecksumOk(msg, len)) return ParseError::kBadChecksum;

  *out = Message{};
  out->type = msg[0];
  out->src_ip = ip.src;
  out->dst_ip = ip.dst;
  const uint32_t group = LoadBe32(msg + 4);
  switch (msg[0]) {
    case kTypeQuery:
      out->query_group = group;
      if (len >= kV3QueryMinSize) {
        out->version = 3;
        out->max_resp_ds = DecodeCode(msg[1]);
      } else {
        out->version = msg[1] == 0 ? 1 : 2;  // a v1 query has no response time: 10 s
        out->max_resp_ds = msg[1] == 0 ? 100 : msg[1];
      }
      return ParseError::kNone;
    case kTypeV1Report:
    case kTypeV2Report:
    case kTypeV2Leave:
      if (!IsMulticast(group)) return ParseError::kBadGroup;
      out->version = msg[0] == kTypeV1Report ? 1 : 2;
      out->changes.push_back({group, msg[0] == kTypeV2Leave ? Change::kLeave : Change::kJoin});
      return ParseError::kNone;
    case kTypeV3Report:
      out->version = 3;
      return ParseV3Report(msg, len, out);
    default:
      return ParseError::kUnknownType;
  }
}

size_t BuildGeneralQuery(const uint8_t src_mac[ether::kMacSize], uint32_t src_ip,
                         uint8_t max_resp_ds, uint8_t query_interval_s, std::span<uint8_t> out) {
  if (out.size() < kGeneralQueryFrameSize || max_resp_ds >= 128 || query_interval_s >= 128)
    return 0;
  uint8_t* f = out.data();
  uint8_t dst_mac[ether::kMacSize];
  GroupMac(kAllHosts, dst_mac);
  ether::WriteEthernetHeader(f, dst_mac, src_mac, ether::kTypeIpv4);

  constexpr size_t kIpHeader = ether::kIpv4MinHeader + kRouterAlertSize;
  uint8_t* ip = f + ether::kHeaderSize;
  std::memset(ip, 0, kIpHeader);
  ip[0] = 0x40 | uint8_t(kIpHeader / 4);
  ip[1] = 0xc0;  // DSCP CS6 (network control), as Linux sends IGMP
  StoreBe16(ip + 2, uint16_t(kIpHeader + kV3QueryMinSize));
  ip[8] = 1;  // TTL 1: never leaves the link
  ip[9] = kProtocolIgmp;
  StoreBe32(ip + 12, src_ip);
  StoreBe32(ip + 16, kAllHosts);
  ip[20] = 0x94;  // Router Alert, copied flag set (RFC 2113)
  ip[21] = 0x04;
  RefreshIpv4Checksum(ip, kIpHeader);

  uint8_t* q = ip + kIpHeader;
  std::memset(q, 0, kV3QueryMinSize);
  q[0] = kTypeQuery;
  q[1] = max_resp_ds;
  q[8] = 2;  // S = 0, QRV = 2 (robustness variable)
  q[9] = query_interval_s;
  StoreChecksum(q + 2, ChecksumAdd(0, q, kV3QueryMinSize));
  return kGeneralQueryFrameSize;
}

}  // namespace ipop::igmp
