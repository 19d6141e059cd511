// Fuzzes the TSO split of SplitTapReads: TCP/IPv4 super-frames the kernel hands over with a
// virtio-net GSO header are cut into MSS-sized segments. Checked against references written from
// RFC 791/793/1071 (fuzz_dp_reference.h), for every super-frame that was split:
//   - the segments' payloads, in order, are exactly the super-frame's payload; each carries
//     gso_size bytes but the last (1..gso_size), and fits the MTU;
//   - each segment is a valid frame: IPv4 total length and header checksum right, id = id0 + i,
//     sequence number = seq0 + offset, TCP checksum right (verified independently); FIN and PSH
//     only on the last, CWR only on the first; every other header byte copied unchanged;
//   - segment buffers come from the back of the free list, each used once, laid out for sealing
//     in place (frame at kIpOffset - 14, room accounted to the segment size);
// and for every read: the verdict (kDone / kForward / kDrop with its reason) is the one the
// contract in tap_offload.h gives, reads are only left over for lack of room, and drops add up.
//
// Input: free segment buffers (1 byte, 0..63), output capacity (1 byte), mtu (2 bytes, big
// endian, folded into 576..9000), then TAP reads [len: 2, big endian][virtio-net header + frame].
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "dataplane/outbound.h"
#include "dataplane/tap_offload.h"
#include "dataplane/vnet.h"
#include "shared/wire.h"
#include "tests/fuzz/fuzz_dp_reference.h"

