// TCP MSS clamping: the option is lowered only on SYNs, wherever it sits among the options, and
// the incrementally updated checksum equals a full recomputation. The outbound classify and
// inbound deliver stages clamp in both directions.
#include <unistd.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/inbound.h"
#include "dataplane/mss_clamp.h"
#include "dataplane/outbound.h"
#include "shared/ether.h"
#include "shared/shm_region.h"
#include "shared/table.h"
#include "shared/wire.h"

namespace ipop::dp {
namespace {

using Bytes = std::vector<uint8_t>;

constexpr uint32_t kSrc = 0x0a4d0001;
constexpr uint32_t kDst = 0x0a4d0002;
constexpr uint8_t kSyn = 0x02;
constexpr uint8_t kAck = 0x10;

uint32_t Sum16(const uint8_t* p, size_t len, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < len; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  if (len & 1) sum += uint32_t(p[len - 1] << 8);
  return sum;
}
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(~sum);
}
// Reference TCP checksum over pseudo header + segment with the checksum field zeroed.
uint16_t TcpChecksum(const Bytes& ip) {
  const size_t ihl = size_t(ip[0] & 0x0f) * 4;
  Bytes seg(ip.begin() + long(ihl), ip.end());
  seg[16] = seg[17] = 0;
  uint32_t sum = Sum16(&ip[12], 8);
  sum += 6 + uint32_t(seg.size());
  return Fold(Sum16(seg.data(), seg.size(), sum));
}
uint16_t StoredTcpChecksum(const Bytes& ip) {
  const size_t ihl = size_t(ip[0] & 0x0f) * 4;
  return ether::LoadBe16(&ip[ihl + 16]);
}

// IPv4 + TCP with the given options (a multiple of 4 bytes) and a valid TCP checksum.
Bytes TcpPacket(uint8_t flags, const Bytes& options, size_t payload = 0) {
  const size_t thl = 20 + options.size();
  Bytes ip(20 + thl + payload);
  ip[0] = 0x45;
  ether::StoreBe16(&ip[2], uint16_t(ip.size()));
  ether::StoreBe16(&ip[6], 0x4000);
  ip[8] = 64;
  ip[9] = 6;
  wire::StoreBe32(&ip[12], kSrc);
  wire::StoreBe32(&ip[16], kDst);
  uint8_t* tcp = &ip[20];
  ether::StoreBe16(tcp, 40000);
  ether::StoreBe16(tcp + 2, 5201);
  wire::StoreBe32(tcp + 4, 0x12345678);
  tcp[12] = uint8_t((thl / 4) << 4);
  tcp[13] = flags;
  ether::StoreBe16(tcp + 14, 64240);
  std::copy(options.begin(), options.end(), tcp + 20);
  for (size_t i = 20 + thl; i < ip.size(); ++i) ip[i] = uint8_t(i);
  ether::StoreBe16(tcp + 16, TcpChecksum(ip));
  return ip;
}

uint16_t MssOption(const Bytes& ip) {  // the MSS value in a packet built by TcpPacket
  const uint8_t* tcp = &ip[20];
  const size_t thl = size_t(tcp[12] >> 4) * 4;
  for (size_t off = 20; off + 3 < thl;) {
    if (tcp[off] == 1) {
      ++off;
      continue;
    }
    if (tcp[off] == 2) return ether::LoadBe16(tcp + off + 2);
    if (tcp[off] == 0 || tcp[off + 1] < 2) break;
    off += tcp[off + 1];
  }
  return 0;
}

const Bytes kLinuxSynOptions = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0,
                                1, 0, 0,    0,    0, 1, 3, 3,  7};  // MSS 1460, SACK, TS, NOP, WS

TEST(MssClamp, ClampsSynAndSynAckWithValidChecksum) {
  for (uint8_t flags : {kSyn, uint8_t(kSyn | kAck)}) {
    Bytes ip = TcpPacket(flags, kLinuxSynOptions);
    ASSERT_EQ(StoredTcpChecksum(ip), TcpChecksum(ip));
    EXPECT_TRUE(ClampTcpMss(ip.data(), ip.size(), MssForMtu(1400)));
    EXPECT_EQ(MssOption(ip), 1360);
    EXPECT_EQ(StoredTcpChecksum(ip), TcpChecksum(ip));
  }
}

TEST(MssClamp, OddOffsetOptionKeepsChecksumRight) {
  // NOP first: the MSS value straddles two 16-bit words of the checksummed header.
  Bytes ip = TcpPacket(kSyn, {1, 2, 4, 0x23, 0x28, 1, 1, 1});  // MSS 9000
  EXPECT_TRUE(ClampTcpMss(ip.data(), ip.size(), 1360));
  EXPECT_EQ(MssOption(ip), 1360);
  EXPECT_EQ(StoredTcpChecksum(ip), TcpChecksum(ip));
}

