#include "controlplane/mgmt/render_overlay.h"

#include <algorithm>
#include <cstdio>

#include "controlplane/mgmt/json_writer.h"
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
  // Endpoint and roles columns as wide as their widest entry.
  size_t ep_width = 0, roles_width = 0;
  for (const LinkRow& l : links) {
    ep_width = std::max(ep_width, l.endpoint.ToString().size());
    roles_width = std::max(roles_width, RolesText(l.roles).size());
  }
  std::string out;
  char line[320];
  for (const LinkRow& l : links) {
    std::snprintf(line, sizeof(line), "link %s %-*s %-*s age %-7s heard %s ago\n",
                  l.address.ToHex().c_str(), int(ep_width), l.endpoint.ToString().c_str(),
                  int(roles_width), RolesText(l.roles).c_str(), Seconds(l.age_ns).c_str(),
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
  out += "nat " + r.nat + " candidates " + (r.candidates.empty() ? "-" : r.candidates) + "\n";
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

namespace ipop::cp {
namespace {

void RolesJson(JsonWriter& w, uint8_t roles) {
  w.BeginArray();
  if (roles & overlay::kRoleLeaf) w.String("leaf");
  if (roles & overlay::kRoleNear) w.String("near");
  if (roles & overlay::kRoleFarOut) w.String("far-out");
  if (roles & overlay::kRoleFarIn) w.String("far-in");
  if (roles & overlay::kRoleShortcut) w.String("shortcut");
  w.EndArray();
}

void LinkJson(JsonWriter& w, const LinkRow& l) {
  w.BeginObject().Field("address", l.address.ToHex()).Field("endpoint", l.endpoint.ToString());
  w.Key("roles");
  RolesJson(w, l.roles);
  w.Field("age_s", double(l.age_ns) / 1e9, 1).Field("heard_ago_s", double(l.heard_ago_ns) / 1e9, 1);
  w.EndObject();
}

const char* OutcomeName(DhtOutcome o) {
  return o == DhtOutcome::kOk ? "ok" : o == DhtOutcome::kRejected ? "rejected" : "no-quorum";
}

}  // namespace

std::string RenderLinksJson(const std::vector<LinkRow>& links) {
  JsonWriter w;
  w.BeginObject().Key("links").BeginArray();
  for (const LinkRow& l : links) LinkJson(w, l);
  w.EndArray().EndObject();
  return w.Finish();
}

std::string RenderRingJson(const RingReport& r) {
  uint64_t near = 0, far = 0, leaf = 0, shortcut = 0;
  for (const LinkRow& l : r.links) {
    near += (l.roles & overlay::kRoleNear) != 0;
    far += (l.roles & (overlay::kRoleFarOut | overlay::kRoleFarIn)) != 0;
    leaf += (l.roles & overlay::kRoleLeaf) != 0;
    shortcut += (l.roles & overlay::kRoleShortcut) != 0;
  }
  JsonWriter w;
  w.BeginObject().Field("address", r.address.ToHex()).Field("endpoint", r.endpoint.ToString());
  w.Field("nat", r.nat).Field("candidates", r.candidates);
  w.Field("joined", r.joined);
  w.Key("links").BeginObject().Field("total", uint64_t(r.links.size())).Field("near", near);
  w.Field("far", far).Field("leaf", leaf).Field("shortcut", shortcut).EndObject();
  w.Field("estimated_size", r.estimated_size, 0).Field("far_target", uint64_t(r.far_target));
  for (const auto& [name, side] :
       {std::pair{"successors", &r.successors}, std::pair{"predecessors", &r.predecessors}}) {
    w.Key(name).BeginArray();
    for (const LinkRow& l : *side) {
      w.BeginObject().Field("address", l.address.ToHex());
      w.Field("endpoint", l.endpoint.ToString()).EndObject();
    }
    w.EndArray();
  }
  w.Key("dht").BeginObject().Field("keys", uint64_t(r.dht_keys));
  w.Field("pending_ops", uint64_t(r.dht_pending_ops)).EndObject();
  w.Field("directory_published", r.directory_published);
  w.Key("address_claim");
  if (r.claim)
    w.String(RenderClaim(*r.claim));
  else
    w.Null();
  w.EndObject();
  return w.Finish();
}

std::string RenderDhtReplyJson(const DhtResult& r, bool is_get) {
  if (r.outcome != DhtOutcome::kOk) return JsonError(RenderDhtReply(r, is_get));
  JsonWriter w;
  w.BeginObject().Field("outcome", OutcomeName(r.outcome)).Field("attempts", r.attempts);
  w.Field("latency_ms", double(r.latency_ns) / 1e6, 0);
  if (is_get) {
    w.Key("values").BeginArray();
    for (const DhtRecord& rec : r.values) {
      w.BeginObject().Field(
          "value",
          std::string_view(reinterpret_cast<const char*>(rec.value.data()), rec.value.size()));
      w.Field("ttl_s", uint64_t(rec.ttl_ms / 1000)).EndObject();
    }
    w.EndArray();
  }
  w.EndObject();
  return w.Finish();
}

}  // namespace ipop::cp
