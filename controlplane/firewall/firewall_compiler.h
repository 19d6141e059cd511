// Turns the configured firewall rules and the current peers into the shared-memory rule table
// (shm::FirewallTable, docs/firewall.md): the rules in order, each peer slot's rule set (which
// rules apply to it) and the default policies. Pure: the control plane calls it at every table
// publication, tests call it directly.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "controlplane/firewall/peer_attributes.h"
#include "shared/firewall.h"
#include "shared/shm_layout.h"

namespace ipop {

struct CompiledFirewall {
  shm::FirewallTable table{};
  // Peers whose rule set could not get a set of its own (more than kMaxFwRuleSets distinct
  // sets): they got the fallback set (`any`/`cidr:` rules and every `name:`/`group:` deny rule).
  uint32_t fallback_peers = 0;
};

// `peers`: the table's peer entries (slot = position); their vip is looked up in `attributes`.
// Rules beyond kMaxFwRules are ignored (the config refuses them).
CompiledFirewall CompileFirewall(const std::vector<fw::Rule>& rules,
                                 std::span<const shm::PeerEntry> peers,
                                 const PeerAttributeLookup& attributes);

// Whether `rule` applies to a peer with `attributes` (nullopt: nothing verified).
bool RuleAppliesTo(const fw::Rule& rule, const std::optional<PeerAttributes>& attributes);

}  // namespace ipop
