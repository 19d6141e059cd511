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

double DhtRateLimiter::Refilled(const Bucket& b, uint64_t now_ns) const {
  const double elapsed_s = now_ns > b.last_ns ? double(now_ns - b.last_ns) * 1e-9 : 0.0;
  return std::min(limit_.burst, b.tokens + elapsed_s * limit_.per_second);
}

void DhtRateLimiter::ForgetIdle(uint64_t now_ns) {
  counters_.forgotten += size_t(std::erase_if(
      buckets_, [&](const auto& kv) { return Refilled(kv.second, now_ns) >= limit_.burst; }));
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
    it = buckets_.emplace(source, Bucket{limit_.burst, now_ns}).first;
  }
  Bucket& b = it->second;
  b.tokens = Refilled(b, now_ns);
  b.last_ns = std::max(b.last_ns, now_ns);
  if (b.tokens < 1.0) {
    ++counters_.limited;
    return false;
  }
  b.tokens -= 1.0;
  ++counters_.allowed;
  return true;
}

}  // namespace ipop::cp
