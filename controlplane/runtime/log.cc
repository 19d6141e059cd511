#include "controlplane/runtime/log.h"

#include <cstdarg>
#include <cstdio>
#include <ctime>

namespace ipop::cp {
namespace {

LogLevel g_level = LogLevel::kInfo;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

}  // namespace

bool SetLogLevel(const std::string& name) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (name == LevelName(l)) {
      g_level = l;
      return true;
    }
  }
  return false;
}

bool LogEnabled(LogLevel level) {
  return level >= g_level;
}

void Log(LogLevel level, const char* fmt, ...) {
  if (!LogEnabled(level)) return;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc{};
  gmtime_r(&ts.tv_sec, &utc);
  char line[1024];
  int n = std::snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                        utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                        utc.tm_sec, ts.tv_nsec / 1'000'000, LevelName(level));
  if (n < 0) return;
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(line + n, sizeof(line) - size_t(n), fmt, ap);
  va_end(ap);
  // One stdio call per line keeps lines whole when stderr is shared with another process.
  std::fprintf(stderr, "%s\n", line);
}

bool RateLimiter::Allow(uint64_t now_ns, uint64_t* suppressed) {
  if (!bucket_.Take(now_ns)) {
    ++suppressed_;
    return false;
  }
  if (suppressed) *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace ipop::cp
