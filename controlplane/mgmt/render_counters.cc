#include "controlplane/mgmt/render_counters.h"

#include <cinttypes>
#include <string_view>

#include "controlplane/mgmt/render_text.h"

namespace ipop::cp {
namespace {

void Line(std::string& out, std::string_view prefix, std::string_view name, uint64_t value) {
  out.append(prefix).append(name).append(1, ' ').append(std::to_string(value)).append(1, '\n');
}

void RenderOverlay(std::string& out, const OverlayCountersReport& r) {
  const OverlayHostCounters& c = r.host;
  const overlay::OverlayCounters& o = r.node;
  const DhtServiceCounters& d = r.dht;
  auto put = [&](const char* name, uint64_t v) { Line(out, "overlay.", name, v); };
  put("received", c.received);
  put("accepted", c.accepted);
  put("dropped_too_short", c.too_short);
  put("dropped_too_long", c.too_long);
  put("dropped_bad_tag", c.bad_tag);
  put("dropped_rate_limited", c.rate_limited);
  put("dropped_wrong_receiver", c.wrong_receiver);
  put("dropped_replayed", c.replayed);
  put("dropped_too_old", c.too_old);
  put("dropped_clock_ahead", c.clock_ahead);
  size_t parse_errors = 0;
  for (uint64_t e : o.parse_errors) parse_errors += e;
  put("dropped_malformed", parse_errors);
  put("sent", c.sent);
  put("send_failed", c.send_failed + c.sign_failed);
  put("routed_forwarded", o.routed_forwarded);
  put("routed_delivered", o.routed_delivered);
  put("routed_no_route", o.routed_no_route);
  put("routed_no_such_node", o.routed_no_such_node);
  put("routed_hop_limit", o.routed_hop_limit);
  put("routed_loop", o.routed_loop);
  put("links_added", o.links_added);
  put("links_dead", o.links_dead);
  put("hello_routed_sent", c.hello_routed_sent);
  put("hello_routed_received", c.hello_routed_received);
  if (r.claim) {
    const AddressClaimCounters& a = *r.claim;
    put("address_attempts", a.attempts);
    put("address_conflicts", a.conflicts);
    put("address_undecided", a.undecided);
    put("address_acquired", a.acquired);
    put("address_renewals", a.renewals);
    put("address_lost", a.lost);
    put("address_exhausted", a.exhausted);
    put("address_released", a.released);
  }
  put("names_published", c.names_published);
  put("name_conflicts", c.name_conflicts);
  put("name_lookups", c.name_lookups);
  put("name_misses", c.name_misses);
  put("routes_announced", c.routes_announced);
  put("routes_polls", c.routes_polls);
  put("routes_unsigned", c.routes_unsigned);
  put("routes_bad_signature", c.routes_bad_signature);
  put("routes_expired", c.routes_expired);
  put("names_released", c.names_released);
  put("resolves", c.resolves);
  put("resolve_misses", c.resolve_misses);
  put("resolve_throttled", c.resolve_throttled);
  put("resolve_cache_evicted", c.resolve_cache_evicted);
  put("dht_requests", d.requests);
  put("dht_creates_settling", d.creates_settling);
  put("dht_rate_limited", d.rate_limited);
  put("dht_ops_ok", d.ops_ok);
  put("dht_ops_no_quorum", d.ops_no_quorum);
}

void RenderMulticast(std::string& out, const MulticastCounters& c) {
  auto put = [&](const char* name, uint64_t v) { Line(out, "mcast.", name, v); };
  put("igmp_reports", c.igmp_reports);
  put("igmp_leaves", c.igmp_leaves);
  put("igmp_queries_seen", c.igmp_queries_seen);
  put("igmp_malformed", c.igmp_malformed);
  put("queries_sent", c.queries_sent);
  put("joins_refused", c.joins_refused);
  put("joins_expired", c.joins_expired);
  put("joins_published", c.joins_published);
  put("publish_failures", c.publish_failures);
  put("leaves_published", c.leaves_published);
  put("group_frames", c.group_frames);
  put("groups_refused", c.groups_refused);
  put("groups_idle", c.groups_idle);
  put("polls", c.polls);
  put("poll_failures", c.poll_failures);
  put("members_cut", c.members_cut);
  put("members_learned", c.members_learned);
}

}  // namespace

std::string RenderCounters(const CountersReport& r, bool all) {
  std::string out;
  for (uint32_t i = 0; i < kNumDropReasons; ++i)
    if (all || r.dataplane.drops[i] != 0)
      Append(out, "drop  %-32s %" PRIu64 "\n", kDropReasonNames[i], r.dataplane.drops[i]);
  for (uint32_t i = 0; i < kNumStats; ++i)
    if (all || r.dataplane.stats[i] != 0)
      Append(out, "stat  %-32s %" PRIu64 "\n", kStatNames[i], r.dataplane.stats[i]);
  for (uint32_t i = 0; i < kNumCpCounters; ++i)
    if (all || r.cp.value[i] != 0)
      Append(out, "cp    %-32s %" PRIu64 "\n", kCpCounterNames[i], r.cp.value[i]);
  if (r.overlay) RenderOverlay(out, *r.overlay);
  if (r.multicast) RenderMulticast(out, *r.multicast);
  if (r.dhcp)
    r.dhcp->ForEach([&](const std::string& name, uint64_t v) {
      if (all || v != 0) Line(out, "", name, v);
    });
  if (r.dns) {
    Line(out, "", "dns_queries", r.dns->queries);
    Line(out, "", "dns_nxdomain", r.dns->nxdomain);
    Line(out, "", "dns_refused", r.dns->refused);
    Line(out, "", "dns_truncated", r.dns->truncated);
    if (r.dns_forwarder)
      r.dns_forwarder->ForEach([&](const char* name, uint64_t v) { Line(out, "", name, v); });
    if (r.dns_tcp)
      r.dns_tcp->ForEach([&](const char* name, uint64_t v) { Line(out, "", name, v); });
  }
  return out;
}

}  // namespace ipop::cp
