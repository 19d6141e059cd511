// Fuzzes the firewall's two parsers: a [firewall] rule's text (fw::ParseRule) and the rule table
// the dataplane reads from shared memory (fw::ValidateTable, then fw::FirstMatch). First byte:
// even -> the rest is rule text (bit 1: direction); odd -> the rest is a FirewallTable image
// (zero-filled after the input) followed by nothing else: flows come from the image's own bytes.
// Properties: a parsed rule formats to text that parses to the same rule, with sorted disjoint
// port ranges within the limit; a table that validates (and is enabled) yields only rule indexes
// below n_rules or a default slot of the flow's direction, and FirstMatch stays in bounds on any
// table.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "shared/firewall.h"

namespace {

using namespace ipop;

void Require(bool ok) {
  if (!ok) std::abort();
}

void CheckRule(shm::FwDirection direction, std::string_view text) {
  std::string error;
  const auto rule = fw::ParseRule(direction, text, &error);
  if (!rule) {
    Require(!error.empty() && error.find('\n') == std::string::npos);
    return;
  }
  Require(rule->ports.size() <= shm::kMaxFwPorts);
  for (size_t i = 0; i < rule->ports.size(); ++i) {
    Require(rule->ports[i].lo >= 1 && rule->ports[i].lo <= rule->ports[i].hi);
    if (i > 0) Require(uint32_t(rule->ports[i - 1].hi) + 1 < rule->ports[i].lo);
  }
  Require(rule->ports.empty() || rule->protocol == shm::kFwProtoTcp ||
          rule->protocol == shm::kFwProtoUdp);
  Require((rule->prefix & fw::PrefixMask(rule->prefix_len)) == rule->prefix);
  const std::string canonical = fw::FormatRule(*rule);
  const auto again = fw::ParseRule(direction, canonical, &error);
  Require(again.has_value() && fw::FormatRule(*again) == canonical);
}

void CheckTable(const uint8_t* data, size_t size) {
  auto t = std::make_unique<shm::FirewallTable>();
  std::memcpy(t.get(), data, std::min(size, sizeof(shm::FirewallTable)));
  const bool valid = fw::ValidateTable(*t);
  for (uint32_t k = 0; k < 8; ++k) {
    const uint8_t* b = data + (size > 8 ? (k * 7) % (size - 8) : 0);
    if (size < 8) break;
    uint32_t remote;
    std::memcpy(&remote, b, 4);
    const fw::FlowView f{(b[4] & 1) ? shm::FwDirection::kOutbound : shm::FwDirection::kInbound,
                         b[5], remote, uint16_t(b[6] << 8 | b[7])};
    const uint32_t peer = uint32_t(b[0] << 8 | b[1]) % shm::kMaxPeers;
    // The dataplane's own re-bounding (Firewall::PassNew) on a table that may be invalid.
    const uint32_t set = t->peer_set[peer];
    const uint64_t mask = t->set_mask[set < shm::kMaxFwRuleSets ? set : 0];
    const uint32_t slot = fw::FirstMatch(*t, mask, f);
    const uint32_t default_slot = f.direction == shm::FwDirection::kInbound
                                      ? shm::kFwDefaultInbound
                                      : shm::kFwDefaultOutbound;
    Require(slot < shm::kMaxFwRules || slot == default_slot);
    if (!valid || (t->flags & shm::kFwEnabled) == 0) continue;  // off: never evaluated
    Require(set < t->n_sets);
    Require(slot < t->n_rules || slot == default_slot);
    if (slot < t->n_rules) Require(t->rules[slot].direction == uint8_t(f.direction));
    (void)fw::Allows(*t, slot);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if ((data[0] & 1) == 0) {
    CheckRule((data[0] & 2) ? shm::FwDirection::kOutbound : shm::FwDirection::kInbound,
              {reinterpret_cast<const char*>(data + 1), size - 1});
  } else {
    CheckTable(data + 1, size - 1);
  }
  return 0;
}
