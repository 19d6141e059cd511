// The packet descriptor the dataplane stages pass around. A stage takes a span of descriptor
// pointers, decides for each one (forward to the next stage, drop with a named reason, punt to the
// control plane) and compacts the forwarded ones to the front of the span; the worker dispatches
// the final verdicts to the I/O backend. Descriptors never own memory: `data` points into a
// buffer of the worker's pool, and the room around it is stated so in-place stages can check it.
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

struct Packet {
  uint8_t* data = nullptr;  // current content: an Ethernet frame or an underlay datagram
  uint32_t len = 0;
  uint32_t headroom = 0;  // writable bytes in front of data
  uint32_t tailroom = 0;  // writable bytes after data + len
  uint32_t buf = 0;       // pool buffer id, returned to its ring once the packet is done
  Verdict verdict = Verdict::kForward;
  DropReason drop{};      // valid when verdict == kDrop
  uint32_t peer = 0;      // outbound: destination peer; inbound: the session's peer
  uint32_t session = 0;   // inbound: receiver index from the wire header
  uint64_t counter = 0;   // inbound: wire counter (AEAD nonce, replay index)
  uint8_t addr[16] = {};  // inbound: underlay source, IPv6 or IPv4-mapped
  uint16_t port = 0;      // inbound: underlay source port, host order
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
