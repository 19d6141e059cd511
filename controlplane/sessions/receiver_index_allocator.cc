#include "controlplane/sessions/receiver_index_allocator.h"

namespace ipop::cp {

ReceiverIndexAllocator::ReceiverIndexAllocator(uint32_t first, uint32_t limit)
    : used_(limit < 2 ? 2 : limit, false), cursor_(1) {
  used_[0] = true;  // never allocated, never counted
  const uint32_t span = uint32_t(used_.size()) - 1;
  cursor_ = 1 + (first == 0 ? 0 : (first - 1) % span);
}

bool ReceiverIndexAllocator::Reserve(uint32_t index) {
  if (index == 0 || index >= used_.size() || used_[index]) return false;
  used_[index] = true;
  ++in_use_;
  return true;
}

uint32_t ReceiverIndexAllocator::Allocate() {
  const uint32_t span = uint32_t(used_.size()) - 1;
  for (uint32_t i = 0; i < span; ++i) {
    const uint32_t index = 1 + (cursor_ - 1 + i) % span;
    if (!used_[index]) {
      used_[index] = true;
      ++in_use_;
      cursor_ = 1 + index % span;
      return index;
    }
  }
  return 0;
}

void ReceiverIndexAllocator::Release(uint32_t index) {
  if (index == 0 || index >= used_.size() || !used_[index]) return;
  used_[index] = false;
  --in_use_;
}

}  // namespace ipop::cp