TEST(MssClamp, LeavesEverythingElseAlone) {
  const std::vector<std::pair<const char*, Bytes>> cases = {
      {"already small", TcpPacket(kSyn, {2, 4, 0x05, 0x00})},
      {"not a SYN", TcpPacket(kAck, {2, 4, 0x05, 0xb4}, 100)},
      {"no MSS option", TcpPacket(kSyn, {1, 1, 4, 2})},
      {"zero-length option", TcpPacket(kSyn, {8, 0, 2, 4, 0x05, 0xb4, 1, 1})},
      {"option runs past header", TcpPacket(kSyn, {1, 1, 2, 4})},
      {"MSS with bad length", TcpPacket(kSyn, {2, 3, 0x05, 0xb4})},
      {"after end of options", TcpPacket(kSyn, {0, 0, 0, 0, 2, 4, 0x05, 0xb4})},
  };
  for (const auto& [name, original] : cases) {
    Bytes ip = original;
    EXPECT_FALSE(ClampTcpMss(ip.data(), ip.size(), 1360)) << name;
    EXPECT_EQ(ip, original) << name;
  }
  Bytes fragment = TcpPacket(kSyn, {2, 4, 0x05, 0xb4});
  ether::StoreBe16(&fragment[6], 0x2000);  // MF
  EXPECT_FALSE(ClampTcpMss(fragment.data(), fragment.size(), 1360));
  Bytes udp = TcpPacket(kSyn, {2, 4, 0x05, 0xb4});
  udp[9] = 17;
  EXPECT_FALSE(ClampTcpMss(udp.data(), udp.size(), 1360));
  Bytes truncated = TcpPacket(kSyn, kLinuxSynOptions);
  EXPECT_FALSE(ClampTcpMss(truncated.data(), 20 + 30, 1360));  // header runs past the packet
}

TEST(MssClamp, IncrementalUpdateMatchesFullRecomputation) {
  std::mt19937 rng(7);
  for (int i = 0; i < 2000; ++i) {
    uint8_t data[32];
    for (uint8_t& b : data) b = uint8_t(rng());
    const uint16_t before = Fold(Sum16(data, sizeof(data)));
    const size_t w = (rng() % 16) * 2;
    uint16_t old_word, new_word;
    std::memcpy(&old_word, data + w, 2);
    data[w] = uint8_t(rng());
    data[w + 1] = uint8_t(rng());
    std::memcpy(&new_word, data + w, 2);
    const uint16_t after = Fold(Sum16(data, sizeof(data)));
    uint8_t stored[2] = {uint8_t(before >> 8), uint8_t(before)};
    uint16_t wire_before;
    std::memcpy(&wire_before, stored, 2);
    const uint16_t updated = ChecksumReplace16(wire_before, old_word, new_word);
    uint8_t out[2];
    std::memcpy(out, &updated, 2);
    // One's complement has two zeros; a checksum verifies with either.
    const uint16_t got = uint16_t(out[0] << 8 | out[1]);
    EXPECT_TRUE(got == after || (uint16_t(got + after) == 0xffff && (got == 0 || after == 0))) << i;
  }
}

// Both directions through the stages: A's classify clamps what the kernel sends into the
// overlay, B's deliver clamps what a peer with a larger MTU sends us.
TEST(MssClampStages, OutboundClassifyAndInboundDeliverClamp) {
  const std::string name = "/ipop-test-mss-" + std::to_string(getpid());
  shm::ShmRegion::Unlink(name);
  std::string error;
  auto region = shm::ShmRegion::CreateOrAttach(name, 1, &error);
  ASSERT_TRUE(region) << error;
  shm::TableWriter writer(*region);
  shm::TableSpec spec;
  spec.local_vip = kDst;
  shm::PeerEntry peer{};
  peer.flags = shm::kPeerValid;
  peer.vip = kSrc;
  spec.peers = {peer};
  spec.routes = {{kSrc, 32, 0}};
  ASSERT_TRUE(writer.Publish(spec, &error)) << error;
  const shm::Generation* gen = writer.Active();
  auto counters = std::make_unique<shm::WorkerCounters>();

  auto buffer = std::make_unique<uint8_t[]>(2048);
  auto place = [&](const Bytes& ip, bool with_ethernet) {
    uint8_t* at = buffer.get() + kIpOffset;
    std::memcpy(at, ip.data(), ip.size());
    Packet p;
    p.data = with_ethernet ? at - ether::kHeaderSize : at;
    p.len = uint32_t(ip.size() + (with_ethernet ? ether::kHeaderSize : 0));
    p.headroom = uint32_t(p.data - buffer.get());
    p.tailroom = 2048 - p.headroom - p.len;
    if (with_ethernet)
      ether::WriteEthernetHeader(p.data, spec.gateway_mac, spec.gateway_mac, ether::kTypeIpv4);
    return p;
  };
  auto ip_of = [](const Packet& p) { return Bytes(p.data + ether::kHeaderSize, p.data + p.len); };

  Packet out = place(TcpPacket(kSyn, kLinuxSynOptions), true);
  Packet* span_out[] = {&out};
  const OutboundContext octx{gen, 1400, 1, nullptr, counters.get()};
  ASSERT_EQ(ClassifyTapFrames(span_out, octx), 1u);
  EXPECT_EQ(MssOption(ip_of(out)), 1360);
  EXPECT_EQ(StoredTcpChecksum(ip_of(out)), TcpChecksum(ip_of(out)));

  Packet in = place(TcpPacket(kSyn | kAck, kLinuxSynOptions), false);
  in.peer = 0;
  Packet* span_in[] = {&in};
  InboundContext ictx{gen, {}, nullptr, counters.get(), 1200};
  ASSERT_EQ(DeliverInner(span_in, ictx), 1u);
  EXPECT_EQ(MssOption(ip_of(in)), 1160);
  EXPECT_EQ(StoredTcpChecksum(ip_of(in)), TcpChecksum(ip_of(in)));
  EXPECT_EQ(counters->stat[uint32_t(Stat::mss_clamped)].load(), 2u);

  Packet in_unclamped = place(TcpPacket(kSyn, kLinuxSynOptions), false);
  Packet* span_plain[] = {&in_unclamped};
  ictx.mtu = 0;  // clamping off
  ASSERT_EQ(DeliverInner(span_plain, ictx), 1u);
  EXPECT_EQ(MssOption(ip_of(in_unclamped)), 1460);
  shm::ShmRegion::Unlink(name);
}

}  // namespace
}  // namespace ipop::dp
