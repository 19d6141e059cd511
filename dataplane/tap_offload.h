// TAP offload stages, used when the TAP runs with IFF_VNET_HDR (see vnet.h).
//
// Outbound, SplitTapReads: every read starts with a virtio-net header. A plain frame loses the
// header (and gets its partial checksum completed); a TCP/IPv4 TSO super-frame is cut into
// MSS-sized segments, each a complete Ethernet/IPv4/TCP frame in its own buffer laid out for
// in-place sealing, exactly as if the kernel had segmented it. The wire format never sees
// super-frames: peers receive ordinary packets.
//
// Inbound, CoalesceTcp: delivered frames of one TCP flow that continue each other are merged
// into one GSO write (a virtio-net header with gso_type TCPV4 followed by the first frame, then
// the followers' payloads), so the receiving stack handles one large segment instead of dozens;
// everything else gets a plain header. Inner checksums were protected end to end by the AEAD,
// so frames are written DATA_VALID and coalesced ones carry a partial checksum.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/packet.h"
#include "shared/counters.h"
#include "shared/shm_layout.h"

namespace ipop::dp {

struct SegmentBuffer {
  BufHandle id;
  uint8_t* mem;  // at least kIpOffset + mtu + kOutboundTailroom bytes
};

struct SplitResult {
  size_t reads = 0;          // reads consumed, from the front of `reads`
  size_t frames = 0;         // packets written to `out`
  size_t segments_used = 0;  // taken from the back of `free_segments`
};

// `reads`: TAP reads (data at the virtio-net header). Each consumed read ends with verdict
// kForward (its frame moved to `out`, same buffer), kDone (cut into segments; release it) or
// kDrop (counted). Segment buffers are taken from the back of `free_segments`. A super-frame
// that does not fit the free segments or the room left in `out` stops the split: it and the
// reads after it are left for the next burst (backpressure instead of loss); one that could
// never fit `out_capacity` is dropped as buffer_exhausted. `mtu` bounds the segment size.
SplitResult SplitTapReads(PacketSpan reads, std::span<const SegmentBuffer> free_segments,
                          uint32_t segment_size, uint32_t mtu, Packet* out, size_t out_capacity,
                          shm::WorkerCounters& counters);

// Groups the frames in `pkts` (front n forwarded by DeliverInner, data at the Ethernet header,
// >= 10 bytes of headroom) into TAP writes. Reorders `pkts` so each write's packets are adjacent:
// the head has unit = k and data/len covering virtio-net header + frame; its k-1 followers have
// unit = 0 and data/len covering their TCP payload only. Returns the number of writes.
size_t CoalesceTcp(PacketSpan pkts);

}  // namespace ipop::dp
