// tap_tx offload stage: merges consecutive segments of a TCP flow into one GSO write
// (tap_offload.h describes the contract; the merge rules follow Linux GRO).
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

constexpr uint32_t kMaxUnit = 64;  // frames per coalesced write (iovec slots in TapWriter)

// One TAP write being assembled by CoalesceTcp.
struct Unit {
  uint16_t head;  // index into the input span
  uint16_t tail;
  uint16_t count;
  bool open;  // more segments may join
  bool push;  // a member carried PSH
  uint32_t next_seq;
  uint32_t mss;     // payload of the head: every member but the last has exactly this
  uint32_t ip_len;  // IPv4 total length of the merged packet
};

struct Info {  // per input packet
  TcpFrame tcp;
  bool candidate;  // TCP that may be merged (ACK / PSH only, carries payload)
  int16_t next;    // next member of the same unit
};

bool SameFlow(const uint8_t* a, const TcpFrame& ta, const uint8_t* b, const TcpFrame& tb) {
  // Addresses (IPv4 bytes 12..19) and ports (TCP bytes 0..3).
  return std::memcmp(a + ether::kHeaderSize + 12, b + ether::kHeaderSize + 12, 8) == 0 &&
         std::memcmp(a + ether::kHeaderSize + ta.ip_header, b + ether::kHeaderSize + tb.ip_header,
                     4) == 0;
}

// Linux GRO's rule (tcp_gro_receive / inet_gro_receive): the segments must agree on everything
// but sequence number, IP id/length/checksum and PSH, so the merged header describes them all.
bool Compatible(const uint8_t* head, const TcpFrame& th, const uint8_t* p, const TcpFrame& tp) {
  if (th.ip_header != tp.ip_header || th.tcp_header != tp.tcp_header) return false;
  const uint8_t* ih = head + ether::kHeaderSize;
  const uint8_t* ip = p + ether::kHeaderSize;
  if (ih[1] != ip[1] || ih[8] != ip[8] || (ih[6] & 0x40) != (ip[6] & 0x40))
    return false;  // TOS TTL DF
  // IPv4 options: the merged header carries the head's for every member. (Linux GRO merges
  // only option-less headers; equal options are as safe.)
  if (std::memcmp(ih + ether::kIpv4MinHeader, ip + ether::kIpv4MinHeader,
                  th.ip_header - ether::kIpv4MinHeader) != 0)
    return false;
  const uint8_t* tch = ih + th.ip_header;
  const uint8_t* tcp = ip + tp.ip_header;
  if (std::memcmp(tch + 8, tcp + 8, 4) != 0) return false;  // ack
  if (tch[12] != tcp[12] || (tch[13] & ~kTcpPsh) != (tcp[13] & ~kTcpPsh)) return false;
  if (std::memcmp(tch + 14, tcp + 14, 2) != 0) return false;        // window
  return std::memcmp(tch + 20, tcp + 20, th.tcp_header - 20) == 0;  // options
}

void WriteVnet(Packet& p, const vnet::Header& h) {
  p.data -= vnet::kHeaderSize;
  p.len += uint32_t(vnet::kHeaderSize);
  p.headroom -= uint32_t(vnet::kHeaderSize);
  vnet::Store(p.data, h);
}

// Coalesces within one window of at most kWindow packets (stack-sized bookkeeping).
constexpr size_t kWindow = 2 * kMaxBurst;

