#include "controlplane/services/dhcp.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "shared/byte_order.h"

namespace ipop::dhcp {
namespace {

inline constexpr size_t kMaxDomain = 255;
inline constexpr size_t kMaxNakMessage = 64;
inline constexpr uint16_t kMinMtu = 68;

// Reads the option area; the first instance of each option wins.
ParseError ParseOptions(std::span<const uint8_t> options, Message* out) {
  bool seen_type = false, seen_requested = false, seen_server = false, seen_lease = false;
  bool seen_overload = false, seen_params = false, seen_client = false, seen_host = false;
  size_t i = 0;
  while (i < options.size()) {
    const uint8_t code = options[i];
    if (code == kOptPad) {
      ++i;
      continue;
    }
    if (code == kOptEnd) break;
    if (i + 2 > options.size()) [[unlikely]]
      return ParseError::kOptionTruncated;
    const size_t length = options[i + 1];
    if (i + 2 + length > options.size()) [[unlikely]]
      return ParseError::kOptionTruncated;
    const std::span<const uint8_t> value = options.subspan(i + 2, length);
    i += 2 + length;
    auto first = [](bool& seen) { return !std::exchange(seen, true); };
    switch (code) {
      case kOptMessageType:
        if (length != 1) return ParseError::kBadOptionLength;
        if (!first(seen_type)) break;
        if (value[0] < 1 || value[0] > 8) return ParseError::kBadMessageType;
        out->type = MessageType(value[0]);
        break;
      case kOptRequestedIp:
        if (length != 4) return ParseError::kBadOptionLength;
        if (first(seen_requested)) out->requested_ip = LoadBe32(value.data());
        break;
      case kOptServerId:
        if (length != 4) return ParseError::kBadOptionLength;
        if (first(seen_server)) out->server_id = LoadBe32(value.data());
        break;
      case kOptLeaseTime:
        if (length != 4) return ParseError::kBadOptionLength;
        if (first(seen_lease)) {
          out->lease_s = LoadBe32(value.data());
          out->has_lease = true;
        }
        break;
      case kOptOverload:
        if (length != 1) return ParseError::kBadOptionLength;
        if (first(seen_overload)) out->overload = value[0];
        break;
      case kOptParameterList:
        if (first(seen_params)) out->parameter_list = value;
        break;
      case kOptClientId:
        // RFC 2132 9.14: type byte plus at least one byte of identifier.
        if (length < 2) return ParseError::kBadOptionLength;
        if (first(seen_client)) out->client_id = value;
        break;
      case kOptHostname:
        if (length < 1) return ParseError::kBadOptionLength;
        if (first(seen_host)) out->hostname = value;
        break;
      default:
        break;  // options we do not read are skipped by their length
    }
  }
  // A missing end option is tolerated: the payload's end bounds the options just as well.
  if (!seen_type) return ParseError::kNoMessageType;
  return ParseError::kNone;
}

uint8_t* PutOption(uint8_t* p, uint8_t code, const void* value, size_t length) {
  p[0] = code;
  p[1] = uint8_t(length);
  std::memcpy(p + 2, value, length);
  return p + 2 + length;
}

uint8_t* PutAddress(uint8_t* p, uint8_t code, uint32_t addr) {
  uint8_t v[4];
  StoreBe32(v, addr);
  return PutOption(p, code, v, 4);
}

}  // namespace

size_t EncodeClasslessRoutes(std::span<const ClasslessRoute> routes, std::span<uint8_t> out,
                             size_t* written) {
  size_t used = 0, count = 0;
  for (const ClasslessRoute& r : routes) {
    if (r.length > 32) break;
    const size_t octets = (size_t(r.length) + 7) / 8;
    if (used + 1 + octets + 4 > std::min<size_t>(out.size(), 255)) break;
    uint8_t prefix[4];
    StoreBe32(prefix, r.length == 0 ? 0 : r.prefix & (~uint32_t{0} << (32 - r.length)));
    out[used] = r.length;
    std::memcpy(&out[used + 1], prefix, octets);
    StoreBe32(&out[used + 1 + octets], r.gateway);
    used += 1 + octets + 4;
    ++count;
  }
  if (written != nullptr) *written = count;
  return used;
}

bool DecodeClasslessRoutes(std::span<const uint8_t> value, ClasslessRoute* out, size_t max,
                           size_t* count) {
  size_t pos = 0, n = 0;
  while (pos < value.size()) {
    const uint8_t length = value[pos];
    if (length > 32) return false;
    const size_t octets = (size_t(length) + 7) / 8;
    if (value.size() - pos - 1 < octets + 4 || n == max) return false;
    uint8_t prefix[4] = {};
    std::memcpy(prefix, &value[pos + 1], octets);
    const uint32_t p = LoadBe32(prefix);
    const uint32_t mask = length == 0 ? 0 : ~uint32_t{0} << (32 - length);
    if ((p & ~mask) != 0) return false;
    out[n++] = {p, length, LoadBe32(&value[pos + 1 + octets])};
    pos += 1 + octets + 4;
  }
  *count = n;
  return true;
}

const char* MessageTypeName(MessageType t) {
  switch (t) {
    case MessageType::kNone:
      return "none";
    case MessageType::kDiscover:
      return "discover";
    case MessageType::kOffer:
      return "offer";
    case MessageType::kRequest:
      return "request";
    case MessageType::kDecline:
      return "decline";
    case MessageType::kAck:
      return "ack";
    case MessageType::kNak:
      return "nak";
    case MessageType::kRelease:
      return "release";
    case MessageType::kInform:
      return "inform";
  }
  return "unknown";
}

const char* ParseErrorName(ParseError e) {
  switch (e) {
    case ParseError::kNone:
      return "none";
    case ParseError::kTooShort:
      return "too_short";
    case ParseError::kBadOp:
      return "bad_op";
    case ParseError::kBadHardware:
      return "bad_hardware";
    case ParseError::kBadCookie:
      return "bad_cookie";
    case ParseError::kOptionTruncated:
      return "option_truncated";
    case ParseError::kBadOptionLength:
      return "bad_option_length";
    case ParseError::kNoMessageType:
      return "no_message_type";
    case ParseError::kBadMessageType:
      return "bad_message_type";
  }
  return "unknown";
}

ParseError Parse(std::span<const uint8_t> payload, Message* out) {
  if (payload.size() < kOptionsOffset) [[unlikely]]
    return ParseError::kTooShort;
  const uint8_t* p = payload.data();
  if (p[0] != kOpRequest && p[0] != kOpReply) [[unlikely]]
    return ParseError::kBadOp;
  if (p[1] != kHtypeEthernet || p[2] != kHlenEthernet) [[unlikely]]
    return ParseError::kBadHardware;
  if (LoadBe32(p + kFixedSize) != kMagicCookie) [[unlikely]]
    return ParseError::kBadCookie;
  Message m;
  m.op = p[0];
  m.hops = p[3];
  m.xid = LoadBe32(p + 4);
  m.secs = LoadBe16(p + 8);
  m.flags = LoadBe16(p + 10);
  m.ciaddr = LoadBe32(p + 12);
  m.yiaddr = LoadBe32(p + 16);
  m.siaddr = LoadBe32(p + 20);
  m.giaddr = LoadBe32(p + 24);
  m.chaddr = p + 28;
  const ParseError err = ParseOptions(payload.subspan(kOptionsOffset), &m);
  if (err != ParseError::kNone) return err;
  *out = m;
  return ParseError::kNone;
}

size_t BuildReply(const Reply& r, std::span<uint8_t> out) {
  const bool nak = r.type == MessageType::kNak;
  if (r.type != MessageType::kOffer && r.type != MessageType::kAck && !nak) return 0;
  if (out.size() < kMaxReplySize || r.chaddr == nullptr) return 0;
  if (r.domain.size() > kMaxDomain || r.message.size() > kMaxNakMessage) return 0;
  uint8_t* p = out.data();
  std::memset(p, 0, kMaxReplySize);
  p[0] = kOpReply;
  p[1] = kHtypeEthernet;
  p[2] = kHlenEthernet;
  StoreBe32(p + 4, r.xid);
  StoreBe16(p + 10, r.flags);
  // RFC 2131 table 3: a NAK carries no addresses but giaddr.
  if (!nak) {
    StoreBe32(p + 12, r.ciaddr);
    StoreBe32(p + 16, r.yiaddr);
  }
  StoreBe32(p + 24, r.giaddr);
  std::memcpy(p + 28, r.chaddr, kHlenEthernet);
  StoreBe32(p + kFixedSize, kMagicCookie);
  uint8_t* o = p + kOptionsOffset;
  const uint8_t type = uint8_t(r.type);
  o = PutOption(o, kOptMessageType, &type, 1);
  o = PutAddress(o, kOptServerId, r.server_id);
  if (nak) {
    if (!r.message.empty()) o = PutOption(o, kOptMessage, r.message.data(), r.message.size());
  } else {
    if (r.lease_s != 0) {
      // T1 = 0.5 and T2 = 0.875 of the lease (RFC 2131 4.4.5); an infinite lease has neither.
      o = PutAddress(o, kOptLeaseTime, r.lease_s);
      if (r.lease_s != 0xffffffffu) {
        o = PutAddress(o, kOptRenewalTime, r.lease_s / 2);
        o = PutAddress(o, kOptRebindingTime, uint32_t(uint64_t{r.lease_s} * 7 / 8));
      }
    }
    // RFC 2132 3.3: the subnet mask goes before the router.
    if (r.subnet_mask != 0) o = PutAddress(o, kOptSubnetMask, r.subnet_mask);
    if (r.router != 0) o = PutAddress(o, kOptRouter, r.router);
    if (r.dns_server != 0) o = PutAddress(o, kOptDnsServer, r.dns_server);
    if (!r.domain.empty()) o = PutOption(o, kOptDomainName, r.domain.data(), r.domain.size());
    if (r.mtu >= kMinMtu) {
      uint8_t mtu[2];
      StoreBe16(mtu, r.mtu);
      o = PutOption(o, kOptInterfaceMtu, mtu, 2);
    }
    if (!r.routes.empty()) {
      // Room left for the value: the reply limit minus this option's header and the end option.
      const size_t used = size_t(o - p) + 2 + 1;
      const size_t room = used < kMaxReplySize ? kMaxReplySize - used : 0;
      uint8_t value[255];
      const size_t n = EncodeClasslessRoutes(r.routes, {value, std::min(room, sizeof(value))});
      if (n != 0) o = PutOption(o, kOptClasslessRoutes, value, n);
    }
  }
  *o++ = kOptEnd;
  return std::max(size_t(o - p), kMinReplySize);
}

}  // namespace ipop::dhcp
