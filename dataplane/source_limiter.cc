#include "dataplane/source_limiter.h"

#include <cstring>

namespace ipop::dp {
namespace {

static_assert((SourceLimiter::kSets & (SourceLimiter::kSets - 1)) == 0);

uint64_t Mix(uint64_t h) {  // splitmix64's finaliser: every input bit moves every output bit
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

}  // namespace

SourceLimiter::SourceLimiter(Budget per_source, Budget untracked, uint64_t seed)
    : per_source_(per_source),
      seed_(seed),
      slots_(std::make_unique<Slot[]>(kSets * kWays)),
      untracked_(untracked.per_second, untracked.burst) {}

// All 16 bytes count: an IPv4-mapped address has its 4 varying bytes at the end.
uint32_t SourceLimiter::SetOf(const uint8_t addr[16]) const {
  uint64_t lo, hi;
  std::memcpy(&lo, addr, 8);
  std::memcpy(&hi, addr + 8, 8);
  return uint32_t(Mix(Mix(lo ^ seed_) ^ hi) & (kSets - 1));
}

SourceLimiter::Result SourceLimiter::Take(const uint8_t addr[16], uint64_t now_ns) {
  Slot* slot = &slots_[last_];
  if (!slot->used || std::memcmp(slot->addr, addr, 16) != 0) {
    const uint32_t first = SetOf(addr) * kWays;
    slot = nullptr;
    Slot* free_slot = nullptr;
    for (uint32_t i = first; i < first + kWays; ++i) {
      Slot& s = slots_[i];
      if (s.used && std::memcmp(s.addr, addr, 16) == 0) {
        slot = &s;
        break;
      }
      if (free_slot == nullptr && (!s.used || s.bucket.Full(now_ns))) free_slot = &s;
    }
    if (slot == nullptr) {
      if (free_slot == nullptr) [[unlikely]] {
        return untracked_.Take(now_ns) ? Result::kAllowed : Result::kUntrackedLimited;
      }
      slot = free_slot;
      std::memcpy(slot->addr, addr, 16);
      slot->used = true;
      slot->bucket = TokenBucket(per_source_.per_second, per_source_.burst);
    }
    last_ = uint32_t(slot - slots_.get());
  }
  return slot->bucket.Take(now_ns) ? Result::kAllowed : Result::kSourceLimited;
}

uint32_t SourceLimiter::tracked() const {
  uint32_t n = 0;
  for (uint32_t i = 0; i < kSets * kWays; ++i) n += slots_[i].used ? 1 : 0;
  return n;
}

}  // namespace ipop::dp
