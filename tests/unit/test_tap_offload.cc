// TAP offload stages: the checksum helpers against a naive RFC 1071 reference, TSO super-frame
// segmentation, and TCP coalescing (including a segment -> coalesce round trip).
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/packet.h"
#include "dataplane/tap_offload.h"
#include "dataplane/vnet.h"
#include "shared/checksum.h"
#include "shared/ether.h"
#include "shared/wire.h"

namespace ipop::dp {
namespace {

using Bytes = std::vector<uint8_t>;

// RFC 1071 the slow way: big-endian 16-bit words, odd byte padded with zero.
uint16_t NaiveSum(const Bytes& data) {
  uint32_t sum = 0;
  for (size_t i = 0; i < data.size(); i += 2) {
    const uint32_t hi = data[i];
    const uint32_t lo = i + 1 < data.size() ? data[i + 1] : 0;
    sum += (hi << 8) | lo;
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  }
  return uint16_t(sum);
}

// Checksum verification: summing a header (or pseudo header + segment) including its checksum
// field gives 0xffff.
bool Ipv4HeaderValid(const uint8_t* ip) {
  const size_t ihl = size_t(ip[0] & 0x0f) * 4;
  return NaiveSum(Bytes(ip, ip + ihl)) == 0xffff;
}
bool TcpChecksumValid(const uint8_t* ip) {
  const size_t ihl = size_t(ip[0] & 0x0f) * 4;
  const size_t total = ether::LoadBe16(ip + 2);
  Bytes pseudo(ip + 12, ip + 20);
  pseudo.push_back(0);
  pseudo.push_back(6);
  pseudo.push_back(uint8_t((total - ihl) >> 8));
  pseudo.push_back(uint8_t(total - ihl));
  pseudo.insert(pseudo.end(), ip + ihl, ip + total);
  return NaiveSum(pseudo) == 0xffff;
}

TEST(Checksum, MatchesNaiveReferenceForEveryLength) {
  std::mt19937 rng(7);
  for (size_t len = 0; len < 300; ++len) {
    Bytes data(len);
    for (auto& b : data) b = uint8_t(rng());
    uint16_t ours = ChecksumFold(ChecksumAdd(0, data.data(), data.size()));
    // Our fold is in memory order; compare as the two bytes it would store.
    uint8_t stored[2];
    std::memcpy(stored, &ours, 2);
    const uint16_t naive = NaiveSum(data);
    EXPECT_EQ(stored[0], naive >> 8) << len;
    EXPECT_EQ(stored[1], naive & 0xff) << len;
  }
}

TEST(Checksum, RefreshedIpv4HeaderVerifies) {
  uint8_t ip[20] = {0x45, 0,    0,  60, 0x12, 0x34, 0x40, 0, 64, 6,
                    0xde, 0xad, 10, 0,  0,    1,    10,   0, 0,  2};
  RefreshIpv4Checksum(ip, sizeof(ip));
  EXPECT_TRUE(Ipv4HeaderValid(ip));
}

constexpr uint32_t kSrc = 0x0a000001;
constexpr uint32_t kDst = 0x0a000002;
constexpr uint32_t kMtu = 1400;

struct TcpSpec {
  uint32_t seq = 1000;
  uint32_t ack = 777;
  uint8_t flags = 0x10;  // ACK
  uint16_t window = 512;
  uint16_t src_port = 40000;
  uint16_t dst_port = 5201;
  size_t payload = 100;
  uint8_t fill = 1;
  bool timestamps = true;  // 12 bytes of options
  uint16_t ip_id = 100;
  int ip_option = -1;  // >= 0: an IPv4 router alert option (RFC 2113) with this value
};

// An Ethernet/IPv4/TCP frame with valid checksums; payload bytes derive from seq so any slice
// can be checked against the stream.
Bytes TcpFrame(const TcpSpec& t) {
  const size_t thl = t.timestamps ? 32 : 20;
  const size_t ihl = t.ip_option >= 0 ? 24 : 20;
  const size_t ip_len = ihl + thl + t.payload;
  Bytes f(ether::kHeaderSize + ip_len, 0);
  const uint8_t mac[6] = {2, 0, 0, 0, 0, 1};
  ether::WriteEthernetHeader(f.data(), mac, mac, ether::kTypeIpv4);
  uint8_t* ip = f.data() + ether::kHeaderSize;
  ip[0] = uint8_t(0x40 | ihl / 4);
  ether::StoreBe16(ip + 2, uint16_t(ip_len));
  ether::StoreBe16(ip + 4, t.ip_id);
  ip[6] = 0x40;  // DF
  ip[8] = 64;
  ip[9] = 6;
  wire::StoreBe32(ip + 12, kSrc);
  wire::StoreBe32(ip + 16, kDst);
  if (t.ip_option >= 0) {
    const uint8_t alert[4] = {0x94, 4, 0, uint8_t(t.ip_option)};
    std::memcpy(ip + 20, alert, 4);
  }
  RefreshIpv4Checksum(ip, ihl);
  uint8_t* tcp = ip + ihl;
  ether::StoreBe16(tcp, t.src_port);
  ether::StoreBe16(tcp + 2, t.dst_port);
  wire::StoreBe32(tcp + 4, t.seq);
  wire::StoreBe32(tcp + 8, t.ack);
  tcp[12] = uint8_t((thl / 4) << 4);
  tcp[13] = t.flags;
  ether::StoreBe16(tcp + 14, t.window);
  if (t.timestamps) {
    const uint8_t opts[12] = {1, 1, 8, 10, 0, 0, 0, 42, 0, 0, 0, 7};
    std::memcpy(tcp + 20, opts, sizeof(opts));
  }
  for (size_t i = 0; i < t.payload; ++i) tcp[thl + i] = uint8_t((t.seq + i) * 31 + t.fill);
  const uint16_t tcp_len = uint16_t(thl + t.payload);
  StoreChecksum(tcp + 16, ChecksumAdd(PseudoHeaderSum(ip, 6, tcp_len), tcp, tcp_len));
  return f;
}

// Packet memory: one 70 KiB buffer per packet, content at `offset`.
class Buffers {
 public:
  Packet* Add(const Bytes& content, uint32_t offset) {
    auto mem = std::make_unique<Bytes>(70000, 0xcc);
    std::memcpy(mem->data() + offset, content.data(), content.size());
    auto p = std::make_unique<Packet>();
    p->data = mem->data() + offset;
    p->len = uint32_t(content.size());
    p->headroom = offset;
    p->tailroom = uint32_t(mem->size() - offset - content.size());
    p->buf = uint32_t(pkts_.size());
    mems_.push_back(std::move(mem));
    pkts_.push_back(std::move(p));
    return pkts_.back().get();
  }
  std::vector<Packet*> All() {
    std::vector<Packet*> v;
    for (auto& p : pkts_) v.push_back(p.get());
    return v;
  }

