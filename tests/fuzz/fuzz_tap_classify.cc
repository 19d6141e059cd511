// Fuzzes the outbound front of the dataplane: TAP reads with a virtio-net header through
// SplitTapReads (header removal, partial-checksum completion; TSO super-frames are fuzz_tso_split's
// subject and only accounted for here), then ClassifyTapFrames, each judged by a reference written
// from the RFCs and the stage contracts in tap_offload.h / outbound.h:
//   - every read consumed ends forwarded (same buffer, 10 bytes further on), cut into segments or
//     dropped with its reason; a completed checksum makes the covered bytes sum to what the
//     kernel's partial sum asked for, and nothing else in the frame changes;
//   - each frame gets the class the reference gives it (forward, punt for ARP / IGMP / DHCP / DNS
//     over UDP or TCP to the service address (TCP counted) / a group without an entry, fan-out with
//     the group's entry, or a drop with the named reason); a forwarded frame is trimmed to its IPv4
//     total length, within the MTU, to a unicast destination, and unchanged but for MSS clamping
//     (fuzz_dp_reference.h);
//   - a reflected frame is a well-formed ICMP "fragmentation needed" to the sender quoting it;
//   - drop counters add up to the drops.
//
// Input: cfg, mtu (2 bytes, big endian, folded into 576..9000), then TAP reads [len: 2, big
// endian][virtio-net header + frame]. cfg & 3: ICMP tokens, cfg & 4: an ICMP limit at all,
// (cfg >> 3) & 3: group-punt tokens, cfg & 0x20: a group-punt limit at all, cfg & 0x40: room for
// only half the reads in the output.
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "dataplane/mss_clamp.h"
#include "dataplane/outbound.h"
#include "dataplane/tap_offload.h"
#include "dataplane/vnet.h"
#include "tests/fuzz/fuzz_dp_reference.h"

