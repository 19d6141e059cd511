// Reference helpers for the dataplane fuzz targets: written from the RFCs, independently of the
// product code they judge (no shared/checksum.h, no ether::ParseIpv4), so a bug in the product
// helpers cannot hide itself. Also a builder for a small table Generation without a shared region.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <vector>

#include "shared/shm_layout.h"
#include "shared/table.h"

namespace ipop::fuzz {

inline void Require(bool ok) {
  if (!ok) std::abort();
}

inline uint16_t Be16(const uint8_t* p) {
  return uint16_t(p[0] << 8 | p[1]);
}
inline uint32_t Be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}

// RFC 1071 one's-complement sum of `n` bytes taken as big-endian 16-bit words (an odd last byte
// is padded with zero), added to `sum` and folded to 16 bits.
inline uint16_t OnesSum(const uint8_t* p, size_t n, uint32_t sum = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += uint32_t(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += uint32_t(p[n - 1] << 8);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return uint16_t(sum);
}
inline uint16_t OnesAdd(uint16_t a, uint16_t b) {
  uint32_t s = uint32_t(a) + b;
  return uint16_t((s & 0xffff) + (s >> 16));
}

// A structurally sound IPv4 header at the start of `p` (RFC 791): version 4, IHL >= 5, header and
// total length within `n`.
struct Ipv4Ref {
  size_t ihl = 0;    // header bytes
  size_t total = 0;  // total length
  uint8_t proto = 0;
  uint32_t src = 0, dst = 0;
  bool fragment = false;  // MF set or offset non-zero
};
inline std::optional<Ipv4Ref> ParseIpv4Ref(const uint8_t* p, size_t n) {
  if (n < 20 || (p[0] >> 4) != 4) return std::nullopt;
  Ipv4Ref r;
  r.ihl = size_t(p[0] & 0x0f) * 4;
  r.total = Be16(p + 2);
  if (r.ihl < 20 || r.ihl > n || r.total < r.ihl || r.total > n) return std::nullopt;
  r.proto = p[9];
  r.fragment = (Be16(p + 6) & 0x3fff) != 0;
  r.src = Be32(p + 12);
  r.dst = Be32(p + 16);
  return r;
}

// The one's-complement sum a receiver checks for a TCP/UDP segment of IPv4 packet `ip` (header
// as parsed): pseudo header + segment. 0xffff when the checksum is right.
inline uint16_t L4Sum(const uint8_t* ip, const Ipv4Ref& r) {
  const size_t len = r.total - r.ihl;
  uint32_t pseudo = OnesSum(ip + 12, 8);
  pseudo += r.proto;
  pseudo += uint32_t(len);
  return OnesSum(ip + r.ihl, len, pseudo);
}

// The first TCP MSS option of a TCP header of `thl` bytes (RFC 793 / 9293 3.1: kind 0 ends the
// list, kind 1 is one byte, every other kind has a length >= 2 within the header). Its offset in
// the header, or nullopt when there is none or the list is malformed before it.
inline std::optional<size_t> FirstMssOption(const uint8_t* tcp, size_t thl) {
  size_t off = 20;
  while (off < thl) {
    if (tcp[off] == 0) return std::nullopt;
    if (tcp[off] == 1) {
      ++off;
      continue;
    }
    if (off + 2 > thl || tcp[off + 1] < 2 || off + tcp[off + 1] > thl) return std::nullopt;
    if (tcp[off] == 2 && tcp[off + 1] == 4) return off;
    off += tcp[off + 1];
  }
  return std::nullopt;
}

// Checks what MSS clamping may do to IPv4 packet `before` (n bytes) given it now reads `after`:
//   - an unfragmented TCP SYN whose first MSS option exceeds `limit` now carries exactly `limit`
//     there, and its checksum verifies exactly as before (RFC 1624 incremental update);
//   - every other byte is unchanged (and everything, for any other packet).
// `may_clamp` false: the packet had to stay untouched whatever it is. Returns whether it was a
// packet to clamp.
inline bool CheckClamp(const uint8_t* before, const uint8_t* after, size_t n, uint16_t limit,
                       bool may_clamp) {
  std::optional<size_t> mss_at;  // offset of the MSS value in the packet
  const std::optional<Ipv4Ref> ip = ParseIpv4Ref(before, n);
  if (may_clamp && ip && ip->proto == 6 && !ip->fragment && ip->total >= ip->ihl + 20) {
    const uint8_t* tcp = before + ip->ihl;
    const size_t thl = size_t(tcp[12] >> 4) * 4;
    if ((tcp[13] & 0x02) && thl >= 20 && ip->ihl + thl <= ip->total)
      if (const auto off = FirstMssOption(tcp, thl); off && Be16(tcp + *off + 2) > limit)
        mss_at = ip->ihl + *off + 2;
  }
  if (!mss_at) {
    Require(std::equal(before, before + n, after));
    return false;
  }
  Require(Be16(after + *mss_at) == limit);
  const size_t csum = ip->ihl + 16;
  for (size_t i = 0; i < n; ++i)
    if (i != *mss_at && i != *mss_at + 1 && i != csum && i != csum + 1)
      Require(before[i] == after[i]);
  Require(L4Sum(before, *ip) == L4Sum(after, *ip));
  return true;
}

// An Ethernet frame holding unfragmented IPv4 + TCP whose headers fit the IPv4 total length:
// offsets and sizes (all relative to the frame).
struct TcpRef {
  Ipv4Ref ip;
  size_t thl = 0;      // TCP header bytes
  size_t payload = 0;  // TCP payload bytes within the total length
  size_t l4 = 0;       // offset of the TCP header in the frame
  size_t data = 0;     // offset of the payload in the frame
};
inline std::optional<TcpRef> ParseTcpRef(const uint8_t* f, size_t n) {
  if (n < 14 || f[12] != 0x08 || f[13] != 0x00) return std::nullopt;
  const std::optional<Ipv4Ref> ip = ParseIpv4Ref(f + 14, n - 14);
  if (!ip || ip->proto != 6 || ip->fragment || ip->total < ip->ihl + 20) return std::nullopt;
  TcpRef t;
  t.ip = *ip;
  t.l4 = 14 + ip->ihl;
  t.thl = size_t(f[t.l4 + 12] >> 4) * 4;
  if (t.thl < 20 || ip->ihl + t.thl > ip->total) return std::nullopt;
  t.data = t.l4 + t.thl;
  t.payload = ip->total - ip->ihl - t.thl;
  return t;
}

// A table generation for stage tests: peers (index = position), /32 and shorter routes, the
// node's address and gateway MAC; no shared region, no TableWriter.
struct RouteRef {
  uint32_t prefix;
  uint8_t length;
  uint32_t peer;
};
inline shm::Generation* BuildGeneration(const std::vector<shm::PeerEntry>& peers,
                                        const std::vector<RouteRef>& routes, uint32_t local_vip,
                                        uint32_t prefix_len, uint32_t mtu, const uint8_t gw[6]) {
  auto* g = new shm::Generation{};
  g->hdr.n_peers = uint32_t(peers.size());
  std::copy(peers.begin(), peers.end(), g->peers);
  for (shm::RouteBucket& b : g->routes) b = shm::RouteBucket{0, shm::kNoPeer};
  std::vector<RouteRef> shorter;
  for (const RouteRef& r : routes) {
    if (r.length < 32) {
      shorter.push_back(r);
      continue;
    }
    uint32_t b = shm::RouteHash(r.prefix);
    while (g->routes[b].peer != shm::kNoPeer) b = (b + 1) % shm::kRouteBuckets;
    g->routes[b] = shm::RouteBucket{r.prefix, r.peer};
  }
  std::stable_sort(shorter.begin(), shorter.end(),
                   [](const RouteRef& a, const RouteRef& b) { return a.length > b.length; });
  for (const RouteRef& r : shorter) {
    shm::PrefixRoute& p = g->prefixes[g->hdr.n_prefixes++];
    p.prefix = r.length == 0 ? 0 : r.prefix & (~uint32_t{0} << (32 - r.length));
    p.length = r.length;
    p.peer = r.peer;
  }
  g->hdr.local_vip = local_vip;
  g->hdr.local_prefix_len = prefix_len;
  g->hdr.mtu = mtu;
  std::copy(gw, gw + 6, g->hdr.gateway_mac);
  return g;
}

}  // namespace ipop::fuzz
