// Fuzzes ParseConfigText on arbitrary text: it must return a config or an error naming a key,
// never throw, crash or hang (secret-file reads are limited to small regular files).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "shared/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  const std::string text(reinterpret_cast<const char*>(data), size);
  const ipop::ConfigResult r = ipop::ParseConfigText(text);
  // Exactly one outcome, and a failure always says what went wrong.
  if (r.config.has_value() == !r.error.empty()) std::abort();
  if (!r.help.empty()) std::abort();
  if (r.config) {
    const ipop::NodeConfig& c = *r.config;
    if (c.mtu < 576 || c.mtu > 9000 || c.workers < 1 || c.workers > 16) std::abort();
    if (c.name.empty() || c.name.size() > 32 || c.tap.empty() || c.tap.size() > 15) std::abort();
    for (const ipop::PeerConfig& p : c.peers)
      if (p.vip == c.vip || p.endpoint.port == 0) std::abort();
  } else if (r.error.find(": ") == std::string::npos) {
    std::abort();
  }
  return 0;
}
