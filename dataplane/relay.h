// Relaying DATA through the overlay without re-sealing. Two nodes without a direct path still
// exchange sealed DATA datagrams: the sender wraps each in a RELAY header naming the receiver's
// ring address, and every dataplane on the way hands it greedily to its overlay link closest to
// that address (shm::NextHopLink) until it reaches the node that owns the address, which strips
// the header and opens the DATA datagram like any other. Relays never open, re-seal or punt.
//
//   outbound: LookupPeers picks the first hop of a kPeerRelayed peer, SealPackets seals as for any
//             peer, WrapRelayed (outbound.h) prepends the RELAY header; the worker sends to the
//             link.
//   inbound:  ParseDatagrams hands RELAY datagrams to AcceptRelayed: ours -> on to the DATA path;
//             another node's -> hops + 1, Verdict::kRelay to the next link, within the budget of
//             the datagram's source address; else a named drop.
//
// A relay cannot authenticate what it passes on (it holds no key of the two ends), so anyone who
// reaches its port can make it send DATA-shaped datagrams toward its links. The per-source budget
// bounds what one underlay address gets out of that; it is not an authentication.
#pragma once

#include <cstdint>
#include <cstring>

#include "dataplane/packet.h"
#include "dataplane/source_limiter.h"
#include "shared/shm_layout.h"
#include "shared/table.h"
#include "shared/wire.h"

namespace ipop::dp {

// RELAY datagrams passed on for other nodes, per source address and worker. Relayed traffic is
// bulk data, so this must not bind on a real flow: one relayed iperf3 TCP stream on the 2-core
// reference VM moves 2.0-2.75 Gbit/s, up to about 230,000 datagrams/s on average and more in its
// peaks (200,000/s with a burst of 4,096 cut 5-7% of such a stream's datagrams). 500,000/s
// (5.8 Gbit/s of full-size datagrams, about what one worker forwards at most) cut none in six
// runs. The burst covers what a worker finds queued after its thread lost the core for a few
// milliseconds: the socket buffer (4 MiB) and the receive buffers of one GRO ring.
inline constexpr Budget kRelayPerSource{500'000, 16384};
// All sources the table does not track together: one source's worth.
inline constexpr Budget kRelayUntracked = kRelayPerSource;

// NextHopLink for a burst: consecutive packets of a flow share a destination, so the last answer
// is kept. Lives on the stack of one stage call; never outlives the generation it was made for.
class NextHopCache {
 public:
  explicit NextHopCache(const shm::Generation& g) : g_(g) {}
  uint32_t Lookup(const uint8_t dst[shm::kRingBytes]) {
    if (!valid_ || std::memcmp(dst, last_dst_, shm::kRingBytes) != 0) {
      std::memcpy(last_dst_, dst, shm::kRingBytes);
      last_link_ = shm::NextHopLink(g_, dst);
      valid_ = true;
    }
    return last_link_;
  }

 private:
  const shm::Generation& g_;
  uint8_t last_dst_[shm::kRingBytes] = {};
  uint32_t last_link_ = shm::kNoLink;
  bool valid_ = false;
};

// `p` holds a RELAY datagram parsed into `view`. If it is addressed to this node, strips the
// relay header, re-points `view` at the inner DATA datagram and returns true. Otherwise returns
// false with p either marked Verdict::kRelay (hop count incremented in place, p.link set) or
// dropped with its reason (relay_malformed, relay_hop_limit, relay_no_route, and with a `limit`
// relay_source_limited / relay_untracked_limited; `clock` is read only then).
bool AcceptRelayed(Packet& p, wire::PacketView& view, const shm::Generation& g,
                   NextHopCache& next_hops, shm::WorkerCounters& counters, SourceLimiter* limit,
                   BurstClock* clock);

}  // namespace ipop::dp
