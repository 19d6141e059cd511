#include "controlplane/mgmt/mgmt_handler.h"

#include <algorithm>
#include <cctype>
#include <memory>

#include "controlplane/mgmt/json_writer.h"
#include "controlplane/mgmt/render_multicast.h"
#include "controlplane/mgmt/render_ping.h"
#include "shared/endpoint.h"

namespace ipop::cp {
namespace {

// An "error: ..." reply as the client asked for it.
std::string Error(bool json, const std::string& text) {
  return json ? JsonError(text) : text;
}

std::string ReloadJson(const std::string& outcome) {
  if (outcome.starts_with("error:")) return JsonError(outcome);
  std::string_view m = outcome;
  if (m.starts_with("ok: ")) m.remove_prefix(4);
  JsonWriter w;
  w.BeginObject().Field("ok", true).Field("message", m).EndObject();
  return w.Finish();
}

// How the data session to `vip` goes, as `routes` shows it.
std::string DataPath(const std::vector<PeerSessions::PeerStatus>& peers, uint32_t vip) {
  for (const PeerSessions::PeerStatus& p : peers) {
    if (p.vip != vip) continue;
    std::string s = p.relayed ? "relayed" : "direct " + p.endpoint.ToString();
    return s + (p.up ? "" : " (down)");
  }
  return "none";
}

}  // namespace

std::string MgmtHandler::Handle(std::string_view line) {
  const MgmtCommand cmd = ParseMgmtCommand(line);
  const std::string reply = Run(cmd);
  return cmd.json && reply.starts_with("error:") ? JsonError(reply) : reply;
}

std::string MgmtHandler::Run(const MgmtCommand& cmd) {
  if (cmd.needs_overlay() && !parts_.overlay)
    return "error: the overlay is disabled on this node (overlay.enabled = false)\n";
  const bool json = cmd.json;
  switch (cmd.verb) {
    case MgmtVerb::kStatus: {
      const NodeStatus s = CollectStatus(parts_);
      return json ? RenderStatusJson(s) : RenderStatus(s);
    }
    case MgmtVerb::kPeers: {
      const std::vector<PeerRow> rows = CollectPeers(parts_);
      return json ? RenderPeersJson(rows) : RenderPeers(rows);
    }
    case MgmtVerb::kCounters:
      return json ? RenderCountersJson(CollectCounters(parts_))
                  : RenderCounters(CollectCounters(parts_), cmd.all);
    case MgmtVerb::kReload: {
      const std::string outcome = reload_();
      return json ? ReloadJson(outcome) : outcome + "\n";
    }
    case MgmtVerb::kRoutes: {
      const RoutesReport r = CollectRoutes(parts_);
      return json ? RenderRoutesJson(r) : RenderRoutes(r);
    }
    case MgmtVerb::kMulticast:
      if (!parts_.multicast) return "error: multicast needs the overlay (overlay.enabled)\n";
      return json ? RenderMulticastJson(parts_.multicast->View())
                  : RenderMulticast(parts_.multicast->View());
    case MgmtVerb::kFirewall: {
      const FirewallReport r = CollectFirewall(parts_);
      return json ? RenderFirewallJson(r) : RenderFirewall(r);
    }
    case MgmtVerb::kRing: {
      const RingReport r = CollectRing(*parts_.overlay, parts_.clock.NowNs());
      return json ? RenderRingJson(r) : RenderRing(r);
    }
    case MgmtVerb::kLinks: {
      const std::vector<LinkRow> rows = CollectLinks(*parts_.overlay, parts_.clock.NowNs());
      return json ? RenderLinksJson(rows) : RenderLinks(rows);
    }
    case MgmtVerb::kDhtPut:
    case MgmtVerb::kDhtGet:
      return Dht(cmd);
    case MgmtVerb::kPing:
      return Ping(cmd);
    case MgmtVerb::kValidate:
      return Validate(cmd);
    case MgmtVerb::kRevoke:
      return Revoke(cmd);
    case MgmtVerb::kDhtBad:
    case MgmtVerb::kBadArgs:
    case MgmtVerb::kUnknown:
      break;
  }
  return cmd.error;
}

std::string MgmtHandler::Dht(const MgmtCommand& cmd) {
  constexpr int kBudgetMs = 30000;
  const uint64_t ticket = server_ ? server_->Defer(kBudgetMs) : 0;
  if (ticket == 0) return "error: cannot defer the reply\n";
  const bool is_get = cmd.verb == MgmtVerb::kDhtGet;
  auto reply = [this, ticket, is_get, json = cmd.json](const DhtResult& r) {
    server_->Reply(ticket, json ? RenderDhtReplyJson(r, is_get) : RenderDhtReply(r, is_get));
  };
  if (is_get) {
    parts_.overlay->DhtGet(cmd.name, reply);
  } else {
    parts_.overlay->DhtPut(cmd.name,
                           {reinterpret_cast<const uint8_t*>(cmd.value.data()), cmd.value.size()},
                           cmd.ttl_s * 1000, reply);
  }
  return "";
}

std::string MgmtHandler::Revoke(const MgmtCommand& cmd) {
  if (!parts_.revocations)
    return "error: revoke needs certificate mode (network.ca-file); PSK mode has no revocations\n";
  const RevocationFlood::FileOutcome o =
      parts_.revocations->LearnFile(cmd.name, RevocationFlood::Source::kMgmt);
  const bool ok = o.error.empty();
  if (cmd.json) {
    JsonWriter w;
    w.BeginObject()
        .Field("ok", ok)
        .Field("added", uint64_t(o.added))
        .Field("known", uint64_t(o.known))
        .Field("expired", uint64_t(o.expired))
        .Field("invalid", uint64_t(o.invalid))
        .Field("live", uint64_t(parts_.revocations->counters().live));
    if (!ok) w.Field("error", std::string_view(o.error));
    w.EndObject();
    return w.Finish();
  }
  std::string s = "revoke: " + std::to_string(o.added) + " added, " + std::to_string(o.known) +
                  " already known, " + std::to_string(o.expired) + " of expired certificates, " +
                  std::to_string(o.invalid) + " refused; " +
                  std::to_string(parts_.revocations->counters().live) + " known in all\n";
  if (!ok) s = "error: " + o.error + "\n" + s;
  return s;
}

// Probes run on top of the DHT lookups (up to 30 s each); the budget covers both.
int MgmtHandler::ProbeBudgetMs(const MgmtCommand& cmd) {
  return 2 * 30000 + int(cmd.count * cmd.interval_ms) +
         int(parts_.overlay->echo_timeout_ns() / 1'000'000) + 1000;
}

std::string MgmtHandler::Ping(const MgmtCommand& cmd) {
  const std::optional<uint32_t> vip = ParseIpv4(cmd.name);
  if (vip && *vip == parts_.overlay->vip())
    return "error: " + cmd.name + " is this node's own address\n";
  const uint64_t ticket = server_ ? server_->Defer(ProbeBudgetMs(cmd)) : 0;
  if (ticket == 0) return "error: cannot defer the reply\n";
  auto report = std::make_shared<PingReport>();
  report->target = cmd.name;
  const MgmtCommand c = cmd;
  auto fail = [this, ticket, json = cmd.json](const std::string& error) {
    server_->Reply(ticket, Error(json, error));
  };
  // VIP -> its node through the VIP directory, then the probes.
  auto probe = [this, ticket, report, c, fail](uint32_t target) {
    report->vip = target;
    parts_.overlay->Resolve(
        target, [this, ticket, report, c, fail](uint32_t, const std::optional<VipLocation>& where) {
          if (!where) {
            fail("error: " + FormatIpv4(report->vip) + " is not in the directory of network " +
                 parts_.cfg.network + "\n");
            return;
          }
          const uint64_t start = parts_.clock.NowNs();
          const bool started = parts_.overlay->echo().StartSeries(
              where->node, report->vip, c.count, uint64_t(c.interval_ms) * 1'000'000,
              [this, ticket, report, c, start](const EchoSeries& s) {
                report->series = s;
                report->elapsed_ns = parts_.clock.NowNs() - start;
                for (const EchoResult& p : s.probes)
                  if (p.answered && report->name.empty()) report->name = p.name;
                report->data_path = DataPath(parts_.sessions.Status(), report->vip);
                server_->Reply(ticket, c.json ? RenderPingJson(*report) : RenderPing(*report));
              });
          if (!started) fail("error: too many pings in progress; try again\n");
        });
  };
  if (vip) {
    probe(*vip);
    return "";
  }
  // A name resolves as the DNS responder resolves it: a bare node name within this network.
  std::string full = cmd.name;
  if (!full.empty() && full.back() == '.') full.pop_back();
  if (full.find('.') == std::string::npos)
    full += "." + parts_.cfg.network + "." + parts_.cfg.dns_suffix;
  std::transform(full.begin(), full.end(), full.begin(),
                 [](unsigned char ch) { return char(std::tolower(ch)); });
  // Without a DNS name record (network.service-ip = none), the member list knows the node name.
  const std::string node_name = full.substr(0, full.find('.'));
  parts_.overlay->Lookup(full, [this, probe, fail, full, node_name](std::optional<uint32_t> found) {
    if (found) {
      probe(*found);
      return;
    }
    parts_.overlay->Members(
        [probe, fail, full, node_name](const std::vector<MemberEntry>& members, bool) {
          for (const MemberEntry& m : members) {
            std::string lower = m.name;
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char ch) { return char(std::tolower(ch)); });
            if (lower == node_name) {
              probe(m.vip);
              return;
            }
          }
          fail("error: no node named " + full + " in the directory\n");
        });
  });
  return "";
}

