#include "dataplane/outbound.h"

#include <cstring>

#include "dataplane/icmp_too_big.h"
#include "dataplane/mss_clamp.h"
#include "dataplane/relay.h"
#include "shared/ether.h"
#include "shared/igmp.h"
#include "shared/shm_region.h"
#include "shared/table.h"
#include "shared/wire.h"

namespace ipop::dp {
namespace {

inline std::atomic<uint64_t>* Drops(const OutboundContext& ctx) {
  return ctx.counters->drop;
}

// Drops an oversize frame (data at the Ethernet header, IPv4 header checked) and, while the
// bucket has tokens, turns it into the ICMP answer for the TAP.
void RejectTooBig(Packet& p, const OutboundContext& ctx) {
  Drop(p, DropReason::too_big, Drops(ctx));
  if (ctx.icmp_limit == nullptr) return;
  const uint8_t* ip = p.data + ether::kHeaderSize;
  const std::span<const uint8_t> original{ip, p.len - ether::kHeaderSize};
  if (!MayAnswerWithIcmpError(original)) return;
  if (!ctx.icmp_limit->Take(shm::MonotonicNs())) {
    Bump(ctx.counters->stat[uint32_t(Stat::icmp_too_big_limited)]);
    return;
  }
  IcmpTooBigParams params;
  std::memcpy(params.dst_mac, p.data + ether::kMacSize, ether::kMacSize);  // the sender
  std::memcpy(params.src_mac, ctx.generation->hdr.gateway_mac, ether::kMacSize);
  // The packet's destination "reports" the smaller MTU: the overlay is one link, there is no
  // router address in between (and the source must be one the sender's stack accepts).
  params.source = wire::LoadBe32(ip + 16);
  params.next_hop_mtu = uint16_t(ctx.mtu);
  const size_t n = BuildIcmpTooBig(original, params, p.data, p.len + p.tailroom);
  if (n == 0) return;
  p.len = uint32_t(n);
  p.verdict = Verdict::kReflect;
  Bump(ctx.counters->stat[uint32_t(Stat::icmp_too_big_sent)]);
}

}  // namespace

namespace {

constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoTcp = 6;

// DHCP (UDP to port 67, usually broadcast) and DNS over UDP or TCP (RFC 7766) to the node's
// service address are answered by the control plane. Checksums were completed when the TAP read
// was split (tso_split.cc). TCP costs other traffic that is not UDP one compare more, of the
// destination (callgrind: 3 instructions per frame, of about 80 in ClassifyTapFrames).
bool IsServiceRequest(std::span<const uint8_t> ip_packet, const ether::Ipv4View& ip,
                      uint32_t service_ip) {
  if (service_ip == 0) return false;
  if (ip.protocol == kProtoUdp) {
    if (ip.total_length < uint32_t(ip.header_length) + 8) return false;
    const uint16_t dst_port = ether::LoadBe16(ip_packet.data() + ip.header_length + 2);
    return dst_port == 67 || (dst_port == 53 && ip.dst == service_ip);
  }
  return ip.dst == service_ip && ip.protocol == kProtoTcp &&
         ip.total_length >= uint32_t(ip.header_length) + 20 &&
         ether::LoadBe16(ip_packet.data() + ip.header_length + 2) == 53;
}

// Out of line: counting here inline made the compiler keep more registers busy on the data path.
[[gnu::cold, gnu::noinline]] void PuntServiceRequest(Packet& p, uint8_t protocol,
                                                     const OutboundContext& ctx) {
  p.verdict = Verdict::kPunt;
  if (protocol == kProtoTcp) Bump(ctx.counters->stat[uint32_t(Stat::dns_tcp_punted)]);
}

// A frame to a multicast group or a broadcast address (docs/multicast.md). Membership reports go
// to the control plane; data goes to the group's table entry (kFanOut, peer = entry index), or,
// while the group has none, to the control plane so it looks the group up (rate-limited).
void ClassifyGroupFrame(Packet& p, const ether::Ipv4View& ip, uint32_t group,
                        const OutboundContext& ctx) {
  if (ip.protocol == igmp::kProtocolIgmp) {
    p.verdict = Verdict::kPunt;
    return;
  }
  // No ICMP error about a packet to a group (RFC 1122 3.2.2): just the counter.
  if (ip.total_length > ctx.mtu) {
    Drop(p, DropReason::too_big, Drops(ctx));
    return;
  }
  p.len = uint32_t(ether::kHeaderSize + ip.total_length);  // strip Ethernet padding
  const uint32_t entry = shm::LookupGroup(*ctx.generation, group);
  if (entry == shm::kNoGroup) {
    if (ctx.group_punt_limit != nullptr && ctx.group_punt_limit->Take(shm::MonotonicNs())) {
      p.verdict = Verdict::kPunt;
      Bump(ctx.counters->stat[uint32_t(Stat::mcast_punted)]);
    } else {
      Drop(p, DropReason::mcast_no_group, Drops(ctx));
    }
    return;
  }
  p.verdict = Verdict::kFanOut;
  p.peer = entry;
}

}  // namespace

size_t ClassifyTapFrames(PacketSpan pkts, const OutboundContext& ctx) {
  const shm::GenerationHeader& hdr = ctx.generation->hdr;
  const uint32_t directed_broadcast = ether::DirectedBroadcast(hdr.local_vip, hdr.local_prefix_len);
  size_t n = 0;
  for (size_t i = 0; i < pkts.size(); ++i) {
    if (i + 2 < pkts.size()) __builtin_prefetch(pkts[i + 2]->data);
    Packet& p = *pkts[i];
    ether::EthernetView eth;
    if (!ether::ParseEthernet({p.data, p.len}, eth)) [[unlikely]] {
      Drop(p, DropReason::tap_short_frame, Drops(ctx));
      continue;
    }
    if (eth.type != ether::kTypeIpv4) [[unlikely]] {
      if (eth.type == ether::kTypeArp) {
        p.verdict = Verdict::kPunt;
      } else {
        Drop(p, DropReason::tap_unsupported_ethertype, Drops(ctx));
      }
      continue;
    }
    ether::Ipv4View ip;
    const ether::Ipv4Error err = ether::ParseIpv4(eth.payload, ip);
    if (err != ether::Ipv4Error::kNone) [[unlikely]] {
      if (err == ether::Ipv4Error::kBadTotalLength &&
          ether::LoadBe16(eth.payload.data() + 2) > ctx.mtu) {
        RejectTooBig(p, ctx);  // cut short by the TAP read: larger than any buffer we read into
      } else {
        Drop(p, DropReason::tap_bad_ipv4, Drops(ctx));
      }
      continue;
    }
    if (IsServiceRequest(eth.payload, ip, hdr.service_ip)) [[unlikely]] {
      PuntServiceRequest(p, ip.protocol, ctx);  // the node's DHCP server / DNS responder
      continue;
    }
    const uint32_t group = igmp::GroupOfDestination(ip.dst, directed_broadcast);
    if (group != 0) [[unlikely]] {
      ClassifyGroupFrame(p, ip, group, ctx);
      continue;
    }
    if (ip.total_length > ctx.mtu) [[unlikely]] {
      RejectTooBig(p, ctx);
      continue;
    }
    p.len = uint32_t(ether::kHeaderSize + ip.total_length);  // strip Ethernet padding
    if (IsTcpSyn(p.data + ether::kHeaderSize, ip) &&
        ClampTcpMss(p.data + ether::kHeaderSize, ip.total_length, MssForMtu(ctx.mtu)))
        [[unlikely]] {
      Bump(ctx.counters->stat[uint32_t(Stat::mss_clamped)]);
    }
    pkts[n++] = &p;
  }
  return n;
}

namespace {

// Sets p.peer and p.link for sending to `peer_index`; false (dropped, counted) if that peer
// cannot be sent to now.
inline bool SetPeerPath(Packet& p, uint32_t peer_index, const OutboundContext& ctx,
                        NextHopCache& next_hops) {
  const shm::Generation& g = *ctx.generation;
  if (peer_index >= shm::kMaxPeers) [[unlikely]] {  // kNoPeer, or a bad index from shm
    Drop(p, DropReason::no_route, Drops(ctx));
    return false;
  }
  const shm::PeerEntry& peer = g.peers[peer_index];
  if ((peer.flags & shm::kPeerTxReady) == 0) [[unlikely]] {
    Drop(p, DropReason::peer_not_ready, Drops(ctx));
    return false;
  }
  if (peer.dp_instance != ctx.dp_instance) [[unlikely]] {
    Drop(p, DropReason::stale_key, Drops(ctx));
    return false;
  }
  uint32_t link = shm::kNoLink;
  if (peer.flags & shm::kPeerRelayed) [[unlikely]] {
    link = next_hops.Lookup(peer.relay_dst);
    if (link == shm::kNoLink) {
      Drop(p, DropReason::relay_no_route, Drops(ctx));
      return false;
    }
  }
  p.peer = peer_index;
  p.link = link;
  return true;
}

}  // namespace

size_t LookupPeers(PacketSpan pkts, const OutboundContext& ctx) {
  const shm::Generation& g = *ctx.generation;
  NextHopCache next_hops(g);
  size_t n = 0;
  for (Packet* pp : pkts) {
    Packet& p = *pp;
    const uint32_t dst = wire::LoadBe32(p.data + ether::kHeaderSize + 16);
    if (SetPeerPath(p, shm::LookupPeer(g, dst), ctx, next_hops)) pkts[n++] = &p;
  }
  return n;
}

size_t ResolveMemberPaths(PacketSpan pkts, const OutboundContext& ctx) {
  NextHopCache next_hops(*ctx.generation);
  size_t n = 0;
  for (Packet* pp : pkts) {
    if (SetPeerPath(*pp, pp->peer, ctx, next_hops)) pkts[n++] = pp;
  }
  return n;
}

size_t FilterOutbound(PacketSpan pkts, const OutboundContext& ctx) {
  if (ctx.firewall == nullptr) [[likely]]
    return pkts.size();
  size_t n = 0;
  for (Packet* pp : pkts) {
    Packet& p = *pp;
    const std::span<const uint8_t> packet{p.data + ether::kHeaderSize, p.len - ether::kHeaderSize};
    ether::Ipv4View ip;  // checked by ClassifyTapFrames; parsed again for its fields
    if (ether::ParseIpv4(packet, ip) != ether::Ipv4Error::kNone ||
        !ctx.firewall->Pass(p.peer, packet.data(), ip, shm::FwDirection::kOutbound)) [[unlikely]] {
      Drop(p, DropReason::fw_outbound_denied, Drops(ctx));
      continue;
    }
    pkts[n++] = &p;
  }
  return n;
}

size_t SealPackets(PacketSpan pkts, const OutboundContext& ctx) {
  const shm::Generation& g = *ctx.generation;
  size_t n = 0;
  for (Packet* pp : pkts) {
    Packet& p = *pp;
    TxCrypto& tx = ctx.crypto->tx(p.peer);
    // The room check guards against a caller that did not lay buffers out for in-place sealing;
    // Next() fails only when the peer's 2^64 nonces are used up (a rekey comes long before).
    // A nonce taken for a packet that then fails to seal is skipped, never reused.
    uint64_t counter = 0;
    if (!tx.ready || p.headroom < kOutboundHeadroom || p.tailroom < kOutboundTailroom ||
        !ctx.crypto->nonces().Next(p.peer, tx.nonces, &counter)) [[unlikely]] {
      Drop(p, DropReason::seal_failed, Drops(ctx));
      continue;
    }
    uint8_t* ip = p.data + ether::kHeaderSize;
    const uint32_t ip_len = p.len - uint32_t(ether::kHeaderSize);
    uint8_t* header = ip - wire::kHeaderSize;
    wire::WriteHeader(header, wire::PacketType::kData, g.peers[p.peer].tx_remote_index, counter);
    // hops is 0 in what we send, so the header itself is the associated data.
    if (!tx.aead.Seal(counter, {header, wire::kHeaderSize}, ip, ip_len, ip, ip + ip_len))
        [[unlikely]] {
      Drop(p, DropReason::seal_failed, Drops(ctx));
      continue;
    }
    const uint32_t moved = uint32_t(wire::kHeaderSize - ether::kHeaderSize);
    p.data = header;
    p.headroom -= moved;
    p.len = uint32_t(wire::kHeaderSize) + ip_len + uint32_t(wire::kTagSize);
    p.tailroom -= uint32_t(wire::kTagSize);
    PeerCounters& pc = ctx.counters->peer[p.peer];
    Bump(pc.tx_packets);
    Bump(pc.tx_bytes, ip_len);
    pkts[n++] = &p;
  }
  return n;
}

size_t WrapRelayed(PacketSpan pkts, const OutboundContext& ctx) {
  static_assert(kRelayedOutboundHeadroom == kOutboundHeadroom + wire::kRelayHeaderSize);
  const shm::Generation& g = *ctx.generation;
  size_t n = 0;
  for (Packet* pp : pkts) {
    Packet& p = *pp;
    if (p.link != shm::kNoLink) [[unlikely]] {
      // SealPackets left the datagram where the frame was, so this is the frame's headroom less 2.
      if (p.headroom < wire::kRelayHeaderSize) [[unlikely]] {
        Drop(p, DropReason::seal_failed, Drops(ctx));
        continue;
      }
      p.data -= wire::kRelayHeaderSize;
      p.headroom -= uint32_t(wire::kRelayHeaderSize);
      p.len += uint32_t(wire::kRelayHeaderSize);
      wire::WriteRelayHeader(p.data, g.peers[p.peer].relay_dst);
      Bump(ctx.counters->stat[uint32_t(Stat::relay_sent)]);
    }
    pkts[n++] = &p;
  }
  return n;
}

}  // namespace ipop::dp