 private:
  std::vector<std::unique_ptr<Bytes>> mems_;
  std::vector<std::unique_ptr<Packet>> pkts_;
};

// Segment buffers for SplitTapReads.
class Segments {
 public:
  explicit Segments(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      mems_.push_back(std::make_unique<Bytes>(2048, 0));
      free_.push_back(SegmentBuffer{uint32_t(1000 + i), mems_.back()->data()});
    }
  }
  std::vector<SegmentBuffer>& free() { return free_; }

 private:
  std::vector<std::unique_ptr<Bytes>> mems_;
  std::vector<SegmentBuffer> free_;
};

Bytes WithVnet(const vnet::Header& h, const Bytes& frame) {
  Bytes out(vnet::kHeaderSize + frame.size());
  vnet::Store(out.data(), h);
  std::copy(frame.begin(), frame.end(), out.begin() + vnet::kHeaderSize);
  return out;
}

// A TSO super-frame as the kernel hands it over: one header set, pseudo-header partial sum.
Bytes SuperFrame(const TcpSpec& t, uint16_t mss) {
  Bytes f = TcpFrame(t);
  uint8_t* ip = f.data() + ether::kHeaderSize;
  const size_t thl = t.timestamps ? 32 : 20;
  const uint16_t partial = ChecksumFold(PseudoHeaderSum(ip, 6, uint16_t(thl + t.payload)));
  std::memcpy(ip + 20 + 16, &partial, 2);
  vnet::Header h;
  h.flags = vnet::kNeedsCsum;
  h.gso_type = vnet::kGsoTcpV4;
  h.hdr_len = uint16_t(ether::kHeaderSize + 20 + thl);
  h.gso_size = mss;
  h.csum_start = uint16_t(ether::kHeaderSize + 20);
  h.csum_offset = 16;
  return WithVnet(h, f);
}

struct SplitRun {
  std::vector<Packet> out;
  std::vector<Packet*> reads;
  SplitResult result;
};

TEST(SplitTapReads, CutsTsoSuperFrameIntoValidSegments) {
  TcpSpec t;
  t.payload = 5000;
  t.flags = 0x18;             // ACK + PSH: PSH must end up on the last segment only
  const uint16_t mss = 1348;  // 1400 - 20 - 32
  Buffers bufs;
  bufs.Add(SuperFrame(t, mss), kIpOffset - 14 - 10);
  Segments segs(16);
  std::vector<Packet> out(64);
  auto counters = std::make_unique<shm::WorkerCounters>();
  std::vector<Packet*> reads = bufs.All();
  const SplitResult r =
      SplitTapReads(reads, segs.free(), 2048, kMtu, out.data(), out.size(), *counters);
  ASSERT_EQ(r.frames, 4u);
  EXPECT_EQ(r.segments_used, 4u);
  EXPECT_EQ(reads[0]->verdict, Verdict::kDone);
  size_t offset = 0;
  for (size_t i = 0; i < r.frames; ++i) {
    const Packet& p = out[i];
    const uint8_t* ip = p.data + ether::kHeaderSize;
    const uint8_t* tcp = ip + 20;
    const size_t chunk = std::min<size_t>(mss, t.payload - offset);
    EXPECT_EQ(p.len, ether::kHeaderSize + 20 + 32 + chunk);
    EXPECT_EQ(ether::LoadBe16(ip + 2), 20 + 32 + chunk);
    EXPECT_EQ(ether::LoadBe16(ip + 4), t.ip_id + i);
    EXPECT_TRUE(Ipv4HeaderValid(ip)) << i;
    EXPECT_TRUE(TcpChecksumValid(ip)) << i;
    EXPECT_EQ(wire::LoadBe32(tcp + 4), t.seq + offset);
    EXPECT_EQ(tcp[13], i + 1 == r.frames ? 0x18 : 0x10) << i;
    for (size_t k = 0; k < chunk; ++k) {
      ASSERT_EQ(tcp[32 + k], uint8_t((t.seq + offset + k) * 31 + t.fill));
    }
    EXPECT_GE(p.headroom, 2u);  // room for sealing in place
    EXPECT_GE(p.tailroom, 16u);
    offset += chunk;
  }
  EXPECT_EQ(offset, t.payload);
}

TEST(SplitTapReads, CompletesPartialChecksumOfPlainFrame) {
  TcpSpec t;
  Bytes f = TcpFrame(t);
  uint8_t* ip = f.data() + ether::kHeaderSize;
  const uint16_t partial = ChecksumFold(PseudoHeaderSum(ip, 6, uint16_t(32 + t.payload)));
  std::memcpy(ip + 20 + 16, &partial, 2);
  vnet::Header h;
  h.flags = vnet::kNeedsCsum;
  h.csum_start = uint16_t(ether::kHeaderSize + 20);
  h.csum_offset = 16;
  Buffers bufs;
  bufs.Add(WithVnet(h, f), kIpOffset - 14 - 10);
  Segments segs(4);
  std::vector<Packet> out(4);
  auto counters = std::make_unique<shm::WorkerCounters>();
  std::vector<Packet*> reads = bufs.All();
  const SplitResult r =
      SplitTapReads(reads, segs.free(), 2048, kMtu, out.data(), out.size(), *counters);
  ASSERT_EQ(r.frames, 1u);
  EXPECT_EQ(r.segments_used, 0u);
  EXPECT_EQ(reads[0]->verdict, Verdict::kForward);  // moved, same buffer
  EXPECT_EQ(out[0].buf, reads[0]->buf);
  EXPECT_EQ(out[0].len, f.size());
  EXPECT_TRUE(TcpChecksumValid(out[0].data + ether::kHeaderSize));
}

TEST(SplitTapReads, DropsWhatItCannotHandle) {
  TcpSpec t;
  t.payload = 3000;
  Bytes udp_gso = SuperFrame(t, 1000);
  udp_gso[1] = 5;  // VIRTIO_NET_HDR_GSO_UDP_L4: never enabled
  Buffers bufs;
  bufs.Add(Bytes(12, 0), kIpOffset);         // shorter than header + Ethernet
  bufs.Add(udp_gso, kIpOffset);              // unsupported GSO type
  bufs.Add(SuperFrame(t, 1390), kIpOffset);  // segments larger than the MTU
  bufs.Add(SuperFrame(t, 100), kIpOffset);   // 30 segments: more than a burst may hold
  Segments segs(64);
  std::vector<Packet> out(16);
  auto counters = std::make_unique<shm::WorkerCounters>();
  std::vector<Packet*> reads = bufs.All();
  const SplitResult r =
      SplitTapReads(reads, segs.free(), 2048, kMtu, out.data(), out.size(), *counters);
  EXPECT_EQ(r.reads, 4u);
  EXPECT_EQ(r.frames, 0u);
  EXPECT_EQ(r.segments_used, 0u);
  for (Packet* p : reads) EXPECT_EQ(p->verdict, Verdict::kDrop);
  auto drop = [&](DropReason d) { return counters->drop[uint32_t(d)].load(); };
  EXPECT_EQ(drop(DropReason::tap_short_frame), 1u);
  EXPECT_EQ(drop(DropReason::tap_bad_ipv4), 1u);
  EXPECT_EQ(drop(DropReason::too_big), 1u);
  EXPECT_EQ(drop(DropReason::buffer_exhausted), 1u);
}

TEST(SplitTapReads, WaitsForSegmentBuffersInsteadOfDropping) {
  TcpSpec t;
  t.payload = 3000;
  Buffers bufs;
  bufs.Add(SuperFrame(t, 1000), kIpOffset);  // 3 segments
  bufs.Add(SuperFrame(t, 1000), kIpOffset);  // 3 more: only 2 buffers left
  Segments segs(5);
  std::vector<Packet> out(16);
  auto counters = std::make_unique<shm::WorkerCounters>();
  std::vector<Packet*> reads = bufs.All();
  const SplitResult r =
      SplitTapReads(reads, segs.free(), 2048, kMtu, out.data(), out.size(), *counters);
  EXPECT_EQ(r.reads, 1u);
  EXPECT_EQ(r.frames, 3u);
  EXPECT_EQ(r.segments_used, 3u);
  EXPECT_EQ(reads[0]->verdict, Verdict::kDone);
  EXPECT_EQ(reads[1]->verdict, Verdict::kForward);  // untouched, still queued
  for (uint32_t d = 0; d < kNumDropReasons; ++d) EXPECT_EQ(counters->drop[d].load(), 0u);
}

// Frames as DeliverInner leaves them (data at the Ethernet header, room in front).
std::vector<Packet*> Delivered(Buffers& bufs, const std::vector<Bytes>& frames) {
  for (const Bytes& f : frames) bufs.Add(f, kIpOffset - 14);
  return bufs.All();
}

// Reassembles what one write unit puts on the TAP: the head (with its header) + followers.
Bytes UnitBytes(const std::vector<Packet*>& span, size_t at) {
  Bytes out;
  const size_t k = span[at]->unit;
  for (size_t i = at; i < at + k; ++i)
    out.insert(out.end(), span[i]->data, span[i]->data + span[i]->len);
  return out;
}

TEST(CoalesceTcp, MergesContiguousSegmentsOfOneFlow) {
  std::vector<Bytes> frames;
  TcpSpec t;
  t.payload = 1000;
  for (int i = 0; i < 4; ++i) {
    frames.push_back(TcpFrame(t));
    t.seq += 1000;
  }
  t.payload = 300;  // a short last segment is allowed, and ends the unit
  frames.push_back(TcpFrame(t));
  t.seq += 300;
  t.payload = 1000;
  frames.push_back(TcpFrame(t));  // after a short segment: starts a new unit
  Buffers bufs;
  std::vector<Packet*> span = Delivered(bufs, frames);
  ASSERT_EQ(CoalesceTcp(span), 2u);
  ASSERT_EQ(span[0]->unit, 5);
  for (int i = 1; i < 5; ++i) EXPECT_EQ(span[i]->unit, 0);
  EXPECT_EQ(span[5]->unit, 1);

  const Bytes w = UnitBytes(span, 0);
  const vnet::Header h = vnet::Load(w.data());
  EXPECT_EQ(h.gso_type, vnet::kGsoTcpV4);
  EXPECT_EQ(h.flags, vnet::kNeedsCsum);
  EXPECT_EQ(h.gso_size, 1000);
  EXPECT_EQ(h.hdr_len, 14 + 20 + 32);
  EXPECT_EQ(h.csum_start, 14 + 20);
  EXPECT_EQ(h.csum_offset, 16);
  const uint8_t* ip = w.data() + vnet::kHeaderSize + ether::kHeaderSize;
  EXPECT_EQ(ether::LoadBe16(ip + 2), 20 + 32 + 4300);
  EXPECT_EQ(w.size(), vnet::kHeaderSize + 14 + 20 + 32 + 4300);
  EXPECT_TRUE(Ipv4HeaderValid(ip));
  // The TCP field holds the pseudo-header sum for the merged length (partial checksum).
  uint16_t partial;
  std::memcpy(&partial, ip + 20 + 16, 2);
  EXPECT_EQ(partial, ChecksumFold(PseudoHeaderSum(ip, 6, 32 + 4300)));
  for (size_t k = 0; k < 4300; ++k) {
    ASSERT_EQ(ip[52 + k], uint8_t((1000 + k) * 31 + 1)) << k;
  }
  const vnet::Header single = vnet::Load(span[5]->data);
  EXPECT_EQ(single.gso_type, vnet::kGsoNone);
  EXPECT_EQ(single.flags, vnet::kDataValid);
}

TEST(CoalesceTcp, KeepsApartWhatGroWouldNotMerge) {
  TcpSpec base;
  base.payload = 500;
  auto next = [](TcpSpec t) {
    t.seq += uint32_t(t.payload);
    return t;
  };
  TcpSpec gap = next(base);
  gap.seq += 1;  // a hole
  TcpSpec other_ack = next(base);
  other_ack.ack += 1;
  TcpSpec other_window = next(base);
  other_window.window = 1;
  TcpSpec syn = next(base);
  syn.flags = 0x12;
  TcpSpec larger = next(base);
  larger.payload = 600;  // bigger than the head's segment size
  for (const TcpSpec& second : {gap, other_ack, other_window, syn, larger}) {
    Buffers bufs;
    std::vector<Packet*> span = Delivered(bufs, {TcpFrame(base), TcpFrame(second)});
    EXPECT_EQ(CoalesceTcp(span), 2u);
    EXPECT_EQ(span[0]->unit, 1);
    EXPECT_EQ(span[1]->unit, 1);
  }
}

TEST(CoalesceTcp, MergesIpv4OptionsOnlyWhenEqual) {
  // Found by fuzz_tcp_coalesce: the merged header carries the head's options for every member.
  TcpSpec a;
  a.payload = 500;
  a.ip_option = 1;
  TcpSpec b = a;
  b.seq += 500;
  for (const int option : {1, 2}) {
    b.ip_option = option;
    Buffers bufs;
    std::vector<Packet*> span = Delivered(bufs, {TcpFrame(a), TcpFrame(b)});
    const bool same = option == a.ip_option;
    EXPECT_EQ(CoalesceTcp(span), same ? 1u : 2u) << option;
    EXPECT_EQ(span[0]->unit, same ? 2 : 1) << option;
  }
}

TEST(CoalesceTcp, PushEndsUnitAndFlowsStayInOrder) {
  TcpSpec a;
  a.payload = 800;
  TcpSpec b = a;
  b.src_port = 40001;
  TcpSpec a2 = a;
  a2.seq += 800;
  a2.flags = 0x18;  // PSH: joins, then closes
  TcpSpec a3 = a2;
  a3.seq += 800;
  a3.flags = 0x10;
  TcpSpec b2 = b;
  b2.seq += 800;
  Buffers bufs;
  std::vector<Packet*> span =
      Delivered(bufs, {TcpFrame(a), TcpFrame(b), TcpFrame(a2), TcpFrame(a3), TcpFrame(b2)});
  ASSERT_EQ(CoalesceTcp(span), 3u);
  // Units in creation order: a+a2, b+b2, a3.
  EXPECT_EQ(span[0]->unit, 2);
  EXPECT_EQ(span[2]->unit, 2);
  EXPECT_EQ(span[4]->unit, 1);
  const uint8_t* tcp_a = span[0]->data + vnet::kHeaderSize + 14 + 20;
  EXPECT_EQ(ether::LoadBe16(tcp_a), 40000);
  EXPECT_EQ(tcp_a[13] & 0x08, 0x08);  // merged PSH
  const uint8_t* tcp_b = span[2]->data + vnet::kHeaderSize + 14 + 20;
  EXPECT_EQ(ether::LoadBe16(tcp_b), 40001);
  const uint8_t* tcp_a3 = span[4]->data + vnet::kHeaderSize + 14 + 20;
  EXPECT_EQ(wire::LoadBe32(tcp_a3 + 4), a3.seq);
}

TEST(CoalesceTcp, NonTcpAndFinAreWrittenAlone) {
  TcpSpec fin;
  fin.flags = 0x11;
  Bytes udp = TcpFrame(TcpSpec{});
  udp[ether::kHeaderSize + 9] = 17;
  Buffers bufs;
  std::vector<Packet*> span = Delivered(bufs, {TcpFrame(fin), udp});
  EXPECT_EQ(CoalesceTcp(span), 2u);
  EXPECT_EQ(span[0]->unit, 1);
  EXPECT_EQ(span[1]->unit, 1);
  EXPECT_EQ(span[1]->len, vnet::kHeaderSize + udp.size());
}

TEST(TapOffload, SplitThenCoalesceRestoresTheStream) {
  TcpSpec t;
  t.payload = 40000;
  const uint16_t mss = 1348;
  Buffers reads_mem;
  reads_mem.Add(SuperFrame(t, mss), kIpOffset - 14 - 10);
  Segments segs(64);
  std::vector<Packet> out(64);
  auto counters = std::make_unique<shm::WorkerCounters>();
  std::vector<Packet*> reads = reads_mem.All();
  const SplitResult r =
      SplitTapReads(reads, segs.free(), 2048, kMtu, out.data(), out.size(), *counters);
  ASSERT_EQ(r.frames, (t.payload + mss - 1) / mss);
  std::vector<Packet*> span;
  for (size_t i = 0; i < r.frames; ++i) span.push_back(&out[i]);
  ASSERT_EQ(CoalesceTcp(span), 1u);
  ASSERT_EQ(span[0]->unit, r.frames);
  const Bytes w = UnitBytes(span, 0);
  const uint8_t* ip = w.data() + vnet::kHeaderSize + ether::kHeaderSize;
  ASSERT_EQ(ether::LoadBe16(ip + 2), 20 + 32 + t.payload);
  for (size_t k = 0; k < t.payload; ++k) ASSERT_EQ(ip[52 + k], uint8_t((t.seq + k) * 31 + 1));
  EXPECT_EQ(vnet::Load(w.data()).gso_size, mss);
}

}  // namespace
}  // namespace ipop::dp