std::string MgmtHandler::Validate(const MgmtCommand& cmd) {
  const uint64_t ticket = server_ ? server_->Defer(ProbeBudgetMs(cmd)) : 0;
  if (ticket == 0) return "error: cannot defer the reply\n";
  const MgmtCommand c = cmd;
  parts_.overlay->Members(
      [this, ticket, c](const std::vector<MemberEntry>& members, bool complete) {
        auto report = std::make_shared<ValidateReport>();
        report->self_vip = parts_.overlay->vip();
        report->self_name = parts_.cfg.name;
        report->complete = complete;
        const overlay::RingAddress self = parts_.overlay->node().address();
        for (const MemberEntry& m : members) {
          report->names[m.node] = m.name;
          if (m.node == self || m.vip == report->self_vip) continue;
          report->rows.push_back({m, "", {}});
        }
        auto pending = std::make_shared<size_t>(report->rows.size());
        auto finish = [this, ticket, report, c] {
          const std::vector<PeerSessions::PeerStatus> peers = parts_.sessions.Status();
          for (ValidateRow& row : report->rows) row.data_path = DataPath(peers, row.member.vip);
          server_->Reply(ticket, c.json ? RenderValidateJson(*report) : RenderValidate(*report));
        };
        if (*pending == 0) {
          finish();
          return;
        }
        for (size_t i = 0; i < report->rows.size(); ++i) {
          ValidateRow& row = report->rows[i];
          auto done = [report, pending, finish, i](const EchoSeries& s) {
            report->rows[i].series = s;
            if (--*pending == 0) finish();
          };
          if (!parts_.overlay->echo().StartSeries(row.member.node, row.member.vip, c.count,
                                                  uint64_t(c.interval_ms) * 1'000'000, done)) {
            // No room for another run: its probes count as lost.
            EchoSeries lost{row.member.node, row.member.vip, {}};
            for (uint32_t k = 1; k <= c.count; ++k) lost.probes.push_back({.seq = k});
            done(lost);
          }
        }
      });
  return "";
}

}  // namespace ipop::cp
