#include "controlplane/mgmt/render_firewall.h"

#include <cinttypes>

#include "controlplane/mgmt/json_writer.h"
#include "controlplane/mgmt/render_text.h"

namespace ipop::cp {

std::string RenderFirewall(const FirewallReport& r) {
  std::string out;
  if (!r.enabled) {
    out = "firewall off (no [firewall] rules): every flow passes\n";
    return out;
  }
  Append(out, "default inbound %s, outbound %s; flows evicted %" PRIu64 "\n",
         r.inbound_default.c_str(), r.outbound_default.c_str(), r.flows_evicted);
  for (const FirewallReport::Row& row : r.rows) {
    const std::string number = row.number == 0 ? "-" : std::to_string(row.number);
    Append(out, "%-8s %3s %-40s allowed %" PRIu64 " dropped %" PRIu64 "\n", row.direction.c_str(),
           number.c_str(), row.rule.c_str(), row.allowed, row.dropped);
  }
  return out;
}

std::string RenderFirewallJson(const FirewallReport& r) {
  JsonWriter w;
  w.BeginObject().Field("enabled", r.enabled);
  w.Field("inbound_default", r.inbound_default).Field("outbound_default", r.outbound_default);
  w.Field("flows_evicted", r.flows_evicted);
  w.Field("inbound_denied", r.inbound_denied).Field("outbound_denied", r.outbound_denied);
  w.Key("rules").BeginArray();
  for (const FirewallReport::Row& row : r.rows) {
    w.BeginObject().Field("direction", row.direction);
    w.Key("number");
    if (row.number == 0)
      w.Null();
    else
      w.Uint(row.number);
    w.Field("rule", row.rule).Field("allowed", row.allowed).Field("dropped", row.dropped);
    w.EndObject();
  }
  w.EndArray().EndObject();
  return w.Finish();
}

}  // namespace ipop::cp
