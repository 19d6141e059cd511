// Per-source token buckets in a fixed table, for work an outsider without the network secret can
// make a worker do: datagrams punted to the control plane and RELAY datagrams forwarded for other
// nodes. A source is an underlay IP address (IPv6 or IPv4-mapped), never a port, so a flood from
// every port of one host is one source.
//
// The table is set-associative (kSets x kWays slots, allocated once): a source hashes, with a
// per-worker random seed so an outsider cannot aim its sources at one set, to a set and keeps
// its slot while it is busy. A new source takes a free slot of its set, or one whose bucket has
// refilled (an idle source: forgetting it loses nothing). When every slot of the set is busy the
// source is not tracked and shares one bucket with all other untracked sources: a flood from
// many (spoofed) addresses then costs the tracked sources nothing and the untracked ones at most
// that shared budget. No allocation, lock or system call per packet; time is passed in.
#pragma once

#include <cstdint>
#include <memory>

#include "shared/shm_region.h"
#include "shared/token_bucket.h"

namespace ipop::dp {

struct Budget {
  uint32_t per_second;
  uint32_t burst;
};

class SourceLimiter {
 public:
  static constexpr uint32_t kSets = 256;
  static constexpr uint32_t kWays = 4;

  enum class Result : uint8_t { kAllowed, kSourceLimited, kUntrackedLimited };

  // Every tracked source gets `per_source`; all untracked sources together get `untracked`.
  SourceLimiter(Budget per_source, Budget untracked, uint64_t seed);

  // Takes one token of the source at `now_ns` (monotonic).
  Result Take(const uint8_t addr[16], uint64_t now_ns);

  uint32_t tracked() const;                      // sources holding a slot (tests, diagnostics)
  uint32_t SetOf(const uint8_t addr[16]) const;  // the set a source competes for slots in

 private:
  struct Slot {
    uint8_t addr[16] = {};
    bool used = false;
    TokenBucket bucket{0, 0};
  };

  Budget per_source_;
  uint64_t seed_;
  std::unique_ptr<Slot[]> slots_;  // kSets * kWays
  TokenBucket untracked_;
  uint32_t last_ = 0;  // slot of the previous call: a burst's datagrams mostly share a source
};

// The monotonic clock read at most once per burst, and only when a limiter asks for it: bursts
// of DATA never read it.
class BurstClock {
 public:
  void NextBurst() { now_ = 0; }
  uint64_t Now() {
    if (now_ == 0) now_ = shm::MonotonicNs();
    return now_;
  }
  void Set(uint64_t now_ns) { now_ = now_ns; }  // tests: the burst happens at `now_ns`

 private:
  uint64_t now_ = 0;
};

}  // namespace ipop::dp
