#include "controlplane/dht/dht_rate_limiter.h"

#include <algorithm>
#include <cstring>
#include <random>

namespace ipop::cp {

namespace {

uint64_t Mix(uint64_t h) {  // splitmix64's finaliser: every input bit moves every output bit
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

}  // namespace

DhtRateLimiter::DhtRateLimiter(DhtRateLimit limit)
    : limit_(limit),
      buckets_(0, KeyHash{uint64_t(std::random_device{}()) << 32 | std::random_device{}()}) {}

size_t DhtRateLimiter::KeyHash::operator()(const DhtKey& k) const {
  static_assert(sizeof(DhtKey) == 20);
  uint64_t a, b;
  uint32_t c;
  std::memcpy(&a, k.data(), 8);
  std::memcpy(&b, k.data() + 8, 8);
  std::memcpy(&c, k.data() + 16, 4);
  return size_t(Mix(Mix(Mix(seed ^ a) ^ b) ^ c));
}

size_t DhtRateLimiter::LongestChain() const {
  size_t longest = 0;
  for (size_t i = 0; i < buckets_.bucket_count(); ++i)
    longest = std::max(longest, buckets_.bucket_size(i));
  return longest;
}

void DhtRateLimiter::ForgetIdle(uint64_t now_ns) {
  counters_.forgotten +=
      size_t(std::erase_if(buckets_, [&](const auto& kv) { return kv.second.Full(now_ns); }));
}

bool DhtRateLimiter::Allow(const DhtKey& source, uint64_t now_ns) {
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    if (buckets_.size() >= limit_.max_sources) ForgetIdle(now_ns);
    if (buckets_.size() >= limit_.max_sources) {
      ++counters_.table_full;
      ++counters_.limited;
      return false;
    }
    it = buckets_.try_emplace(source, limit_.per_second, limit_.burst).first;
  }
  if (!it->second.Take(now_ns)) {
    ++counters_.limited;
    return false;
  }
  ++counters_.allowed;
  return true;
}

}  // namespace ipop::cp
