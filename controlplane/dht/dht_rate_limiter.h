// Per-source token buckets for DHT requests, so one member cannot keep the replicas of the ring
// busy: each source may send `burst` requests at once and `per_second` on average. The table of
// sources is bounded; when it is full, sources whose bucket has refilled (idle ones) are
// forgotten, and if none has, a new source is refused until one does (counted), so a flood from
// many addresses cannot grow memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <unordered_map>

#include "controlplane/dht/dht_key.h"
#include "controlplane/runtime/counter_registry.h"
#include "shared/token_bucket.h"

namespace ipop::cp {

struct DhtRateLimit {
  uint32_t per_second = 200;
  uint32_t burst = 400;
  size_t max_sources = 4096;
};

struct DhtRateLimiterCounters {
  uint64_t allowed = 0;
  uint64_t limited = 0;     // the source's bucket was empty
  uint64_t table_full = 0;  // a new source while every tracked one was busy
  uint64_t forgotten = 0;   // idle sources dropped to make room
};

inline constexpr CounterDesc kDhtRateLimiterCounterDescs[] = {
    IPOP_COUNTER(DhtRateLimiterCounters, allowed, "requests within their source's budget"),
    IPOP_COUNTER(DhtRateLimiterCounters, limited, "the source's bucket was empty"),
    IPOP_COUNTER(DhtRateLimiterCounters, table_full,
                 "a new source while every tracked one was busy"),
    IPOP_COUNTER(DhtRateLimiterCounters, forgotten, "idle sources dropped to make room"),
};
static_assert(CoversEveryField<DhtRateLimiterCounters>(kDhtRateLimiterCounterDescs));

class DhtRateLimiter {
 public:
  explicit DhtRateLimiter(DhtRateLimit limit = {});

  // Takes one token of `source` at `now_ns`; false if it has none.
  bool Allow(const DhtKey& source, uint64_t now_ns);

  size_t sources() const { return buckets_.size(); }
  const DhtRateLimiterCounters& counters() const { return counters_; }
  // The most sources sharing one bucket of the hash table: what a lookup may have to walk.
  size_t LongestChain() const;

 private:
  // Over all 20 bytes and keyed by a random seed: sources are DHT node addresses (uniform) or
  // underlay endpoints (OverlayHost: 16 address bytes, of which an IPv4-mapped one varies in the
  // last 4, then the port), chosen by whoever sends. Unseeded, a sender could pick endpoints
  // that all land in one bucket and turn every lookup into a walk of the whole table.
  struct KeyHash {
    uint64_t seed = 0;
    size_t operator()(const DhtKey& k) const;
  };
  void ForgetIdle(uint64_t now_ns);

  DhtRateLimit limit_;
  std::unordered_map<DhtKey, TokenBucket, KeyHash> buckets_;
  DhtRateLimiterCounters counters_;
};

}  // namespace ipop::cp