namespace {

using namespace ipop;
namespace vnet = ipop::dp::vnet;
using fuzz::Be16;
using fuzz::Be32;
using fuzz::Require;

constexpr uint32_t Ip(uint32_t a, uint32_t b, uint32_t c, uint32_t d) {
  return a << 24 | b << 16 | c << 8 | d;
}

constexpr uint32_t kLocal = Ip(10, 77, 0, 1);  // /24
constexpr uint32_t kService = Ip(10, 77, 0, 254);
constexpr uint32_t kGroup = Ip(239, 1, 1, 1);  // entry 0; broadcast is entry 1
constexpr uint8_t kGateway[6] = {0x02, 0x49, 0x50, 1, 2, 3};
constexpr uint32_t kReadOffset = dp::kIpOffset - 14 - vnet::kHeaderSize;
constexpr uint32_t kReadTailroom = 16;
constexpr size_t kSegments = 16;

const shm::Generation& Table() {
  static const shm::Generation* const g = [] {
    shm::PeerEntry peer{};
    peer.flags = shm::kPeerValid;
    peer.vip = Ip(10, 77, 0, 2);
    shm::Generation* gen =
        fuzz::BuildGeneration({peer}, {{peer.vip, 32, 0}}, kLocal, 24, 1400, kGateway);
    gen->hdr.service_ip = kService;
    gen->groups[0].group = kGroup;
    gen->groups[1].group = 0xffffffffu;
    gen->groups[1].counter = 1;
    gen->hdr.n_groups = 2;
    return gen;
  }();
  return *g;
}

uint32_t FoldMtu(uint32_t raw) {
  return raw >= 576 && raw <= 9000 ? raw : 576 + raw % (9000 - 576 + 1);
}

// Checks SplitTapReads' handling of a plain read (gso none) that it forwarded as `out`.
void CheckPlain(const std::vector<uint8_t>& read, const dp::Packet& out, const uint8_t* buf) {
  const uint8_t* frame = read.data() + vnet::kHeaderSize;
  const size_t n = read.size() - vnet::kHeaderSize;
  Require(out.data == buf + kReadOffset + vnet::kHeaderSize && out.len == n);
  Require(out.headroom == kReadOffset + vnet::kHeaderSize && out.tailroom == kReadTailroom);
  const vnet::Header h = vnet::Load(read.data());
  if (!(h.flags & vnet::kNeedsCsum)) {
    Require(std::memcmp(out.data, frame, n) == 0);
    return;
  }
  const size_t start = h.csum_start, field = start + h.csum_offset;
  Require(field + 2 <= n);
  for (size_t i = 0; i < n; ++i)
    if (i != field && i != field + 1) Require(out.data[i] == frame[i]);
  // The field held the kernel's pseudo-header sum; once completed, the covered bytes plus that
  // sum add up to zero (0xffff). Only meaningful when the field is a whole 16-bit word of the
  // covered range, as the kernel always sets it (csum_offset 6 or 16).
  if ((h.csum_offset & 1) == 0)
    Require(fuzz::OnesAdd(fuzz::OnesSum(out.data + start, n - start), Be16(frame + field)) ==
            0xffff);
}

enum class Class { kForward, kPunt, kFanOut, kTooBig, kDrop };
struct Expected {
  Class cls = Class::kDrop;
  DropReason drop{};
  size_t len = 0;           // frame length afterwards (0: as read)
  uint32_t entry = 0;       // kFanOut: the group's table entry
  bool group = false;       // a frame to a group: never answered with ICMP
  bool group_punt = false;  // kPunt of a group without an entry (takes a token)
  bool dns_tcp = false;     // kPunt of a TCP segment to the DNS responder (counted)
};

Expected Classify(const uint8_t* f, size_t n, uint32_t mtu, bool group_tokens) {
  if (n < 14) return {Class::kDrop, DropReason::tap_short_frame};
  const uint16_t type = Be16(f + 12);
  if (type == 0x0806) return {Class::kPunt};
  if (type != 0x0800) return {Class::kDrop, DropReason::tap_unsupported_ethertype};
  const uint8_t* ip = f + 14;
  const std::optional<fuzz::Ipv4Ref> r = fuzz::ParseIpv4Ref(ip, n - 14);
  if (!r) {
    // Header sound but the total length runs past what was read: larger than any TAP read of an
    // MTU-sized buffer when it exceeds the MTU.
    const bool header_ok = n - 14 >= 20 && (ip[0] >> 4) == 4 && (ip[0] & 0xf) >= 5 &&
                           size_t(ip[0] & 0xf) * 4 <= n - 14;
    if (header_ok && Be16(ip + 2) > n - 14 && Be16(ip + 2) > mtu) return {Class::kTooBig};
    return {Class::kDrop, DropReason::tap_bad_ipv4};
  }
  const size_t trimmed = 14 + r->total;
  if (r->proto == 17 && r->total >= r->ihl + 8) {
    const uint16_t dport = Be16(ip + r->ihl + 2);
    if (dport == 67 || (dport == 53 && r->dst == kService)) return {Class::kPunt};
  }
  // DNS over TCP (RFC 7766): a whole TCP header to port 53 of the service address.
  if (r->proto == 6 && r->dst == kService && r->total >= r->ihl + 20 && Be16(ip + r->ihl + 2) == 53)
    return {Class::kPunt, {}, 0, 0, false, false, true};
  const bool bcast =
      r->dst == 0xffffffffu || r->dst == Ip(224, 0, 0, 1) || r->dst == Ip(10, 77, 0, 255);
  if (bcast || (r->dst >> 28) == 0xe) {
    if (r->proto == 2) return {Class::kPunt};  // IGMP membership: the control plane's
    // RFC 1122 3.2.2: no ICMP error about a packet to a group.
    if (r->total > mtu) return {Class::kTooBig, DropReason::too_big, 0, 0, true};
    if (bcast || r->dst == kGroup) return {Class::kFanOut, {}, trimmed, bcast ? 1u : 0u, true};
    if (group_tokens) return {Class::kPunt, {}, trimmed, 0, true, true};
    return {Class::kDrop, DropReason::mcast_no_group, trimmed, 0, true};
  }
  if (r->total > mtu) return {Class::kTooBig};
  return {Class::kForward, {}, trimmed};
}

// A kReflect frame answering `orig` (the frame as classified): RFC 792 type 3 code 4 with the
// RFC 1191 next-hop MTU, from the packet's destination to its source, quoting its start.
void CheckIcmpTooBig(const dp::Packet& p, const std::vector<uint8_t>& orig, uint32_t mtu) {
  const uint8_t* f = p.data;
  const uint8_t* o = orig.data() + 14;
  const size_t ihl = size_t(o[0] & 0xf) * 4;
  const size_t quote = std::min({ihl + 8, size_t(Be16(o + 2)), orig.size() - 14});
  Require(p.len == 14 + 20 + 8 + quote);
  Require(std::memcmp(f, orig.data() + 6, 6) == 0 && std::memcmp(f + 6, kGateway, 6) == 0);
  Require(Be16(f + 12) == 0x0800);
  const std::optional<fuzz::Ipv4Ref> ip = fuzz::ParseIpv4Ref(f + 14, p.len - 14);
  Require(ip && ip->ihl == 20 && ip->total == p.len - 14 && ip->proto == 1 && !ip->fragment);
  Require(fuzz::OnesSum(f + 14, 20) == 0xffff);
  Require(ip->dst == Be32(o + 12) && ip->src == Be32(o + 16));
  const uint8_t* icmp = f + 34;
  Require(icmp[0] == 3 && icmp[1] == 4 && Be16(icmp + 6) == mtu);
  Require(fuzz::OnesSum(icmp, 8 + quote) == 0xffff);
  Require(std::memcmp(icmp + 8, o, quote) == 0);
}

struct Read {
  std::vector<uint8_t> bytes;
  std::unique_ptr<uint8_t[]> buf;
  dp::Packet p;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const uint8_t cfg = data[0];
  const uint32_t mtu = FoldMtu(Be16(data + 1));

