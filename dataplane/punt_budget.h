// How much a worker may punt to the control plane, decided before a packet is copied into the
// punt ring. Two kinds share one ring per worker: the host's own frames from the TAP and
// CONTROL/HANDSHAKE datagrams from the underlay, which anyone who can reach the node's port can
// send without the network secret. So:
//   - the host's frames have a budget of their own, which underlay traffic cannot spend;
//   - underlay datagrams have a per-source budget (by IP address, not port: source_limiter.h)
//     and a budget for the whole worker, so many sources together cannot flood the control
//     plane either;
//   - underlay datagrams never take the last quarter of the ring: that part is kept for the
//     host's frames. The budgets alone cannot promise this, because the ring drains only as
//     fast as the control plane runs, and on a loaded machine that can be slower than any
//     fixed rate; the reserve holds however slow it is.
// Every refusal is a named drop (shared/counters.h).
#pragma once

#include <cstdint>

#include "dataplane/packet.h"
#include "dataplane/source_limiter.h"
#include "shared/shm_layout.h"
#include "shared/token_bucket.h"

namespace ipop::dp {

// The host's ARP, DHCP, DNS queries (UDP datagrams, TCP segments) to the service address, IGMP
// reports and a group's first frames (also limited on their own, worker.h). A host resolving names
// through the node sends a few thousand a second at most; the burst fits the ring part kept for
// these frames.
inline constexpr Budget kTapPunts{10'000, 128};
// Underlay CONTROL/HANDSHAKE datagrams of one worker from all sources. Legitimate control
// traffic is overlay keep-alives and routing for at most shm::kMaxLinks links, DHT requests and
// HELLOs: hundreds a second. 20,000 leaves two orders of magnitude of room, while what a member
// without the secret can make the control plane do stays a tag check per datagram at that rate.
// The burst is the ring part underlay datagrams may use.
inline constexpr Budget kUnderlayPunts{20'000, shm::kRingSlots - shm::kRingSlots / 4};
// One underlay source address. Above the control plane's own per-endpoint DHT limit (200/s,
// controlplane/dht/dht_rate_limiter.h), so a member behind a NAT with a few others, or a busy
// overlay neighbour, is not cut here first; a tenth of the worker's budget, so one flooding
// host leaves the rest to everyone else.
inline constexpr Budget kUnderlayPuntsPerSource{2'000, 256};
// All sources the table does not track together (every slot of their set busy): one source's
// worth.
inline constexpr Budget kUnderlayPuntsUntracked = kUnderlayPuntsPerSource;

class PuntBudget {
 public:
  explicit PuntBudget(uint64_t seed)
      : tap_(kTapPunts.per_second, kTapPunts.burst),
        underlay_(kUnderlayPunts.per_second, kUnderlayPunts.burst),
        sources_(kUnderlayPuntsPerSource, kUnderlayPuntsUntracked, seed) {}

  // True if `p` of `kind` may be copied into a ring with `ring_free` of `ring_capacity` slots
  // free at `now_ns`; otherwise false with the reason in *why (a full ring: punt_ring_full).
  bool Admit(shm::PuntKind kind, const Packet& p, uint32_t ring_free, uint32_t ring_capacity,
             uint64_t now_ns, DropReason* why);

 private:
  TokenBucket tap_;
  TokenBucket underlay_;
  SourceLimiter sources_;
};

}  // namespace ipop::dp
