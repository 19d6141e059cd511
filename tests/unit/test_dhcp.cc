// DHCP codec against packets real clients sent (test_dhcp_captures.h), named rejections of
// broken messages, and replies built then read back option by option.
#include "controlplane/services/dhcp.h"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "controlplane/services/udp_frame.h"
#include "shared/byte_order.h"
#include "tests/unit/cp_fakes.h"
#include "tests/unit/test_dhcp_captures.h"

namespace ipop::dhcp {
namespace {

using captures::FromHex;
using cp::testing::Ip;

const uint8_t kClientMac[6] = {0x02, 0x99, 0xee, 0x44, 0x26, 0xe2};

// The UDP payload of a captured frame.
std::vector<uint8_t> PayloadOf(std::string_view hex) {
  const std::vector<uint8_t> frame = FromHex(hex);
  udp::FrameView f;
  EXPECT_EQ(udp::ParseFrame(frame, &f), udp::FrameError::kNone);
  return {f.payload.begin(), f.payload.end()};
}

Message MustParse(const std::vector<uint8_t>& payload) {
  Message m;
  EXPECT_EQ(Parse(payload, &m), ParseError::kNone);
  return m;
}

std::vector<uint8_t> Bytes(std::span<const uint8_t> s) {
  return {s.begin(), s.end()};
}

// Reference walker for reading built replies: the value of the first option `code`.
std::optional<std::vector<uint8_t>> FindOption(std::span<const uint8_t> payload, uint8_t code) {
  for (size_t i = kOptionsOffset; i < payload.size();) {
    if (payload[i] == kOptPad) {
      ++i;
      continue;
    }
    if (payload[i] == kOptEnd || i + 1 >= payload.size()) break;
    const size_t len = payload[i + 1];
    if (payload[i] == code) return Bytes(payload.subspan(i + 2, len));
    i += 2 + len;
  }
  return std::nullopt;
}

uint32_t Be32(const std::vector<uint8_t>& v) {
  return v.size() == 4 ? LoadBe32(v.data()) : 0;
}

TEST(DhcpCodec, DhclientDiscover) {
  const std::vector<uint8_t> p = PayloadOf(captures::kDhclientDiscoverHex);
  const Message m = MustParse(p);
  EXPECT_EQ(m.op, kOpRequest);
  EXPECT_EQ(m.type, MessageType::kDiscover);
  EXPECT_EQ(m.xid, 0x51cebc65u);
  EXPECT_FALSE(m.broadcast());
  EXPECT_EQ(m.ciaddr, 0u);
  EXPECT_EQ(m.giaddr, 0u);
  EXPECT_EQ(std::memcmp(m.chaddr, kClientMac, 6), 0);
  EXPECT_EQ(m.requested_ip, 0u);
  EXPECT_EQ(m.server_id, 0u);
  EXPECT_EQ(std::string(m.hostname.begin(), m.hostname.end()), "vm");
  const std::vector<uint8_t> want_params = {1, 28, 2, 3, 15, 6, 119, 12, 44, 47, 26, 121, 42};
  EXPECT_EQ(Bytes(m.parameter_list), want_params);
  EXPECT_TRUE(m.client_id.empty());
}

TEST(DhcpCodec, DhclientRequestSelecting) {
  const Message m = MustParse(PayloadOf(captures::kDhclientRequestHex));
  EXPECT_EQ(m.type, MessageType::kRequest);
  EXPECT_EQ(m.xid, 0x51cebc65u);
  EXPECT_EQ(m.server_id, Ip(10, 77, 0, 1));
  EXPECT_EQ(m.requested_ip, Ip(10, 77, 0, 20));
  EXPECT_EQ(m.ciaddr, 0u);
}

TEST(DhcpCodec, DhclientRequestInitReboot) {
  const Message m = MustParse(PayloadOf(captures::kDhclientInitRebootHex));
  EXPECT_EQ(m.type, MessageType::kRequest);
  EXPECT_EQ(m.xid, 0x17ca4c13u);
  EXPECT_EQ(m.server_id, 0u);
  EXPECT_EQ(m.requested_ip, Ip(10, 77, 0, 20));
}

TEST(DhcpCodec, UdhcpcDiscoverAndRequest) {
  const std::vector<uint8_t> want_id = {0x01, 0x02, 0x99, 0xee, 0x44, 0x26, 0xe2};
  const Message d = MustParse(PayloadOf(captures::kUdhcpcDiscoverHex));
  EXPECT_EQ(d.type, MessageType::kDiscover);
  EXPECT_EQ(d.xid, 0x8def4573u);
  EXPECT_EQ(Bytes(d.client_id), want_id);
  EXPECT_EQ(Bytes(d.parameter_list), (std::vector<uint8_t>{1, 3, 6, 12, 15, 28, 42}));
  EXPECT_TRUE(d.hostname.empty());
  const Message r = MustParse(PayloadOf(captures::kUdhcpcRequestHex));
  EXPECT_EQ(r.type, MessageType::kRequest);
  EXPECT_EQ(r.xid, d.xid);
  EXPECT_EQ(r.requested_ip, Ip(10, 77, 0, 20));
  EXPECT_EQ(r.server_id, Ip(10, 77, 0, 1));
  EXPECT_EQ(Bytes(r.client_id), want_id);
}

TEST(DhcpCodec, RealServerAck) {
  const Message m = MustParse(PayloadOf(captures::kUdhcpdAckHex));
  EXPECT_EQ(m.op, kOpReply);
  EXPECT_EQ(m.type, MessageType::kAck);
  EXPECT_EQ(m.yiaddr, Ip(10, 77, 0, 20));
  EXPECT_EQ(m.server_id, Ip(10, 77, 0, 1));
  ASSERT_TRUE(m.has_lease);
  EXPECT_EQ(m.lease_s, 3600u);
}

TEST(DhcpCodec, EveryTruncationRejectedOrShorter) {
  const std::vector<uint8_t> p = PayloadOf(captures::kUdhcpcRequestHex);
  Message m;
  for (size_t n = 0; n < kOptionsOffset; ++n)
    EXPECT_EQ(Parse(std::span(p).first(n), &m), ParseError::kTooShort) << n;
  // Cut inside the options: either an option is truncated, or (cut right after option 53)
  // what is left is a valid message with fewer options.
  for (size_t n = kOptionsOffset; n < p.size(); ++n) {
    const ParseError e = Parse(std::span(p).first(n), &m);
    EXPECT_TRUE(e == ParseError::kNone || e == ParseError::kOptionTruncated ||
                e == ParseError::kNoMessageType)
        << n << " " << ParseErrorName(e);
  }
}

struct Corruption {
  std::vector<std::pair<size_t, uint8_t>> writes;  // offsets into the payload
  ParseError want;
};

TEST(DhcpCodec, MalformedMessagesNamed) {
  const std::vector<uint8_t> base = PayloadOf(captures::kDhclientRequestHex);
  ASSERT_EQ(base[kOptionsOffset], kOptMessageType);
  const size_t o = kOptionsOffset;
  const std::vector<Corruption> cases = {
      {{{0, 3}}, ParseError::kBadOp},
      {{{1, 6}}, ParseError::kBadHardware},  // IEEE 802 htype
      {{{2, 16}}, ParseError::kBadHardware},
      {{{kFixedSize, 0}}, ParseError::kBadCookie},
      {{{o + 1, 2}}, ParseError::kBadOptionLength},  // message type of length 2
      {{{o + 2, 0}}, ParseError::kBadMessageType},   // type 0
      {{{o + 2, 9}}, ParseError::kBadMessageType},   // type 9
      {{{o, kOptPad}, {o + 1, kOptPad}, {o + 2, kOptPad}}, ParseError::kNoMessageType},
      {{{o + 4, 3}}, ParseError::kBadOptionLength},    // server id of length 3
      {{{o + 4, 250}}, ParseError::kOptionTruncated},  // runs past the payload
  };
  for (const Corruption& c : cases) {
    std::vector<uint8_t> p = base;
    for (const auto& [at, v] : c.writes) p[at] = v;
    Message m;
    EXPECT_EQ(Parse(p, &m), c.want) << ParseErrorName(c.want);
  }
  // An option code as the very last byte has no length byte.
  std::vector<uint8_t> p(base.begin(), base.begin() + o + 3);
  p.push_back(kOptHostname);
  Message m;
  EXPECT_EQ(Parse(p, &m), ParseError::kOptionTruncated);
}

TEST(DhcpCodec, OptionEdgeCases) {
  std::vector<uint8_t> p = PayloadOf(captures::kDhclientDiscoverHex);
  const size_t o = kOptionsOffset;
  // Bytes after the end option are padding, even when they look like broken options.
  std::vector<uint8_t> tail(p.begin(), p.begin() + o + 3);
  for (uint8_t b : {uint8_t{kOptEnd}, uint8_t{kOptServerId}, uint8_t{200}}) tail.push_back(b);
  Message m;
  EXPECT_EQ(Parse(tail, &m), ParseError::kNone);
  // A missing end option: the payload's end bounds the options.
  tail.resize(o + 3);
  EXPECT_EQ(Parse(tail, &m), ParseError::kNone);
  EXPECT_EQ(m.type, MessageType::kDiscover);
  // The first of two message types wins; option 52 is recorded and otherwise ignored.
  for (uint8_t b : {uint8_t{kOptMessageType}, uint8_t{1}, uint8_t{3}, uint8_t{kOptOverload},
                    uint8_t{1}, uint8_t{3}, uint8_t{kOptEnd}})
    tail.push_back(b);
  ASSERT_EQ(Parse(tail, &m), ParseError::kNone);
  EXPECT_EQ(m.type, MessageType::kDiscover);
  EXPECT_EQ(m.overload, 3);
}

TEST(DhcpCodec, NamesAreDistinct) {
  std::set<std::string> names;
  for (size_t i = 0; i < kParseErrorCount; ++i) names.insert(ParseErrorName(ParseError(i)));
  EXPECT_EQ(names.size(), kParseErrorCount);
  EXPECT_EQ(names.count("unknown"), 0u);
  names.clear();
  for (size_t i = 0; i < kMessageTypeCount; ++i) names.insert(MessageTypeName(MessageType(i)));
  EXPECT_EQ(names.size(), kMessageTypeCount);
  EXPECT_EQ(names.count("unknown"), 0u);
}

Reply SampleAck() {
  Reply r;
  r.type = MessageType::kAck;
  r.xid = 0x8def4573;
  r.flags = kFlagBroadcast;
  r.ciaddr = Ip(10, 77, 0, 20);
  r.yiaddr = Ip(10, 77, 0, 20);
  r.chaddr = kClientMac;
  r.server_id = Ip(10, 77, 0, 1);
  r.lease_s = 3600;
  r.subnet_mask = 0xffffff00;
  r.router = Ip(10, 77, 0, 1);
  r.dns_server = Ip(10, 77, 0, 53);
  r.domain = "alpha.ipop";
  r.mtu = 1400;
  return r;
}

TEST(DhcpCodec, BuildsAckThatParsesBack) {
  uint8_t out[kMaxReplySize];
  const size_t n = BuildReply(SampleAck(), out);
  ASSERT_GE(n, kMinReplySize);
  const std::span<const uint8_t> p(out, n);
  Message m;
  ASSERT_EQ(Parse(p, &m), ParseError::kNone);
  EXPECT_EQ(m.op, kOpReply);
  EXPECT_EQ(m.type, MessageType::kAck);
  EXPECT_EQ(m.xid, 0x8def4573u);
  EXPECT_TRUE(m.broadcast());
  EXPECT_EQ(m.ciaddr, Ip(10, 77, 0, 20));
  EXPECT_EQ(m.yiaddr, Ip(10, 77, 0, 20));
  EXPECT_EQ(m.siaddr, 0u);
  EXPECT_EQ(std::memcmp(m.chaddr, kClientMac, 6), 0);
  EXPECT_EQ(m.server_id, Ip(10, 77, 0, 1));
  EXPECT_EQ(m.lease_s, 3600u);
  EXPECT_EQ(Be32(*FindOption(p, kOptRenewalTime)), 1800u);
  EXPECT_EQ(Be32(*FindOption(p, kOptRebindingTime)), 3150u);
  EXPECT_EQ(Be32(*FindOption(p, kOptSubnetMask)), 0xffffff00u);
  EXPECT_EQ(Be32(*FindOption(p, kOptRouter)), Ip(10, 77, 0, 1));
  EXPECT_EQ(Be32(*FindOption(p, kOptDnsServer)), Ip(10, 77, 0, 53));
  const std::vector<uint8_t> domain = *FindOption(p, kOptDomainName);
  EXPECT_EQ(std::string(domain.begin(), domain.end()), "alpha.ipop");
  EXPECT_EQ(*FindOption(p, kOptInterfaceMtu), (std::vector<uint8_t>{0x05, 0x78}));
  // The option area byte for byte: 53, 54, 51, 58, 59, 1 before 3 (RFC 2132 3.3), 6, 15, 26.
  const std::vector<uint8_t> want = {
      0x63, 0x82, 0x53, 0x63, 53,  1,   5,    54,   4,   10,  77, 0,  1,    51,   4,  0,  0,
      0x0e, 0x10, 58,   4,    0,   0,   0x07, 0x08, 59,  4,   0,  0,  0x0c, 0x4e, 1,  4,  255,
      255,  255,  0,    3,    4,   10,  77,   0,    1,   6,   4,  10, 77,   0,    53, 15, 10,
      'a',  'l',  'p',  'h',  'a', '.', 'i',  'p',  'o', 'p', 26, 2,  0x05, 0x78, 255};
  EXPECT_EQ(Bytes(p.subspan(kFixedSize, want.size())), want);
  EXPECT_EQ(n, kFixedSize + want.size());
}

TEST(DhcpCodec, BuildsNakWithoutConfiguration) {
  Reply r = SampleAck();
  r.type = MessageType::kNak;
  r.message = "wrong address";
  uint8_t out[kMaxReplySize];
  const size_t n = BuildReply(r, out);
  ASSERT_EQ(n, kMinReplySize);  // short, so padded for BOOTP-era clients
  const std::span<const uint8_t> p(out, n);
  // 53, 54, 56 ("wrong address"), end, then zero padding.
  const size_t end = kOptionsOffset + 3 + 6 + 2 + 13;
  EXPECT_EQ(out[end], kOptEnd);
  for (size_t i = end + 1; i < n; ++i) EXPECT_EQ(out[i], 0) << i;
  Message m;
  ASSERT_EQ(Parse(p, &m), ParseError::kNone);
  EXPECT_EQ(m.type, MessageType::kNak);
  EXPECT_EQ(m.yiaddr, 0u);
  EXPECT_EQ(m.ciaddr, 0u);
  EXPECT_EQ(m.server_id, Ip(10, 77, 0, 1));
  EXPECT_FALSE(m.has_lease);
  for (uint8_t code : {kOptSubnetMask, kOptRouter, kOptDnsServer, kOptDomainName, kOptInterfaceMtu,
                       kOptRenewalTime})
    EXPECT_FALSE(FindOption(p, code).has_value()) << int(code);
  const std::vector<uint8_t> msg = *FindOption(p, kOptMessage);
  EXPECT_EQ(std::string(msg.begin(), msg.end()), "wrong address");
}

TEST(DhcpCodec, BuildOmitsAndRefuses) {
  uint8_t out[kMaxReplySize];
  Reply r = SampleAck();
  r.lease_s = 0;  // INFORM: no lease at all
  r.mtu = 60;     // below the IPv4 minimum: omitted
  r.dns_server = 0;
  r.domain = {};
  size_t n = BuildReply(r, out);
  ASSERT_GT(n, 0u);
  for (uint8_t code : {kOptLeaseTime, kOptRenewalTime, kOptRebindingTime, kOptInterfaceMtu,
                       kOptDnsServer, kOptDomainName})
    EXPECT_FALSE(FindOption({out, n}, code).has_value()) << int(code);
  r.lease_s = 0xffffffffu;  // infinite: no T1/T2
  n = BuildReply(r, out);
  EXPECT_EQ(Be32(*FindOption({out, n}, kOptLeaseTime)), 0xffffffffu);
  EXPECT_FALSE(FindOption({out, n}, kOptRenewalTime).has_value());

  uint8_t small[kMaxReplySize - 1];
  EXPECT_EQ(BuildReply(SampleAck(), small), 0u);
  r = SampleAck();
  r.type = MessageType::kRequest;
  EXPECT_EQ(BuildReply(r, out), 0u);
  r = SampleAck();
  r.chaddr = nullptr;
  EXPECT_EQ(BuildReply(r, out), 0u);
  const std::string long_domain(256, 'a');
  r = SampleAck();
  r.domain = long_domain;
  EXPECT_EQ(BuildReply(r, out), 0u);
  // The longest allowed domain still fits the 548 bytes every client accepts.
  r.domain = std::string_view(long_domain).substr(0, 255);
  n = BuildReply(r, out);
  EXPECT_GT(n, 0u);
  EXPECT_LE(n, kMaxReplySize);
  Message m;
  EXPECT_EQ(Parse({out, n}, &m), ParseError::kNone);
}

// RFC 3442 section 5's examples, one per prefix length class, and back.
TEST(DhcpClasslessRoutes, EncodesTheRfcExamplesAndDecodesThemBack) {
  const uint32_t gw = Ip(10, 77, 0, 254);
  const ClasslessRoute routes[] = {{0, 0, gw},
                                   {Ip(10, 0, 0, 0), 8, gw},
                                   {Ip(10, 17, 0, 0), 16, gw},
                                   {Ip(10, 27, 129, 0), 24, gw},
                                   {Ip(10, 229, 0, 128), 25, gw},
                                   {Ip(10, 198, 122, 47), 32, gw}};
  uint8_t out[255];
  size_t written = 0;
  const size_t n = EncodeClasslessRoutes(routes, out, &written);
  EXPECT_EQ(written, 6u);
  const std::vector<uint8_t> expected = {
      0,  10, 77,  0,   254,                       // 0.0.0.0/0
      8,  10, 10,  77,  0,   254,                  // 10/8
      16, 10, 17,  10,  77,  0,   254,             // 10.17/16
      24, 10, 27,  129, 10,  77,  0,   254,        // 10.27.129/24
      25, 10, 229, 0,   128, 10,  77,  0,   254,   // 10.229.0.128/25
      32, 10, 198, 122, 47,  10,  77,  0,   254};  // 10.198.122.47/32
  EXPECT_EQ(Bytes({out, n}), expected);
  ClasslessRoute back[8];
  size_t count = 0;
  ASSERT_TRUE(DecodeClasslessRoutes({out, n}, back, 8, &count));
  ASSERT_EQ(count, 6u);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(back[i], routes[i]) << i;
  // Host bits beyond the length are not sent.
  const ClasslessRoute sloppy{Ip(192, 168, 77, 9), 24, gw};
  ASSERT_EQ(EncodeClasslessRoutes({&sloppy, 1}, out), 8u);
  EXPECT_EQ(out[3], 77);
  ASSERT_TRUE(DecodeClasslessRoutes({out, 8}, back, 1, &count));
  EXPECT_EQ(back[0].prefix, Ip(192, 168, 77, 0));
}

TEST(DhcpClasslessRoutes, MalformedValuesAreRejected) {
  ClasslessRoute r[4];
  size_t count = 0;
  const std::vector<std::vector<uint8_t>> bad = {
      {33, 10, 0, 0, 0, 1, 2, 3, 4},  // width above 32
      {24, 10, 27, 129, 10, 77, 0},   // gateway cut short
      {24, 10},                       // prefix cut short
      {8, 10, 1, 2, 3, 4, 0},         // a second route with nothing after its width byte
      {23, 10, 27, 129, 1, 2, 3, 4},  // bit beyond /23 set
  };
  for (const auto& v : bad) EXPECT_FALSE(DecodeClasslessRoutes(v, r, 4, &count)) << v.size();
  const std::vector<uint8_t> two = {0, 1, 2, 3, 4, 0, 1, 2, 3, 4};
  EXPECT_FALSE(DecodeClasslessRoutes(two, r, 1, &count));  // more routes than room
  EXPECT_TRUE(DecodeClasslessRoutes({}, r, 4, &count));
  EXPECT_EQ(count, 0u);
}

TEST(DhcpClasslessRoutes, OptionHoldsWholeRoutesUpTo255Bytes) {
  std::vector<ClasslessRoute> many;
  for (uint32_t i = 0; i < 40; ++i) many.push_back({Ip(192, 168, i, 0), 24, Ip(10, 77, 0, 1)});
  uint8_t out[300];
  size_t written = 0;
  EXPECT_EQ(EncodeClasslessRoutes(many, out, &written), 31u * 8);
  EXPECT_EQ(written, 31u);
  EXPECT_EQ(EncodeClasslessRoutes(many, {out, 20}, &written), 16u);
  EXPECT_EQ(written, 2u);
}

TEST(DhcpClasslessRoutes, AckCarriesOption121WithinTheReplyLimit) {
  const ClasslessRoute routes[] = {{0, 0, Ip(10, 77, 0, 1)},
                                   {Ip(192, 168, 77, 0), 24, Ip(10, 77, 0, 1)}};
  Reply ack = SampleAck();
  ack.routes = routes;
  uint8_t out[kMaxReplySize];
  size_t n = BuildReply(ack, out);
  ASSERT_GT(n, 0u);
  Message m;
  ASSERT_EQ(Parse({out, n}, &m), ParseError::kNone);
  const auto value = FindOption({out, n}, kOptClasslessRoutes);
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(*value, (std::vector<uint8_t>{0, 10, 77, 0, 1, 24, 192, 168, 77, 10, 77, 0, 1}));
  EXPECT_EQ(Be32(*FindOption({out, n}, kOptRouter)), Ip(10, 77, 0, 1));  // for old clients

  // A long domain leaves less room: fewer whole routes, never a reply above 548 bytes (with a
  // 255-byte domain none fit at all).
  std::vector<ClasslessRoute> many;
  for (uint32_t i = 0; i < 40; ++i) many.push_back({Ip(192, 168, i, 0), 24, Ip(10, 77, 0, 1)});
  const std::string domain(150, 'd');
  ack.domain = domain;
  ack.routes = many;
  n = BuildReply(ack, out);
  ASSERT_GT(n, 0u);
  EXPECT_LE(n, kMaxReplySize);
  ASSERT_EQ(Parse({out, n}, &m), ParseError::kNone);
  const auto cut = FindOption({out, n}, kOptClasslessRoutes);
  ASSERT_TRUE(cut.has_value());
  EXPECT_EQ(cut->size() % 8, 0u);
  EXPECT_GT(cut->size(), 0u);
  EXPECT_LT(cut->size(), 31u * 8);

  Reply nak;
  nak.type = MessageType::kNak;
  nak.chaddr = kClientMac;
  nak.routes = routes;
  n = BuildReply(nak, out);
  EXPECT_FALSE(FindOption({out, n}, kOptClasslessRoutes).has_value());
}

}  // namespace
}  // namespace ipop::dhcp