namespace {

using namespace ipop;
namespace vnet = ipop::dp::vnet;
using fuzz::Be16;
using fuzz::Be32;
using fuzz::Require;

constexpr uint32_t kReadOffset = dp::kIpOffset - 14 - vnet::kHeaderSize;

uint32_t FoldMtu(uint32_t raw) {
  return raw >= 576 && raw <= 9000 ? raw : 576 + raw % (9000 - 576 + 1);
}

struct Read {
  std::vector<uint8_t> bytes;
  std::unique_ptr<uint8_t[]> buf;
  dp::Packet p;
};

// The segments cut from super-frame `read` (virtio-net header + frame), out[0, count).
void CheckSegments(const std::vector<uint8_t>& read, const fuzz::TcpRef& t, const dp::Packet* out,
                   size_t count, const dp::SegmentBuffer* taken, uint32_t segment_size,
                   uint32_t mtu) {
  const uint8_t* f = read.data() + vnet::kHeaderSize;
  const size_t mss = vnet::Load(read.data()).gso_size;
  const size_t headers = t.data;  // Ethernet + IPv4 + TCP
  const uint16_t id0 = Be16(f + 14 + 4);
  const uint32_t seq0 = Be32(f + t.l4 + 4);
  size_t offset = 0;  // payload bytes carried by the segments so far
  for (size_t i = 0; i < count; ++i) {
    const dp::Packet& o = out[i];
    const uint8_t* s = o.data;
    // Buffers from the back of the free list, laid out like a TAP read of a plain frame.
    Require(o.buf == taken[i].id && s == taken[i].mem + dp::kIpOffset - 14);
    Require(o.headroom == dp::kIpOffset - 14 && o.headroom + o.len + o.tailroom == segment_size);
    Require(o.verdict == dp::Verdict::kForward);
    const std::optional<fuzz::TcpRef> st = fuzz::ParseTcpRef(s, o.len);
    Require(st && st->data == headers && st->ip.total + 14 == o.len && o.len <= 14 + mtu);
    const size_t chunk = st->payload;
    const bool last = i + 1 == count;
    Require(chunk > 0 && chunk <= mss && (last || chunk == mss));
    Require(std::memcmp(s + headers, f + t.data + offset, chunk) == 0);
    // Headers: copied, but for length, id, checksums, sequence number and per-segment flags.
    for (size_t b = 0; b < headers; ++b) {
      const size_t ipb = b - 14, tcpb = b - t.l4;
      if (b >= 14 && b < t.l4 &&
          (ipb == 2 || ipb == 3 || ipb == 4 || ipb == 5 || ipb == 10 || ipb == 11))
        continue;
      if (b >= t.l4 && ((tcpb >= 4 && tcpb < 8) || tcpb == 13 || tcpb == 16 || tcpb == 17))
        continue;
      Require(s[b] == f[b]);
    }
    Require(Be16(s + 14 + 4) == uint16_t(id0 + i));
    Require(fuzz::OnesSum(s + 14, t.ip.ihl) == 0xffff);
    Require(Be32(s + t.l4 + 4) == uint32_t(seq0 + offset));
    uint8_t flags = f[t.l4 + 13];
    if (!last) flags &= uint8_t(~0x09);  // FIN, PSH
    if (i > 0) flags &= uint8_t(~0x80);  // CWR
    Require(s[t.l4 + 13] == flags);
    Require(fuzz::L4Sum(s + 14, st->ip) == 0xffff);
    offset += chunk;
  }
  Require(offset == t.payload);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const size_t n_free = data[0] & 63;
  const size_t capacity = std::max<size_t>(data[1], 1);
  const uint32_t mtu = FoldMtu(Be16(data + 2));
  const uint32_t segment_size = dp::kIpOffset + mtu + dp::kOutboundTailroom;

  std::vector<Read> reads;
  for (size_t pos = 4; pos + 2 <= size && reads.size() < 16;) {
    const size_t len = std::min<size_t>(Be16(data + pos), size - pos - 2);
    Read& r = reads.emplace_back();
    r.bytes.assign(data + pos + 2, data + pos + 2 + len);
    pos += 2 + len;
    r.buf = std::make_unique<uint8_t[]>(kReadOffset + len + wire::kTagSize);
    if (len) std::memcpy(r.buf.get() + kReadOffset, r.bytes.data(), len);
    r.p.data = r.buf.get() + kReadOffset;
    r.p.len = uint32_t(len);
    r.p.headroom = kReadOffset;
    r.p.tailroom = wire::kTagSize;
    r.p.buf = uint32_t(reads.size() - 1);
  }
  if (reads.empty()) return 0;

  std::vector<std::unique_ptr<uint8_t[]>> mem;
  std::vector<dp::SegmentBuffer> free_list;
  for (size_t i = 0; i < n_free; ++i) {
    mem.push_back(std::make_unique<uint8_t[]>(segment_size));
    free_list.push_back({uint32_t(1000 + i), mem.back().get()});
  }
  std::vector<dp::Packet> out(capacity);
  std::vector<dp::Packet*> span;
  for (Read& r : reads) span.push_back(&r.p);
  auto counters = std::make_unique<shm::WorkerCounters>();
  const dp::SplitResult sr =
      dp::SplitTapReads(span, free_list, segment_size, mtu, out.data(), capacity, *counters);
  Require(sr.reads <= reads.size() && sr.frames <= capacity && sr.segments_used <= n_free);

  size_t frame = 0, used = 0;
  uint64_t drops[4] = {};  // tap_short_frame, tap_bad_ipv4, too_big, buffer_exhausted
  for (size_t i = 0; i < reads.size(); ++i) {
    const Read& r = reads[i];
    const bool consumed = i < sr.reads;
    if (r.bytes.size() < vnet::kHeaderSize + 14) {
      Require(consumed && r.p.verdict == dp::Verdict::kDrop);
      Require(r.p.drop == DropReason::tap_short_frame);
      ++drops[0];
      continue;
    }
    const vnet::Header h = vnet::Load(r.bytes.data());
    const uint8_t* f = r.bytes.data() + vnet::kHeaderSize;
    const size_t flen = r.bytes.size() - vnet::kHeaderSize;
    if (h.gso_type == vnet::kGsoNone) {
      // Plain frames: fuzz_tap_classify checks them; here only their place in the output.
      if (!consumed) {
        Require(i == sr.reads && sr.frames == capacity);
        break;
      }
      if (r.p.verdict == dp::Verdict::kDrop) {
        Require(r.p.drop == DropReason::tap_bad_ipv4 && (h.flags & vnet::kNeedsCsum) &&
                size_t(h.csum_start) + h.csum_offset + 2 > flen);
        ++drops[1];
        continue;
      }
      Require(r.p.verdict == dp::Verdict::kForward && out[frame].buf == r.p.buf);
      ++frame;
      continue;
    }
    const std::optional<fuzz::TcpRef> t = fuzz::ParseTcpRef(f, flen);
    if ((h.gso_type & 0x7f) != vnet::kGsoTcpV4 || h.gso_size == 0 || !t || t->payload == 0) {
      Require(consumed && r.p.verdict == dp::Verdict::kDrop &&
              r.p.drop == DropReason::tap_bad_ipv4);
      ++drops[1];
      continue;
    }
    if (t->data - 14 + h.gso_size > mtu) {
      Require(consumed && r.p.verdict == dp::Verdict::kDrop && r.p.drop == DropReason::too_big);
      ++drops[2];
      continue;
    }
    const size_t segments = (t->payload + h.gso_size - 1) / h.gso_size;
    if (segments > capacity) {
      Require(consumed && r.p.verdict == dp::Verdict::kDrop &&
              r.p.drop == DropReason::buffer_exhausted);
      ++drops[3];
      continue;
    }
    if (segments > n_free - used || segments > capacity - frame) {
      // Backpressure: this read and the ones after it wait for the next burst.
      Require(!consumed && i == sr.reads);
      break;
    }
    Require(consumed && r.p.verdict == dp::Verdict::kDone);
    std::vector<dp::SegmentBuffer> taken;
    for (size_t k = 0; k < segments; ++k) taken.push_back(free_list[n_free - 1 - used - k]);
    CheckSegments(r.bytes, *t, out.data() + frame, segments, taken.data(), segment_size, mtu);
    frame += segments;
    used += segments;
  }
  Require(frame == sr.frames && used == sr.segments_used);
  Require(counters->drop[uint32_t(DropReason::tap_short_frame)].load() == drops[0]);
  Require(counters->drop[uint32_t(DropReason::tap_bad_ipv4)].load() == drops[1]);
  Require(counters->drop[uint32_t(DropReason::too_big)].load() == drops[2]);
  Require(counters->drop[uint32_t(DropReason::buffer_exhausted)].load() == drops[3]);
  return 0;
}
