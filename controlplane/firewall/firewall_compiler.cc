#include "controlplane/firewall/firewall_compiler.h"

#include <algorithm>

namespace ipop {

bool RuleAppliesTo(const fw::Rule& rule, const std::optional<PeerAttributes>& attributes) {
  switch (rule.selector) {
    case fw::Selector::kAny:
    case fw::Selector::kCidr:  // matched by the dataplane on the packet's remote address
      return true;
    case fw::Selector::kName:
      return attributes && attributes->name == rule.label;
    case fw::Selector::kGroup:
      return attributes && std::find(attributes->groups.begin(), attributes->groups.end(),
                                     rule.label) != attributes->groups.end();
  }
  return false;
}

CompiledFirewall CompileFirewall(const std::vector<fw::Rule>& rules,
                                 std::span<const shm::PeerEntry> peers,
                                 const PeerAttributeLookup& attributes) {
  CompiledFirewall out;
  shm::FirewallTable& t = out.table;
  if (rules.empty()) return out;  // all zero: no firewall, no per-packet cost
  const uint32_t n = uint32_t(std::min<size_t>(rules.size(), shm::kMaxFwRules));
  t.flags = shm::kFwEnabled;
  t.n_rules = n;
  uint64_t base = 0;      // rules every peer gets
  uint64_t fallback = 0;  // base plus every peer-specific deny: never more open than intended
  for (uint32_t i = 0; i < n; ++i) {
    const fw::Rule& r = rules[i];
    if (r.direction == shm::FwDirection::kInbound) t.flags |= shm::kFwDenyInbound;
    if (r.direction == shm::FwDirection::kOutbound) t.flags |= shm::kFwDenyOutbound;
    shm::FwRule& e = t.rules[i];
    e.direction = uint8_t(r.direction);
    e.action = uint8_t(r.action);
    e.protocol = r.protocol;
    if (r.selector == fw::Selector::kCidr) {
      e.prefix = r.prefix;
      e.prefix_len = r.prefix_len;
    }
    e.n_ports = uint8_t(std::min<size_t>(r.ports.size(), shm::kMaxFwPorts));
    for (uint32_t k = 0; k < e.n_ports; ++k) {
      e.port_lo[k] = r.ports[k].lo;
      e.port_hi[k] = r.ports[k].hi;
    }
    const bool everyone = RuleAppliesTo(r, std::nullopt);
    if (everyone) base |= uint64_t{1} << i;
    if (everyone || r.action == shm::FwAction::kDeny) fallback |= uint64_t{1} << i;
  }
  // Set 0 is the base set: every slot without a peer, and every peer without attributes.
  t.set_mask[0] = base;
  t.n_sets = 1;
  for (size_t slot = 0; slot < peers.size() && slot < shm::kMaxPeers; ++slot) {
    if ((peers[slot].flags & shm::kPeerValid) == 0) continue;
    const std::optional<PeerAttributes> a = attributes ? attributes(peers[slot].vip) : std::nullopt;
    uint64_t mask = base;
    if (a)
      for (uint32_t i = 0; i < n; ++i)
        if (RuleAppliesTo(rules[i], a)) mask |= uint64_t{1} << i;
    uint32_t set = 0;
    while (set < t.n_sets && t.set_mask[set] != mask) ++set;
    if (set == t.n_sets) {
      if (t.n_sets < shm::kMaxFwRuleSets) {
        t.set_mask[t.n_sets++] = mask;
      } else {
        set = t.n_sets;  // look for (or make room for) the fallback set below
        uint32_t f = 0;
        while (f < t.n_sets && t.set_mask[f] != fallback) ++f;
        if (f == t.n_sets) {  // replace the last set: its peers are re-pointed below
          f = t.n_sets - 1;
          for (size_t s2 = 0; s2 < slot; ++s2)
            if (t.peer_set[s2] == f) ++out.fallback_peers;
          t.set_mask[f] = fallback;
        }
        set = f;
        ++out.fallback_peers;
      }
    }
    t.peer_set[slot] = uint8_t(set);
  }
  return out;
}

}  // namespace ipop
