// Fuzzes CoalesceTcp, which merges delivered frames of one TCP flow into GSO writes for the TAP,
// on bursts built from compact records (so that real flows with consecutive segments occur) and
// raw frames. Checked against the contract in tap_offload.h and RFC 1071/791/793:
//   - the output is a permutation of the input laid out as writes: a head with unit = k, then its
//     k - 1 followers with unit = 0, for exactly the number of writes returned;
//   - within every flow, frames leave in the order they came (so each flow's payload bytes reach
//     the TAP exactly as received); frames of different flows may be regrouped;
//   - a lone frame is unchanged behind a virtio-net header saying DATA_VALID;
//   - a merged write: members of one flow with consecutive sequence numbers, agreeing on every
//     header field but sequence number, IP id/length/checksum and PSH (PSH only on the last),
//     every member but the last carrying gso_size bytes; the head's IPv4 total length covers all
//     payloads (<= 65535) with a valid header checksum, its TCP checksum field holds the
//     pseudo-header sum of the merged length (partial checksum), its virtio-net header says
//     TCPV4 with the right hdr_len / gso_size / csum_start / csum_offset; followers point at
//     their own payload bytes, unchanged.
//
// Input: records. Byte k & 0x80 clear: a segment of flow k & 3, then [flags][seq delta (signed,
// from the flow's next sequence number)][payload length: 2, big endian][fill byte][variant]:
// variant & 3 picks TCP options (none, timestamps, timestamps with another value, MSS), variant &
// 4 another TTL, variant & 8 leaves exactly the 10 bytes of headroom the contract promises,
// variant & 0x10 adds an IPv4 option (router alert, value from the fill byte). Byte k & 0x80 set: a
// raw frame [len: 2, big endian][bytes].
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "dataplane/tap_offload.h"
#include "dataplane/vnet.h"
#include "tests/fuzz/fuzz_dp_reference.h"

