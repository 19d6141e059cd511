// RFC 6479 anti-replay window. The bitmap is a ring of kBlocks 64-bit blocks; bit (c & 63) of
// block ((c >> 6) % kBlocks) records counter c. One block is always kept as the "advance" block,
// which is why the window is (kBlocks - 1) * 64 and not kBlocks * 64: a counter kWindow behind
// the highest one is at most kBlocks - 1 blocks back, so it never shares a block with it.
#include "dataplane/replay_window.h"

#include <cstring>

namespace ipop {
namespace {

constexpr uint64_t kBlockMask = ReplayWindow::kBlocks - 1;
static_assert((ReplayWindow::kBlocks & kBlockMask) == 0, "kBlocks must be a power of two");

inline uint64_t BlockOf(uint64_t counter) {
  return counter >> 6;
}
inline uint64_t BitOf(uint64_t counter) {
  return uint64_t{1} << (counter & 63);
}

}  // namespace

bool ReplayWindow::Check(uint64_t counter) const {
  if (!any_ || counter > highest_) return true;
  // Written as a difference so a counter near 2^64 cannot overflow the comparison.
  if (highest_ - counter > kWindow) return false;
  return (bitmap_[BlockOf(counter) & kBlockMask] & BitOf(counter)) == 0;
}

bool ReplayWindow::Update(uint64_t counter) {
  if (!Check(counter)) return false;
  if (!any_) {
    any_ = true;
    highest_ = counter;
  } else if (counter > highest_) {
    // Clear every block the window slides over; a jump of kBlocks or more clears them all.
    const uint64_t current = BlockOf(highest_);
    uint64_t advance = BlockOf(counter) - current;
    if (advance > kBlocks) advance = kBlocks;
    for (uint64_t i = 1; i <= advance; ++i) bitmap_[(current + i) & kBlockMask] = 0;
    highest_ = counter;
  }
  bitmap_[BlockOf(counter) & kBlockMask] |= BitOf(counter);
  return true;
}

void ReplayWindow::Reset() {
  highest_ = 0;
  any_ = false;
  std::memset(bitmap_, 0, sizeof(bitmap_));
}

}  // namespace ipop
