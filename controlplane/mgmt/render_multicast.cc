#include "controlplane/mgmt/render_multicast.h"

#include "controlplane/mgmt/json_writer.h"
#include "shared/endpoint.h"
#include "shared/igmp.h"

namespace ipop::cp {
namespace {

std::string GroupName(uint32_t group) {
  return group == igmp::kBroadcastGroup ? "255.255.255.255 (broadcast)" : FormatIpv4(group);
}

// Whole seconds, rounded up.
std::string Seconds(uint64_t ns) {
  return std::to_string((ns + 999'999'999ull) / 1'000'000'000ull) + "s";
}

}  // namespace

std::string RenderMulticast(const MulticastView& v) {
  std::string out;
  out += v.querier_ip != 0 ? "querier " + FormatIpv4(v.querier_ip) + " queries-sent " +
                                 std::to_string(v.queries_sent) + "\n"
                           : "querier none (no network.service-ip)\n";
  for (const MulticastView::Joined& j : v.joined) {
    out += "joined " + GroupName(j.group);
    out += j.published_vip != 0 ? " published as " + FormatIpv4(j.published_vip)
                                : std::string(" not-published");
    if (j.expires) out += " expires-in " + Seconds(j.expires_in_ns);
    out += "\n";
  }
  for (const MulticastView::Sending& s : v.sending) {
    out += "sending " + GroupName(s.group);
    if (!s.polled) {
      out += " looking-up\n";
      continue;
    }
    std::string list;
    for (const MulticastView::Member& m : s.members) {
      list += ' ';
      list += FormatIpv4(m.vip);
      if (!m.peer) list += "(learning)";
    }
    out += " members " + std::to_string(s.members.size()) + " in-table " +
           std::to_string(s.in_table) + " frames " + std::to_string(s.frames) + ":" + list + "\n";
  }
  return out;
}

}  // namespace ipop::cp

namespace ipop::cp {

std::string RenderMulticastJson(const MulticastView& v) {
  JsonWriter w;
  w.BeginObject().Key("querier");
  if (v.querier_ip != 0)
    w.String(FormatIpv4(v.querier_ip));
  else
    w.Null();
  w.Field("queries_sent", v.queries_sent).Key("joined").BeginArray();
  for (const MulticastView::Joined& j : v.joined) {
    w.BeginObject().Field("group", FormatIpv4(j.group));
    w.Field("broadcast", j.group == igmp::kBroadcastGroup).Key("published_as");
    if (j.published_vip != 0)
      w.String(FormatIpv4(j.published_vip));
    else
      w.Null();
    w.Key("expires_in_s");
    if (j.expires)
      w.Uint((j.expires_in_ns + 999'999'999ull) / 1'000'000'000ull);
    else
      w.Null();
    w.EndObject();
  }
  w.EndArray().Key("sending").BeginArray();
  for (const MulticastView::Sending& s : v.sending) {
    w.BeginObject().Field("group", FormatIpv4(s.group));
    w.Field("broadcast", s.group == igmp::kBroadcastGroup).Field("looking_up", !s.polled);
    w.Field("in_table", uint64_t(s.in_table)).Field("frames", s.frames);
    w.Key("members").BeginArray();
    for (const MulticastView::Member& m : s.members)
      w.BeginObject().Field("vip", FormatIpv4(m.vip)).Field("learning", !m.peer).EndObject();
    w.EndArray().EndObject();
  }
  w.EndArray().EndObject();
  return w.Finish();
}

}  // namespace ipop::cp
