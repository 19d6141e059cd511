// Firewall rules (docs/firewall.md): the text grammar of a `[firewall]` rule, the first-match
// evaluation over the shared-memory rule table, and that table's validation. Both processes use
// it: the control plane parses and compiles rules, the dataplane evaluates new flows.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/shm_layout.h"

namespace ipop::fw {

enum class Selector : uint8_t { kAny, kCidr, kName, kGroup };

struct PortRange {
  uint16_t lo = 0, hi = 0;
};

// One configured rule: `ACTION SELECTOR PROTOCOL [PORTS]`.
struct Rule {
  shm::FwDirection direction = shm::FwDirection::kInbound;
  shm::FwAction action = shm::FwAction::kAllow;
  Selector selector = Selector::kAny;
  uint32_t prefix = 0;  // kCidr: host order, masked
  uint8_t prefix_len = 0;
  std::string label;                    // kName: node name; kGroup: group name
  uint8_t protocol = shm::kFwProtoAny;  // shm::kFwProto*
  std::vector<PortRange> ports;         // sorted, merged; empty: every port
};

// Parses one rule's text; nullopt and *error (what is wrong, without the key) on a bad rule.
std::optional<Rule> ParseRule(shm::FwDirection direction, std::string_view text,
                              std::string* error);
// The rule in its canonical text ("allow cidr:10.0.0.0/24 tcp 80,443"), as ipopctl shows it.
std::string FormatRule(const Rule& rule);

// The flow a new packet opens, as the rules see it: the address and destination port of the
// other end (inbound: the packet's source; outbound: its destination) and the port the packet
// is sent to (tcp/udp; 0 otherwise).
struct FlowView {
  shm::FwDirection direction;
  uint8_t protocol;  // IPv4 protocol number
  uint32_t remote;   // host order
  uint16_t dst_port;
};

// Index of the first rule of `mask` (bit i: rule i applies) matching `flow`, or the direction's
// default slot (shm::kFwDefaultInbound / kFwDefaultOutbound) when none does. `t` is validated.
uint32_t FirstMatch(const shm::FirewallTable& t, uint64_t mask, const FlowView& flow);
// Whether the rule slot FirstMatch returned lets the flow through.
inline bool Allows(const shm::FirewallTable& t, uint32_t slot) {
  if (slot == shm::kFwDefaultInbound) return (t.flags & shm::kFwDenyInbound) == 0;
  if (slot == shm::kFwDefaultOutbound) return (t.flags & shm::kFwDenyOutbound) == 0;
  return t.rules[slot].action == uint8_t(shm::FwAction::kAllow);
}

// Checks a table read from shared memory: every count, field and index within its limits, so
// FirstMatch and the peer_set lookup cannot read out of bounds. false (+ *why, a static text)
// otherwise. Allocates nothing.
bool ValidateTable(const shm::FirewallTable& t, const char** why = nullptr);

// Netmask of a prefix length (0..32; longer counts as 32).
inline uint32_t PrefixMask(uint8_t len) {
  return len == 0 ? 0 : len >= 32 ? ~uint32_t{0} : ~(~uint32_t{0} >> len);
}

}  // namespace ipop::fw
