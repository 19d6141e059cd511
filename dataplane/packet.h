// The packet descriptor the dataplane stages pass around. A stage takes a span of descriptor
// pointers, decides for each one (forward to the next stage, drop with a named reason, punt to the
// control plane) and compacts the forwarded ones to the front of the span; the worker dispatches
// the final verdicts to its backend's ports. Descriptors never own memory: `data` points into a
// buffer the backend owns (an io_uring pool buffer or an rte_mbuf's data room), `buf` is the
// backend's opaque handle to it, and the room around `data` is stated so in-place stages can
// check it. Stages never look at `buf`; only the backend that made the view turns it back into
// its buffer (and commits data/len to it before transmitting).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "shared/counters.h"
#include "shared/shm_layout.h"

namespace ipop::dp {

inline constexpr uint32_t kMaxBurst = 256;  // largest dataplane.burst the config accepts

// Buffer geometry shared by the pool and the stages: the inner IPv4 packet of every buffer starts
// here, so a frame sits at kIpOffset - 14 and the wire header at kIpOffset - 16.
// 128 leaves room in front for io_uring_recvmsg_out, the source address and a UDP_GRO cmsg.
inline constexpr uint32_t kIpOffset = 128;

// kDone: a stage used the packet up (a super-frame that was cut into segments); release the
// buffer, count nothing. kReflect: a stage replaced the packet with a reply built in place (an
// ICMP error for an oversize packet); write data/len back to the TAP. kRelay: an inbound RELAY
// datagram for another node; send data/len unchanged (but for its hop count) to the underlay
// endpoint of overlay link `link`. kFanOut: an outbound frame for a multicast/broadcast group
// whose table entry index is in `peer`; FanOutGroups (fanout.h) turns it into one packet per
// member.
enum class Verdict : uint8_t { kForward, kDrop, kPunt, kDone, kReflect, kRelay, kFanOut };

// The backend's handle of the buffer behind a view: an io_uring pool buffer id, or an rte_mbuf*.
using BufHandle = uintptr_t;

// Packet::flags: what a backend's receive path learnt about the buffer from its port, and what
// its transmit path should ask of it; for the backend's own port-level stages (the pipeline
// stages never read them).
inline constexpr uint8_t kPacketL4CsumGood = 1;  // the port verified the outer UDP/IP checksums
inline constexpr uint8_t kPacketL4CsumBad = 2;   // the port found an outer checksum wrong
// Set by a port-level stage for its own transmit path (underlay_stack.h): the port computes the
// outer UDP checksum (the field holds the pseudo-header sum, as NICs expect).
inline constexpr uint8_t kPacketTxUdpCsum = 4;

struct Packet {
  uint8_t* data = nullptr;  // current content: an Ethernet frame or an underlay datagram
  uint32_t len = 0;
  uint32_t headroom = 0;  // writable bytes in front of data
  uint32_t tailroom = 0;  // writable bytes after data + len
  BufHandle buf = 0;      // the backend's buffer, returned to it once the packet is done
  Verdict verdict = Verdict::kForward;
  uint8_t flags = 0;      // kPacket* bits
  DropReason drop{};      // valid when verdict == kDrop
  uint32_t peer = 0;      // outbound: destination peer; inbound: the session's peer
  uint32_t session = 0;   // inbound: receiver index from the wire header
  uint64_t counter = 0;   // inbound: wire counter (AEAD nonce, replay index)
  uint8_t addr[16] = {};  // inbound: underlay source; queued for the underlay: its destination.
  uint16_t port = 0;      // IPv6 or IPv4-mapped address, port in host order
  uint16_t unit = 0;      // inbound with TAP offloads: packets in the TAP write this one heads
                          // (1 = alone); 0 for the followers whose payload it carries
  uint32_t link = shm::kNoLink;  // outbound: first relay hop (kNoLink: the peer's own endpoint);
                                 // inbound kRelay: next relay hop. Index into the generation.
};

using PacketSpan = std::span<Packet*>;

// Marks `p` dropped and counts the reason.
inline void Drop(Packet& p, DropReason reason, std::atomic<uint64_t>* drop_counters) {
  p.verdict = Verdict::kDrop;
  p.drop = reason;
  Bump(drop_counters[uint32_t(reason)]);
}

}  // namespace ipop::dp
