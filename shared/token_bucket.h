// A token bucket: `burst` events at once, `rate_per_s` on average. Used wherever a flood must not
// turn into work or output: ICMP errors the dataplane generates (RFC 1812 4.3.2.8), DHT requests
// per source, log lines. Time is passed in, so tests and the simulator drive it without a clock;
// one thread owns each bucket.
#pragma once

#include <algorithm>
#include <cstdint>

namespace ipop {

class TokenBucket {
 public:
  // `rate_per_s` tokens are added per second, up to `burst`; the bucket starts full.
  TokenBucket(uint32_t rate_per_s, uint32_t burst)
      : ns_per_token_(rate_per_s == 0 ? 0 : 1'000'000'000ull / rate_per_s),
        burst_(burst),
        tokens_(burst) {}

  // Takes one token if there is one at `now_ns` (monotonic).
  bool Take(uint64_t now_ns) {
    if (ns_per_token_ != 0 && now_ns > last_ns_) {
      const uint64_t earned = (now_ns - last_ns_) / ns_per_token_;
      if (earned > 0) {
        tokens_ = uint32_t(std::min<uint64_t>(burst_, tokens_ + earned));
        // Keep the remainder so a steady trickle is not rounded away.
        last_ns_ = tokens_ == burst_ ? now_ns : last_ns_ + earned * ns_per_token_;
      }
    }
    if (tokens_ == 0) return false;
    --tokens_;
    return true;
  }

  // True when the bucket would be full at `now_ns`: the user has been idle long enough that
  // forgetting the bucket loses nothing.
  bool Full(uint64_t now_ns) const {
    if (tokens_ >= burst_) return true;
    if (ns_per_token_ == 0 || now_ns <= last_ns_) return false;
    return (now_ns - last_ns_) / ns_per_token_ >= burst_ - tokens_;
  }

 private:
  uint64_t ns_per_token_;
  uint32_t burst_;
  uint32_t tokens_;
  uint64_t last_ns_ = 0;
};

}  // namespace ipop
