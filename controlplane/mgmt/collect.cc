#include "controlplane/mgmt/collect.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <iterator>

namespace ipop::cp {
namespace {

bool ProcessAlive(int32_t pid) {
  return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

LinkRow RowOf(const overlay::Link& l, uint64_t now_ns) {
  return {l.address, l.endpoint, l.roles, now_ns - l.created_ns, now_ns - l.last_heard_ns};
}

}  // namespace

ClaimStatus CollectClaim(const AddressClaim& claim) {
  return {claim.vip(), claim.options().fixed != 0, claim.held(), claim.releasing()};
}

NodeStatus CollectStatus(const MgmtParts& p) {
  shm::RegionHeader& hdr = p.region.header();
  NodeStatus s;
  s.node = p.cfg.name;
  s.network = p.cfg.network;
  s.vip = p.sessions.local_vip();
  s.prefix_len = p.cfg.prefix_len;
  if (p.overlay && p.overlay->claim() != nullptr) s.address = CollectClaim(*p.overlay->claim());
  s.tap = p.cfg.tap;
  s.tap_address = p.tap_address.state();
  s.table_seq = p.writer.seq();
  s.dp_pid = hdr.dp_pid.load(std::memory_order_acquire);
  s.dp_alive = ProcessAlive(s.dp_pid);
  s.dp_instance = hdr.dp_instance.load(std::memory_order_acquire);
  const uint64_t beat = hdr.dp_heartbeat_ns.load(std::memory_order_acquire);
  const uint64_t now = shm::MonotonicNs();
  s.dp_heartbeat_known = beat != 0 && beat <= now;
  s.dp_heartbeat_age_ns = s.dp_heartbeat_known ? now - beat : 0;
  s.dp_workers_running = hdr.dp_workers_running.load(std::memory_order_acquire);
  s.peers_up = p.sessions.peers_up();
  s.peers_total = p.sessions.peer_count();
  s.uptime_ns = p.clock.NowNs() - p.start_ns;
  s.cp_pid = int32_t(getpid());
  s.cp_attach_count = hdr.cp_attach_count.load(std::memory_order_acquire);
  return s;
}

// How a peer is reached and why (docs/nat.md): direct, or relayed via the link our routed
// messages to its node leave through, with the state of hole punching toward it.
PeerPath PathOf(const PeerSessions::PeerStatus& s, const OverlayHost* overlay) {
  PeerPath path;
  path.relayed = s.relayed;
  if (overlay == nullptr || !s.node_known) {
    path.why = s.learned ? "" : "static peer";
    return path;
  }
  const overlay::RingAddress node = overlay::RingAddress::FromBytes(s.node);
  if (s.relayed) path.via = overlay->RelayVia(node);
  const auto punch = overlay->PunchStatus(node);
  if (!punch) {
    path.why = s.relayed ? "relayed until traffic asks for a direct path" : "linked";
    return path;
  }
  switch (punch->state) {
    case overlay::PunchState::kPunching:
      path.why = punch->attempts == 0
                     ? std::string("punching (answering the peer's offer)")
                     : "punching (attempt " + std::to_string(punch->attempts) + ")";
      break;
    case overlay::PunchState::kFailed:
      path.why = std::string("punch failed: ") + overlay::PunchWhyName(punch->why) + ", retry in " +
                 std::to_string((punch->retry_in_ns + 999'999'999ull) / 1'000'000'000ull) + " s";
      break;
    case overlay::PunchState::kDirect:
      path.why = "punched in " + std::to_string(punch->last_direct_after_ns / 1'000'000) + " ms";
      if (punch->last_direct_after_ns == 0) path.why = "linked";
      break;
    case overlay::PunchState::kIdle:
      path.why = s.relayed ? "relayed" : "linked";
      break;
  }
  path.peer_nat = overlay::NatClassName(punch->peer_nat);
  return path;
}

std::vector<PeerRow> CollectPeers(const MgmtParts& p) {
  std::vector<PeerRow> rows;
  for (const PeerSessions::PeerStatus& s : p.sessions.Status())
    rows.push_back({s, p.traffic.Since(s.slot, s.vip), PathOf(s, p.overlay)});
  return rows;
}

FirewallReport CollectFirewall(const MgmtParts& p) {
  FirewallReport r;
  const std::vector<fw::Rule>& rules = p.cfg.firewall;
  r.enabled = !rules.empty();
  const auto has = [&](shm::FwDirection d) {
    for (const fw::Rule& rule : rules)
      if (rule.direction == d) return true;
    return false;
  };
  r.inbound_default = has(shm::FwDirection::kInbound) ? "deny" : "allow";
  r.outbound_default = has(shm::FwDirection::kOutbound) ? "deny" : "allow";
  uint64_t allowed[shm::kFwCounterSlots] = {}, denied[shm::kFwCounterSlots] = {};
  for (uint32_t w = 0; w < p.region.layout().n_workers; ++w) {
    const shm::WorkerCounters& c = p.region.counters(w);
    for (uint32_t i = 0; i < shm::kFwCounterSlots; ++i) {
      allowed[i] += c.fw.allowed[i].load(std::memory_order_relaxed);
      denied[i] += c.fw.denied[i].load(std::memory_order_relaxed);
    }
    r.flows_evicted += c.stat[uint32_t(Stat::fw_flows_evicted)].load(std::memory_order_relaxed);
    r.inbound_denied +=
        c.drop[uint32_t(DropReason::fw_inbound_denied)].load(std::memory_order_relaxed);
    r.outbound_denied +=
        c.drop[uint32_t(DropReason::fw_outbound_denied)].load(std::memory_order_relaxed);
  }
  if (!r.enabled) return r;
  for (uint32_t i = 0; i < rules.size() && i < shm::kMaxFwRules; ++i) {
    const bool in = rules[i].direction == shm::FwDirection::kInbound;
    r.rows.push_back(
        {in ? "inbound" : "outbound", i + 1, fw::FormatRule(rules[i]), allowed[i], denied[i]});
  }
  r.rows.push_back({"inbound", 0, "default " + r.inbound_default, allowed[shm::kFwDefaultInbound],
                    denied[shm::kFwDefaultInbound]});
  r.rows.push_back({"outbound", 0, "default " + r.outbound_default,
                    allowed[shm::kFwDefaultOutbound], denied[shm::kFwDefaultOutbound]});
  return r;
}

CountersReport CollectCounters(const MgmtParts& p) {
  CountersReport r;
  r.workers = ReadWorkerCounters(p.region);
  r.cp = p.counters;
  const std::vector<PeerSessions::PeerStatus> peers = p.sessions.Status();
  r.node.peers = peers.size();
  for (const PeerSessions::PeerStatus& s : peers) {
    r.node.peers_up += s.up;
    r.node.peers_relayed += s.relayed;
  }
  r.node.uptime_seconds = (p.clock.NowNs() - p.start_ns) / 1'000'000'000ull;
  shm::RegionHeader& hdr = p.region.header();
  r.node.dp_workers = p.region.layout().n_workers;
  r.node.dp_workers_running = hdr.dp_workers_running.load(std::memory_order_acquire);
  r.node.table_generation = p.writer.seq();
  if (p.overlay) {
    OverlayCountersReport& o = r.overlay.emplace();
    const overlay::OverlayNode& node = p.overlay->node();
    o.host = p.overlay->counters();
    if (p.overlay->link_guard()) o.link_auth = p.overlay->link_auth_counters();
    o.echo = p.overlay->echo().counters();
    o.host_limit = p.overlay->source_limiter().counters();
    o.node = node.counters();
    o.node_gauges.joined = node.joined();
    o.node_gauges.ring_size_estimate = uint64_t(std::llround(node.estimated_size()));
    o.node_gauges.far_target = node.far_target();
    o.node_gauges.links = node.links().links().size();
    o.punch = p.overlay->punch_counters();
    for (size_t i = 0; i < std::size(kLinkRoles); ++i)
      o.node_gauges.links_by_role[i] = node.links().CountWithRole(kLinkRoles[i]);
    const DhtService& dht = p.overlay->dht();
    o.dht = dht.counters();
    o.dht_gauges.keys_stored = dht.store().key_count();
    o.dht_gauges.values_stored = dht.store().value_count();
    o.dht_gauges.pending_ops = dht.pending_ops();
    o.dht_gauges.limit_sources = dht.rate_limiter().sources();
    o.dht_store = dht.store().counters();
    o.dht_limit = dht.rate_limiter().counters();
    if (p.overlay->claim() != nullptr) o.claim = p.overlay->claim()->counters();
  }
  if (p.multicast) r.multicast = p.multicast->counters();
  if (p.dhcp) r.dhcp = p.dhcp->counters();
  if (p.dns) {
    r.dns = p.dns->counters();
    if (p.dns_forwarder) r.dns_forwarder = p.dns_forwarder->counters();
    if (p.dns_tcp) r.dns_tcp = p.dns_tcp->counters();
  }
  if (p.metrics) r.metrics_server = p.metrics->counters();
  if (p.revocations) r.revocation = p.revocations->counters();
  return r;
}

MetricsReport CollectMetrics(const MgmtParts& p) {
  MetricsReport r;
  r.node = p.cfg.name;
  r.network = p.cfg.network;
  r.vip = p.sessions.local_vip();
  r.counters = CollectCounters(p);
  r.peers = CollectPeers(p);
  return r;
}

RoutesReport CollectRoutes(const MgmtParts& p) {
  RoutesReport r;
  r.peers = p.sessions.Status();
  for (const PeerSessions::PrefixRoute& route : p.sessions.prefix_routes())
    r.prefix_routes.push_back({route, p.kernel_routes.installed({route.prefix, route.length})});
  r.announced = p.cfg.announce;
  return r;
}

RingReport CollectRing(const OverlayHost& overlay, uint64_t now_ns) {
  const overlay::OverlayNode& node = overlay.node();
  const overlay::LinkTable& t = node.links();
  RingReport r;
  r.address = node.address();
  r.endpoint = node.endpoint();
  r.nat = overlay::NatClassName(overlay.nat_class());
  for (const overlay::Candidate& c : node.nat().Candidates(now_ns)) {
    if (!r.candidates.empty()) r.candidates += ", ";
    r.candidates += (c.kind == overlay::CandidateKind::kLocal ? "local " : "reflexive ") +
                    c.endpoint.ToString();
  }
  r.joined = node.joined();
  for (const overlay::Link& l : t.links()) r.links.push_back(RowOf(l, now_ns));
  for (const overlay::Link* l : t.Successors(t.near_per_side()))
    r.successors.push_back(RowOf(*l, now_ns));
  for (const overlay::Link* l : t.Predecessors(t.near_per_side()))
    r.predecessors.push_back(RowOf(*l, now_ns));
  r.estimated_size = node.estimated_size();
  r.far_target = node.far_target();
  r.dht_keys = overlay.dht().store().key_count();
  r.dht_pending_ops = overlay.dht().pending_ops();
  const AddressClaim* claim = overlay.claim();
  r.directory_published = claim != nullptr && claim->held();
  if (claim != nullptr) r.claim = CollectClaim(*claim);
  return r;
}

std::vector<LinkRow> CollectLinks(const OverlayHost& overlay, uint64_t now_ns) {
  std::vector<LinkRow> rows;
  for (const overlay::Link& l : overlay.node().links().links()) rows.push_back(RowOf(l, now_ns));
  return rows;
}

}  // namespace ipop::cp
