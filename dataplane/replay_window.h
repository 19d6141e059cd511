// Anti-replay sliding window in the style of RFC 6479: a ring of 64-bit blocks, so advancing the
// window clears whole blocks instead of shifting a bitmap. Covers kWindow packets behind the
// highest counter seen. Check() before decrypting, Update() only after the tag verified.
#pragma once

#include <cstdint>

namespace ipop {

class ReplayWindow {
 public:
  static constexpr uint32_t kBlocks = 256;                 // power of two
  static constexpr uint64_t kWindow = (kBlocks - 1) * 64;  // 16320 packets

  // True if `counter` is new and inside the window.
  bool Check(uint64_t counter) const;
  // Marks `counter` seen (advancing the window); false if it was a replay after all.
  bool Update(uint64_t counter);
  void Reset();
  uint64_t highest() const { return highest_; }

 private:
  uint64_t highest_ = 0;
  bool any_ = false;
  uint64_t bitmap_[kBlocks] = {};
};

}  // namespace ipop
