// tap_rx offload stage: virtio-net header removal, partial-checksum completion and TSO
// super-frame segmentation (tap_offload.h describes the contract).
#include <algorithm>
#include <cstring>

#include "dataplane/tap_offload.h"
#include "dataplane/tcp_frame.h"
#include "dataplane/vnet.h"
#include "shared/checksum.h"
#include "shared/ether.h"
#include "shared/wire.h"

namespace ipop::dp {
namespace {

// Completes a partial checksum the kernel left for us (TUN_F_CSUM): the field holds the
// pseudo-header sum, the rest is summed from csum_start to the end of the frame.
bool CompleteChecksum(uint8_t* frame, uint32_t len, const vnet::Header& h) {
  if (uint32_t(h.csum_start) + h.csum_offset + 2 > len) return false;
  uint8_t* field = frame + h.csum_start + h.csum_offset;
  const uint16_t c =
      uint16_t(~ChecksumFold(ChecksumAdd(0, frame + h.csum_start, len - h.csum_start)));
  // UDP sends a computed 0 as 0xffff (RFC 768: 0 means "no checksum").
  const bool udp = len > ether::kHeaderSize + 9 && frame[ether::kHeaderSize + 9] == kProtoUdp &&
                   h.csum_offset == 6;
  const uint16_t stored = (c == 0 && udp) ? 0xffff : c;
  std::memcpy(field, &stored, 2);
  return true;
}

}  // namespace

SplitResult SplitTapReads(PacketSpan reads, std::span<const SegmentBuffer> free_segments,
                          uint32_t segment_size, uint32_t mtu, Packet* out, size_t out_capacity,
                          shm::WorkerCounters& counters) {
  SplitResult r;
  size_t available = free_segments.size();
  for (; r.reads < reads.size(); ++r.reads) {
    Packet& p = *reads[r.reads];
    if (p.len < vnet::kHeaderSize + ether::kHeaderSize) [[unlikely]] {
      Drop(p, DropReason::tap_short_frame, counters.drop);
      continue;
    }
    const vnet::Header h = vnet::Load(p.data);
    uint8_t* frame = p.data + vnet::kHeaderSize;
    const uint32_t frame_len = p.len - uint32_t(vnet::kHeaderSize);

    if (h.gso_type == vnet::kGsoNone) {
      if ((h.flags & vnet::kNeedsCsum) && !CompleteChecksum(frame, frame_len, h)) [[unlikely]] {
        Drop(p, DropReason::tap_bad_ipv4, counters.drop);
        continue;
      }
      if (r.frames == out_capacity) [[unlikely]]
        break;  // next burst
      Packet& o = out[r.frames++];
      o = p;
      o.data = frame;
      o.len = frame_len;
      o.headroom += uint32_t(vnet::kHeaderSize);
      p.verdict = Verdict::kForward;  // its buffer now belongs to `o`
      continue;
    }

    // TSO super-frame: only TCP over IPv4 is ever enabled (TUN_F_TSO4).
    TcpFrame tf;
    if ((h.gso_type & ~vnet::kGsoEcn) != vnet::kGsoTcpV4 || h.gso_size == 0 ||
        !ParseTcpFrame(frame, frame_len, &tf) || tf.payload == 0) [[unlikely]] {
      Drop(p, DropReason::tap_bad_ipv4, counters.drop);
      continue;
    }
    const uint32_t headers = tf.ip_header + tf.tcp_header;
    const uint32_t mss = h.gso_size;
    if (headers + mss > mtu) [[unlikely]] {
      Drop(p, DropReason::too_big, counters.drop);
      continue;
    }
    const uint32_t n_segments = (tf.payload + mss - 1) / mss;
    if (n_segments > out_capacity) [[unlikely]] {
      Drop(p, DropReason::buffer_exhausted, counters.drop);
      continue;
    }
    if (n_segments > available || n_segments > out_capacity - r.frames) [[unlikely]]
      break;  // wait for segment buffers to come back from the sends in flight
    const uint8_t* ip0 = frame + ether::kHeaderSize;
    const uint8_t* tcp0 = ip0 + tf.ip_header;
    const uint8_t* payload0 = tcp0 + tf.tcp_header;
    const uint16_t id0 = ether::LoadBe16(ip0 + 4);
    const uint32_t seq0 = wire::LoadBe32(tcp0 + 4);
    const uint8_t flags0 = tcp0[13];
    for (uint32_t i = 0; i < n_segments; ++i) {
      const SegmentBuffer& sb = free_segments[--available];
      const uint32_t chunk = std::min(mss, tf.payload - i * mss);
      uint8_t* f = sb.mem + kIpOffset - ether::kHeaderSize;
      std::memcpy(f, frame, ether::kHeaderSize + headers);
      uint8_t* ip = f + ether::kHeaderSize;
      uint8_t* tcp = ip + tf.ip_header;
      std::memcpy(tcp + tf.tcp_header, payload0 + size_t(i) * mss, chunk);
      ether::StoreBe16(ip + 2, uint16_t(headers + chunk));
      ether::StoreBe16(ip + 4, uint16_t(id0 + i));
      RefreshIpv4Checksum(ip, tf.ip_header);
      wire::StoreBe32(tcp + 4, seq0 + i * mss);
      uint8_t flags = flags0;
      if (i + 1 < n_segments) flags &= uint8_t(~(kTcpFin | kTcpPsh));
      if (i > 0) flags &= uint8_t(~kTcpCwr);
      tcp[13] = flags;
      tcp[16] = tcp[17] = 0;
      const uint16_t tcp_len = uint16_t(tf.tcp_header + chunk);
      StoreChecksum(tcp + 16, ChecksumAdd(PseudoHeaderSum(ip, kProtoTcp, tcp_len), tcp, tcp_len));

      Packet& o = out[r.frames++];
      o = Packet{};
      o.data = f;
      o.len = uint32_t(ether::kHeaderSize) + headers + chunk;
      o.headroom = kIpOffset - uint32_t(ether::kHeaderSize);
      o.tailroom = segment_size - o.headroom - o.len;
      o.buf = sb.id;
    }
    p.verdict = Verdict::kDone;
  }
  r.segments_used = free_segments.size() - available;
  return r;
}

}  // namespace ipop::dp
