// IGMP codec: frames Linux sent (test_igmp_captures.h), every length check, checksum, and the
// general query the node sends.
#include "shared/igmp.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "shared/checksum.h"
#include "tests/unit/test_igmp_captures.h"

namespace ipop::igmp {
namespace {

namespace cap = igmp_captures;

constexpr uint32_t kGroup = 0xef010203;  // 239.1.2.3
constexpr uint32_t kMdns = 0xe00000fb;   // 224.0.0.251
constexpr uint32_t kSsm = 0xe8010101;    // 232.1.1.1
constexpr uint32_t kHost = 0x0a630001;   // 10.99.0.1
constexpr size_t kIgmpOffset = 14 + 24;  // Ethernet + IPv4 with Router Alert

std::vector<uint8_t> Hex(const std::string& h) {
  std::vector<uint8_t> v;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    v.push_back(uint8_t(std::stoi(h.substr(i, 2), nullptr, 16)));
  return v;
}

Message MustParse(const std::vector<uint8_t>& f) {
  Message m;
  EXPECT_EQ(Parse(f, &m), ParseError::kNone);
  return m;
}

// Rewrites the IGMP checksum after a test changed the message.
void FixIgmpChecksum(std::vector<uint8_t>& f) {
  uint8_t* msg = f.data() + kIgmpOffset;
  msg[2] = msg[3] = 0;
  StoreChecksum(msg + 2, ChecksumAdd(0, msg, f.size() - kIgmpOffset));
}

TEST(Igmp, V1AndV2ReportsJoin) {
  Message m = MustParse(Hex(cap::kV1ReportHex));
  EXPECT_EQ(m.type, kTypeV1Report);
  EXPECT_EQ(m.version, 1);
  EXPECT_EQ(m.src_ip, kHost);
  EXPECT_EQ(m.changes, (std::vector<GroupChange>{{kGroup, Change::kJoin}}));
  m = MustParse(Hex(cap::kV2ReportHex));
  EXPECT_EQ(m.version, 2);
  EXPECT_EQ(m.changes, (std::vector<GroupChange>{{kMdns, Change::kJoin}}));
}

TEST(Igmp, V2LeaveLeaves) {
  const Message m = MustParse(Hex(cap::kV2LeaveHex));
  EXPECT_EQ(m.type, kTypeV2Leave);
  EXPECT_EQ(m.dst_ip, kAllRouters);
  EXPECT_EQ(m.changes, (std::vector<GroupChange>{{kGroup, Change::kLeave}}));
}

TEST(Igmp, V3RecordsMapToAnySourceMembership) {
  EXPECT_EQ(MustParse(Hex(cap::kV3JoinHex)).changes,
            (std::vector<GroupChange>{{kGroup, Change::kJoin}}));
  EXPECT_EQ(MustParse(Hex(cap::kV3AllowHex)).changes,
            (std::vector<GroupChange>{{kSsm, Change::kJoin}}));
  EXPECT_EQ(MustParse(Hex(cap::kV3LeaveHex)).changes,
            (std::vector<GroupChange>{{kGroup, Change::kLeave}}));
  // The answer to a query lists every group: an INCLUDE list with a source is still wanted.
  const Message state = MustParse(Hex(cap::kV3CurrentStateHex));
  EXPECT_EQ(state.dst_ip, kV3Reports);
  EXPECT_EQ(state.changes,
            (std::vector<GroupChange>{
                {kSsm, Change::kJoin}, {kMdns, Change::kJoin}, {kGroup, Change::kJoin}}));
  // BLOCK changes nothing we track.
  EXPECT_EQ(MustParse(Hex(cap::kV3LeaveBlockHex)).changes,
            (std::vector<GroupChange>{{kMdns, Change::kLeave}}));
}

TEST(Igmp, ModeIsIncludeWithoutSourcesIsNotAMember) {
  std::vector<uint8_t> f = Hex(cap::kV3JoinHex);
  f[kIgmpOffset + 8] = kModeIsInclude;
  FixIgmpChecksum(f);
  EXPECT_EQ(MustParse(f).changes, (std::vector<GroupChange>{{kGroup, Change::kLeave}}));
  f[kIgmpOffset + 8] = kAllowNewSources;  // ALLOW {} says nothing
  FixIgmpChecksum(f);
  EXPECT_TRUE(MustParse(f).changes.empty());
}

TEST(Igmp, QueryIsParsedAndBuiltByteForByte) {
  const std::vector<uint8_t> captured = Hex(cap::kQueryHex);
  const Message m = MustParse(captured);
  EXPECT_EQ(m.type, kTypeQuery);
  EXPECT_EQ(m.version, 3);
  EXPECT_EQ(m.query_group, 0u);
  EXPECT_EQ(m.max_resp_ds, 20u);
  EXPECT_EQ(m.dst_ip, kAllHosts);

  const uint8_t mac[6] = {0x02, 0x00, 0x00, 0xaa, 0xbb, 0xcc};
  std::vector<uint8_t> out(kGeneralQueryFrameSize);
  ASSERT_EQ(BuildGeneralQuery(mac, 0x0a6300fe, 20, 60, out), kGeneralQueryFrameSize);
  EXPECT_EQ(out, captured);
  std::vector<uint8_t> small(kGeneralQueryFrameSize - 1);
  EXPECT_EQ(BuildGeneralQuery(mac, 0x0a6300fe, 20, 60, small), 0u);
  EXPECT_EQ(BuildGeneralQuery(mac, 0x0a6300fe, 128, 60, out), 0u);
  EXPECT_EQ(BuildGeneralQuery(mac, 0x0a6300fe, 20, 200, out), 0u);
}

TEST(Igmp, V2AndV3QueryCodes) {
  std::vector<uint8_t> f = Hex(cap::kV1ReportHex);  // 8-byte message
  f[kIgmpOffset] = kTypeQuery;
  f[kIgmpOffset + 1] = 0;
  FixIgmpChecksum(f);
  Message m = MustParse(f);
  EXPECT_EQ(m.version, 1);
  EXPECT_EQ(m.max_resp_ds, 100u);
  f[kIgmpOffset + 1] = 50;
  FixIgmpChecksum(f);
  m = MustParse(f);
  EXPECT_EQ(m.version, 2);
  EXPECT_EQ(m.max_resp_ds, 50u);
  std::vector<uint8_t> q = Hex(cap::kQueryHex);
  q[kIgmpOffset + 1] = 0x8f;  // exp 0, mant 15: (0x1f) << 3
  FixIgmpChecksum(q);
  EXPECT_EQ(MustParse(q).max_resp_ds, 0x1fu << 3);
}

TEST(Igmp, RejectsBadChecksum) {
  std::vector<uint8_t> f = Hex(cap::kV3JoinHex);
  f[f.size() - 1] ^= 1;
  Message m;
  EXPECT_EQ(Parse(f, &m), ParseError::kBadChecksum);
}

TEST(Igmp, RejectsRecordsPastTheMessage) {
  std::vector<uint8_t> f = Hex(cap::kV3JoinHex);
  f[kIgmpOffset + 7] = 2;  // two records announced, one present
  FixIgmpChecksum(f);
  Message m;
  EXPECT_EQ(Parse(f, &m), ParseError::kBadRecord);
  f = Hex(cap::kV3AllowHex);
  f[kIgmpOffset + 8 + 3] = 2;  // two sources announced, one present
  FixIgmpChecksum(f);
  EXPECT_EQ(Parse(f, &m), ParseError::kBadRecord);
  f = Hex(cap::kV3JoinHex);
  f[kIgmpOffset + 8 + 1] = 1;  // 4 bytes of aux data announced, none present
  FixIgmpChecksum(f);
  EXPECT_EQ(Parse(f, &m), ParseError::kBadRecord);
}

TEST(Igmp, RejectsUnicastGroups) {
  std::vector<uint8_t> f = Hex(cap::kV2ReportHex);
  f[kIgmpOffset + 4] = 10;  // 10.0.0.251
  FixIgmpChecksum(f);
  Message m;
  EXPECT_EQ(Parse(f, &m), ParseError::kBadGroup);
  f = Hex(cap::kV3JoinHex);
  f[kIgmpOffset + 12] = 10;
  FixIgmpChecksum(f);
  EXPECT_EQ(Parse(f, &m), ParseError::kBadGroup);
}

TEST(Igmp, RejectsShortTruncatedFragmentedAndForeign) {
  const std::vector<uint8_t> f = Hex(cap::kV3JoinHex);
  Message m;
  // Every truncation is refused (the IPv4 total length no longer fits, or the message is short).
  for (size_t n = 0; n < f.size(); ++n)
    EXPECT_NE(Parse({f.data(), n}, &m), ParseError::kNone) << "length " << n;

  std::vector<uint8_t> frag = f;
  frag[14 + 6] = 0x20;  // more fragments
  EXPECT_EQ(Parse(frag, &m), ParseError::kFragment);

  std::vector<uint8_t> udp = f;
  udp[14 + 9] = 17;
  EXPECT_EQ(Parse(udp, &m), ParseError::kNotIgmp);

  std::vector<uint8_t> arp = f;
  arp[12] = 0x08;
  arp[13] = 0x06;
  EXPECT_EQ(Parse(arp, &m), ParseError::kNotIgmp);

  // The IPv4 length says the IGMP message is 4 bytes: below any IGMP message.
  std::vector<uint8_t> tiny = f;
  tiny[14 + 3] = 24 + 4;
  RefreshIpv4Checksum(tiny.data() + 14, 24);
  EXPECT_EQ(Parse(tiny, &m), ParseError::kTooShort);

  std::vector<uint8_t> unknown = Hex(cap::kV2ReportHex);
  unknown[kIgmpOffset] = 0x13;  // DVMRP
  FixIgmpChecksum(unknown);
  EXPECT_EQ(Parse(unknown, &m), ParseError::kUnknownType);
}

TEST(Igmp, GroupMac) {
  uint8_t mac[6];
  GroupMac(0xef810203, mac);  // 239.129.2.3: the top bit of the second octet is dropped
  const uint8_t want[6] = {0x01, 0x00, 0x5e, 0x01, 0x02, 0x03};
  EXPECT_EQ(std::vector<uint8_t>(mac, mac + 6), std::vector<uint8_t>(want, want + 6));
}

}  // namespace
}  // namespace ipop::igmp
