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
  kFirewall,
  kRing,
  kLinks,
  kDhtPut,    // name, value, ttl_s
  kDhtGet,    // name
  kDhtBad,    // "dht" with arguments that are neither: error holds the usage text
  kPing,      // name (a VIP or a node name), count, interval_ms
  kValidate,  // count, interval_ms
  kRevoke,    // name: the path of a PEM revocation file (certificate mode)
  kBadArgs,   // ping or validate with bad arguments: error holds the reply
  kUnknown,   // error holds the reply
};

struct MgmtCommand {
  MgmtVerb verb = MgmtVerb::kUnknown;
  std::string name;
  std::string value;
  uint32_t ttl_s = 0;
  bool all = false;          // kCounters: every counter, zeros included
  bool json = false;         // the line started with the word "json": reply in JSON
  uint32_t count = 0;        // kPing, kValidate: probes per member
  uint32_t interval_ms = 0;  // kPing, kValidate: between two probes to one member
  std::string error;         // kDhtBad, kUnknown: the whole "error: ...\n" reply

  // Ring, links and dht need the overlay; the others do not.
  bool needs_overlay() const {
    return verb == MgmtVerb::kRing || verb == MgmtVerb::kLinks || verb == MgmtVerb::kDhtPut ||
           verb == MgmtVerb::kDhtGet || verb == MgmtVerb::kDhtBad || verb == MgmtVerb::kPing ||
           verb == MgmtVerb::kValidate;
  }
};

// Default TTL of "dht put" without one, and the largest one accepted.
inline constexpr uint32_t kMgmtDhtDefaultTtlS = 3600;
inline constexpr uint32_t kMgmtDhtMaxTtlS = 999999;
// ping / validate: "-c N" probes (1..kMgmtMaxCount) "-i MS" apart (kMgmtMinIntervalMs..
// kMgmtMaxIntervalMs).
inline constexpr uint32_t kMgmtPingDefaultCount = 4;
inline constexpr uint32_t kMgmtPingDefaultIntervalMs = 1000;
inline constexpr uint32_t kMgmtValidateDefaultCount = 3;
inline constexpr uint32_t kMgmtValidateDefaultIntervalMs = 200;
inline constexpr uint32_t kMgmtMaxCount = 100;
inline constexpr uint32_t kMgmtMinIntervalMs = 10;
inline constexpr uint32_t kMgmtMaxIntervalMs = 10000;

// `line` as the management socket received it (a trailing '\r' or '\n' and surrounding blanks are
// ignored). Commands: status, peers, counters [--all] [--json], reload, routes, multicast,
// firewall, ring,
// links, "dht put NAME VALUE [TTL-SECONDS]", "dht get NAME" (words separated by blanks),
// "ping TARGET [-c N] [-i MS]", "validate [-c N] [-i MS]", "revoke PATH" (an absolute path), each
// optionally preceded by the word "json" for a JSON reply.
MgmtCommand ParseMgmtCommand(std::string_view line);

// Whether a reply reports a failure (ipopctl exits 1): it starts with "error:" or {"error":, its
// last line starts with "fail:" (ping, validate), or it is a JSON object with "ok":false (a JSON
// string cannot hold that text unescaped, so it is the member itself).
bool MgmtReplyFailed(std::string_view reply);

}  // namespace ipop::cp