  std::vector<Read> reads;
  for (size_t pos = 3; pos + 2 <= size && reads.size() < 32;) {
    const size_t len = std::min<size_t>(Be16(data + pos), size - pos - 2);
    Read& r = reads.emplace_back();
    r.bytes.assign(data + pos + 2, data + pos + 2 + len);
    pos += 2 + len;
    r.buf = std::make_unique<uint8_t[]>(kReadOffset + len + kReadTailroom);
    if (len) std::memcpy(r.buf.get() + kReadOffset, r.bytes.data(), len);
    r.p.data = r.buf.get() + kReadOffset;
    r.p.len = uint32_t(len);
    r.p.headroom = kReadOffset;
    r.p.tailroom = kReadTailroom;
    r.p.buf = uint32_t(reads.size() - 1);
  }
  if (reads.empty()) return 0;

  const uint32_t segment_size = dp::kIpOffset + mtu + dp::kOutboundTailroom;
  std::vector<std::unique_ptr<uint8_t[]>> seg_mem;
  std::vector<dp::SegmentBuffer> segments;
  for (uint32_t i = 0; i < kSegments; ++i) {
    seg_mem.push_back(std::make_unique<uint8_t[]>(segment_size));
    segments.push_back({1000 + i, seg_mem.back().get()});
  }
  const size_t capacity = (cfg & 0x40) ? (reads.size() + 1) / 2 : kSegments + reads.size();
  std::vector<dp::Packet> out(capacity);
  std::vector<dp::Packet*> read_span;
  for (Read& r : reads) read_span.push_back(&r.p);
  auto counters = std::make_unique<shm::WorkerCounters>();
  const dp::SplitResult sr =
      dp::SplitTapReads(read_span, segments, segment_size, mtu, out.data(), capacity, *counters);

  // ---- SplitTapReads ----
  Require(sr.reads <= reads.size() && sr.frames <= capacity && sr.segments_used <= kSegments);
  size_t frame = 0, segs = 0, split_drops = 0;
  std::vector<const Read*> origin(sr.frames, nullptr);  // the read of each plain output frame
  for (size_t i = 0; i < sr.reads; ++i) {
    const Read& r = reads[i];
    if (r.p.verdict == dp::Verdict::kDrop) {
      ++split_drops;
      continue;
    }
    const bool gso = r.bytes.size() >= vnet::kHeaderSize + 14 && r.bytes[1] != vnet::kGsoNone;
    if (r.p.verdict == dp::Verdict::kDone) {
      Require(gso);
      const std::optional<fuzz::TcpRef> t =
          fuzz::ParseTcpRef(r.bytes.data() + vnet::kHeaderSize, r.bytes.size() - vnet::kHeaderSize);
      const size_t mss = vnet::Load(r.bytes.data()).gso_size;
      Require(t && mss > 0);
      const size_t n = (t->payload + mss - 1) / mss;
      for (size_t k = 0; k < n; ++k, ++frame) Require(frame < sr.frames && out[frame].buf >= 1000);
      segs += n;
      continue;
    }
    Require(r.p.verdict == dp::Verdict::kForward && !gso);
    Require(frame < sr.frames && out[frame].buf == r.p.buf);
    CheckPlain(r.bytes, out[frame], r.buf.get());
    origin[frame++] = &r;
  }
  Require(frame == sr.frames && segs == sr.segments_used);
  // Reads left for the next burst: only when the output or the segment buffers ran out.
  if (sr.reads < reads.size())
    Require(sr.frames == capacity ||
            (reads[sr.reads].bytes.size() >= 24 && reads[sr.reads].bytes[1] != vnet::kGsoNone));
  uint64_t counted = 0;
  for (DropReason d : {DropReason::tap_short_frame, DropReason::tap_bad_ipv4, DropReason::too_big,
                       DropReason::buffer_exhausted})
    counted += counters->drop[uint32_t(d)].load();
  Require(counted == split_drops);

