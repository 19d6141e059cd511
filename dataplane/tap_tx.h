// The tap_tx stage's back end: one write SQE per TAP write unit. A unit is one frame (a plain
// write naming its buffer), or with TAP offloads a coalesced TCP super-frame whose pieces stay
// in their own buffers and go out as one writev (header + first frame, then each follower's
// payload); a slot remembers the unit's buffer ids so its single completion returns them all.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>
#include <vector>

#include "dataplane/packet.h"
#include "dataplane/uring_io.h"

namespace ipop::dp {

class TapWriter {
 public:
  static constexpr uint32_t kMaxPieces = 64;

  // `slots` bounds the coalesced writes in flight; single frames need none.
  explicit TapWriter(uint32_t slots);

  // Queues one write of `unit` (its packets' data/len in order). False when no slot is free for
  // a coalesced unit; the caller then still owns the buffers.
  bool Write(UringIo& io, std::span<Packet* const> unit);

  // A coalesced write completed: calls return_buffer(id) for each piece; *frames = packets it
  // carried.
  template <typename ReturnBuffer>
  void Complete(uint32_t slot, uint32_t* frames, ReturnBuffer&& ret) {
    *frames = 0;
    if (slot >= slots_.size()) return;
    Slot& s = slots_[slot];
    *frames = s.count;
    for (uint32_t i = 0; i < s.count; ++i) ret(s.bufs[i]);
    s.count = 0;
    free_.push_back(slot);
  }

 private:
  struct Slot {
    iovec iov[kMaxPieces];
    uint32_t bufs[kMaxPieces];
    uint32_t count;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;  // capacity reserved: push/pop never allocate
};

}  // namespace ipop::dp
