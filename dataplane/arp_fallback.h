// ARP while the control plane is away. Normally ARP requests from the TAP are punted and the
// control plane answers them. When it has crashed or is restarting, the host's neighbour entries
// for peers would expire (STALE -> PROBE -> FAILED within about a minute) and forwarding on the
// last tables would stop, so the dataplane then answers requests for addresses its current table
// routes, with the same gateway MAC the control plane uses.
#pragma once

#include <cstdint>

#include "dataplane/packet.h"
#include "shared/shm_layout.h"

namespace ipop::dp {

// No control-plane heartbeat for this long means it is absent.
inline constexpr uint64_t kControlPlaneAbsentNs = 1'000'000'000;

bool ControlPlaneAbsent(const shm::RegionHeader& hdr, uint64_t now_ns);

// If `p` holds an ARP request for an address `g` routes to a peer, rewrites it in place into the
// reply (42 bytes at p.data) and returns true; otherwise leaves it alone and returns false.
bool AnswerArpFromTable(const shm::Generation& g, Packet& p);

}  // namespace ipop::dp
