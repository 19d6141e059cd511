// The management commands (one text line each, docs/operations.md "ipopctl") parsed into what the
// control plane runs. Pure: no I/O, no state, so the parser is unit-tested and fuzzed on its own
// (tests/fuzz/fuzz_mgmt.cc); MgmtHandler::Handle only executes the result.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ipop::cp {

enum class MgmtVerb : uint8_t {
  kStatus,
  kPeers,
  kCounters,  // all: "counters --all" (zeros included)
  kReload,
  kRoutes,
  kMulticast,
  kRing,
  kLinks,
  kDhtPut,   // name, value, ttl_s
  kDhtGet,   // name
  kDhtBad,   // "dht" with arguments that are neither: error holds the usage text
  kUnknown,  // error holds the reply
};

struct MgmtCommand {
  MgmtVerb verb = MgmtVerb::kUnknown;
  std::string name;
  std::string value;
  uint32_t ttl_s = 0;
  bool all = false;   // kCounters: every counter, zeros included
  std::string error;  // kDhtBad, kUnknown: the whole "error: ...\n" reply

  // Ring, links and dht need the overlay; the others do not.
  bool needs_overlay() const {
    return verb == MgmtVerb::kRing || verb == MgmtVerb::kLinks || verb == MgmtVerb::kDhtPut ||
           verb == MgmtVerb::kDhtGet || verb == MgmtVerb::kDhtBad;
  }
};

// Default TTL of "dht put" without one, and the largest one accepted.
inline constexpr uint32_t kMgmtDhtDefaultTtlS = 3600;
inline constexpr uint32_t kMgmtDhtMaxTtlS = 999999;

// `line` as the management socket received it (a trailing '\r' or '\n' and surrounding blanks are
// ignored). Commands: status, peers, counters [--all], reload, routes, multicast, ring, links,
// "dht put NAME VALUE [TTL-SECONDS]", "dht get NAME" (words separated by blanks).
MgmtCommand ParseMgmtCommand(std::string_view line);

}  // namespace ipop::cp
