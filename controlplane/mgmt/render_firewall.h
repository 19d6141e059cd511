// `ipopctl firewall`: the rules in evaluation order with their hit counts (new flows allowed,
// packets dropped; summed over the dataplane's workers) and the default policy per direction, e.g.
//   inbound  1 allow cidr:10.77.0.0/24 tcp 22      allowed 3 dropped 0
//   inbound  - default deny                        allowed 0 dropped 12
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ipop::cp {

struct FirewallReport {
  struct Row {
    std::string direction;  // inbound | outbound
    uint32_t number = 0;    // 1-based position among all rules (0: a default)
    std::string rule;       // canonical text, or "default allow|deny"
    uint64_t allowed = 0;   // new flows let through
    uint64_t dropped = 0;   // packets dropped
  };
  bool enabled = false;          // any rule configured
  std::string inbound_default;   // allow | deny
  std::string outbound_default;  // allow | deny
  std::vector<Row> rows;         // rules in order, then the inbound and the outbound default
  uint64_t flows_evicted = 0;
  uint64_t inbound_denied = 0, outbound_denied = 0;  // the drop reasons
};

std::string RenderFirewall(const FirewallReport& r);
std::string RenderFirewallJson(const FirewallReport& r);

}  // namespace ipop::cp
