// UDP frames on the TAP: round trip, checksums against a naive RFC 1071 sum, every rejection.
#include "controlplane/services/udp_frame.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace ipop::udp {
namespace {

const uint8_t kMacA[6] = {0x02, 0, 0, 0, 0, 1};
const uint8_t kMacB[6] = {0x02, 0, 0, 0, 0, 2};

uint16_t NaiveSum(const std::vector<uint8_t>& bytes) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) sum += uint32_t(bytes[i]) << 8 | bytes[i + 1];
  if (bytes.size() % 2) sum += uint32_t(bytes.back()) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}

std::vector<uint8_t> Build(std::span<const uint8_t> payload) {
  std::vector<uint8_t> f(2048);
  const size_t n = BuildFrame({kMacA, 0x0a4d0001, 67}, {kMacB, 0xffffffff, 68}, payload, f);
  f.resize(n);
  return f;
}

TEST(UdpFrame, RoundTripAndChecksums) {
  for (size_t len : {0u, 1u, 2u, 3u, 300u, 1401u}) {
    std::vector<uint8_t> payload(len);
    for (size_t i = 0; i < len; ++i) payload[i] = uint8_t(i * 13 + 5);
    const auto f = Build(payload);
    ASSERT_EQ(f.size(), kFrameOverhead + len);
    FrameView v;
    ASSERT_EQ(ParseFrame(f, &v), FrameError::kNone) << len;
    EXPECT_EQ(v.src_ip, 0x0a4d0001u);
    EXPECT_EQ(v.dst_ip, 0xffffffffu);
    EXPECT_EQ(v.src_port, 67);
    EXPECT_EQ(v.dst_port, 68);
    EXPECT_EQ(std::vector<uint8_t>(v.payload.begin(), v.payload.end()), payload);
    EXPECT_EQ(0, std::memcmp(v.src_mac, kMacA, 6));
    // IPv4 header sums to all ones.
    EXPECT_EQ(NaiveSum({f.begin() + 14, f.begin() + 34}), 0xffff);
    // UDP: pseudo header + datagram sums to all ones.
    std::vector<uint8_t> pseudo(f.begin() + 26, f.begin() + 34);
    pseudo.push_back(0);
    pseudo.push_back(17);
    pseudo.push_back(uint8_t((8 + len) >> 8));
    pseudo.push_back(uint8_t(8 + len));
    pseudo.insert(pseudo.end(), f.begin() + 34, f.end());
    EXPECT_EQ(NaiveSum(pseudo), 0xffff) << len;
  }
}

TEST(UdpFrame, RejectsWhatIsNotAWholeUdpDatagram) {
  const std::vector<uint8_t> payload(40, 7);
  const auto good = Build(payload);
  FrameView v;
  auto with = [&](size_t at, uint8_t value) {
    auto f = good;
    f[at] = value;
    return ParseFrame(f, &v);
  };
  EXPECT_EQ(ParseFrame(std::span(good).first(10), &v), FrameError::kNotIpv4);
  EXPECT_EQ(with(12, 0x86), FrameError::kNotIpv4);      // ethertype
  EXPECT_EQ(with(14, 0x65), FrameError::kBadIpv4);      // version 6
  EXPECT_EQ(with(23, 6), FrameError::kNotUdp);          // TCP
  EXPECT_EQ(with(20, 0x20), FrameError::kFragment);     // MF
  EXPECT_EQ(with(39, 4), FrameError::kBadLength);       // UDP length 4
  EXPECT_EQ(with(38, 0xff), FrameError::kBadLength);    // past the IPv4 payload
  EXPECT_EQ(with(50, 0x99), FrameError::kBadChecksum);  // payload changed
  EXPECT_EQ(ParseFrame(std::span(good).first(40), &v), FrameError::kBadIpv4);  // truncated
  // A zero checksum means "not computed" and is accepted.
  auto f = good;
  f[40] = f[41] = 0;
  f[50] = 0x99;
  EXPECT_EQ(ParseFrame(f, &v), FrameError::kNone);
  // Too small an output buffer.
  std::vector<uint8_t> small(kFrameOverhead + payload.size() - 1);
  EXPECT_EQ(BuildFrame({kMacA, 1, 2}, {kMacB, 3, 4}, payload, small), 0u);
}

}  // namespace
}  // namespace ipop::udp
