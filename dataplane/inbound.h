// Inbound stages, underlay -> TAP:
//   parse (wire header; CONTROL/HANDSHAKE -> punt; RELAY -> unwrap if ours, else kRelay to the
//   next overlay hop, relay.h) -> session (receiver index -> session, peer)
//   -> open (replay check, AEAD open in place, window update)
//   -> deliver (inner IPv4 check, cryptokey routing, Ethernet header written in place).
// Pure functions over descriptor spans, no I/O; same conventions as outbound.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dataplane/crypto_state.h"
#include "dataplane/firewall.h"
#include "dataplane/packet.h"
#include "dataplane/source_limiter.h"
#include "shared/ether.h"
#include "shared/shm_layout.h"

namespace ipop::dp {

struct InboundContext {
  const shm::Generation* generation;  // adopted for this burst
  uint8_t tap_mac[ether::kMacSize];   // destination MAC of delivered frames
  CryptoState* crypto;
  shm::WorkerCounters* counters;
  uint32_t mtu = 0;  // MSS options of TCP SYNs are clamped to mtu - 40; 0: no clamping
  // RELAY datagrams for other nodes are passed on within their source's budget (relay.h) while
  // this is set; `clock` must then be set too.
  SourceLimiter* relay_limit = nullptr;
  BurstClock* clock = nullptr;
  // The firewall when the generation has rules (Firewall::enabled), else nullptr: no check.
  Firewall* firewall = nullptr;
};

// Underlay datagrams -> DATA packets (session and counter set). CONTROL / HANDSHAKE -> kPunt.
// RELAY for this node -> its inner DATA packet (data/len past the relay header); RELAY for
// another node -> kRelay with p.link set (or a relay_* drop, relay_limit included).
size_t ParseDatagrams(PacketSpan pkts, const InboundContext& ctx);
// Resolves the receiver index to a valid session and its peer.
size_t ResolveSessions(PacketSpan pkts, const InboundContext& ctx);
// Replay check, open in place, window update; data/len become the inner IPv4 packet.
size_t OpenDatagrams(PacketSpan pkts, const InboundContext& ctx);
// Checks the inner packet and its source against the sending peer; data/len become an Ethernet
// frame (TAP MAC <- gateway MAC) ready for the TAP. Counts per-peer rx. Clamps the MSS of
// TCP SYNs to our MTU, which may be smaller than the sending peer's. With ctx.firewall, drops
// packets opening a flow the inbound rules do not allow (fw_inbound_denied).
size_t DeliverInner(PacketSpan pkts, const InboundContext& ctx);

// The whole chain; returns the number of frames ready for the TAP (front of `pkts`).
inline size_t RunInbound(PacketSpan pkts, const InboundContext& ctx) {
  size_t n = ParseDatagrams(pkts, ctx);
  n = ResolveSessions(pkts.first(n), ctx);
  n = OpenDatagrams(pkts.first(n), ctx);
  return DeliverInner(pkts.first(n), ctx);
}

}  // namespace ipop::dp
