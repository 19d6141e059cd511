#include "controlplane/dht/dht_rate_limiter.h"

#include <algorithm>
#include <cstring>

namespace ipop::cp {

size_t DhtRateLimiter::KeyHash::operator()(const DhtKey& k) const {
  // Keys are overlay addresses (hashes): any 8 bytes are uniform.
  uint64_t h;
  std::memcpy(&h, k.data(), sizeof(h));
  return size_t(h);
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