namespace {

using namespace ipop;
namespace vnet = ipop::dp::vnet;
using fuzz::Be16;
using fuzz::Be32;
using fuzz::Require;

struct Frame {
  std::vector<uint8_t> bytes;  // the frame as delivered
  std::unique_ptr<uint8_t[]> buf;
  uint32_t headroom = 0;
  dp::Packet p;
  std::optional<fuzz::TcpRef> tcp;
};

constexpr uint32_t kTailroom = 16;

void Put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void Put32(uint8_t* p, uint32_t v) {
  Put16(p, uint16_t(v >> 16));
  Put16(p + 2, uint16_t(v));
}

// An Ethernet/IPv4/TCP frame of flow `flow` with valid checksums.
std::vector<uint8_t> Segment(uint32_t flow, uint8_t flags, uint32_t seq, size_t payload,
                             uint8_t fill, uint8_t variant) {
  static const uint8_t kOptions[4][12] = {
      {},
      {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2},
      {1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 2},
      {2, 4, 5, 0xb4, 1, 1, 1, 1, 1, 1, 1, 1},
  };
  const size_t opt = (variant & 3) == 0 ? 0 : 12;
  const size_t ihl = (variant & 0x10) ? 24 : 20;
  const size_t ip_len = ihl + 20 + opt + payload;
  std::vector<uint8_t> f(14 + ip_len);
  uint8_t* e = f.data();
  const uint8_t dst[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
  const uint8_t src[6] = {0x02, 0x49, 0x50, 1, 2, 3};
  std::memcpy(e, dst, 6);
  std::memcpy(e + 6, src, 6);
  Put16(e + 12, 0x0800);
  uint8_t* ip = e + 14;
  ip[0] = uint8_t(0x40 | ihl / 4);
  Put16(ip + 2, uint16_t(ip_len));
  Put16(ip + 4, uint16_t(seq));
  ip[6] = 0x40;  // DF
  ip[8] = (variant & 4) ? 63 : 64;
  ip[9] = 6;
  Put32(ip + 12, 0x0a4e0001 + (flow & 1));  // 10.78.0.1 / .2
  Put32(ip + 16, 0x0a4d0001);
  if (ihl > 20) {
    const uint8_t alert[4] = {0x94, 4, 0, fill};  // RFC 2113
    std::memcpy(ip + 20, alert, 4);
  }
  Put16(ip + 10, uint16_t(~fuzz::OnesSum(ip, ihl)));
  uint8_t* tcp = ip + ihl;
  Put16(tcp, uint16_t(40000 + (flow >> 1)));
  Put16(tcp + 2, 5201);
  Put32(tcp + 4, seq);
  Put32(tcp + 8, 0x10000);
  tcp[12] = uint8_t((20 + opt) / 4 << 4);
  tcp[13] = flags;
  Put16(tcp + 14, 512);
  std::memcpy(tcp + 20, kOptions[variant & 3], opt);
  std::memset(tcp + 20 + opt, fill, payload);
  for (size_t i = 0; i < payload; i += 97) tcp[20 + opt + i] = uint8_t(i / 97);
  fuzz::Ipv4Ref r;
  r.ihl = ihl;
  r.total = ip_len;
  r.proto = 6;
  Put16(tcp + 16, uint16_t(~fuzz::L4Sum(ip, r)));
  return f;
}

using FlowKey = std::tuple<uint32_t, uint32_t, uint32_t>;  // src, dst, ports
FlowKey KeyOf(const Frame& f) {
  const uint8_t* b = f.bytes.data();
  return {Be32(b + 26), Be32(b + 30), Be32(b + f.tcp->l4)};
}

bool Psh(const Frame& f) {
  return f.bytes[f.tcp->l4 + 13] & 0x08;
}

// `m` may share a merged header with `head` (tap_offload.h: all fields but seq, IP id/length/
// checksum and PSH agree).
bool Agree(const Frame& head, const Frame& m) {
  const fuzz::TcpRef &a = *head.tcp, &b = *m.tcp;
  if (a.ip.ihl != b.ip.ihl || a.thl != b.thl) return false;
  const uint8_t *x = head.bytes.data(), *y = m.bytes.data();
  // IPv4: everything but total length (16-17), id (18-19), checksum (24-25) and the reserved
  // flag bit (RFC 791: must be zero; Linux GRO ignores it too), options included.
  for (size_t i = 14; i < 14 + a.ip.ihl; ++i) {
    if (i == 16 || i == 17 || i == 18 || i == 19 || i == 24 || i == 25) continue;
    if ((i == 20 ? (x[i] ^ y[i]) & 0x7f : x[i] ^ y[i]) != 0) return false;
  }
  const uint8_t *tx = x + a.l4, *ty = y + b.l4;
  return std::memcmp(tx, ty, 4) == 0 && std::memcmp(tx + 8, ty + 8, 5) == 0 &&
         (tx[13] & ~0x08) == (ty[13] & ~0x08) && std::memcmp(tx + 14, ty + 14, 2) == 0 &&
         std::memcmp(tx + 20, ty + 20, a.thl - 20) == 0;
}

void CheckMerged(const std::vector<const Frame*>& members) {
  const Frame& head = *members.front();
  const fuzz::TcpRef& t = *head.tcp;
  const dp::Packet& p = head.p;
  const size_t mss = t.payload;
  size_t total_payload = 0;
  bool push = false;
  for (size_t i = 0; i < members.size(); ++i) {
    const Frame& m = *members[i];
    Require(m.tcp && Agree(head, m) && m.tcp->payload > 0);
    Require(Be32(m.bytes.data() + m.tcp->l4 + 4) ==
            uint32_t(Be32(head.bytes.data() + t.l4 + 4) + total_payload));
    const bool last = i + 1 == members.size();
    Require(m.tcp->payload <= mss && (last || m.tcp->payload == mss));
    Require(last || !Psh(m));
    push |= Psh(m);
    total_payload += m.tcp->payload;
    const uint8_t f = m.bytes[m.tcp->l4 + 13];
    Require((f & ~0x08) == 0x10);  // ACK (PSH) only: the rest never merges
    if (i == 0) continue;
    // A follower: its payload bytes, in place and unchanged.
    Require(m.p.unit == 0 && m.p.len == m.tcp->payload);
    Require(m.p.data == m.buf.get() + m.headroom + m.tcp->data);
    Require(std::memcmp(m.p.data, m.bytes.data() + m.tcp->data, m.tcp->payload) == 0);
  }
  Require(members.size() <= 64);
  const size_t ip_len = t.ip.ihl + t.thl + total_payload;
  Require(ip_len <= 0xffff);
  // The head: virtio-net header, then its frame with the merged length.
  Require(p.unit == members.size() && p.len == vnet::kHeaderSize + head.bytes.size());
  Require(p.data == head.buf.get() + head.headroom - vnet::kHeaderSize);
  const vnet::Header h = vnet::Load(p.data);
  Require(h.flags == vnet::kNeedsCsum && h.gso_type == vnet::kGsoTcpV4);
  Require(h.hdr_len == t.data && h.gso_size == mss && h.csum_start == t.l4 && h.csum_offset == 16);
  const uint8_t* f = p.data + vnet::kHeaderSize;
  const uint8_t* o = head.bytes.data();
  for (size_t b = 0; b < head.bytes.size(); ++b) {
    if (b == 16 || b == 17 || b == 24 || b == 25) continue;  // IP total length, checksum
    if (b == t.l4 + 13 || b == t.l4 + 16 || b == t.l4 + 17) continue;
    Require(f[b] == o[b]);
  }
  Require(Be16(f + 16) == ip_len && fuzz::OnesSum(f + 14, t.ip.ihl) == 0xffff);
  Require(f[t.l4 + 13] == (o[t.l4 + 13] | (push ? 0x08 : 0)));
  // Partial checksum: the pseudo-header sum over the merged TCP length, not inverted.
  Require(Be16(f + t.l4 + 16) == fuzz::OnesSum(f + 26, 8, 6 + uint32_t(ip_len - t.ip.ihl)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::unique_ptr<Frame>> frames;
  uint32_t next_seq[4] = {1000, 5000, 90000, 0xfffff000u};
  for (size_t pos = 0; pos < size && frames.size() < 200;) {
    const uint8_t kind = data[pos++];
    auto fr = std::make_unique<Frame>();
    fr->headroom = dp::kIpOffset - 14;
    if (kind & 0x80) {
      if (size - pos < 2) break;
      const size_t len = std::min<size_t>(Be16(data + pos), size - pos - 2);
      fr->bytes.assign(data + pos + 2, data + pos + 2 + len);
      pos += 2 + len;
    } else {
      if (size - pos < 6) break;
      const uint32_t flow = kind & 3;
      const uint8_t flags = data[pos];
      const int8_t delta = int8_t(data[pos + 1]);
      const size_t payload = Be16(data + pos + 2) % 9001;
      const uint8_t fill = data[pos + 4], variant = data[pos + 5];
      pos += 6;
      const uint32_t seq = next_seq[flow] + uint32_t(int32_t(delta));
      next_seq[flow] = seq + uint32_t(payload);
      fr->bytes = Segment(flow, flags, seq, payload, fill, variant);
      if (variant & 8) fr->headroom = vnet::kHeaderSize;
    }
    const size_t len = fr->bytes.size();
    fr->buf = std::make_unique<uint8_t[]>(fr->headroom + len + kTailroom);
    if (len) std::memcpy(fr->buf.get() + fr->headroom, fr->bytes.data(), len);
    fr->p.data = fr->buf.get() + fr->headroom;
    fr->p.len = uint32_t(len);
    fr->p.headroom = fr->headroom;
    fr->p.tailroom = kTailroom;
    fr->tcp = fuzz::ParseTcpRef(fr->bytes.data(), len);
    frames.push_back(std::move(fr));
  }
  if (frames.empty()) return 0;

  std::vector<dp::Packet*> span;
  std::map<const dp::Packet*, size_t> index;  // packet -> input position
  for (size_t i = 0; i < frames.size(); ++i) {
    span.push_back(&frames[i]->p);
    index[&frames[i]->p] = i;
  }
  const size_t writes = dp::CoalesceTcp(span);

  // A permutation of the input...
  std::set<const dp::Packet*> seen(span.begin(), span.end());
  Require(seen.size() == frames.size());
  for (const dp::Packet* p : span) Require(index.count(p) == 1);
  // ...laid out as writes; each flow's frames leave in the order they came.
  std::map<FlowKey, size_t> last_of_flow;
  size_t counted = 0;
  for (size_t i = 0; i < span.size();) {
    const size_t k = span[i]->unit;
    Require(k >= 1 && i + k <= span.size());
    std::vector<const Frame*> members;
    for (size_t j = i; j < i + k; ++j) {
      const Frame& f = *frames[index[span[j]]];
      members.push_back(&f);
      if (f.tcp) {
        const auto [it, fresh] = last_of_flow.try_emplace(KeyOf(f), index[span[j]]);
        Require(fresh || it->second < index[span[j]]);
        it->second = index[span[j]];
      }
    }
    if (k == 1) {
      const Frame& f = *members[0];
      Require(f.p.data == f.buf.get() + f.headroom - vnet::kHeaderSize);
      Require(f.p.len == vnet::kHeaderSize + f.bytes.size());
      const vnet::Header h = vnet::Load(f.p.data);
      Require(h.flags == vnet::kDataValid && h.gso_type == vnet::kGsoNone && h.hdr_len == 0 &&
              h.gso_size == 0 && h.csum_start == 0 && h.csum_offset == 0);
      Require(std::memcmp(f.p.data + vnet::kHeaderSize, f.bytes.data(), f.bytes.size()) == 0);
    } else {
      Require(members[0]->headroom >= vnet::kHeaderSize);
      CheckMerged(members);
    }
    i += k;
    ++counted;
  }
  Require(counted == writes);
  return 0;
}
