// Receiver indexes name our receive sessions on the wire (and index SessionEntry[] in the table).
// An index is never handed out while a session in the table still uses it, and freed indexes are
// reused as late as possible (round-robin cursor) so packets still in flight for a retired session
// meet an empty slot rather than a new key.
#pragma once

#include <cstdint>
#include <vector>

#include "shared/shm_layout.h"

namespace ipop::cp {

class ReceiverIndexAllocator {
 public:
  // Indexes 1..limit-1 are allocated; 0 is never valid. `first` picks where the cursor starts.
  explicit ReceiverIndexAllocator(uint32_t first = 1, uint32_t limit = shm::kMaxSessions);
  // Claims a specific index (inherited session). false if out of range or already in use.
  bool Reserve(uint32_t index);
  // A free index, or 0 when all are in use.
  uint32_t Allocate();
  void Release(uint32_t index);
  bool InUse(uint32_t index) const { return index < used_.size() && used_[index]; }
  uint32_t in_use() const { return in_use_; }

 private:
  std::vector<bool> used_;
  uint32_t cursor_;
  uint32_t in_use_ = 0;
};

}  // namespace ipop::cp
