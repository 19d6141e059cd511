// The firewall (docs/firewall.md): rule grammar, the compiled table's first-match decision against
// a naive reference on random rules and flows, table validation, the connection table (replies,
// idle expiry, eviction, workers), and the stages' drops through a two-node dataplane.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "controlplane/firewall/firewall_compiler.h"
#include "dataplane/firewall.h"
#include "dataplane/inbound.h"
#include "dataplane/outbound.h"
#include "shared/endpoint.h"
#include "shared/firewall.h"
#include "tests/unit/dp_test_nodes.h"

namespace ipop {
namespace {

using dp::ConnTable;
using dp::FlowPacket;
using dp::FlowState;
using dp::test_nodes::Bytes;
using dp::test_nodes::Ip;
using dp::test_nodes::Ipv4Packet;
using shm::FwDirection;

fw::Rule Parse(FwDirection d, const std::string& text) {
  std::string error;
  const auto r = fw::ParseRule(d, text, &error);
  EXPECT_TRUE(r) << text << ": " << error;
  return r.value_or(fw::Rule{});
}

std::string ParseError(const std::string& text) {
  std::string error;
  EXPECT_FALSE(fw::ParseRule(FwDirection::kInbound, text, &error)) << text;
  return error;
}

TEST(FirewallRules, ParseAndFormatCanonically) {
  EXPECT_EQ(fw::FormatRule(Parse(FwDirection::kInbound, "allow group:web tcp 443,80")),
            "allow group:web tcp 80,443");
  EXPECT_EQ(fw::FormatRule(Parse(FwDirection::kInbound, "  allow\tcidr:10.77.0.0/24  icmp ")),
            "allow cidr:10.77.0.0/24 icmp");
  EXPECT_EQ(fw::FormatRule(Parse(FwDirection::kOutbound, "allow any udp 53")), "allow any udp 53");
  EXPECT_EQ(fw::FormatRule(Parse(FwDirection::kInbound, "deny name:n4 any")), "deny name:n4 any");
  // Overlapping and adjacent ranges merge.
  const fw::Rule r = Parse(FwDirection::kInbound, "allow any tcp 8000-8080,22,8081,7000-8001");
  EXPECT_EQ(fw::FormatRule(r), "allow any tcp 22,7000-8081");
  EXPECT_EQ(Parse(FwDirection::kInbound, "allow cidr:0.0.0.0/0 any").prefix_len, 0);
}

TEST(FirewallRules, BadRulesGiveOneLineErrors) {
  EXPECT_NE(ParseError("allow any").find("2 words"), std::string::npos);
  EXPECT_NE(ParseError("permit any tcp").find("'permit' is not an action"), std::string::npos);
  EXPECT_NE(ParseError("allow anyone tcp").find("not a peer selector"), std::string::npos);
  EXPECT_NE(ParseError("allow cidr:10.0.0.1/24 tcp").find("host bits set"), std::string::npos);
  EXPECT_NE(ParseError("allow cidr:10.0.0.0/33 tcp").find("not a subnet"), std::string::npos);
  EXPECT_NE(ParseError("allow cidr:10.0.0/8 tcp").find("not a subnet"), std::string::npos);
  EXPECT_NE(ParseError("allow name: tcp").find("names no valid name"), std::string::npos);
  EXPECT_NE(ParseError("allow group:a/b tcp").find("names no valid group"), std::string::npos);
  EXPECT_NE(ParseError("allow any sctp").find("'sctp' is not a protocol"), std::string::npos);
  EXPECT_NE(ParseError("allow any icmp 8").find("only with tcp or udp"), std::string::npos);
  EXPECT_NE(ParseError("allow any tcp 0").find("'0' is not a port"), std::string::npos);
  EXPECT_NE(ParseError("allow any tcp 65536").find("not a port"), std::string::npos);
  EXPECT_NE(ParseError("allow any tcp 90-80").find("'90-80' is not a port"), std::string::npos);
  EXPECT_NE(ParseError("allow any tcp 80,").find("'' is not a port"), std::string::npos);
  EXPECT_NE(ParseError("allow any tcp 1,3,5,7,9,11,13,15,17").find("at most 8"), std::string::npos);
  for (const std::string& e : {ParseError("allow any"), ParseError("allow any tcp x")})
    EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

// ---- the compiled table against a naive reading of the rules ----

struct RefPeer {
  uint32_t vip;
  std::optional<PeerAttributes> attrs;
};

// The rules read literally: first rule of the direction that matches the flow and the peer.
// Returns (allowed, index of the deciding rule or -1 for the default).
std::pair<bool, int> Reference(const std::vector<fw::Rule>& rules, const RefPeer& peer,
                               const fw::FlowView& f) {
  bool any_in_direction = false;
  for (size_t i = 0; i < rules.size(); ++i) {
    const fw::Rule& r = rules[i];
    if (r.direction != f.direction) continue;
    any_in_direction = true;
    bool selected = false;
    switch (r.selector) {
      case fw::Selector::kAny:
        selected = true;
        break;
      case fw::Selector::kCidr: {
        const uint64_t size = uint64_t{1} << (32 - r.prefix_len);
        selected = f.remote >= r.prefix && uint64_t(f.remote) < uint64_t(r.prefix) + size;
        break;
      }
      case fw::Selector::kName:
        selected = peer.attrs && peer.attrs->name == r.label;
        break;
      case fw::Selector::kGroup:
        if (peer.attrs)
          for (const std::string& g : peer.attrs->groups) selected |= g == r.label;
        break;
    }
    if (!selected) continue;
    if (r.protocol != shm::kFwProtoAny && r.protocol != f.protocol) continue;
    if (!r.ports.empty()) {
      bool in = false;
      for (const fw::PortRange& pr : r.ports) in |= f.dst_port >= pr.lo && f.dst_port <= pr.hi;
      if (!in) continue;
    }
    return {r.action == shm::FwAction::kAllow, int(i)};
  }
  (void)any_in_direction;
  for (const fw::Rule& r : rules)
    if (r.direction == f.direction) return {false, -1};
  return {true, -1};
}

TEST(FirewallRules, CompiledTableMatchesTheNaiveReference) {
  std::mt19937 rng(1234);
  const auto pick = [&](uint32_t n) { return uint32_t(rng() % n); };
  const char* const kNames[] = {"n1", "n2", "n3", "n4"};
  const char* const kGroups[] = {"web", "db", "ops"};
  const uint8_t kProtos[] = {shm::kFwProtoTcp, shm::kFwProtoUdp, shm::kFwProtoIcmp, 47};
  // Addresses from a small space so CIDRs and ports hit often.
  const auto addr = [&] { return Ip(10, 77, uint32_t(pick(2)), uint32_t(pick(8))); };
  for (int round = 0; round < 300; ++round) {
    std::vector<fw::Rule> rules;
    const uint32_t n_rules = pick(12);
    for (uint32_t i = 0; i < n_rules; ++i) {
      std::string text = pick(3) == 0 ? "deny " : "allow ";
      switch (pick(4)) {
        case 0:
          text += "any";
          break;
        case 1: {
          const uint32_t len = 24 + pick(9);
          const uint32_t a = addr() & fw::PrefixMask(uint8_t(len));
          text += "cidr:";
          text += FormatIpv4(a);
          text += '/';
          text += std::to_string(len);
          break;
        }
        case 2:
          text += "name:";
          text += kNames[pick(4)];
          break;
        default:
          text += "group:";
          text += kGroups[pick(3)];
      }
      const uint32_t proto = pick(4);
      text += proto == 0 ? " tcp" : proto == 1 ? " udp" : proto == 2 ? " icmp" : " any";
      if (proto < 2 && pick(2) == 0) {
        const uint32_t lo = 1 + pick(10);
        text += ' ';
        text += std::to_string(lo);
        text += '-';
        text += std::to_string(lo + pick(4));
        text += ',';
        text += std::to_string(1 + pick(12));
      }
      rules.push_back(Parse(pick(2) == 0 ? FwDirection::kInbound : FwDirection::kOutbound, text));
    }
    std::vector<RefPeer> peers;
    std::vector<shm::PeerEntry> entries;
    for (uint32_t p = 0; p < 6; ++p) {
      RefPeer rp{Ip(10, 77, 0, 100 + p), std::nullopt};
      if (pick(3) != 0) {
        PeerAttributes a{kNames[pick(4)], {}};
        for (const char* g : kGroups)
          if (pick(2) == 0) a.groups.push_back(g);
        rp.attrs = a;
      }
      peers.push_back(rp);
      shm::PeerEntry e{};
      e.flags = shm::kPeerValid;
      e.vip = rp.vip;
      entries.push_back(e);
    }
    const auto lookup = [&](uint32_t vip) -> std::optional<PeerAttributes> {
      for (const RefPeer& p : peers)
        if (p.vip == vip) return p.attrs;
      return std::nullopt;
    };
    const shm::FirewallTable t = CompileFirewall(rules, entries, lookup).table;
    const char* why = nullptr;
    ASSERT_TRUE(fw::ValidateTable(t, &why)) << why;
    ASSERT_EQ((t.flags & shm::kFwEnabled) != 0, !rules.empty());
    for (int k = 0; k < 200; ++k) {
      const uint32_t slot = pick(6);
      const fw::FlowView f{pick(2) == 0 ? FwDirection::kInbound : FwDirection::kOutbound,
                           kProtos[pick(4)], addr(), uint16_t(pick(16))};
      const auto [ref_allowed, ref_rule] = Reference(rules, peers[slot], f);
      if (rules.empty()) {
        EXPECT_TRUE(ref_allowed);
        continue;
      }
      const uint32_t got = fw::FirstMatch(t, t.set_mask[t.peer_set[slot]], f);
      EXPECT_EQ(fw::Allows(t, got), ref_allowed) << "round " << round << " flow " << k;
      if (ref_rule >= 0)
        EXPECT_EQ(got, uint32_t(ref_rule)) << "round " << round;
      else
        EXPECT_GE(got, shm::kMaxFwRules) << "round " << round;
    }
  }
}

TEST(FirewallRules, PskPeersGetNoNameOrGroupRules) {
  const std::vector<fw::Rule> rules = {Parse(FwDirection::kInbound, "allow group:web tcp 80"),
                                       Parse(FwDirection::kInbound, "allow name:n2 any"),
                                       Parse(FwDirection::kInbound, "allow cidr:10.0.0.0/24 icmp")};
  shm::PeerEntry e{};
  e.flags = shm::kPeerValid;
  e.vip = Ip(10, 0, 0, 2);
  const shm::FirewallTable t = CompileFirewall(rules, {&e, 1}, NoPeerAttributes).table;
  EXPECT_EQ(t.set_mask[t.peer_set[0]], uint64_t{0b100});
  EXPECT_EQ(t.flags, shm::kFwEnabled | shm::kFwDenyInbound);
}

TEST(FirewallRules, ValidationRefusesEveryOutOfRangeField) {
  const std::vector<fw::Rule> rules = {Parse(FwDirection::kInbound, "allow any tcp 80-90"),
                                       Parse(FwDirection::kOutbound, "deny cidr:10.0.0.0/8 udp")};
  const shm::FirewallTable good = CompileFirewall(rules, {}, NoPeerAttributes).table;
  ASSERT_TRUE(fw::ValidateTable(good));
  EXPECT_TRUE(fw::ValidateTable(shm::FirewallTable{}));
  const std::vector<std::pair<const char*, std::function<void(shm::FirewallTable&)>>> bad = {
      {"unknown flag", [](auto& t) { t.flags |= 1u << 7; }},
      {"rules while disabled", [](auto& t) { t.flags = 0; }},
      {"too many rules", [](auto& t) { t.n_rules = shm::kMaxFwRules + 1; }},
      {"no sets", [](auto& t) { t.n_sets = 0; }},
      {"too many sets", [](auto& t) { t.n_sets = shm::kMaxFwRuleSets + 1; }},
      {"direction", [](auto& t) { t.rules[0].direction = 2; }},
      {"action", [](auto& t) { t.rules[0].action = 2; }},
      {"protocol", [](auto& t) { t.rules[0].protocol = 47; }},
      {"ports on icmp", [](auto& t) { t.rules[0].protocol = shm::kFwProtoIcmp; }},
      {"n_ports", [](auto& t) { t.rules[0].n_ports = shm::kMaxFwPorts + 1; }},
      {"range upside down", [](auto& t) { t.rules[0].port_lo[0] = 91; }},
      {"prefix_len", [](auto& t) { t.rules[1].prefix_len = 33; }},
      {"host bits", [](auto& t) { t.rules[1].prefix |= 1; }},
      {"set beyond rules", [](auto& t) { t.set_mask[0] |= uint64_t{1} << 2; }},
      {"peer set", [](auto& t) { t.peer_set[shm::kMaxPeers - 1] = 1; }},
  };
  for (const auto& [what, corrupt] : bad) {
    shm::FirewallTable t = good;
    corrupt(t);
    EXPECT_FALSE(fw::ValidateTable(t)) << what;
    shm::Generation g{};
    g.hdr.mtu = 1400;
    g.firewall = t;
    EXPECT_FALSE(shm::ValidateGeneration(g, 0)) << what;
  }
}

// ---- connection table ----

FlowPacket Flow(FwDirection d, uint8_t proto, uint32_t local, uint32_t remote, uint16_t lport,
                uint16_t rport, uint8_t tcp_flags = 0) {
  FlowPacket f;
  f.direction = d;
  f.key = {local, remote, lport, rport, proto};
  f.dst_port = d == FwDirection::kInbound ? lport : rport;
  f.tcp_flags = tcp_flags;
  return f;
}

constexpr uint32_t kLocal = Ip(10, 0, 0, 1), kRemote = Ip(10, 0, 0, 2);

TEST(ConnTable, ReplyOfARecordedFlowIsFoundAndEstablishes) {
  ConnTable t(4, 99);
  const FlowPacket out = Flow(FwDirection::kOutbound, 6, kLocal, kRemote, 40000, 80, 0x02);
  EXPECT_FALSE(t.Touch(out, 100));
  EXPECT_FALSE(t.Insert(out, 100));
  const FlowPacket reply = Flow(FwDirection::kInbound, 6, kLocal, kRemote, 40000, 80, 0x12);
  EXPECT_TRUE(t.Touch(reply, 101));
  // Established: it outlives the timeout of a new TCP flow.
  EXPECT_TRUE(t.Touch(out, 101 + dp::kFwTcpNewS + 100));
  // Another flow (other port, other address) is not.
  EXPECT_FALSE(t.Touch(Flow(FwDirection::kInbound, 6, kLocal, kRemote, 40001, 80), 101));
  EXPECT_FALSE(t.Touch(Flow(FwDirection::kInbound, 17, kLocal, kRemote, 40000, 80), 101));
  EXPECT_FALSE(t.Touch(Flow(FwDirection::kInbound, 6, kLocal, kRemote + 1, 40000, 80), 101));
}

TEST(ConnTable, IdleFlowsExpire) {
  ConnTable t(4, 7);
  const FlowPacket udp = Flow(FwDirection::kOutbound, 17, kLocal, kRemote, 5000, 53);
  t.Insert(udp, 1000);
  EXPECT_TRUE(t.Touch(udp, 1000 + dp::kFwUdpS));           // refreshed here
  EXPECT_FALSE(t.Touch(udp, 1000 + 2 * dp::kFwUdpS + 1));  // idle longer than the timeout
  const FlowPacket syn = Flow(FwDirection::kOutbound, 6, kLocal, kRemote, 1, 2, 0x02);
  t.Insert(syn, 0);
  EXPECT_FALSE(t.Touch(syn, dp::kFwTcpNewS + 1));
  EXPECT_EQ(t.Live(dp::kFwTcpNewS + 1), 0u);
}

TEST(ConnTable, ClosingFlowsEndSoonAndANewSynIsANewFlow) {
  ConnTable t(4, 7);
  const FlowPacket syn = Flow(FwDirection::kInbound, 6, kLocal, kRemote, 22, 5555, 0x02);
  t.Insert(syn, 0);
  t.Touch(Flow(FwDirection::kOutbound, 6, kLocal, kRemote, 22, 5555, 0x12), 0);
  EXPECT_TRUE(t.Touch(Flow(FwDirection::kInbound, 6, kLocal, kRemote, 22, 5555, 0x11), 1));  // FIN
  EXPECT_FALSE(t.Touch(syn, 2));  // a new connection on the same ports: the rules decide again
  EXPECT_TRUE(t.Touch(Flow(FwDirection::kInbound, 6, kLocal, kRemote, 22, 5555, 0x10), 2));
  EXPECT_FALSE(t.Touch(Flow(FwDirection::kInbound, 6, kLocal, kRemote, 22, 5555, 0x10),
                       2 + dp::kFwTcpClosingS + 1));
}

TEST(ConnTable, AFullSetEvictsItsLeastRecentlySeenFlow) {
  ConnTable t(0, 1);  // one set of kWays flows
  for (uint16_t i = 0; i < ConnTable::kWays; ++i)
    EXPECT_FALSE(t.Insert(Flow(FwDirection::kOutbound, 17, kLocal, kRemote, 1000 + i, 53), i));
  // Flow 0 is refreshed: flow 1 is now the least recently seen.
  EXPECT_TRUE(t.Touch(Flow(FwDirection::kOutbound, 17, kLocal, kRemote, 1000, 53), 20));
  EXPECT_TRUE(t.Insert(Flow(FwDirection::kOutbound, 17, kLocal, kRemote, 2000, 53), 21));
  EXPECT_FALSE(t.Touch(Flow(FwDirection::kOutbound, 17, kLocal, kRemote, 1001, 53), 21));
  EXPECT_TRUE(t.Touch(Flow(FwDirection::kOutbound, 17, kLocal, kRemote, 1000, 53), 21));
  EXPECT_TRUE(t.Touch(Flow(FwDirection::kOutbound, 17, kLocal, kRemote, 2000, 53), 21));
  EXPECT_EQ(t.Live(21), ConnTable::kWays);
  // An expired flow's entry is reused before any live one is evicted.
  EXPECT_FALSE(t.Insert(Flow(FwDirection::kOutbound, 17, kLocal, kRemote, 3000, 53), 21 + 31));
}

TEST(ConnTable, AnotherWorkersFlowIsSeenThroughPeek) {
  const uint64_t seeds[2] = {11, 22};
  dp::FlowTables tables(2, 4, seeds);
  const FlowPacket out = Flow(FwDirection::kOutbound, 17, kLocal, kRemote, 5000, 53);
  tables.table(0).Insert(out, 10);
  const auto siblings = tables.Siblings(1);
  ASSERT_EQ(siblings.size(), 1u);
  const auto info = siblings[0]->Peek(out.key, 11);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->originator, FwDirection::kOutbound);
  EXPECT_FALSE(siblings[0]->Peek(out.key, 11 + 2 * dp::kFwUdpS));
  EXPECT_FALSE(tables.table(1).Peek(out.key, 11));
}

TEST(ConnTable, AReplyReachingAnotherWorkerPassesThroughItsFirewall) {
  // Inbound default deny (one inbound rule for something else), outbound open.
  shm::Generation g{};
  g.firewall =
      CompileFirewall({Parse(FwDirection::kInbound, "allow any icmp")}, {}, NoPeerAttributes).table;
  const uint64_t seeds[2] = {5, 6};
  dp::FlowTables tables(2, 4, seeds);
  shm::WorkerCounters counters{};
  dp::Firewall w0(tables.table(0), &counters), w1(tables.table(1), &counters);
  w0.SetSiblings(tables.Siblings(0));
  w1.SetSiblings(tables.Siblings(1));
  for (dp::Firewall* w : {&w0, &w1}) {
    w->Adopt(g);
    w->SetNow(50);
  }
  const auto packet = [](uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport) {
    Bytes ip = Ipv4Packet(src, dst, 8);
    ether::StoreBe16(&ip[20], sport);
    ether::StoreBe16(&ip[22], dport);
    return ip;
  };
  const auto pass = [](dp::Firewall& w, const Bytes& ip, FwDirection d) {
    ether::Ipv4View v;
    EXPECT_EQ(ether::ParseIpv4(ip, v), ether::Ipv4Error::kNone);
    return w.Pass(0, ip.data(), v, d);
  };
  EXPECT_FALSE(pass(w1, packet(kRemote, kLocal, 53, 5000), FwDirection::kInbound));
  EXPECT_TRUE(pass(w0, packet(kLocal, kRemote, 5000, 53), FwDirection::kOutbound));
  // Worker 1 receives the answer: found in worker 0's table, then in its own.
  EXPECT_TRUE(pass(w1, packet(kRemote, kLocal, 53, 5000), FwDirection::kInbound));
  EXPECT_TRUE(tables.table(1).Peek({kLocal, kRemote, 5000, 53, 17}, 50));
  EXPECT_EQ(counters.fw.denied[shm::kFwDefaultInbound].load(), 1u);
  EXPECT_EQ(counters.fw.allowed[shm::kFwDefaultOutbound].load(), 1u);
}

// ---- the stages: node A sends to node B through both chains ----

using namespace dp::test_nodes;
constexpr uint32_t kVipA = Ip(10, 0, 0, 1);
constexpr uint32_t kVipB = Ip(10, 0, 0, 2);
constexpr uint32_t kMtu = 1400;
constexpr uint8_t kGwMacA[6] = {0x02, 0, 0, 0, 0xff, 0x0a};
constexpr uint8_t kGwMacB[6] = {0x02, 0, 0, 0, 0xff, 0x0b};
constexpr uint8_t kTapMacA[6] = {0x02, 0, 0, 0, 0, 0x0a};
const Key kKeyAB = MakeKey(0x10);
const Key kKeyBA = MakeKey(0x80);

Bytes L4Packet(uint32_t src, uint32_t dst, uint8_t proto, uint16_t sport, uint16_t dport) {
  Bytes ip = Ipv4Packet(src, dst, 24);
  ip[9] = proto;
  ether::StoreBe16(&ip[20], sport);
  ether::StoreBe16(&ip[22], dport);
  if (proto == 6) ip[33] = 0x02;  // SYN
  return ip;
}

Bytes Frame(const Bytes& ip) {
  Bytes f(ether::kHeaderSize + ip.size());
  ether::WriteEthernetHeader(f.data(), kGwMacA, kTapMacA, ether::kTypeIpv4);
  std::copy(ip.begin(), ip.end(), f.begin() + ether::kHeaderSize);
  return f;
}

class FirewallStagesTest : public ::testing::Test {
 protected:
  void Configure(const std::vector<std::string>& a_rules, const std::vector<std::string>& b_rules) {
    const auto compile = [](const std::vector<std::string>& texts, shm::TableSpec& s) {
      std::vector<fw::Rule> rules;
      for (const std::string& t : texts)
        rules.push_back(
            Parse(t.starts_with("out ") ? FwDirection::kOutbound : FwDirection::kInbound,
                  t.substr(t.find(' ') + 1)));
      s.firewall = CompileFirewall(rules, s.peers, NoPeerAttributes).table;
    };
    shm::TableSpec a = NodeSpec(kVipA, kMtu, kGwMacA);
    a.peers = {Peer(kVipB, shm::kPeerValid | shm::kPeerTxReady, 7, 100, kKeyAB, 1)};
    a.sessions = {Session(5, 0, 200, kKeyBA)};
    a.routes = {{kVipB, 32, 0}};
    compile(a_rules, a);
    a_.Publish(a);
    shm::TableSpec b = NodeSpec(kVipB, kMtu, kGwMacB);
    b.peers = {Peer(kVipA, shm::kPeerValid | shm::kPeerTxReady, 5, 200, kKeyBA, 2)};
    b.sessions = {Session(7, 0, 100, kKeyAB)};
    b.routes = {{kVipA, 32, 0}};
    compile(b_rules, b);
    b_.Publish(b);
    fa_.Adopt(*a_.gen);
    fb_.Adopt(*b_.gen);
    fa_.SetNow(1000);
    fb_.SetNow(1000);
  }

