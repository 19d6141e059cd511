// ICMP "fragmentation needed" builder, its rate limit, and the classify stage that uses them:
// checksums are verified with an independent RFC 1071 sum, the quote is the offending header
// plus 8 bytes, and packets that must not be answered are not.
#include <cstring>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/icmp_too_big.h"
#include "dataplane/outbound.h"
#include "shared/ether.h"
#include "shared/shm_layout.h"
#include "shared/token_bucket.h"
#include "shared/wire.h"

namespace ipop::dp {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kSrc = 0x0a4d0001;  // 10.77.0.1
constexpr uint32_t kDst = 0x0a4d0002;  // 10.77.0.2
constexpr uint16_t kMtu = 1400;
constexpr uint8_t kTapMac[6] = {0x02, 0, 0, 0, 0, 0x0a};
constexpr uint8_t kGwMac[6] = {0x02, 0, 0, 0, 0xff, 0x0a};

// Reference RFC 1071 sum over big-endian 16-bit words; 0 when a stored checksum is right.
uint16_t Rfc1071(const uint8_t* p, size_t len) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < len; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += uint32_t(p[len - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}

// An IPv4 packet: `options` bytes of IP options, protocol, payload filled with a pattern.
Bytes Packet4(size_t total, uint8_t protocol = 17, size_t options = 0, bool df = true) {
  Bytes ip(total);
  ip[0] = uint8_t(0x40 | ((20 + options) / 4));
  ether::StoreBe16(&ip[2], uint16_t(total));
  ether::StoreBe16(&ip[4], 0x1234);
  ether::StoreBe16(&ip[6], df ? 0x4000 : 0);
  ip[8] = 64;
  ip[9] = protocol;
  wire::StoreBe32(&ip[12], kSrc);
  wire::StoreBe32(&ip[16], kDst);
  for (size_t i = 20; i < total; ++i) ip[i] = uint8_t(i * 13 + 1);
  ip[10] = ip[11] = 0;
  const uint16_t c = Rfc1071(ip.data(), 20 + options);
  ether::StoreBe16(&ip[10], c);
  return ip;
}

IcmpTooBigParams Params() {
  IcmpTooBigParams p;
  std::memcpy(p.dst_mac, kTapMac, 6);
  std::memcpy(p.src_mac, kGwMac, 6);
  p.source = kDst;
  p.next_hop_mtu = kMtu;
  return p;
}

// Checks everything about a built frame answering `original` and returns the quote.
Bytes CheckFrame(const uint8_t* f, size_t n, const Bytes& original) {
  EXPECT_GE(n, ether::kHeaderSize + 28u);
  EXPECT_EQ(std::memcmp(f, kTapMac, 6), 0);
  EXPECT_EQ(std::memcmp(f + 6, kGwMac, 6), 0);
  EXPECT_EQ(ether::LoadBe16(f + 12), ether::kTypeIpv4);
  const uint8_t* ip = f + ether::kHeaderSize;
  EXPECT_EQ(ip[0], 0x45);
  EXPECT_EQ(ether::LoadBe16(ip + 2), n - ether::kHeaderSize);
  EXPECT_EQ(ip[9], kProtoIcmp);
  EXPECT_GT(ip[8], 0);
  EXPECT_EQ(wire::LoadBe32(ip + 12), kDst);  // from the destination the packet was for
  EXPECT_EQ(wire::LoadBe32(ip + 16), kSrc);  // back to its sender
  EXPECT_EQ(Rfc1071(ip, 20), 0) << "IPv4 header checksum";
  const uint8_t* icmp = ip + 20;
  const size_t icmp_len = n - ether::kHeaderSize - 20;
  EXPECT_EQ(icmp[0], 3);
  EXPECT_EQ(icmp[1], 4);
  EXPECT_EQ(ether::LoadBe16(icmp + 4), 0);
  EXPECT_EQ(ether::LoadBe16(icmp + 6), kMtu);
  EXPECT_EQ(Rfc1071(icmp, icmp_len), 0) << "ICMP checksum";
  (void)original;
  return Bytes(icmp + 8, icmp + icmp_len);
}

TEST(IcmpTooBig, QuotesHeaderPlusEightBytesWithValidChecksums) {
  const Bytes original = Packet4(1500);
  uint8_t out[kIcmpTooBigMaxFrame];
  const size_t n = BuildIcmpTooBig(original, Params(), out, sizeof(out));
  ASSERT_EQ(n, 14u + 20 + 8 + 28);
  const Bytes quote = CheckFrame(out, n, original);
  EXPECT_EQ(quote, Bytes(original.begin(), original.begin() + 28));
}

TEST(IcmpTooBig, QuotesIpOptionsAndOddLengths) {
  const Bytes with_options = Packet4(1500, 6, 40);  // IHL 15: 60-byte header
  uint8_t out[kIcmpTooBigMaxFrame];
  size_t n = BuildIcmpTooBig(with_options, Params(), out, sizeof(out));
  ASSERT_EQ(n, kIcmpTooBigMaxFrame);
  EXPECT_EQ(CheckFrame(out, n, with_options),
            Bytes(with_options.begin(), with_options.begin() + 68));

  const Bytes tiny = Packet4(25);  // shorter than header + 8: quote all of it (odd length)
  n = BuildIcmpTooBig(tiny, Params(), out, sizeof(out));
  ASSERT_EQ(n, 14u + 20 + 8 + 25);
  EXPECT_EQ(CheckFrame(out, n, tiny), tiny);
}

TEST(IcmpTooBig, AnswersAFrameCutShortByTheRead) {
  Bytes cut = Packet4(1500);
  cut.resize(100);  // the header still says 1500
  uint8_t out[kIcmpTooBigMaxFrame];
  const size_t n = BuildIcmpTooBig(cut, Params(), out, sizeof(out));
  ASSERT_EQ(n, 14u + 20 + 8 + 28);
  EXPECT_EQ(CheckFrame(out, n, cut), Bytes(cut.begin(), cut.begin() + 28));
}

TEST(IcmpTooBig, BuildsInPlaceOverTheOriginalFrame) {
  const Bytes original = Packet4(1500);
  Bytes frame(ether::kHeaderSize + original.size());
  ether::WriteEthernetHeader(frame.data(), kGwMac, kTapMac, ether::kTypeIpv4);
  std::copy(original.begin(), original.end(), frame.begin() + ether::kHeaderSize);
  IcmpTooBigParams p = Params();
  const size_t n = BuildIcmpTooBig({frame.data() + ether::kHeaderSize, original.size()}, p,
                                   frame.data(), frame.size());
  ASSERT_EQ(n, 14u + 20 + 8 + 28);
  EXPECT_EQ(CheckFrame(frame.data(), n, original), Bytes(original.begin(), original.begin() + 28));
}

TEST(IcmpTooBig, RefusesWhatMustNotBeAnswered) {
  uint8_t out[kIcmpTooBigMaxFrame];
  auto built = [&](const Bytes& b) { return BuildIcmpTooBig(b, Params(), out, sizeof(out)); };
  Bytes fragment = Packet4(1500);
  ether::StoreBe16(&fragment[6], 0x00b9);  // offset 185 * 8
  EXPECT_EQ(built(fragment), 0u);
  Bytes first_fragment = Packet4(1500, 17, 0, false);
  ether::StoreBe16(&first_fragment[6], 0x2000);  // MF, offset 0: answerable
  EXPECT_NE(built(first_fragment), 0u);
  for (uint32_t src : {0u, 0x7f000001u, 0xe00000fbu, 0xffffffffu}) {
    Bytes b = Packet4(1500);
    wire::StoreBe32(&b[12], src);
    EXPECT_EQ(built(b), 0u) << std::hex << src;
  }
  Bytes icmp_error = Packet4(1500, kProtoIcmp);
  icmp_error[20] = 3;
  EXPECT_EQ(built(icmp_error), 0u);
  Bytes echo = Packet4(1500, kProtoIcmp);
  echo[20] = 8;  // an echo request is a query, not an error
  EXPECT_NE(built(echo), 0u);
  Bytes bad = Packet4(1500);
  bad[0] = 0x44;  // IHL 4
  EXPECT_EQ(built(bad), 0u);
  bad[0] = 0x65;  // version 6
  EXPECT_EQ(built(bad), 0u);
  EXPECT_EQ(built(Bytes(19, 0x45)), 0u);
  EXPECT_EQ(BuildIcmpTooBig(Packet4(1500), Params(), out, 14 + 20 + 8 + 27), 0u);  // no room
}

TEST(TokenBucket, StartsFullRefillsAtRateCapsAtBurst) {
  TokenBucket b(100, 3);  // one token per 10 ms
  const uint64_t t0 = 5'000'000'000;
  EXPECT_TRUE(b.Take(t0));
  EXPECT_TRUE(b.Take(t0));
  EXPECT_TRUE(b.Take(t0));
  EXPECT_FALSE(b.Take(t0));
  EXPECT_FALSE(b.Take(t0 + 9'999'999));
  EXPECT_TRUE(b.Take(t0 + 10'000'000));
  EXPECT_FALSE(b.Take(t0 + 15'000'000));
  EXPECT_TRUE(b.Take(t0 + 20'000'000));  // the 5 ms remainder was kept
  int got = 0;
  for (int i = 0; i < 10; ++i) got += b.Take(t0 + 10'000'000'000) ? 1 : 0;
  EXPECT_EQ(got, 3);         // a long pause refills to the burst only
  EXPECT_FALSE(b.Take(t0));  // time going backwards earns nothing
}

TEST(TokenBucket, FullOnlyOnceEveryTakenTokenHasBeenEarnedBack) {
  TokenBucket b(100, 3);
  const uint64_t t0 = 5'000'000'000;
  EXPECT_TRUE(b.Full(t0));
  ASSERT_TRUE(b.Take(t0));
  ASSERT_TRUE(b.Take(t0));
  EXPECT_FALSE(b.Full(t0));
  EXPECT_FALSE(b.Full(t0 + 19'999'999));  // one of the two tokens back
  EXPECT_TRUE(b.Full(t0 + 20'000'000));
  EXPECT_FALSE(b.Full(t0 - 1));  // time going backwards earns nothing
}

// The classify stage: oversize frames become ICMP replies (kReflect) while tokens last.
class ClassifyTooBigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    gen_ = std::make_unique<shm::Generation>();
    gen_->hdr.local_vip = kSrc;
    gen_->hdr.local_prefix_len = 24;
    std::memcpy(gen_->hdr.gateway_mac, kGwMac, 6);
  }
  Packet Make(const Bytes& ip, uint32_t len_override = 0) {
    auto& buf = bufs_.emplace_back(std::make_unique<uint8_t[]>(4096));
    uint8_t* f = buf.get() + kIpOffset - ether::kHeaderSize;
    ether::WriteEthernetHeader(f, kGwMac, kTapMac, ether::kTypeIpv4);
    std::memcpy(f + ether::kHeaderSize, ip.data(), ip.size());
    Packet p;
    p.data = f;
    p.len = len_override != 0 ? len_override : uint32_t(ether::kHeaderSize + ip.size());
    p.headroom = kIpOffset - uint32_t(ether::kHeaderSize);
    p.tailroom = 4096 - p.headroom - p.len;
    return p;
  }
  uint64_t drop(DropReason r) { return counters_->drop[uint32_t(r)].load(); }
  uint64_t stat(Stat s) { return counters_->stat[uint32_t(s)].load(); }
  OutboundContext Ctx(TokenBucket* limit) {
    OutboundContext c{gen_.get(), kMtu, 1, nullptr, counters_.get()};
    c.icmp_limit = limit;
    return c;
  }

  std::unique_ptr<shm::Generation> gen_;
  std::unique_ptr<shm::WorkerCounters> counters_ = std::make_unique<shm::WorkerCounters>();
  std::vector<std::unique_ptr<uint8_t[]>> bufs_;
};

TEST_F(ClassifyTooBigTest, MtuPlusOneIsAnsweredExactlyMtuPasses) {
  TokenBucket limit(100, 10);
  Packet at_mtu = Make(Packet4(kMtu));
  Packet over = Make(Packet4(kMtu + 1));
  Packet no_df = Make(Packet4(kMtu + 1, 17, 0, false));  // we never fragment: same answer
  Packet* span[] = {&at_mtu, &over, &no_df};
  EXPECT_EQ(ClassifyTapFrames(span, Ctx(&limit)), 1u);
  EXPECT_EQ(span[0], &at_mtu);
  EXPECT_EQ(at_mtu.verdict, Verdict::kForward);
  for (Packet* p : {&over, &no_df}) {
    ASSERT_EQ(p->verdict, Verdict::kReflect);
    CheckFrame(p->data, p->len, {});
  }
  EXPECT_EQ(drop(DropReason::too_big), 2u);
  EXPECT_EQ(stat(Stat::icmp_too_big_sent), 2u);
}

TEST_F(ClassifyTooBigTest, TruncatedReadOfOversizeFrameIsTooBigNotMalformed) {
  TokenBucket limit(100, 10);
  // The read buffer held 14 + MTU bytes of a 1500-byte packet.
  Packet cut = Make(Packet4(1500), uint32_t(ether::kHeaderSize + kMtu));
  Bytes short_claim = Packet4(200);
  ether::StoreBe16(&short_claim[2], 300);  // claims more than there is, but within the MTU
  Packet bad = Make(short_claim);
  Packet* span[] = {&cut, &bad};
  EXPECT_EQ(ClassifyTapFrames(span, Ctx(&limit)), 0u);
  EXPECT_EQ(cut.verdict, Verdict::kReflect);
  EXPECT_EQ(bad.verdict, Verdict::kDrop);
  EXPECT_EQ(drop(DropReason::too_big), 1u);
  EXPECT_EQ(drop(DropReason::tap_bad_ipv4), 1u);
}

TEST_F(ClassifyTooBigTest, RateLimitedAndUnanswerableAreOnlyDropped) {
  TokenBucket limit(1, 2);
  std::vector<Packet> pkts;
  for (int i = 0; i < 5; ++i) pkts.push_back(Make(Packet4(kMtu + 100)));
  Bytes mcast_src = Packet4(kMtu + 100);
  wire::StoreBe32(&mcast_src[12], 0xe0000001);
  pkts.push_back(Make(mcast_src));
  std::vector<Packet*> span;
  for (Packet& p : pkts) span.push_back(&p);
  EXPECT_EQ(ClassifyTapFrames(span, Ctx(&limit)), 0u);
  int reflected = 0;
  for (Packet& p : pkts) reflected += p.verdict == Verdict::kReflect;
  EXPECT_EQ(reflected, 2);
  EXPECT_EQ(pkts.back().verdict, Verdict::kDrop);
  EXPECT_EQ(drop(DropReason::too_big), 6u);
  EXPECT_EQ(stat(Stat::icmp_too_big_sent), 2u);
  EXPECT_EQ(stat(Stat::icmp_too_big_limited), 3u);

  Packet again = Make(Packet4(kMtu + 100));  // without a limiter: no ICMP at all
  Packet* one[] = {&again};
  EXPECT_EQ(ClassifyTapFrames(one, Ctx(nullptr)), 0u);
  EXPECT_EQ(again.verdict, Verdict::kDrop);
  EXPECT_EQ(stat(Stat::icmp_too_big_sent), 2u);
}

}  // namespace
}  // namespace ipop::dp
