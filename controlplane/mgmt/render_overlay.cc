#include "controlplane/mgmt/render_overlay.h"

#include <cstdio>

#include "controlplane/overlay/link_table.h"

namespace ipop::cp {
namespace {

std::string RolesText(uint8_t roles) {
  std::string s;
  auto add = [&](uint8_t bit, const char* name) {
    if ((roles & bit) == 0) return;
    if (!s.empty()) s += ',';
    s += name;
  };
  add(overlay::kRoleLeaf, "leaf");
  add(overlay::kRoleNear, "near");
  add(overlay::kRoleFarOut, "far-out");
  add(overlay::kRoleFarIn, "far-in");
  add(overlay::kRoleShortcut, "shortcut");
  return s.empty() ? "surplus" : s;
}

std::string Seconds(uint64_t ns) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.1fs", double(ns) / 1e9);
  return b;
}

}  // namespace

std::string RenderLinks(const std::vector<LinkRow>& links) {
  std::string out;
  char line[256];
  for (const LinkRow& l : links) {
    std::snprintf(line, sizeof(line), "link %s %s %s age %s heard %s ago\n",
                  l.address.ToHex().c_str(), l.endpoint.ToString().c_str(),
                  RolesText(l.roles).c_str(), Seconds(l.age_ns).c_str(),
                  Seconds(l.heard_ago_ns).c_str());
    out += line;
  }
  if (out.empty()) out = "no links\n";
  return out;
}

std::string RenderRing(const RingReport& r) {
  size_t near = 0, far = 0, leaf = 0, shortcut = 0;
  for (const LinkRow& l : r.links) {
    near += (l.roles & overlay::kRoleNear) != 0;
    far += (l.roles & (overlay::kRoleFarOut | overlay::kRoleFarIn)) != 0;
    leaf += (l.roles & overlay::kRoleLeaf) != 0;
    shortcut += (l.roles & overlay::kRoleShortcut) != 0;
  }
  char line[256];
  std::string out;
  std::snprintf(line, sizeof(line), "overlay address %s endpoint %s\n", r.address.ToHex().c_str(),
                r.endpoint.ToString().c_str());
  out += line;
  std::snprintf(line, sizeof(line),
                "joined %s  links %zu (near %zu, far %zu, leaf %zu, shortcut %zu)  "
                "estimated size %.0f  far target %zu\n",
                r.joined ? "yes" : "no", r.links.size(), near, far, leaf, shortcut,
                r.estimated_size, r.far_target);
  out += line;
  auto side = [&](const char* name, const std::vector<LinkRow>& v) {
    for (const LinkRow& l : v) {
      std::snprintf(line, sizeof(line), "%s %s %s\n", name, l.address.ToHex().c_str(),
                    l.endpoint.ToString().c_str());
      out += line;
    }
  };
  side("successor", r.successors);
  side("predecessor", r.predecessors);
  std::snprintf(line, sizeof(line), "dht keys %zu pending-ops %zu directory %s address %s\n",
                r.dht_keys, r.dht_pending_ops,
                r.directory_published ? "published" : "not-yet-published",
                r.claim ? RenderClaim(*r.claim).c_str() : "none");
  out += line;
  return out;
}

std::string RenderDhtReply(const DhtResult& r, bool is_get) {
  char head[160];
  std::snprintf(head, sizeof(head), "%s after %u attempts, %.0f ms",
                r.outcome == DhtOutcome::kOk         ? "ok"
                : r.outcome == DhtOutcome::kRejected ? "error: rejected"
                                                     : "error: no quorum",
                r.attempts, double(r.latency_ns) / 1e6);
  std::string text = head;
  if (r.outcome != DhtOutcome::kOk) text += std::string(" (") + DhtStatusName(r.reason) + ")";
  text += "\n";
  if (is_get && r.outcome == DhtOutcome::kOk) {
    if (r.values.empty()) text += "no values\n";
    for (const DhtRecord& rec : r.values)
      text += "value " + std::string(rec.value.begin(), rec.value.end()) + " ttl " +
              std::to_string(rec.ttl_ms / 1000) + "s\n";
  }
  return text;
}

}  // namespace ipop::cp
