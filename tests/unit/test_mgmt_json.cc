// The --json management replies (mgmt/render_*.h): exact bytes for every renderer, and a small
// JSON syntax checker (RFC 8259 grammar, no extensions) run over replies built from hostile text,
// so a renderer that writes a quote or a control byte unescaped fails here.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "controlplane/mgmt/json_writer.h"
#include "controlplane/mgmt/render_multicast.h"
#include "controlplane/mgmt/render_overlay.h"
#include "controlplane/mgmt/render_peers.h"
#include "controlplane/mgmt/render_ping.h"
#include "controlplane/mgmt/render_status.h"
#include "controlplane/overlay/link_table.h"
#include "tests/unit/cp_fakes.h"
#include "tests/unit/mgmt_samples.h"

namespace ipop::cp {
namespace {

using testing::Ep4;
using testing::Ip;

// True if `s` is exactly one JSON value, then a newline.
class JsonChecker {
 public:
  static bool Valid(std::string_view s) {
    if (s.empty() || s.back() != '\n') return false;
    JsonChecker c{s.substr(0, s.size() - 1)};
    return c.Value() && c.Ws() && c.p_ == c.s_.size();
  }

 private:
  explicit JsonChecker(std::string_view s) : s_(s) {}
  bool Ws() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r'))
      ++p_;
    return true;
  }
  bool Eat(char c) {
    Ws();
    if (p_ < s_.size() && s_[p_] == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool Literal(std::string_view w) {
    if (s_.substr(p_, w.size()) != w) return false;
    p_ += w.size();
    return true;
  }
  bool String() {
    if (!Eat('"')) return false;
    while (p_ < s_.size()) {
      const unsigned char c = static_cast<unsigned char>(s_[p_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;
      if (c != '\\') continue;
      if (p_ >= s_.size()) return false;
      const char e = s_[p_++];
      if (e == 'u') {
        for (int i = 0; i < 4; ++i)
          if (p_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[p_++]))) return false;
      } else if (std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
        return false;
      }
    }
    return false;
  }
  bool Number() {
    const size_t start = p_;
    if (p_ < s_.size() && s_[p_] == '-') ++p_;
    const auto digits = [&] {
      const size_t d = p_;
      while (p_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[p_]))) ++p_;
      return p_ > d;
    };
    if (p_ < s_.size() && s_[p_] == '0')
      ++p_;
    else if (!digits())
      return false;
    if (p_ < s_.size() && s_[p_] == '.' && (++p_, !digits())) return false;
    return p_ > start;
  }
  bool Value() {
    Ws();
    if (p_ >= s_.size()) return false;
    const char c = s_[p_];
    if (c == '{') {
      ++p_;
      if (Eat('}')) return true;
      do {
        if (!String() || !Eat(':') || !Value()) return false;
      } while (Eat(','));
      return Eat('}');
    }
    if (c == '[') {
      ++p_;
      if (Eat(']')) return true;
      do {
        if (!Value()) return false;
      } while (Eat(','));
      return Eat(']');
    }
    if (c == '"') return String();
    if (c == 't') return Literal("true");
    if (c == 'f') return Literal("false");
    if (c == 'n') return Literal("null");
    return Number();
  }
  std::string_view s_;
  size_t p_ = 0;
};

TEST(JsonChecker, TellsJsonFromNotJson) {
  EXPECT_TRUE(JsonChecker::Valid("{\"a\":[1,-2.5,true,null,\"x\\u0001\"]}\n"));
  EXPECT_FALSE(JsonChecker::Valid("{\"a\":1,}\n"));
  EXPECT_FALSE(JsonChecker::Valid("{\"a\":\"x\"y\"}\n"));
  EXPECT_FALSE(JsonChecker::Valid("{\"a\":\"tab\there\"}\n"));
  EXPECT_FALSE(JsonChecker::Valid("{\"a\":1}"));  // no newline
  EXPECT_FALSE(JsonChecker::Valid("{\"a\":01}\n"));
  EXPECT_FALSE(JsonChecker::Valid("{} {}\n"));
}

TEST(RenderStatusJson, EveryFact) {
  NodeStatus s = SampleStatus();
  EXPECT_EQ(
      RenderStatusJson(s),
      "{\"node\":\"alpha\",\"network\":\"lab\",\"vip\":\"10.77.0.1\",\"prefix_len\":24,"
      "\"address\":{\"vip\":\"10.77.0.1\",\"static\":true,\"held\":true,\"released\":false,"
      "\"text\":\"10.77.0.1 (static, claimed)\"},\"tap\":\"ipop0\",\"tap_address\":"
      "\"assigned\",\"table_seq\":7,\"dataplane\":{\"pid\":1234,\"alive\":true,\"instance\":"
      "\"0000000000000abc\",\"heartbeat_age_ms\":12,\"workers_running\":2},\"peers_up\":1,"
      "\"peers_total\":3,\"controlplane\":{\"pid\":99,\"attach_count\":4},\"uptime_s\":61}\n");
  s.address.reset();
  s.dp_heartbeat_known = false;
  s.node = "we\"ird\n";
  const std::string j = RenderStatusJson(s);
  EXPECT_TRUE(JsonChecker::Valid(j)) << j;
  EXPECT_NE(j.find("\"address\":null"), std::string::npos) << j;
  EXPECT_NE(j.find("\"heartbeat_age_ms\":null"), std::string::npos) << j;
  EXPECT_NE(j.find("\"node\":\"we\\\"ird\\n\""), std::string::npos) << j;
}

TEST(RenderPeersJson, OnePeerObjectEach) {
  EXPECT_EQ(RenderPeersJson({}), "{\"peers\":[]}\n");
  PeerRow a;
  a.status.vip = Ip(10, 77, 0, 2);
  a.status.endpoint = Ep4(Ip(10, 99, 0, 2), 5800);
  a.status.up = true;
  a.status.heard = true;
  a.status.last_hello_age_ns = 443'000'000;
  a.status.tx_ready = true;
  a.status.tx_key_id = 0x9c41d07be2a3f615ull;
  a.status.tx_key_age_ns = 41'000'000'000ull;
  a.traffic = {5, 420, 6, 504};
  PeerRow b;
  b.status.vip = Ip(10, 77, 0, 3);
  b.status.relayed = true;
  b.status.learned = true;
  b.status.node_known = true;
  b.status.node.fill(0x11);
  NodeAddress via;
  via.fill(0x22);
  b.path = {true, overlay::RingAddress::FromBytes(via),
            "punch failed: both symmetric, retry in 10 s", "address/port-dependent"};
  EXPECT_EQ(RenderPeersJson({a, b}),
            "{\"peers\":[{\"vip\":\"10.77.0.2\",\"endpoint\":\"10.99.0.2:5800\",\"up\":true,"
            "\"last_hello_ms\":443,\"tx_ready\":\"yes\",\"tx_key\":\"9c41d07be2a3f615\","
            "\"key_age_s\":41,\"learned\":false,\"path\":\"direct\",\"node\":null,"
            "\"relay_via\":null,\"path_why\":\"\",\"peer_nat\":\"\","
            "\"rx_packets\":5,\"rx_bytes\":420,\"tx_packets\":6,\"tx_bytes\":504},"
            "{\"vip\":\"10.77.0.3\",\"endpoint\":\"" +
                Endpoint{}.ToString() +
                "\",\"up\":false,\"last_hello_ms\":null,\"tx_ready\":\"no\",\"tx_key\":null,"
                "\"key_age_s\":null,\"learned\":true,\"path\":\"relayed\",\"node\":\"" +
                std::string(40, '1') + "\",\"relay_via\":\"" + std::string(40, '2') +
                "\",\"path_why\":\"punch failed: both symmetric, retry in 10 s\","
                "\"peer_nat\":\"address/port-dependent\","
                "\"rx_packets\":0,\"rx_bytes\":0,\"tx_packets\":0,\"tx_bytes\":0}]}\n");
}

TEST(RenderRoutesJson, PeersPrefixesAndAnnouncements) {
  EXPECT_EQ(RenderRoutesJson({}), "{\"routes\":[],\"prefix_routes\":[],\"announced\":[]}\n");
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
  r.peers = {relayed, direct};
  r.prefix_routes = {{{Ip(192, 168, 50, 0), 24, Ip(10, 77, 0, 3)}, true}};
  r.announced = {{Ip(10, 1, 0, 0), 16}};
  EXPECT_EQ(RenderRoutesJson(r),
            "{\"routes\":[{\"prefix\":\"10.77.0.3/32\",\"path\":\"relayed\",\"endpoint\":null,"
            "\"node\":\"" +
                std::string(40, '1') +
                "\",\"learned\":true,\"up\":true},{\"prefix\":\"10.77.0.2/32\",\"path\":\"direct\","
                "\"endpoint\":\"10.99.0.2:5800\",\"node\":null,\"learned\":false,\"up\":false}],"
                "\"prefix_routes\":[{\"prefix\":\"192.168.50.0/24\",\"via\":\"10.77.0.3\","
                "\"kernel_route\":true}],\"announced\":[\"10.1.0.0/16\"]}\n");
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

LinkRow SampleLink(uint8_t fill, uint8_t roles) {
  std::array<uint8_t, 20> a;
  a.fill(fill);
  return {overlay::RingAddress::FromBytes(a), Ep4(Ip(10, 99, 0, fill), 5800), roles,
          12'540'000'000ull, 300'000'000ull};
}

TEST(RenderLinksJson, RolesAsAList) {
  EXPECT_EQ(RenderLinksJson({}), "{\"links\":[]}\n");
  EXPECT_EQ(RenderLinksJson({SampleLink(0x22, overlay::kRoleNear | overlay::kRoleShortcut),
                             SampleLink(0x33, 0)}),
            "{\"links\":[{\"address\":\"" + std::string(40, '2') +
                "\",\"endpoint\":\"10.99.0.34:5800\",\"roles\":[\"near\",\"shortcut\"],"
                "\"age_s\":12.5,\"heard_ago_s\":0.3},{\"address\":\"" +
                std::string(40, '3') +
                "\",\"endpoint\":\"10.99.0.51:5800\",\"roles\":[],\"age_s\":12.5,"
                "\"heard_ago_s\":0.3}]}\n");
}

TEST(RenderRingJson, CountsNeighboursAndDht) {
  RingReport r;
  r.address = SampleLink(0x10, 0).address;
  r.endpoint = Ep4(Ip(10, 99, 0, 1), 5800);
  r.joined = true;
  r.links = {SampleLink(0x22, overlay::kRoleNear | overlay::kRoleFarOut),
             SampleLink(0x33, overlay::kRoleLeaf), SampleLink(0x44, overlay::kRoleLeaf)};
  r.successors = {r.links[0]};
  r.estimated_size = 6.4;
  r.far_target = 2;
  r.dht_keys = 9;
  r.dht_pending_ops = 1;
  r.directory_published = true;
  r.claim = ClaimStatus{Ip(10, 77, 0, 1), false, true, false};
  EXPECT_EQ(RenderRingJson(r),
            "{\"address\":\"" + Repeat("10", 20) +
                "\",\"endpoint\":\"10.99.0.1:5800\",\"nat\":\"unknown\",\"candidates\":\"\","
                "\"joined\":true,\"links\":{\"total\":3,"
                "\"near\":1,\"far\":1,\"leaf\":2,\"shortcut\":0},\"estimated_size\":6,"
                "\"far_target\":2,\"successors\":[{\"address\":\"" +
                std::string(40, '2') +
                "\",\"endpoint\":\"10.99.0.34:5800\"}],\"predecessors\":[],\"dht\":{\"keys\":9,"
                "\"pending_ops\":1},\"directory_published\":true,\"address_claim\":"
                "\"10.77.0.1 (allocated)\"}\n");
}

TEST(RenderDhtReplyJson, ValuesOrAnError) {
  DhtResult r;
  r.outcome = DhtOutcome::kOk;
  r.attempts = 2;
  r.latency_ns = 35'400'000;
  EXPECT_EQ(RenderDhtReplyJson(r, false),
            "{\"outcome\":\"ok\",\"attempts\":2,\"latency_ms\":35}\n");
  DhtRecord a;
  a.value = {'x', '"', '\n', 0xff};
  a.ttl_ms = 3'599'900;
  r.values = {a};
  EXPECT_EQ(RenderDhtReplyJson(r, true),
            "{\"outcome\":\"ok\",\"attempts\":2,\"latency_ms\":35,\"values\":[{\"value\":"
            "\"x\\\"\\n\\ufffd\",\"ttl_s\":3599}]}\n");
  r.outcome = DhtOutcome::kNoQuorum;
  r.reason = DhtStatus::kOk;
  EXPECT_EQ(RenderDhtReplyJson(r, true), "{\"error\":\"no quorum after 2 attempts, 35 ms (" +
                                             std::string(DhtStatusName(DhtStatus::kOk)) + ")\"}\n");
}

TEST(RenderMulticastJson, JoinedAndSendingGroups) {
  MulticastView v;
  EXPECT_EQ(RenderMulticastJson(v),
            "{\"querier\":null,\"queries_sent\":0,\"joined\":[],\"sending\":[]}\n");
  v.querier_ip = Ip(10, 77, 0, 254);
  v.queries_sent = 3;
  v.joined = {{Ip(239, 1, 2, 3), Ip(10, 77, 0, 1), true, 124'200'000'000ull},
              {0xffffffffu, 0, false, 0}};
  v.sending = {
      {Ip(239, 1, 2, 3), true, {{Ip(10, 77, 0, 2), true}, {Ip(10, 77, 0, 3), false}}, 1, 17},
      {Ip(239, 9, 9, 9), false, {}, 0, 0}};
  EXPECT_EQ(RenderMulticastJson(v),
            "{\"querier\":\"10.77.0.254\",\"queries_sent\":3,\"joined\":[{\"group\":"
            "\"239.1.2.3\",\"broadcast\":false,\"published_as\":\"10.77.0.1\",\"expires_in_s\":"
            "125},{\"group\":\"255.255.255.255\",\"broadcast\":true,\"published_as\":null,"
            "\"expires_in_s\":null}],\"sending\":[{\"group\":\"239.1.2.3\",\"broadcast\":false,"
            "\"looking_up\":false,\"in_table\":1,\"frames\":17,\"members\":[{\"vip\":"
            "\"10.77.0.2\",\"learning\":false},{\"vip\":\"10.77.0.3\",\"learning\":true}]},"
            "{\"group\":\"239.9.9.9\",\"broadcast\":false,\"looking_up\":true,\"in_table\":0,"
            "\"frames\":0,\"members\":[]}]}\n");
}

overlay::RingAddress Addr(uint8_t fill) {
  std::array<uint8_t, 20> a;
  a.fill(fill);
  return overlay::RingAddress::FromBytes(a);
}

EchoResult Answered(uint32_t seq, uint64_t rtt_us, uint8_t hops, const overlay::RingAddress& via) {
  EchoResult r;
  r.seq = seq;
  r.sent = r.answered = true;
  r.rtt_ns = rtt_us * 1000;
  r.hops_there = r.hops_back = hops;
  r.first_hop_there = r.first_hop_back = via;
  r.vip = Ip(10, 77, 0, 3);
  r.name = "n3";
  return r;
}

PingReport SamplePing() {
  PingReport p;
  p.target = "n3";
  p.vip = Ip(10, 77, 0, 3);
  p.name = "n3";
  p.data_path = "direct 10.99.0.3:5800";
  p.series.node = Addr(0x33);
  p.series.vip = p.vip;
  EchoResult lost;
  lost.seq = 2;
  lost.sent = true;
  EchoResult unsent;
  unsent.seq = 4;
  p.series.probes = {Answered(1, 400, 1, Addr(0x33)), lost, Answered(3, 1200, 2, Addr(0x22)),
                     unsent};
  p.elapsed_ns = 3'004'000'000ull;
  return p;
}

TEST(RenderPing, ProbeLinesAndSummaryLikePing) {
  EXPECT_EQ(RenderPing(SamplePing()),
            "PING n3 (10.77.0.3): node " + std::string(40, '3') +
                " through the overlay; data session direct 10.99.0.3:5800\n"
                "reply from n3 (10.77.0.3): seq=1 path=direct hops=1/1 time=0.400 ms\n"
                "seq=2 no reply\n"
                "reply from n3 (10.77.0.3): seq=3 path=via 222222222222 hops=2/2 time=1.200 ms\n"
                "seq=4 not sent (no route to the node, or too many probes outstanding)\n"
                "\n--- n3 overlay ping statistics ---\n"
                "4 probes sent, 2 received, 50% loss, time 3004 ms\n"
                "rtt min/avg/max = 0.400/0.800/1.200 ms\n");
  PingReport none = SamplePing();
  none.target = "10.77.0.3";
  none.name.clear();
  for (EchoResult& r : none.series.probes) r.answered = false;
  const std::string text = RenderPing(none);
  EXPECT_TRUE(
      text.ends_with("4 probes sent, 0 received, 100% loss, time 3004 ms\n"
                     "fail: no reply from 10.77.0.3\n"))
      << text;
}

TEST(RenderPingJson, ProbesAndStatistics) {
  EXPECT_EQ(RenderPingJson(SamplePing()),
            "{\"target\":\"n3\",\"vip\":\"10.77.0.3\",\"name\":\"n3\",\"node\":\"" +
                std::string(40, '3') +
                "\",\"data_path\":\"direct 10.99.0.3:5800\",\"probes\":[{\"seq\":1,\"sent\":true,"
                "\"answered\":true,\"rtt_ms\":0.400,\"path\":\"direct\",\"hops_there\":1,"
                "\"hops_back\":1,\"first_hop\":\"" +
                std::string(40, '3') + "\",\"first_hop_back\":\"" + std::string(40, '3') +
                "\"},{\"seq\":2,\"sent\":true,\"answered\":false},{\"seq\":3,\"sent\":true,"
                "\"answered\":true,\"rtt_ms\":1.200,\"path\":\"via 222222222222\","
                "\"hops_there\":2,\"hops_back\":2,\"first_hop\":\"" +
                std::string(40, '2') + "\",\"first_hop_back\":\"" + std::string(40, '2') +
                "\"},{\"seq\":4,\"sent\":false,\"answered\":false}],\"sent\":4,\"received\":2,"
                "\"loss_pct\":50,\"rtt_ms\":{\"min\":0.400,\"avg\":0.800,\"max\":1.200},"
                "\"time_ms\":3004,\"ok\":true}\n");
  PingReport none = SamplePing();
  for (EchoResult& r : none.series.probes) r.answered = false;
  const std::string j = RenderPingJson(none);
  EXPECT_TRUE(JsonChecker::Valid(j)) << j;
  EXPECT_TRUE(j.ends_with("\"rtt_ms\":null,\"time_ms\":3004,\"ok\":false}\n")) << j;
}

ValidateRow Row(uint32_t vip, uint8_t fill, const std::string& name, const std::string& data,
                std::vector<EchoResult> probes) {
  ValidateRow row;
  row.member.vip = vip;
  row.member.node = Addr(fill);
  row.member.name = name;
  row.data_path = data;
  row.series.node = row.member.node;
  row.series.vip = vip;
  row.series.probes = std::move(probes);
  return row;
}

EchoResult Lost(uint32_t seq) {
  EchoResult r;
  r.seq = seq;
  r.sent = true;
  return r;
}

ValidateReport SampleValidate() {
  ValidateReport v;
  v.self_vip = Ip(10, 77, 0, 1);
  v.self_name = "n1";
  v.names = {{Addr(0x22), "n2"}, {Addr(0x33), "n3-long-name"}};
  v.rows.push_back(Row(Ip(10, 77, 0, 2), 0x22, "n2", "direct 10.99.0.2:5800",
                       {Answered(1, 300, 1, Addr(0x22)), Answered(2, 500, 1, Addr(0x22))}));
  v.rows.push_back(Row(Ip(10, 77, 0, 3), 0x33, "n3-long-name", "relayed",
                       {Answered(1, 1000, 2, Addr(0x22)), Lost(2)}));
  v.rows.push_back(Row(Ip(10, 77, 0, 14), 0x44, "n4", "none", {Lost(1), Lost(2)}));
  return v;
}

TEST(RenderValidate, AlignedTableAndFailSummary) {
  EXPECT_EQ(RenderValidate(SampleValidate()),
            "NODE          VIP         NAME          PATH         DATA                   SENT  "
            "RECV  LOSS  RTT MIN/AVG/MAX MS\n"
            "222222222222  10.77.0.2   n2            direct       direct 10.99.0.2:5800     2  "
            "   2    0%  0.30/0.40/0.50\n"
            "333333333333  10.77.0.3   n3-long-name  via n2       relayed                   2  "
            "   1   50%  1.00/1.00/1.00\n"
            "444444444444  10.77.0.14  n4            unreachable  none                      2  "
            "   0  100%  -\n"
            "\nvalidate from n1 (10.77.0.1): 3 members besides this node, 1 reachable without "
            "loss, 1 with loss, 1 unreachable\n"
            "fail: 2 of 3 members lost probes\n");
  ValidateReport good = SampleValidate();
  good.rows.resize(1);
  EXPECT_TRUE(RenderValidate(good).ends_with(
      "1 members besides this node, 1 reachable without loss, 0 with loss, 0 unreachable\n"
      "ok: every member answered every probe\n"));
  good.complete = false;
  EXPECT_TRUE(RenderValidate(good).ends_with(
      "fail: part of the member list could not be read from the DHT\n"));
}

TEST(RenderValidateJson, MembersAndVerdict) {
  ValidateReport v = SampleValidate();
  v.rows.resize(1);
  EXPECT_EQ(RenderValidateJson(v),
            "{\"self_vip\":\"10.77.0.1\",\"self_name\":\"n1\",\"complete\":true,\"members\":[{"
            "\"node\":\"" +
                std::string(40, '2') +
                "\",\"vip\":\"10.77.0.2\",\"name\":\"n2\",\"data_path\":\"direct 10.99.0.2:5800\","
                "\"path\":\"direct\",\"sent\":2,\"received\":2,\"loss_pct\":0,\"rtt_ms\":{\"min\":"
                "0.300,\"avg\":0.400,\"max\":0.500},\"probes\":[{\"seq\":1,\"sent\":true,"
                "\"answered\":true,\"rtt_ms\":0.300,\"path\":\"direct\",\"hops_there\":1,"
                "\"hops_back\":1,\"first_hop\":\"" +
                std::string(40, '2') + "\",\"first_hop_back\":\"" + std::string(40, '2') +
                "\"},{\"seq\":2,\"sent\":true,\"answered\":true,\"rtt_ms\":0.500,\"path\":"
                "\"direct\",\"hops_there\":1,\"hops_back\":1,\"first_hop\":\"" +
                std::string(40, '2') + "\",\"first_hop_back\":\"" + std::string(40, '2') +
                "\"}]}],\"members_total\":1,\"with_loss\":0,\"unreachable\":0,\"ok\":true}\n");
  // Only an unreachable member: not ok either.
  ValidateReport dead = SampleValidate();
  dead.rows.erase(dead.rows.begin(), dead.rows.begin() + 2);
  EXPECT_TRUE(RenderValidateJson(dead).ends_with(
      "\"members_total\":1,\"with_loss\":0,\"unreachable\":1,\"ok\":false}\n"))
      << RenderValidateJson(dead);
  const std::string bad = RenderValidateJson(SampleValidate());
  EXPECT_TRUE(JsonChecker::Valid(bad)) << bad;
  EXPECT_TRUE(
      bad.ends_with("\"members_total\":3,\"with_loss\":1,\"unreachable\":1,\"ok\":false}\n"))
      << bad;
}

}  // namespace
}  // namespace ipop::cp