  // ---- ClassifyTapFrames ----
  std::vector<std::vector<uint8_t>> before(sr.frames);
  std::vector<dp::Packet*> span;
  for (size_t i = 0; i < sr.frames; ++i) {
    before[i].assign(out[i].data, out[i].data + out[i].len);
    span.push_back(&out[i]);
  }
  const uint32_t icmp_tokens = cfg & 3, group_tokens = (cfg >> 3) & 3;
  TokenBucket icmp(0, icmp_tokens), group_punts(0, group_tokens);
  auto classify_counters = std::make_unique<shm::WorkerCounters>();
  dp::OutboundContext ctx{&Table(), mtu, 0, nullptr, classify_counters.get()};
  ctx.icmp_limit = (cfg & 4) ? &icmp : nullptr;
  ctx.group_punt_limit = (cfg & 0x20) ? &group_punts : nullptr;
  const size_t n = dp::ClassifyTapFrames(span, ctx);

  size_t forwarded = 0, drops = 0, reflected = 0, group_punted = 0, clamped = 0, dns_tcp_punted = 0;
  for (size_t i = 0; i < sr.frames; ++i) {
    const dp::Packet& p = out[i];
    const std::vector<uint8_t>& f = before[i];
    const bool tokens = ctx.group_punt_limit != nullptr && group_punted < group_tokens;
    const Expected e = Classify(f.data(), f.size(), mtu, tokens);
    const size_t len = e.len != 0 ? e.len : f.size();
    switch (e.cls) {
      case Class::kForward:
        Require(p.verdict == dp::Verdict::kForward && forwarded < n && span[forwarded] == &p);
        ++forwarded;
        Require(p.len == len && len <= 14 + mtu);
        Require(std::memcmp(p.data, f.data(), 14) == 0);
        clamped += fuzz::CheckClamp(f.data() + 14, p.data + 14, len - 14, dp::MssForMtu(mtu), true);
        continue;
      case Class::kTooBig:
        if (p.verdict == dp::Verdict::kReflect) {
          Require(!e.group && ctx.icmp_limit != nullptr && ++reflected <= icmp_tokens);
          CheckIcmpTooBig(p, f, mtu);
        } else {
          Require(p.verdict == dp::Verdict::kDrop && p.drop == DropReason::too_big);
          Require(p.len == f.size() && std::memcmp(p.data, f.data(), f.size()) == 0);
        }
        ++drops;
        continue;
      case Class::kPunt:
        Require(p.verdict == dp::Verdict::kPunt);
        group_punted += e.group_punt;
        dns_tcp_punted += e.dns_tcp;
        break;
      case Class::kFanOut:
        Require(p.verdict == dp::Verdict::kFanOut && p.peer == e.entry);
        break;
      case Class::kDrop:
        Require(p.verdict == dp::Verdict::kDrop && p.drop == e.drop);
        ++drops;
        break;
    }
    // Not forwarded: the bytes stay as read (only Ethernet padding may be cut off).
    Require(p.len == len && std::memcmp(p.data, f.data(), len) == 0);
  }
  Require(forwarded == n);
  uint64_t dropped = 0;
  for (const auto& d : classify_counters->drop) dropped += d.load();
  Require(dropped == drops);
  Require(classify_counters->stat[uint32_t(Stat::icmp_too_big_sent)].load() == reflected);
  Require(classify_counters->stat[uint32_t(Stat::mcast_punted)].load() == group_punted);
  Require(classify_counters->stat[uint32_t(Stat::mss_clamped)].load() == clamped);
  Require(classify_counters->stat[uint32_t(Stat::dns_tcp_punted)].load() == dns_tcp_punted);
  return 0;
}
