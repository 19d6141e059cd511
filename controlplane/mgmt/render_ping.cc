#include "controlplane/mgmt/render_ping.h"

#include <algorithm>
#include <cstdio>

#include "controlplane/mgmt/json_writer.h"
#include "controlplane/mgmt/render_text.h"
#include "shared/endpoint.h"

namespace ipop::cp {
namespace {

std::string ShortAddress(const overlay::RingAddress& a) {
  return a.ToHex().substr(0, 12);
}

std::string NameOf(const overlay::RingAddress& a, const NodeNames& names) {
  auto it = names.find(a);
  return it != names.end() && !it->second.empty() ? it->second : ShortAddress(a);
}

struct Summary {
  uint32_t sent = 0, received = 0;
  double min_ms = 0, avg_ms = 0, max_ms = 0;
  const EchoResult* first_answer = nullptr;
};

Summary Summarize(const EchoSeries& s) {
  Summary m;
  double sum = 0;
  for (const EchoResult& p : s.probes) {
    ++m.sent;  // a probe that could not leave counts as sent and lost
    if (!p.answered) continue;
    const double ms = double(p.rtt_ns) / 1e6;
    if (m.received == 0 || ms < m.min_ms) m.min_ms = ms;
    if (m.received == 0 || ms > m.max_ms) m.max_ms = ms;
    sum += ms;
    if (m.first_answer == nullptr) m.first_answer = &p;
    ++m.received;
  }
  if (m.received != 0) m.avg_ms = sum / m.received;
  return m;
}

unsigned LossPercent(const Summary& m) {
  return m.sent == 0 ? 100 : unsigned((uint64_t(m.sent - m.received) * 100) / m.sent);
}

void ProbeJson(JsonWriter& w, const EchoResult& p, const NodeNames& names) {
  w.BeginObject().Field("seq", p.seq).Field("sent", p.sent).Field("answered", p.answered);
  if (p.answered) {
    w.Field("rtt_ms", double(p.rtt_ns) / 1e6).Field("path", EchoPathText(p, names));
    w.Field("hops_there", uint32_t(p.hops_there)).Field("hops_back", uint32_t(p.hops_back));
    w.Field("first_hop", p.first_hop_there.ToHex());
    w.Field("first_hop_back", p.first_hop_back.ToHex());
  }
  w.EndObject();
}

void StatsJson(JsonWriter& w, const Summary& m) {
  w.Field("sent", m.sent).Field("received", m.received).Field("loss_pct", LossPercent(m));
  w.Key("rtt_ms");
  if (m.received != 0)
    w.BeginObject()
        .Field("min", m.min_ms)
        .Field("avg", m.avg_ms)
        .Field("max", m.max_ms)
        .EndObject();
  else
    w.Null();
}

}  // namespace

std::string EchoPathText(const EchoResult& r, const NodeNames& names) {
  if (!r.answered) return "-";
  if (r.hops_there <= 1 && r.hops_back <= 1) return "direct";
  return "via " + NameOf(r.first_hop_there, names);
}

std::string RenderPing(const PingReport& r) {
  const Summary m = Summarize(r.series);
  const std::string who =
      r.name.empty() ? FormatIpv4(r.vip) : r.name + " (" + FormatIpv4(r.vip) + ")";
  std::string out;
  Append(out, "PING %s: node %s through the overlay; data session %s\n",
         r.target == FormatIpv4(r.vip) || r.target == r.name ? who.c_str()
                                                             : (r.target + " = " + who).c_str(),
         r.series.node.ToHex().c_str(), r.data_path.c_str());
  for (const EchoResult& p : r.series.probes) {
    if (!p.sent)
      Append(out, "seq=%u not sent (no route to the node, or too many probes outstanding)\n",
             p.seq);
    else if (!p.answered)
      Append(out, "seq=%u no reply\n", p.seq);
    else
      Append(out, "reply from %s: seq=%u path=%s hops=%u/%u time=%.3f ms\n", who.c_str(), p.seq,
             EchoPathText(p, {}).c_str(), unsigned(p.hops_there), unsigned(p.hops_back),
             double(p.rtt_ns) / 1e6);
  }
  Append(out, "\n--- %s overlay ping statistics ---\n", r.target.c_str());
  Append(out, "%u probes sent, %u received, %u%% loss, time %llu ms\n", m.sent, m.received,
         LossPercent(m), (unsigned long long)(r.elapsed_ns / 1'000'000));
  if (m.received != 0)
    Append(out, "rtt min/avg/max = %.3f/%.3f/%.3f ms\n", m.min_ms, m.avg_ms, m.max_ms);
  else
    Append(out, "fail: no reply from %s\n", r.target.c_str());
  return out;
}

std::string RenderPingJson(const PingReport& r) {
  const Summary m = Summarize(r.series);
  JsonWriter w;
  w.BeginObject().Field("target", r.target).Field("vip", FormatIpv4(r.vip));
  w.Field("name", r.name).Field("node", r.series.node.ToHex()).Field("data_path", r.data_path);
  w.Key("probes").BeginArray();
  for (const EchoResult& p : r.series.probes) ProbeJson(w, p, {});
  w.EndArray();
  StatsJson(w, m);
  w.Field("time_ms", r.elapsed_ns / 1'000'000).Field("ok", m.received != 0).EndObject();
  return w.Finish();
}

std::string RenderValidate(const ValidateReport& r) {
  struct Cells {
    std::string node, vip, name, path, data, sent, recv, loss, rtt;
  };
  std::vector<Cells> table;
  table.push_back(
      {"NODE", "VIP", "NAME", "PATH", "DATA", "SENT", "RECV", "LOSS", "RTT MIN/AVG/MAX MS"});
  size_t lossy = 0, unreachable = 0;
  for (const ValidateRow& row : r.rows) {
    const Summary m = Summarize(row.series);
    if (m.received == 0)
      ++unreachable;
    else if (m.received < m.sent)
      ++lossy;
    char rtt[64] = "-";
    if (m.received != 0)
      std::snprintf(rtt, sizeof(rtt), "%.2f/%.2f/%.2f", m.min_ms, m.avg_ms, m.max_ms);
    table.push_back({ShortAddress(row.member.node), FormatIpv4(row.member.vip),
                     row.member.name.empty() ? "-" : row.member.name,
                     m.first_answer ? EchoPathText(*m.first_answer, r.names) : "unreachable",
                     row.data_path, std::to_string(m.sent), std::to_string(m.received),
                     std::to_string(LossPercent(m)) + "%", rtt});
  }
  size_t w[9] = {};
  for (const Cells& c : table) {
    const std::string* cell[9] = {&c.node, &c.vip,  &c.name, &c.path, &c.data,
                                  &c.sent, &c.recv, &c.loss, &c.rtt};
    for (size_t i = 0; i < 9; ++i) w[i] = std::max(w[i], cell[i]->size());
  }
  std::string out;
  for (const Cells& c : table) {
    // Counts are right-aligned, text left-aligned; the last column is not padded.
    Append(out, "%-*s  %-*s  %-*s  %-*s  %-*s  %*s  %*s  %*s  %s\n", int(w[0]), c.node.c_str(),
           int(w[1]), c.vip.c_str(), int(w[2]), c.name.c_str(), int(w[3]), c.path.c_str(),
           int(w[4]), c.data.c_str(), int(w[5]), c.sent.c_str(), int(w[6]), c.recv.c_str(),
           int(w[7]), c.loss.c_str(), c.rtt.c_str());
  }
  const size_t n = r.rows.size();
  Append(out,
         "\nvalidate from %s (%s): %zu members besides this node, %zu reachable without loss, "
         "%zu with loss, %zu unreachable\n",
         r.self_name.c_str(), FormatIpv4(r.self_vip).c_str(), n, n - lossy - unreachable, lossy,
         unreachable);
  if (!r.complete) out += "fail: part of the member list could not be read from the DHT\n";
  if (lossy + unreachable != 0)
    Append(out, "fail: %zu of %zu members lost probes\n", lossy + unreachable, n);
  else if (r.complete)
    out += "ok: every member answered every probe\n";
  return out;
}

std::string RenderValidateJson(const ValidateReport& r) {
  JsonWriter w;
  size_t lossy = 0, unreachable = 0;
  w.BeginObject().Field("self_vip", FormatIpv4(r.self_vip)).Field("self_name", r.self_name);
  w.Field("complete", r.complete).Key("members").BeginArray();
  for (const ValidateRow& row : r.rows) {
    const Summary m = Summarize(row.series);
    unreachable += m.received == 0;
    lossy += m.received != 0 && m.received < m.sent;
    w.BeginObject().Field("node", row.member.node.ToHex()).Field("vip", FormatIpv4(row.member.vip));
    w.Field("name", row.member.name).Field("data_path", row.data_path);
    w.Field("path", m.first_answer ? EchoPathText(*m.first_answer, r.names) : "unreachable");
    StatsJson(w, m);
    w.Key("probes").BeginArray();
    for (const EchoResult& p : row.series.probes) ProbeJson(w, p, r.names);
    w.EndArray().EndObject();
  }
  w.EndArray();
  w.Field("members_total", uint64_t(r.rows.size())).Field("with_loss", uint64_t(lossy));
  w.Field("unreachable", uint64_t(unreachable));
  w.Field("ok", r.complete && lossy == 0 && unreachable == 0).EndObject();
  return w.Finish();
}

}  // namespace ipop::cp
