// Which worker owns a received datagram. A receive session's replay window lives in one
// worker's CryptoState; if two workers opened datagrams of one session, each with its own window,
// a datagram replayed from another source address (so hashed to the other worker) would pass.
// So every DATA datagram is opened by the owner of its receiver index, and the kernel is asked
// to deliver it there in the first place (reuseport_steering.h, the same function in cBPF). A
// datagram that reaches another worker anyway (UDP GRO merges consecutive datagrams of one
// 4-tuple, whatever their session, and delivers the train to the socket its first one picks) is
// copied to the owner through a handoff ring (handoff.h).
#pragma once

#include <cstdint>
#include <span>

#include "shared/byte_order.h"
#include "shared/wire.h"

namespace ipop::dp {

inline constexpr uint32_t kAnyWorker = 0xffffffffu;

// Byte offsets of the receiver index the owner is computed from (big endian, wire.h).
inline constexpr uint32_t kOwnerIndexOffset = 4;  // DATA: its own header
inline constexpr uint32_t kRelayedOwnerIndexOffset = uint32_t(wire::kRelayHeaderSize) + 4;

// The worker (< n_workers) that must open `datagram`, or kAnyWorker when no session state is
// involved (CONTROL / HANDSHAKE are punted, malformed datagrams dropped, by whichever worker).
// RELAY datagrams go by the receiver index of the DATA datagram inside: if it is for this node,
// that session's owner opens it; if not, any worker could forward it, the owner is as good.
inline uint32_t OwnerWorker(std::span<const uint8_t> datagram, uint32_t n_workers) {
  if (n_workers <= 1 || datagram.size() < wire::kHeaderSize) return kAnyWorker;
  const uint8_t type = datagram[0] & 0x0f;
  if (type == uint8_t(wire::PacketType::kData))
    return LoadBe32(datagram.data() + kOwnerIndexOffset) % n_workers;
  if (type == uint8_t(wire::PacketType::kRelay) && datagram.size() >= kRelayedOwnerIndexOffset + 4)
    return LoadBe32(datagram.data() + kRelayedOwnerIndexOffset) % n_workers;
  return kAnyWorker;
}

}  // namespace ipop::dp