  // A's outbound chain then B's inbound chain; returns how many packets B delivered.
  size_t Send(const std::vector<Bytes>& packets) {
    PacketBuffers out;
    for (const Bytes& p : packets) out.Add(Frame(p));
    std::vector<dp::Packet*> span = out.All();
    dp::OutboundContext octx{a_.gen, kMtu, 1, &a_.crypto, a_.counters.get()};
    octx.firewall = fa_.enabled() ? &fa_ : nullptr;
    const size_t n = RunOutbound(span, octx);
    PacketBuffers in;
    for (size_t i = 0; i < n; ++i)
      in.Add(Bytes(span[i]->data, span[i]->data + span[i]->len), dp::kIpOffset - 16);
    std::vector<dp::Packet*> in_span = in.All();
    dp::InboundContext ictx{b_.gen, {}, &b_.crypto, b_.counters.get()};
    ictx.firewall = fb_.enabled() ? &fb_ : nullptr;
    return RunInbound(in_span, ictx);
  }

  Node a_{"fwA"};
  Node b_{"fwB"};
  ConnTable ta_{4, 1}, tb_{4, 2};
  dp::Firewall fa_{ta_, a_.counters.get()};
  dp::Firewall fb_{tb_, b_.counters.get()};
};

TEST_F(FirewallStagesTest, InboundDeniedIsCountedPerRule) {
  Configure({}, {"in allow any udp 53", "in deny any udp 54"});
  EXPECT_FALSE(fa_.enabled());
  EXPECT_EQ(Send({L4Packet(kVipA, kVipB, 17, 4000, 53)}), 1u);
  EXPECT_EQ(Send({L4Packet(kVipA, kVipB, 17, 4000, 54)}), 0u);
  EXPECT_EQ(Send({L4Packet(kVipA, kVipB, 17, 4000, 99), L4Packet(kVipA, kVipB, 6, 4000, 53)}), 0u);
  EXPECT_EQ(b_.drop(DropReason::fw_inbound_denied), 3u);
  EXPECT_EQ(b_.counters->fw.allowed[0].load(), 1u);
  EXPECT_EQ(b_.counters->fw.denied[1].load(), 1u);
  EXPECT_EQ(b_.counters->fw.denied[shm::kFwDefaultInbound].load(), 2u);
  // The allowed flow's next packets are found in the table: no further rule hit.
  EXPECT_EQ(Send({L4Packet(kVipA, kVipB, 17, 4000, 53)}), 1u);
  EXPECT_EQ(b_.counters->fw.allowed[0].load(), 1u);
}

TEST_F(FirewallStagesTest, OutboundDeniedIsCountedAndRepliesToOutboundFlowsPass) {
  Configure({"out deny cidr:10.0.0.2/32 tcp 23", "out allow any tcp"}, {"in allow any icmp"});
  EXPECT_EQ(Send({L4Packet(kVipA, kVipB, 6, 4000, 23)}), 0u);
  EXPECT_EQ(a_.drop(DropReason::fw_outbound_denied), 1u);
  EXPECT_EQ(a_.counters->fw.denied[0].load(), 1u);
  EXPECT_EQ(Send({L4Packet(kVipA, kVipB, 17, 4000, 53)}), 0u);  // no rule: default deny
  EXPECT_EQ(a_.counters->fw.denied[shm::kFwDefaultOutbound].load(), 1u);
  // B opens a TCP flow to A (B's outbound has no rules: allowed and recorded); A's reply passes
  // B's inbound although B allows only ICMP in.
  const Bytes b_to_a = L4Packet(kVipB, kVipA, 6, 33000, 22);
  ether::Ipv4View v;
  ASSERT_EQ(ether::ParseIpv4(b_to_a, v), ether::Ipv4Error::kNone);
  EXPECT_TRUE(fb_.Pass(0, b_to_a.data(), v, FwDirection::kOutbound));
  EXPECT_EQ(b_.counters->fw.allowed[shm::kFwDefaultOutbound].load(), 1u);
  EXPECT_EQ(Send({L4Packet(kVipA, kVipB, 6, 22, 33000)}), 1u);
  EXPECT_EQ(b_.drop(DropReason::fw_inbound_denied), 0u);
  // A flow B did not open is refused.
  EXPECT_EQ(Send({L4Packet(kVipA, kVipB, 6, 22, 33001)}), 0u);
  EXPECT_EQ(b_.drop(DropReason::fw_inbound_denied), 1u);
}

}  // namespace
}  // namespace ipop
