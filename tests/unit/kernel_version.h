// Whether the running kernel is new enough for a feature. Tests that need a kernel feature skip
// only when this (or an errno that proves the feature absent) says it cannot be there; on a kernel
// that has it, the code under test must use it, so they never ask the code itself.
#pragma once

#include <sys/utsname.h>

#include <cstdio>

namespace ipop::testing {

// True when uname's release is MAJOR.MINOR or later ("6.18.44-..." -> 6.18).
inline bool KernelAtLeast(int major, int minor) {
  utsname u{};
  if (uname(&u) != 0) return false;
  int ma = 0, mi = 0;
  if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
  return ma > major || (ma == major && mi >= minor);
}

}  // namespace ipop::testing
