// Outbound stages, TAP -> underlay:
//   classify (Ethernet/IPv4 checks, ARP punt) -> lookup (route to a peer) -> seal (in place).
// Pure functions over descriptor spans: no I/O, so unit tests drive them with crafted frames.
// Each stage returns how many packets it forwarded; those are compacted to the front of the span,
// the rest carry a kDrop (counted) or kPunt verdict for the worker to dispatch.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/crypto_state.h"
#include "dataplane/firewall.h"
#include "dataplane/packet.h"
#include "shared/shm_layout.h"
#include "shared/token_bucket.h"

namespace ipop::dp {

struct OutboundContext {
  const shm::Generation* generation;  // adopted for this burst
  uint32_t mtu;                       // largest inner IPv4 packet (the TAP MTU)
  uint64_t dp_instance;  // this dataplane's instance; peers keyed for another are stale
  CryptoState* crypto;
  shm::WorkerCounters* counters;
  // Oversize packets are answered with ICMP "fragmentation needed" while this has tokens;
  // nullptr: dropped silently (counted either way).
  TokenBucket* icmp_limit = nullptr;
  // Frames to a group without a table entry are punted (so the control plane looks the group
  // up) while this has tokens; nullptr: never punted. Counted either way.
  TokenBucket* group_punt_limit = nullptr;
  // The firewall when the generation has rules (Firewall::enabled), else nullptr: no check.
  Firewall* firewall = nullptr;
};

// Bytes a TAP frame needs in front of it (wire header over the Ethernet header) and after it
// (AEAD tag) for SealPackets to work in place; a frame for a relayed peer needs the RELAY header
// in front as well (kRelayedOutboundHeadroom).
inline constexpr uint32_t kOutboundHeadroom = 2;
inline constexpr uint32_t kOutboundTailroom = 16;
inline constexpr uint32_t kRelayedOutboundHeadroom = kOutboundHeadroom + 24;

// Ethernet frames -> IPv4 packets to forward (len trimmed to the IPv4 total length, data still
// at the Ethernet header). ARP, DHCP, DNS over UDP or TCP to the service address (TCP counted as
// dns_tcp_punted) and IGMP -> kPunt. A frame to a multicast group or broadcast address with a
// group table entry -> kFanOut with Packet::peer = the entry's index (FanOutGroups, fanout.h);
// without one -> kPunt while group_punt_limit has tokens, else dropped as mcast_no_group.
// Everything else is dropped with its reason. MSS options of TCP SYNs are clamped to mtu - 40. A
// packet larger than the MTU is dropped as too_big and, rate-limited, replaced in place by an ICMP
// "fragmentation needed" (kReflect) - with or without DF: the overlay never fragments, and a sender
// without DF gets the same hint. A frame cut short by the TAP read (TAP MTU raised above the
// overlay MTU) counts as too big by the total length in its header.
size_t ClassifyTapFrames(PacketSpan pkts, const OutboundContext& ctx);
// Sets Packet::peer from the destination address; drops unroutable / not ready / stale peers.
// Sets Packet::link: kNoLink for a peer with a direct path, else the first relay hop toward the
// peer's ring address (no hop: relay_no_route), chosen before sealing so unroutable packets
// cost no crypto.
size_t LookupPeers(PacketSpan pkts, const OutboundContext& ctx);
// LookupPeers for packets whose Packet::peer is already set (copies of a group frame): the same
// checks and path choice, the same drops.
size_t ResolveMemberPaths(PacketSpan pkts, const OutboundContext& ctx);
// Outbound firewall (firewall.h): drops frames to a peer whose flow the rules do not allow
// (fw_outbound_denied); with ctx.firewall == nullptr it returns at once.
size_t FilterOutbound(PacketSpan pkts, const OutboundContext& ctx);
// Turns each frame into a DATA datagram in place: wire header over the Ethernet header, sealed
// IPv4 packet, tag after it. Counts per-peer tx.
size_t SealPackets(PacketSpan pkts, const OutboundContext& ctx);
// Prepends the RELAY header (hops 0, destination = the peer's relay_dst) to each datagram with
// a link; the worker then sends it to that link instead of the peer's endpoint.
size_t WrapRelayed(PacketSpan pkts, const OutboundContext& ctx);

// The whole chain; returns the number of datagrams ready to send (front of `pkts`).
inline size_t RunOutbound(PacketSpan pkts, const OutboundContext& ctx) {
  size_t n = ClassifyTapFrames(pkts, ctx);
  n = LookupPeers(pkts.first(n), ctx);
  n = FilterOutbound(pkts.first(n), ctx);
  n = SealPackets(pkts.first(n), ctx);
  return WrapRelayed(pkts.first(n), ctx);
}

}  // namespace ipop::dp
