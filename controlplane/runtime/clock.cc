#include "controlplane/runtime/clock.h"

#include <ctime>

namespace ipop::cp {
namespace {

uint64_t Read(clockid_t id) {
  timespec ts{};
  clock_gettime(id, &ts);
  return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

}  // namespace

uint64_t SystemClock::NowNs() const {
  return Read(CLOCK_MONOTONIC);
}
uint64_t SystemClock::WallNs() const {
  return Read(CLOCK_REALTIME);
}

}  // namespace ipop::cp
