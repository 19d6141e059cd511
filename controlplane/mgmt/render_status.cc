#include "controlplane/mgmt/render_status.h"

#include <cinttypes>
#include <cstdio>

#include "controlplane/mgmt/json_writer.h"
#include "controlplane/mgmt/render_text.h"
#include "shared/endpoint.h"

namespace ipop::cp {

std::string RenderClaim(const ClaimStatus& c) {
  std::string s = c.vip == 0 ? std::string("none") : FormatIpv4(c.vip);
  if (c.released) return s + " (released)";
  if (c.held) return s + (c.fixed ? " (static, claimed)" : " (allocated)");
  if (c.fixed) return s + (c.vip != 0 ? " (static, claiming)" : " (static, conflict)");
  return s + " (claiming)";
}

const char* TapAddressStateName(TapAddressState s) {
  switch (s) {
    case TapAddressState::kNotManaged:
      return "not-managed";
    case TapAddressState::kWaiting:
      return "waiting-for-interface";
    case TapAddressState::kAssigned:
      return "assigned";
    case TapAddressState::kFailed:
      return "failed";
  }
  return "unknown";
}

std::string RenderStatus(const NodeStatus& s) {
  std::string out;
  Append(out, "%-*s %s\n", kKeyWidth, "node", s.node.c_str());
  Append(out, "%-*s %s\n", kKeyWidth, "network", s.network.c_str());
  Append(out, "%-*s %s/%u\n", kKeyWidth, "vip", FormatIpv4(s.vip).c_str(), s.prefix_len);
  if (s.address) Append(out, "%-*s %s\n", kKeyWidth, "address", RenderClaim(*s.address).c_str());
  Append(out, "%-*s %s\n", kKeyWidth, "tap", s.tap.c_str());
  Append(out, "%-*s %s\n", kKeyWidth, "tap-address", TapAddressStateName(s.tap_address));
  Append(out, "%-*s %" PRIu64 "\n", kKeyWidth, "table-seq", s.table_seq);
  Append(out, "%-*s %d\n", kKeyWidth, "dataplane-pid", s.dp_pid);
  Append(out, "%-*s %s\n", kKeyWidth, "dataplane-alive", s.dp_alive ? "yes" : "no");
  Append(out, "%-*s %016" PRIx64 "\n", kKeyWidth, "dataplane-instance", s.dp_instance);
  if (s.dp_heartbeat_known)
    Append(out, "%-*s %" PRIu64 "\n", kKeyWidth, "dataplane-heartbeat-age-ms",
           s.dp_heartbeat_age_ns / 1'000'000);
  else
    Append(out, "%-*s -\n", kKeyWidth, "dataplane-heartbeat-age-ms");
  Append(out, "%-*s %u\n", kKeyWidth, "dataplane-workers-running", s.dp_workers_running);
  Append(out, "%-*s %zu\n", kKeyWidth, "peers-up", s.peers_up);
  Append(out, "%-*s %zu\n", kKeyWidth, "peers-total", s.peers_total);
  Append(out, "%-*s %d\n", kKeyWidth, "controlplane-pid", s.cp_pid);
  Append(out, "%-*s %" PRIu64 "\n", kKeyWidth, "controlplane-attach-count", s.cp_attach_count);
  Append(out, "%-*s %" PRIu64 "\n", kKeyWidth, "uptime-s", s.uptime_ns / 1'000'000'000);
  return out;
}

}  // namespace ipop::cp

namespace ipop::cp {

std::string RenderStatusJson(const NodeStatus& s) {
  JsonWriter w;
  w.BeginObject();
  w.Field("node", s.node).Field("network", s.network);
  w.Field("vip", FormatIpv4(s.vip)).Field("prefix_len", s.prefix_len);
  w.Key("address");
  if (s.address) {
    w.BeginObject()
        .Field("vip", s.address->vip != 0 ? FormatIpv4(s.address->vip) : std::string())
        .Field("static", s.address->fixed)
        .Field("held", s.address->held)
        .Field("released", s.address->released)
        .Field("text", RenderClaim(*s.address))
        .EndObject();
  } else {
    w.Null();
  }
  w.Field("tap", s.tap).Field("tap_address", TapAddressStateName(s.tap_address));
  w.Field("table_seq", s.table_seq);
  char instance[24];
  std::snprintf(instance, sizeof(instance), "%016" PRIx64, s.dp_instance);
  w.Key("dataplane").BeginObject().Field("pid", s.dp_pid).Field("alive", s.dp_alive);
  w.Field("instance", instance).Key("heartbeat_age_ms");
  if (s.dp_heartbeat_known)
    w.Uint(s.dp_heartbeat_age_ns / 1'000'000);
  else
    w.Null();
  w.Field("workers_running", s.dp_workers_running).EndObject();
  w.Field("peers_up", uint64_t(s.peers_up)).Field("peers_total", uint64_t(s.peers_total));
  w.Key("controlplane").BeginObject().Field("pid", s.cp_pid);
  w.Field("attach_count", s.cp_attach_count).EndObject();
  w.Field("uptime_s", s.uptime_ns / 1'000'000'000);
  w.EndObject();
  return w.Finish();
}

}  // namespace ipop::cp
