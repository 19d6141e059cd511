// Replay protection for authenticated control messages (HELLOs, overlay datagrams).
//
// Every such message carries its sender's wall-clock timestamp in ns, strictly increasing per
// sender process. A message is accepted once: the guard remembers, per sender, the highest
// timestamp accepted and the last kHistory accepted timestamps, so a datagram reordered on the
// underlay (or a HELLO that took the overlay while a newer one came direct) is still accepted
// within kReorderNs, and any copy is refused.
//
// The state must not be what an attacker can make us forget: a sender is never dropped without
// raising the floor. Below the floor nothing is accepted from anyone:
//   - at start the floor is start time - kStartSkewNs: what was recorded before this process ran
//     is refused (except the last kStartSkewNs of it, the price of tolerating clock skew);
//   - a sender evicted from the full table raises the floor to the highest timestamp it was
//     accepted with, so forgetting it cannot readmit its old messages (the least recently heard
//     sender goes first; its timestamps are old, so live senders stay above the floor).
// Timestamps more than kAheadNs in our future are refused too: one sender with a clock far ahead
// would otherwise poison its entry until our clock caught up.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>

namespace ipop::cp {

enum class ReplayVerdict : uint8_t {
  kFresh,     // accepted and remembered
  kReplayed,  // a copy, or older than what this sender sent since
  kTooOld,    // below the floor (before our start, or older than an evicted sender's)
  kAhead,     // too far in our future: the sender's clock is wrong
};
const char* ReplayVerdictName(ReplayVerdict v);

class ReplayGuard {
 public:
  static constexpr size_t kKeyBytes = 20;
  using Key = std::array<uint8_t, kKeyBytes>;
  static constexpr size_t kHistory = 16;
  static constexpr uint64_t kReorderNs = 2'000'000'000ull;
  static constexpr uint64_t kStartSkewNs = 30'000'000'000ull;
  static constexpr uint64_t kAheadNs = 300'000'000'000ull;

  // `start_wall_ns`: this process's start on the wall clock; `max_senders` bounds the table.
  ReplayGuard(uint64_t start_wall_ns, size_t max_senders);

  // Checks `ts` from `sender` at wall time `now_wall_ns`; a fresh one is remembered.
  ReplayVerdict Check(const Key& sender, uint64_t ts, uint64_t now_wall_ns);

  uint64_t floor_ns() const { return floor_; }
  size_t senders() const { return senders_.size(); }

  static Key KeyOf(std::span<const uint8_t> bytes);  // zero-padded or truncated to kKeyBytes
  static Key KeyOfVip(uint32_t vip);

 private:
  struct Sender {
    uint64_t highest = 0;
    std::array<uint64_t, kHistory> recent{};  // accepted timestamps, ring; 0 = empty
    size_t next = 0;
    uint64_t last_seen_wall = 0;
  };
  void EvictOldest();

  uint64_t floor_;
  size_t max_senders_;
  std::map<Key, Sender> senders_;
};

}  // namespace ipop::cp
