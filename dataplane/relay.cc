#include "dataplane/relay.h"

namespace ipop::dp {

static_assert(shm::kRingBytes == wire::kRingAddressSize);

bool AcceptRelayed(Packet& p, wire::PacketView& view, const shm::Generation& g,
                   NextHopCache& next_hops, shm::WorkerCounters& counters, SourceLimiter* limit,
                   BurstClock* clock) {
  // Checked at every hop, not only at the end: relays carry DATA only, so the relay path cannot
  // be used to push control or handshake messages at nodes that never talked to the sender.
  wire::PacketView inner;
  if (wire::Parse(view.payload, inner) != wire::ParseError::kNone ||
      inner.type != wire::PacketType::kData) [[unlikely]] {
    Drop(p, DropReason::relay_malformed, counters.drop);
    return false;
  }
  if (std::memcmp(view.relay_dst.data(), g.hdr.self_ring, shm::kRingBytes) == 0) {
    const uint32_t strip = uint32_t(wire::kRelayHeaderSize);
    p.data += strip;
    p.len -= strip;
    p.headroom += strip;
    view = inner;
    Bump(counters.stat[uint32_t(Stat::relay_delivered)]);
    return true;
  }
  if (view.hops + 1 > wire::kRelayHopLimit) [[unlikely]] {
    Drop(p, DropReason::relay_hop_limit, counters.drop);
    return false;
  }
  const uint32_t link = next_hops.Lookup(view.relay_dst.data());
  if (link == shm::kNoLink) [[unlikely]] {
    Drop(p, DropReason::relay_no_route, counters.drop);
    return false;
  }
  // Last, so only what would really go out spends the source's budget.
  if (limit != nullptr) {
    const SourceLimiter::Result r = limit->Take(p.addr, clock->Now());
    if (r != SourceLimiter::Result::kAllowed) [[unlikely]] {
      Drop(p,
           r == SourceLimiter::Result::kSourceLimited ? DropReason::relay_source_limited
                                                      : DropReason::relay_untracked_limited,
           counters.drop);
      return false;
    }
  }
  p.data[2] = uint8_t(view.hops + 1);
  p.link = link;
  p.verdict = Verdict::kRelay;
  Bump(counters.stat[uint32_t(Stat::relay_forwarded)]);
  return false;
}

}  // namespace ipop::dp
