#include "dataplane/inbound.h"

#include "dataplane/mss_clamp.h"
#include "dataplane/relay.h"
#include "shared/igmp.h"
#include "shared/table.h"
#include "shared/wire.h"

namespace ipop::dp {
namespace {

inline std::atomic<uint64_t>* Drops(const InboundContext& ctx) {
  return ctx.counters->drop;
}

constexpr DropReason kParseDrop[] = {
    DropReason::udp_short,         // kNone (unused)
    DropReason::udp_short,         // kTooShort
    DropReason::udp_bad_version,   // kBadVersion
    DropReason::udp_bad_type,      // kBadType
    DropReason::udp_bad_reserved,  // kBadReserved
};
static_assert(std::size(kParseDrop) == size_t(wire::ParseError::kBadReserved) + 1);

}  // namespace

size_t ParseDatagrams(PacketSpan pkts, const InboundContext& ctx) {
  NextHopCache next_hops(*ctx.generation);
  size_t n = 0;
  for (size_t i = 0; i < pkts.size(); ++i) {
    if (i + 2 < pkts.size()) __builtin_prefetch(pkts[i + 2]->data);
    Packet& p = *pkts[i];
    wire::PacketView view;
    const wire::ParseError err = wire::Parse({p.data, p.len}, view);
    if (err != wire::ParseError::kNone) [[unlikely]] {
      Drop(p, kParseDrop[size_t(err)], Drops(ctx));
      continue;
    }
    if (view.type != wire::PacketType::kData) [[unlikely]] {
      if (view.type != wire::PacketType::kRelay) {
        p.verdict = Verdict::kPunt;
        continue;
      }
      // Ours: `view` is now the inner DATA datagram; otherwise forwarded or dropped.
      if (!AcceptRelayed(p, view, *ctx.generation, next_hops, *ctx.counters, ctx.relay_limit,
                         ctx.clock))
        continue;
    }
    p.session = view.receiver_index;
    p.counter = view.counter;
    pkts[n++] = &p;
  }
  return n;
}

size_t ResolveSessions(PacketSpan pkts, const InboundContext& ctx) {
  const shm::Generation& g = *ctx.generation;
  const uint32_t n_peers = g.hdr.n_peers;
  size_t n = 0;
  for (Packet* pp : pkts) {
    Packet& p = *pp;
    if (p.session == 0 || p.session >= shm::kMaxSessions) [[unlikely]] {
      Drop(p, DropReason::unknown_session, Drops(ctx));
      continue;
    }
    const shm::SessionEntry& s = g.sessions[p.session];
    if ((s.flags & shm::kSessionValid) == 0 || s.peer >= n_peers || s.peer >= shm::kMaxPeers)
        [[unlikely]] {
      Drop(p, DropReason::unknown_session, Drops(ctx));
      continue;
    }
    p.peer = s.peer;
    pkts[n++] = &p;
  }
  return n;
}

size_t OpenDatagrams(PacketSpan pkts, const InboundContext& ctx) {
  size_t n = 0;
  for (Packet* pp : pkts) {
    Packet& p = *pp;
    RxCrypto& rx = ctx.crypto->rx(p.session);
    if (!rx.window.Check(p.counter)) [[unlikely]] {
      Drop(p, DropReason::replay, Drops(ctx));
      continue;
    }
    uint8_t aad[wire::kHeaderSize];
    wire::AadOf(p.data, aad);
    uint8_t* ciphertext = p.data + wire::kHeaderSize;
    const uint32_t ct_len = p.len - uint32_t(wire::kHeaderSize + wire::kTagSize);
    // A session whose key could not be installed cannot authenticate anything.
    if (!rx.ready || !rx.aead.Open(p.counter, {aad, sizeof(aad)}, ciphertext, ct_len, ciphertext,
                                   ciphertext + ct_len)) [[unlikely]] {
      Drop(p, DropReason::auth_failed, Drops(ctx));
      continue;
    }
    // Two copies of one datagram in the same burst both pass Check(); only one may pass here.
    if (!rx.window.Update(p.counter)) [[unlikely]] {
      Drop(p, DropReason::replay, Drops(ctx));
      continue;
    }
    p.headroom += uint32_t(wire::kHeaderSize);
    p.data = ciphertext;
    p.len = ct_len;
    p.tailroom += uint32_t(wire::kTagSize);
    pkts[n++] = &p;
  }
  return n;
}

size_t DeliverInner(PacketSpan pkts, const InboundContext& ctx) {
  const shm::Generation& g = *ctx.generation;
  const uint32_t directed_broadcast =
      ether::DirectedBroadcast(g.hdr.local_vip, g.hdr.local_prefix_len);
  size_t n = 0;
  for (Packet* pp : pkts) {
    Packet& p = *pp;
    ether::Ipv4View ip;
    if (ether::ParseIpv4({p.data, p.len}, ip) != ether::Ipv4Error::kNone) [[unlikely]] {
      Drop(p, DropReason::inner_bad_ipv4, Drops(ctx));
      continue;
    }
    // Cryptokey routing: a peer may only send from addresses routed to it.
    if (shm::LookupPeer(g, ip.src) != p.peer) [[unlikely]] {
      Drop(p, DropReason::src_not_allowed, Drops(ctx));
      continue;
    }
    if (ctx.firewall != nullptr &&
        !ctx.firewall->Pass(p.peer, p.data, ip, shm::FwDirection::kInbound)) [[unlikely]] {
      Drop(p, DropReason::fw_inbound_denied, Drops(ctx));
      continue;
    }
    // The open stage moved data past the 16-byte wire header, so 14 bytes of room are there.
    if (p.headroom < ether::kHeaderSize) [[unlikely]] {
      Drop(p, DropReason::inner_bad_ipv4, Drops(ctx));
      continue;
    }
    if (ctx.mtu != 0 && IsTcpSyn(p.data, ip) &&
        ClampTcpMss(p.data, ip.total_length, MssForMtu(ctx.mtu))) [[unlikely]] {
      Bump(ctx.counters->stat[uint32_t(Stat::mss_clamped)]);
    }
    p.data -= ether::kHeaderSize;
    p.headroom -= uint32_t(ether::kHeaderSize);
    p.tailroom += p.len - ip.total_length;
    p.len = uint32_t(ether::kHeaderSize) + ip.total_length;
    // A packet to a group goes to the group's Ethernet address (or broadcast), as on a LAN: the
    // host's stack then delivers it to the sockets that joined.
    const uint8_t* dst_mac = ctx.tap_mac;
    uint8_t group_mac[ether::kMacSize];
    if (const uint32_t group = igmp::GroupOfDestination(ip.dst, directed_broadcast); group != 0)
        [[unlikely]] {
      if (igmp::IsMulticast(ip.dst)) {
        igmp::GroupMac(ip.dst, group_mac);
        dst_mac = group_mac;
      } else {
        dst_mac = ether::kBroadcastMac;
      }
    }
    ether::WriteEthernetHeader(p.data, dst_mac, g.hdr.gateway_mac, ether::kTypeIpv4);
    PeerCounters& pc = ctx.counters->peer[p.peer];
    Bump(pc.rx_packets);
    Bump(pc.rx_bytes, ip.total_length);
    pkts[n++] = &p;
  }
  return n;
}

}  // namespace ipop::dp
