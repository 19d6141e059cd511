// Control-plane logging: one line per event on stderr, "2024-05-01T12:00:00.123Z info  text".
// Anything triggered by a received packet goes through a RateLimiter so a flood cannot turn
// into a flood of log lines.
#pragma once

#include <cstdint>
#include <string>

#include "shared/token_bucket.h"

namespace ipop::cp {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// Accepts "debug", "info", "warn", "error"; false for anything else.
bool SetLogLevel(const std::string& name);
bool LogEnabled(LogLevel level);
void Log(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Token bucket: `burst` lines at once, refilled at `per_second`. Suppressed lines are counted
// and reported by the next line that is let through.
class RateLimiter {
 public:
  RateLimiter(uint32_t per_second = 5, uint32_t burst = 10) : bucket_(per_second, burst) {}
  // true: log now; *suppressed (if given) receives the number of lines dropped since last time.
  bool Allow(uint64_t now_ns, uint64_t* suppressed = nullptr);

 private:
  TokenBucket bucket_;
  uint64_t suppressed_ = 0;
};

}  // namespace ipop::cp

#define IPOP_LOG_DEBUG(...)                                       \
  do {                                                            \
    if (::ipop::cp::LogEnabled(::ipop::cp::LogLevel::kDebug))     \
      ::ipop::cp::Log(::ipop::cp::LogLevel::kDebug, __VA_ARGS__); \
  } while (0)
#define IPOP_LOG_INFO(...) ::ipop::cp::Log(::ipop::cp::LogLevel::kInfo, __VA_ARGS__)
#define IPOP_LOG_WARN(...) ::ipop::cp::Log(::ipop::cp::LogLevel::kWarn, __VA_ARGS__)
#define IPOP_LOG_ERROR(...) ::ipop::cp::Log(::ipop::cp::LogLevel::kError, __VA_ARGS__)
