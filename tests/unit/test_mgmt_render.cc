// The management replies' text from plain reports (mgmt/render_*.h): the exact lines scripts and
// the integration tests read (tools/netns/lib.sh greps them), so a renderer change shows here.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "controlplane/mgmt/render_counters.h"
#include "controlplane/mgmt/render_multicast.h"
#include "controlplane/mgmt/render_overlay.h"
#include "controlplane/mgmt/render_peers.h"  // RenderPeers: test_mgmt.cc
#include "controlplane/mgmt/render_status.h"
#include "tests/unit/cp_fakes.h"
#include "tests/unit/mgmt_samples.h"

namespace ipop::cp {
namespace {

using testing::Ep4;
using testing::Ip;

TEST(RenderClaim, EveryStateOfTheAddressClaim) {
  const uint32_t a = Ip(10, 250, 0, 5);
  EXPECT_EQ(RenderClaim({a, false, true, false}), "10.250.0.5 (allocated)");
  EXPECT_EQ(RenderClaim({a, true, true, false}), "10.250.0.5 (static, claimed)");
  EXPECT_EQ(RenderClaim({a, true, false, false}), "10.250.0.5 (static, claiming)");
  EXPECT_EQ(RenderClaim({0, true, false, false}), "none (static, conflict)");
  EXPECT_EQ(RenderClaim({0, false, false, false}), "none (claiming)");
  EXPECT_EQ(RenderClaim({a, false, true, true}), "10.250.0.5 (released)");
}

TEST(RenderStatus, OneKeyPerLineInAColumn) {
  NodeStatus s = SampleStatus();
  s.tap_address = TapAddressState::kWaiting;
  EXPECT_EQ(RenderStatus(s),
            "node                         alpha\n"
            "network                      lab\n"
            "vip                          10.77.0.1/24\n"
            "address                      10.77.0.1 (static, claimed)\n"
            "tap                          ipop0\n"
            "tap-address                  waiting-for-interface\n"
            "table-seq                    7\n"
            "dataplane-pid                1234\n"
            "dataplane-alive              yes\n"
            "dataplane-instance           0000000000000abc\n"
            "dataplane-heartbeat-age-ms   12\n"
            "dataplane-workers-running    2\n"
            "peers-up                     1\n"
            "peers-total                  3\n"
            "controlplane-pid             99\n"
            "controlplane-attach-count    4\n"
            "uptime-s                     61\n");
  s.address.reset();
  s.dp_heartbeat_known = false;
  const std::string text = RenderStatus(s);
  EXPECT_EQ(text.find("\naddress "), std::string::npos) << text;
  EXPECT_NE(text.find("\ndataplane-heartbeat-age-ms   -\n"), std::string::npos) << text;
  EXPECT_STREQ(TapAddressStateName(TapAddressState::kNotManaged), "not-managed");
  EXPECT_STREQ(TapAddressStateName(TapAddressState::kAssigned), "assigned");
  EXPECT_STREQ(TapAddressStateName(TapAddressState::kFailed), "failed");
}

TEST(RenderRoutes, PeersPrefixesAndAnnouncements) {
  EXPECT_EQ(RenderRoutes({}), "no routes\n");
  RoutesReport r;
  PeerSessions::PeerStatus relayed;
  relayed.vip = Ip(10, 77, 0, 3);
  relayed.relayed = true;
  relayed.learned = true;
  relayed.up = true;
  relayed.node_known = true;
  relayed.node.fill(0x11);
  PeerSessions::PeerStatus direct;
  direct.vip = Ip(10, 77, 0, 2);
  direct.endpoint = Ep4(Ip(10, 99, 0, 2), 5800);
  PeerSessions::PeerStatus linked = direct;
  linked.vip = Ip(10, 77, 0, 4);
  linked.learned = true;
  linked.node_known = true;
  linked.node.fill(0x22);
  r.peers = {relayed, direct, linked};
  r.prefix_routes = {{{Ip(192, 168, 50, 0), 24, Ip(10, 77, 0, 3)}, true},
                     {{Ip(172, 16, 0, 0), 12, Ip(10, 77, 0, 4)}, false}};
  r.announced = {{Ip(10, 1, 0, 0), 16}};
  // The prefix column is as wide as the widest prefix.
  EXPECT_EQ(RenderRoutes(r), "route 10.77.0.3/32    relayed to node " + std::string(40, '1') +
                                 " learned up\n"
                                 "route 10.77.0.2/32    direct 10.99.0.2:5800 static down\n"
                                 "route 10.77.0.4/32    direct 10.99.0.2:5800 learned down node " +
                                 std::string(40, '2') +
                                 "\n"
                                 "route 192.168.50.0/24 via 10.77.0.3 (announced) kernel-route\n"
                                 "route 172.16.0.0/12   via 10.77.0.4 (announced)\n"
                                 "announce 10.1.0.0/16\n");
}

TEST(RenderDhtReply, OutcomeAttemptsLatencyAndValues) {
  DhtResult r;
  r.outcome = DhtOutcome::kOk;
  r.attempts = 2;
  r.latency_ns = 35'400'000;
  EXPECT_EQ(RenderDhtReply(r, false), "ok after 2 attempts, 35 ms\n");
  EXPECT_EQ(RenderDhtReply(r, true), "ok after 2 attempts, 35 ms\nno values\n");
  DhtRecord a, b;
  a.value = {'x', 'y'};
  a.ttl_ms = 3'599'900;
  b.value = {'z'};
  b.ttl_ms = 999;
  r.values = {a, b};
  EXPECT_EQ(RenderDhtReply(r, true),
            "ok after 2 attempts, 35 ms\nvalue xy ttl 3599s\nvalue z ttl 0s\n");
  r.outcome = DhtOutcome::kRejected;
  r.reason = DhtStatus::kValueTooLarge;
  EXPECT_EQ(RenderDhtReply(r, true), "error: rejected after 2 attempts, 35 ms (" +
                                         std::string(DhtStatusName(DhtStatus::kValueTooLarge)) +
                                         ")\n");
  r.outcome = DhtOutcome::kNoQuorum;
  r.reason = DhtStatus::kOk;
  EXPECT_EQ(RenderDhtReply(r, false), "error: no quorum after 2 attempts, 35 ms (" +
                                          std::string(DhtStatusName(DhtStatus::kOk)) + ")\n");
}

TEST(RenderLinks, NoLinks) {
  EXPECT_EQ(RenderLinks({}), "no links\n");
  LinkRow l;
  l.address = overlay::RingAddress::FromFraction(0.5);
  l.endpoint = Ep4(Ip(172, 31, 0, 2), 5800);
  l.roles = overlay::kRoleNear | overlay::kRoleShortcut;
  l.age_ns = 12'340'000'000ull;
  l.heard_ago_ns = 250'000'000;
  EXPECT_EQ(RenderLinks({l}), "link " + l.address.ToHex() +
                                  " 172.31.0.2:5800 near,shortcut age 12.3s   heard 0.2s ago\n");
  l.roles = 0;
  EXPECT_NE(RenderLinks({l}).find(" surplus age "), std::string::npos);
}

TEST(RenderLinks, ColumnsLineUp) {
  LinkRow a;
  a.address = overlay::RingAddress::FromFraction(0.25);
  a.endpoint = Ep4(Ip(172, 31, 200, 12), 5800);
  a.roles = overlay::kRoleNear | overlay::kRoleFarOut;
  a.age_ns = 1'000'000'000ull;
  LinkRow b = a;
  b.address = overlay::RingAddress::FromFraction(0.75);
  b.endpoint = Ep4(Ip(10, 0, 0, 2), 58);
  b.roles = overlay::kRoleLeaf;
  b.age_ns = 123'400'000'000ull;
  EXPECT_EQ(RenderLinks({a, b}),
            "link " + a.address.ToHex() +
                " 172.31.200.12:5800 near,far-out age 1.0s    heard 0.0s ago\n"
                "link " +
                b.address.ToHex() +
                " 10.0.0.2:58        leaf         age 123.4s  heard 0.0s ago\n");
}

TEST(RenderCounters, ServicesAfterTheDataplaneAndControlPlane) {
  CountersReport r;
  r.cp.Bump(CpCounter::publish_ok, 2);
  DhcpCounters& d = r.dhcp.emplace();
  d.offers = 1;
  d.requests[size_t(dhcp::MessageType::kDiscover)] = 6;
  DnsCounters& n = r.dns.emplace();
  n.queries = 5;
  r.dns_forwarder.emplace().queries = 4;
  EXPECT_EQ(RenderCounters(r),
            "node          publish_ok                               2\n"
            "dhcp          requests{type=discover}                  6\n"
            "dhcp          offers                                   1\n"
            "dns           queries                                  5\n"
            "dns_forward   queries                                  4\n");
  // Zeros with --all, labelled ones too.
  const std::string all = RenderCounters(r, true);
  EXPECT_NE(all.find("\ndhcp          naks                                     0\n"),
            std::string::npos);
  EXPECT_NE(all.find("\ndhcp          malformed{error=bad_cookie}              0\n"),
            std::string::npos)
      << all;
}

// counters --json: one object per module (its counters and gauges together), every value with
// zeros, labelled arrays as objects, and the dataplane per worker as well as summed.
TEST(RenderCounters, JsonHasEveryValueByModule) {
  CountersReport r;
  r.workers.resize(2);
  r.workers[0].stats[uint32_t(Stat::udp_tx_bytes)] = 100;
  r.workers[1].stats[uint32_t(Stat::udp_tx_bytes)] = 50;
  r.cp.Bump(CpCounter::hello_sent, 3);
  r.node.peers = 2;
  r.dhcp.emplace().requests[size_t(dhcp::MessageType::kAck)] = 0;
  const std::string json = RenderCountersJson(r);
  EXPECT_NE(json.find("\"stat\":{"), std::string::npos) << json;
  EXPECT_NE(json.find("\"udp_tx_bytes\":150"), std::string::npos) << json;
  EXPECT_NE(json.find("\"node\":{\"hello_sent\":3,"), std::string::npos) << json;
  EXPECT_NE(json.find(",\"peers\":2,"), std::string::npos) << json;
  EXPECT_EQ(json.find("\"node\":", json.find("\"node\":") + 1), std::string::npos)
      << "node counters and gauges share one object: " << json;
  EXPECT_NE(json.find("\"requests\":{\"none\":0,\"discover\":0,"), std::string::npos) << json;
  EXPECT_NE(json.find("\"workers\":[{\"drop\":{"), std::string::npos) << json;
  EXPECT_NE(json.find("\"udp_tx_bytes\":100"), std::string::npos) << json;
  EXPECT_NE(json.find("\"udp_tx_bytes\":50"), std::string::npos) << json;
  EXPECT_EQ(json.back(), '\n');
}

TEST(RenderMulticast, QuerierJoinedAndSendingGroups) {
  MulticastView v;
  EXPECT_EQ(RenderMulticast(v), "querier none (no network.service-ip)\n");
  v.querier_ip = Ip(10, 99, 0, 254);
  v.queries_sent = 3;
  v.joined = {{igmp::kBroadcastGroup, 0, false, 0},
              {Ip(239, 1, 2, 3), Ip(10, 99, 0, 1), true, 124'000'000'001ull}};
  v.sending = {
      {Ip(239, 1, 2, 3), true, {{Ip(10, 99, 0, 2), true}, {Ip(10, 99, 0, 3), false}}, 1, 7},
      {Ip(239, 9, 9, 9), false, {}, 0, 0}};
  EXPECT_EQ(RenderMulticast(v),
            "querier 10.99.0.254 queries-sent 3\n"
            "joined 255.255.255.255 (broadcast) not-published\n"
            "joined 239.1.2.3 published as 10.99.0.1 expires-in 125s\n"
            "sending 239.1.2.3 members 2 in-table 1 frames 7: 10.99.0.2 10.99.0.3(learning)\n"
            "sending 239.9.9.9 looking-up\n");
}

}  // namespace
}  // namespace ipop::cp