size_t CoalesceWindow(PacketSpan pkts) {
  const size_t n = pkts.size();
  Info info[kWindow];
  Unit units[kWindow];
  size_t n_units = 0;
  constexpr size_t kOpenMax = 8;  // flows tracked at once; the oldest is closed beyond that
  uint16_t open[kOpenMax];
  size_t n_open = 0;

  for (size_t i = 0; i < n; ++i) {
    Packet& p = *pkts[i];
    Info& in = info[i];
    in.next = -1;
    const bool is_tcp = ParseTcpFrame(p.data, p.len, &in.tcp);
    in.candidate = is_tcp && p.headroom >= vnet::kHeaderSize && in.tcp.payload > 0 &&
                   (p.data[ether::kHeaderSize + in.tcp.ip_header + 13] & ~kTcpPsh) == kTcpAck;
    // The open unit of this flow, if any.
    size_t match = kOpenMax;
    for (size_t k = 0; is_tcp && k < n_open; ++k) {
      const uint16_t head = units[open[k]].head;
      if (SameFlow(pkts[head]->data, info[head].tcp, p.data, in.tcp)) {
        match = k;
        break;
      }
    }
    if (match != kOpenMax) {
      Unit& u = units[open[match]];
      const uint8_t* th = p.data + ether::kHeaderSize + in.tcp.ip_header;
      const bool joins = in.candidate && wire::LoadBe32(th + 4) == u.next_seq &&
                         in.tcp.payload <= u.mss && u.count < kMaxUnit &&
                         u.ip_len + in.tcp.payload <= 0xffff &&
                         Compatible(pkts[u.head]->data, info[u.head].tcp, p.data, in.tcp);
      if (joins) {
        info[u.tail].next = int16_t(i);
        u.tail = uint16_t(i);
        ++u.count;
        u.next_seq += in.tcp.payload;
        u.ip_len += in.tcp.payload;
        const bool push = (th[13] & kTcpPsh) != 0;
        u.push |= push;
        if (push || in.tcp.payload < u.mss) {
          u.open = false;
          open[match] = open[--n_open];
        }
        continue;
      }
      // Same flow but not a continuation: later segments must not join the older unit, or they
      // would be written ahead of this packet.
      units[open[match]].open = false;
      open[match] = open[--n_open];
    }
    Unit& u = units[n_units];
    u = Unit{uint16_t(i), uint16_t(i), 1, false, false, 0, 0, 0};
    if (in.candidate) {
      const uint8_t* tcp = p.data + ether::kHeaderSize + in.tcp.ip_header;
      u.next_seq = wire::LoadBe32(tcp + 4) + in.tcp.payload;
      u.mss = in.tcp.payload;
      u.ip_len = in.tcp.ip_header + in.tcp.tcp_header + in.tcp.payload;
      u.push = (tcp[13] & kTcpPsh) != 0;
      u.open = !u.push;
      if (u.open) {
        if (n_open == kOpenMax) {
          units[open[0]].open = false;
          open[0] = open[--n_open];
        }
        open[n_open++] = uint16_t(n_units);
      }
    }
    ++n_units;
  }

  // Emit: rewrite headers, then lay the units out contiguously in `pkts`.
  Packet* ordered[kWindow];
  size_t k = 0;
  for (size_t ui = 0; ui < n_units; ++ui) {
    Unit& u = units[ui];
    Packet& head = *pkts[u.head];
    if (u.count == 1) {
      vnet::Header h;
      h.flags = vnet::kDataValid;
      WriteVnet(head, h);
      head.unit = 1;
      ordered[k++] = &head;
      continue;
    }
    const TcpFrame& t = info[u.head].tcp;
    uint8_t* ip = head.data + ether::kHeaderSize;
    uint8_t* tcp = ip + t.ip_header;
    ether::StoreBe16(ip + 2, uint16_t(u.ip_len));
    RefreshIpv4Checksum(ip, t.ip_header);
    if (u.push) tcp[13] |= kTcpPsh;
    // Partial checksum: the pseudo-header sum over the merged length, not inverted; the stack
    // treats the merged segment as verified and re-derives per-segment sums if it resegments.
    const uint16_t tcp_len = uint16_t(u.ip_len - t.ip_header);
    const uint16_t partial = ChecksumFold(PseudoHeaderSum(ip, kProtoTcp, tcp_len));
    std::memcpy(tcp + 16, &partial, 2);
    vnet::Header h;
    h.flags = vnet::kNeedsCsum;
    h.gso_type = vnet::kGsoTcpV4;
    h.hdr_len = uint16_t(ether::kHeaderSize + t.ip_header + t.tcp_header);
    h.gso_size = uint16_t(u.mss);
    h.csum_start = uint16_t(ether::kHeaderSize + t.ip_header);
    h.csum_offset = 16;
    WriteVnet(head, h);
    head.unit = u.count;
    ordered[k++] = &head;
    for (int16_t m = info[u.head].next; m >= 0; m = info[m].next) {
      Packet& f = *pkts[m];
      const uint32_t skip =
          uint32_t(ether::kHeaderSize) + info[m].tcp.ip_header + info[m].tcp.tcp_header;
      f.data += skip;
      f.headroom += skip;
      f.len = info[m].tcp.payload;
      f.unit = 0;
      ordered[k++] = &f;
    }
  }
  std::copy(ordered, ordered + k, pkts.begin());
  return n_units;
}

}  // namespace

size_t CoalesceTcp(PacketSpan pkts) {
  size_t writes = 0;
  for (size_t at = 0; at < pkts.size(); at += kWindow) {
    writes += CoalesceWindow(pkts.subspan(at, std::min(kWindow, pkts.size() - at)));
  }
  return writes;
}

}  // namespace ipop::dp
