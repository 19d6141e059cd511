// Outbound fan-out of multicast and broadcast frames (docs/multicast.md). ClassifyTapFrames marks
// a frame for a group with a table entry kFanOut; this stage turns it into one packet per member
// peer of the entry, laid out for in-place sealing, and the worker runs them through
// ResolveMemberPaths -> SealPackets -> WrapRelayed like unicast packets. The frame itself goes to
// the first member; the others get copies in free buffers the worker hands in (no allocation).
// Fan-out is bounded per frame by kMaxGroupMembers and per burst by the room in `out` and the
// buffers given: copies that do not fit are counted (mcast_fanout_cut), never queued.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/outbound.h"
#include "dataplane/packet.h"

namespace ipop::dp {

struct CopyBuffer {
  BufHandle id;   // the backend's handle (Packet::buf)
  uint8_t* mem;   // start of the buffer
  uint32_t size;  // bytes at mem
};

struct FanOutResult {
  size_t packets = 0;       // written to `out`
  size_t buffers_used = 0;  // taken from the back of `free_buffers`
};

// `frames`: packets with verdict kFanOut (data at the Ethernet header, peer = group entry index).
// Each frame either goes out as its first member's packet (verdict set to kForward: its buffer
// now belongs to that packet in `out`) or is dropped (kDrop, counted: mcast_no_members when the
// entry names no valid peer, mcast_fanout_cut when `out` is full). Packets in `out` have verdict
// kForward, peer = a member's peer index, data at the Ethernet header, and a copy's buf = its
// CopyBuffer id. Members are peers < n_peers with kPeerValid; readiness is ResolveMemberPaths'.
FanOutResult FanOutGroups(PacketSpan frames, const OutboundContext& ctx,
                          std::span<const CopyBuffer> free_buffers, Packet* out,
                          size_t out_capacity);

// Copies FanOutGroups would make for `frames` at most (members beyond the first), to size the
// buffers handed in.
size_t FanOutCopiesWanted(PacketSpan frames, const OutboundContext& ctx);

}  // namespace ipop::dp
