// Time as the control-plane logic sees it. Logic classes take a Clock& so unit tests and the
// simulator drive time explicitly; the process uses SystemClock.
#pragma once

#include <cstdint>

namespace ipop::cp {

class Clock {
 public:
  virtual ~Clock() = default;
  // Monotonic nanoseconds: timers, liveness, grace periods.
  virtual uint64_t NowNs() const = 0;
  // Wall-clock nanoseconds since the Unix epoch: HELLO timestamps, which must keep increasing
  // across restarts of the sender (a monotonic clock restarts at boot).
  virtual uint64_t WallNs() const = 0;
};

class SystemClock final : public Clock {
 public:
  uint64_t NowNs() const override;
  uint64_t WallNs() const override;
};

}  // namespace ipop::cp
