// OverlayHost: the overlay and DHT as the process runs them, over in-memory ports: tags, rate
// limits, the VIP directory and address allocation, routed HELLOs and the table view.
#include "controlplane/directory/overlay_host.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cp_fakes.h"

namespace ipop::cp {
namespace {

using testing::Ep4;
using testing::FakeClock;
using testing::FakePort;
using testing::FakeRandom;

std::array<uint8_t, 32> Secret(uint8_t fill) {
  std::array<uint8_t, 32> s;
  s.fill(fill);
  return s;
}

struct Host {
  Endpoint ep;
  FakePort port;
  FakeRandom random;
  std::unique_ptr<PskHelloAuthenticator> auth;
  std::unique_ptr<OverlayHost> host;
  Host(uint64_t seed) : random(seed) {}
};

class Net {
 public:
  Host& Add(uint32_t index, std::vector<uint32_t> bootstrap, uint8_t secret = 7,
            const std::function<void(OverlayHostOptions&)>& tweak = nullptr) {
    auto h = std::make_unique<Host>(index * 77 + 1);
    h->ep = Ep4(0xac1f0000 + index, 5800);
    OverlayHostOptions o;
    const std::string id = "node" + std::to_string(index);
    o.address = overlay::RingAddress::FromIdentity(
        {reinterpret_cast<const uint8_t*>(id.data()), id.size()});
    o.listen = h->ep;
    o.network = "unit";
    o.vip = 0x0a4d0000 + index;
    o.claim.network = o.network;
    o.claim.fixed = o.vip;
    o.member_name = id;
    for (uint32_t b : bootstrap) o.overlay.bootstrap.push_back(Ep4(0xac1f0000 + b, 5800));
    if (tweak) tweak(o);
    h->auth = std::make_unique<PskHelloAuthenticator>(Secret(secret), "unit\noverlay");
    h->host = std::make_unique<OverlayHost>(o, clock, h->random, h->port, *h->auth);
    h->host->Start();
    hosts.push_back(std::move(h));
    return *hosts.back();
  }
  Host* ByEndpoint(const Endpoint& ep) {
    for (auto& h : hosts)
      if (h->ep == ep && !down.count(h.get())) return h.get();
    return nullptr;
  }
  // Delivers everything sent, ticks everyone, advances time; `ms` of simulated time.
  void Run(uint64_t ms, uint64_t step_ms = 20) {
    for (uint64_t t = 0; t < ms; t += step_ms) {
      for (int round = 0; round < 8; ++round) {
        bool any = false;
        for (auto& h : hosts) {
          std::vector<FakePort::Datagram> out;
          out.swap(h->port.sent);
          for (const auto& d : out) {
            any = true;
            if (Host* to = ByEndpoint(d.to); to != nullptr && !down.count(to)) {
              if (capture) capture(*h, *to, d.bytes);
              to->host->OnControlDatagram(h->ep, d.bytes);
            }
          }
        }
        if (!any) break;
      }
      for (auto& h : hosts)
        if (!down.count(h.get())) h->host->Tick();
      clock.AdvanceMs(step_ms);
    }
  }
  FakeClock clock;
  std::vector<std::unique_ptr<Host>> hosts;
  std::map<Host*, bool> down;
  // Sees every delivered datagram (an on-path observer).
  std::function<void(Host& from, Host& to, const std::vector<uint8_t>& bytes)> capture;
};

TEST(OverlayHost, NodesJoinPublishAndResolveEachOther) {
  Net net;
  net.Add(1, {});
  for (uint32_t i = 2; i <= 6; ++i) net.Add(i, {1});
  net.Run(20'000);
  for (auto& h : net.hosts) {
    EXPECT_TRUE(h->host->node().joined());
    ASSERT_NE(h->host->claim(), nullptr);
    EXPECT_TRUE(h->host->claim()->held());
    EXPECT_GE(h->host->claim()->counters().acquired, 1u);
    EXPECT_EQ(h->host->counters().bad_tag, 0u);
  }
  std::optional<VipLocation> got;
  bool called = false;
  net.hosts[5]->host->Resolve(0x0a4d0002, [&](uint32_t vip, const std::optional<VipLocation>& w) {
    EXPECT_EQ(vip, 0x0a4d0002u);
    got = w;
    called = true;
  });
  net.Run(3'000);
  ASSERT_TRUE(called);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->node, net.hosts[1]->host->node().address());
  EXPECT_EQ(got->endpoint.ToString(), net.hosts[1]->ep.ToString());

  // Unknown VIPs resolve to nothing.
  called = false;
  net.hosts[2]->host->Resolve(0x0a4d0063, [&](uint32_t, const std::optional<VipLocation>& w) {
    got = w;
    called = true;
  });
  net.Run(40'000);
  ASSERT_TRUE(called);
  EXPECT_FALSE(got.has_value());
}

TEST(OverlayHost, OperatorValuesAreReadEverywhere) {
  Net net;
  net.Add(1, {});
  for (uint32_t i = 2; i <= 5; ++i) net.Add(i, {1});
  net.Run(15'000);
  const std::string v = "hello";
  bool put_ok = false;
  net.hosts[2]->host->DhtPut("greeting", {reinterpret_cast<const uint8_t*>(v.data()), v.size()},
                             60'000,
                             [&](const DhtResult& r) { put_ok = r.outcome == DhtOutcome::kOk; });
  net.Run(3'000);
  ASSERT_TRUE(put_ok);
  for (auto& h : net.hosts) {
    std::string read;
    h->host->DhtGet("greeting", [&](const DhtResult& r) {
      if (!r.values.empty()) read.assign(r.values[0].value.begin(), r.values[0].value.end());
    });
    net.Run(3'000);
    EXPECT_EQ(read, v);
  }
}

TEST(OverlayHost, WrongSecretIsDroppedBeforeTheOverlay) {
  Net net;
  net.Add(1, {});
  Host& intruder = net.Add(2, {1}, /*secret=*/9);
  net.Run(10'000);
  EXPECT_FALSE(intruder.host->node().joined());
  EXPECT_GT(net.hosts[0]->host->counters().bad_tag, 0u);
  EXPECT_EQ(net.hosts[0]->host->node().counters().received, 0u);
}

TEST(OverlayHost, TamperedAndShortDatagramsAreCounted) {
  Net net;
  Host& a = net.Add(1, {});
  Host& b = net.Add(2, {1});
  net.Run(200);  // b's first link request is out
  b.host->Tick();
  net.Run(5'000);
  ASSERT_TRUE(b.host->node().joined());
  // A keepalive-sized overlay message from b with one bit flipped in the tag.
  std::vector<uint8_t> msg(wire::kHeaderSize + 36 + kOverlayStampSize +
                           PskHelloAuthenticator::kTagSize);
  wire::WriteHeader(msg.data(), wire::PacketType::kControl, 0, 0);
  msg[wire::kHeaderSize] = uint8_t(overlay::MsgType::kKeepalive);
  msg[wire::kHeaderSize + 1] = overlay::kOverlayVersion;
  const uint64_t before = a.host->counters().bad_tag;
  a.host->OnControlDatagram(b.ep, msg);
  EXPECT_EQ(a.host->counters().bad_tag, before + 1);
  const uint64_t short_before = a.host->counters().too_short;
  a.host->OnControlDatagram(b.ep, std::span<const uint8_t>(msg).first(wire::kHeaderSize + 2));
  EXPECT_EQ(a.host->counters().too_short, short_before + 1);
  // Not an overlay message at all: left for the HELLO protocol.
  std::vector<uint8_t> hello(80);
  wire::WriteHeader(hello.data(), wire::PacketType::kControl, 0, 0);
  hello[wire::kHeaderSize] = 1;
  EXPECT_FALSE(a.host->OnControlDatagram(b.ep, hello));
}

TEST(OverlayHost, FloodFromOneSourceIsRateLimited) {
  Net net;
  Host& a = net.Add(1, {});
  std::vector<uint8_t> msg(wire::kHeaderSize + 36 + kOverlayStampSize +
                           PskHelloAuthenticator::kTagSize);
  wire::WriteHeader(msg.data(), wire::PacketType::kControl, 0, 0);
  msg[wire::kHeaderSize] = uint8_t(overlay::MsgType::kKeepalive);
  msg[wire::kHeaderSize + 1] = overlay::kOverlayVersion;
  for (int i = 0; i < 5000; ++i) a.host->OnControlDatagram(Ep4(0x01020304, 9), msg);
  const OverlayHostCounters& c = a.host->counters();
  EXPECT_GT(c.rate_limited, 4000u);
  EXPECT_EQ(c.rate_limited + c.bad_tag, 5000u);
  // Another source is not affected.
  const uint64_t bad = c.bad_tag;
  a.host->OnControlDatagram(Ep4(0x01020305, 9), msg);
  EXPECT_EQ(c.bad_tag, bad + 1);
}

// An on-path observer without the secret records one datagram of every overlay type and replays
// each later: to the node it was sent to (from the sender's address or its own) and to another
// node. Every replay is dropped before the overlay sees it, and counted; no link moves or closes.
TEST(OverlayHost, ReplayedOverlayMessagesOfEveryTypeAreDropped) {
  Net net;
  struct Recorded {
    Host* from;
    Host* to;
    std::vector<uint8_t> bytes;
  };
  std::map<uint8_t, Recorded> recorded;  // by message type
  net.capture = [&](Host& from, Host& to, const std::vector<uint8_t>& bytes) {
    const uint8_t type = bytes[wire::kHeaderSize];
    if (!recorded.count(type)) recorded[type] = {&from, &to, bytes};
  };
  net.Add(1, {});
  for (uint32_t i = 2; i <= 6; ++i) net.Add(i, {1});
  net.Run(30'000);  // joins, near lists, routed DHT traffic
  // Keepalives: links here are never idle long enough; a node that "moved" sends them at once.
  net.hosts[2]->host->node().SetSelfEndpoint(net.hosts[2]->ep);
  net.Run(100);
  // A LINK_CLOSE: node 6 leaves gracefully.
  net.hosts[5]->host->Stop();
  net.Run(100);
  net.down[net.hosts[5].get()] = true;
  for (uint8_t t = 0x20; t <= 0x25; ++t)
    ASSERT_TRUE(recorded.count(t)) << "no message of type " << int(t);

  const Endpoint attacker = Ep4(0xc6336401, 4444);
  for (const auto& [type, r] : recorded) {
    if (net.down.count(r.to)) continue;  // went to the node that left
    OverlayHost& to = *r.to->host;
    const overlay::LinkTable before = to.node().links();
    const uint64_t received = to.node().counters().received;
    const OverlayHostCounters c0 = to.counters();
    to.OnControlDatagram(r.from->ep, r.bytes);  // as if from the sender
    to.OnControlDatagram(attacker, r.bytes);    // from elsewhere
    const OverlayHostCounters& c = to.counters();
    EXPECT_EQ(c.replayed + c.too_old, c0.replayed + c0.too_old + 2) << "type " << int(type);
    EXPECT_EQ(to.node().counters().received, received) << "type " << int(type);
    ASSERT_EQ(to.node().links().size(), before.size()) << "type " << int(type);
    for (const overlay::Link& l : before.links()) {
      const overlay::Link* now = to.node().links().Find(l.address);
      ASSERT_NE(now, nullptr) << "type " << int(type);
      EXPECT_TRUE(now->endpoint == l.endpoint) << "type " << int(type);
    }
    // Shown to a node it was not made for: refused as such (a LINK_REQUEST carries its own
    // receiver check inside the overlay and is refused there or as a replay).
    for (auto& other : net.hosts) {
      if (other.get() == r.to || other.get() == r.from || net.down.count(other.get())) continue;
      const OverlayHostCounters o0 = other->host->counters();
      const uint64_t o_received = other->host->node().counters().received;
      const size_t o_links = other->host->node().links().size();
      other->host->OnControlDatagram(r.from->ep, r.bytes);
      const OverlayHostCounters& o = other->host->counters();
      if (type == uint8_t(overlay::MsgType::kLinkRequest)) {
        EXPECT_EQ(other->host->node().links().size(), o_links);
      } else {
        EXPECT_EQ(o.wrong_receiver, o0.wrong_receiver + 1) << "type " << int(type);
        EXPECT_EQ(other->host->node().counters().received, o_received) << "type " << int(type);
      }
      break;
    }
  }
}

// A LINK_REQUEST to a bootstrap entry names no receiver, so a copy can be shown to any node while
// still fresh. It must not move an existing link: only a message bound to us does.
TEST(OverlayHost, AnUnboundLinkRequestNeverMovesALink) {
  Net net;
  Host& a = net.Add(1, {});
  Host& b = net.Add(2, {1});
  net.Run(5'000);
  const overlay::RingAddress b_addr = b.host->node().address();
  const overlay::Link* l = a.host->node().links().Find(b_addr);
  ASSERT_NE(l, nullptr);
  const Endpoint attacker = Ep4(0xc6336401, 4444);
  uint8_t buf[overlay::kMaxOverlayDatagram];
  const size_t n = overlay::EncodeLinkRequest(
      b_addr, {overlay::LinkKind::kLeaf, 12345, overlay::RingAddress()}, buf);
  a.host->node().OnDatagram(attacker, {buf, n}, /*bound=*/false);
  EXPECT_TRUE(a.host->node().links().Find(b_addr)->endpoint == b.ep);
  a.host->node().OnDatagram(attacker, {buf, n}, /*bound=*/true);  // what a bound one would do
  EXPECT_TRUE(a.host->node().links().Find(b_addr)->endpoint == attacker);
}

TEST(OverlayHost, StampsBeforeOurStartOrFarAheadAreRefused) {
  Net net;
  Host& a = net.Add(1, {});
  Host& b = net.Add(2, {1});
  std::vector<std::vector<uint8_t>> from_b;
  net.capture = [&](Host& from, Host&, const std::vector<uint8_t>& bytes) {
    if (&from == &b) from_b.push_back(bytes);
  };
  net.Run(5'000);
  ASSERT_FALSE(from_b.empty());
  // A restarted node 1 (same address, new process) is shown what b sent to its predecessor
  // more than the start skew ago: too old, whatever it holds.
  net.clock.AdvanceMs(ReplayGuard::kStartSkewNs / 1'000'000 + 1000);
  OverlayHostOptions o;
  const std::string id = "node1";
  o.address =
      overlay::RingAddress::FromIdentity({reinterpret_cast<const uint8_t*>(id.data()), id.size()});
  o.listen = a.ep;
  o.network = "unit";
  FakePort port;
  FakeRandom random(99);
  OverlayHost restarted(o, net.clock, random, port, *a.auth);
  restarted.Start();
  for (const auto& d : from_b) restarted.OnControlDatagram(b.ep, d);
  EXPECT_EQ(restarted.counters().too_old, from_b.size());
  EXPECT_EQ(restarted.node().counters().received, 0u);
  EXPECT_EQ(restarted.node().links().size(), 0u);
}

// Before the hash covered all of the key, every IPv4 source (16 address bytes starting with 10
// zero bytes) landed in one bucket of the per-source table: each datagram's lookup walked all.
TEST(OverlayHost, ManyIpv4SourcesDoNotShareOneBucketOfTheRateLimiter) {
  DhtRateLimiter limiter(OverlayHostOptions{}.source_limit);
  constexpr uint32_t kSources = 4000;
  for (uint32_t i = 0; i < kSources; ++i)
    ASSERT_TRUE(limiter.Allow(RateKeyOf(Ep4(0xac1f0000 + i, 5800)), 1));
  ASSERT_EQ(limiter.sources(), kSources);
  EXPECT_LE(limiter.LongestChain(), 12u);  // about 1 per bucket on average
  // Ports of one address spread as well.
  DhtRateLimiter ports(OverlayHostOptions{}.source_limit);
  for (uint32_t i = 0; i < kSources; ++i)
    ports.Allow(RateKeyOf(Ep4(0xac1f0001, uint16_t(1024 + i))), 1);
  EXPECT_LE(ports.LongestChain(), 12u);
}

TEST(OverlayHost, RoutedHelloReachesTheNamedNode) {
  Net net;
  net.Add(1, {});
  for (uint32_t i = 2; i <= 6; ++i) net.Add(i, {1});
  net.Run(20'000);
  std::vector<uint8_t> got;
  overlay::RingAddress from;
  net.hosts[4]->host->SetHelloHandler(
      [&](const overlay::RingAddress& src, const Endpoint&, std::span<const uint8_t> hello) {
        from = src;
        got.assign(hello.begin(), hello.end());
      });
  const std::vector<uint8_t> hello = {1, 2, 3, 4, 5};
  ASSERT_TRUE(net.hosts[0]->host->SendHello(net.hosts[4]->host->node().address(), hello));
  net.Run(200);
  EXPECT_EQ(got, hello);
  EXPECT_EQ(from, net.hosts[0]->host->node().address());
}

TEST(OverlayHost, RoutedHellosReachEveryNodeOfARing) {
  Net net;
  net.Add(1, {});
  net.Add(2, {1});
  for (uint32_t i = 3; i <= 12; ++i) net.Add(i, {1, 2});
  net.Run(30'000);
  std::map<size_t, size_t> got;
  for (size_t i = 0; i < net.hosts.size(); ++i)
    net.hosts[i]->host->SetHelloHandler([&got, i](const overlay::RingAddress&, const Endpoint&,
                                                  std::span<const uint8_t>) { ++got[i]; });
  const std::vector<uint8_t> hello(128, 0x5a);
  for (int round = 0; round < 5; ++round) {
    for (size_t i = 0; i < net.hosts.size(); ++i)
      for (size_t j = 0; j < net.hosts.size(); ++j)
        if (i != j) net.hosts[i]->host->SendHello(net.hosts[j]->host->node().address(), hello);
    net.Run(1'000);
  }
  for (size_t j = 0; j < net.hosts.size(); ++j)
    EXPECT_EQ(got[j], 5 * (net.hosts.size() - 1)) << "node " << j;
}

TEST(OverlayHost, EveryMemberIsListedAndAnswersEchoesThroughTheOverlay) {
  Net net;
  net.Add(1, {});
  for (uint32_t i = 2; i <= 6; ++i) net.Add(i, {1});
  net.Run(30'000);
  std::optional<std::vector<MemberEntry>> members;
  bool complete = false;
  net.hosts[3]->host->Members([&](const std::vector<MemberEntry>& m, bool c) {
    members = m;
    complete = c;
  });
  net.Run(3'000);
  ASSERT_TRUE(members.has_value());
  EXPECT_TRUE(complete);
  ASSERT_EQ(members->size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_EQ((*members)[i].vip, 0x0a4d0001u + i);
    EXPECT_EQ((*members)[i].node, net.hosts[i]->host->node().address());
    EXPECT_EQ((*members)[i].name, "node" + std::to_string(i + 1));
  }
  std::map<size_t, EchoSeries> got;
  for (size_t i = 1; i < 6; ++i)
    ASSERT_TRUE(net.hosts[0]->host->echo().StartSeries(
        (*members)[i].node, (*members)[i].vip, 2, 100'000'000ull,
        [&got, i](const EchoSeries& s) { got[i] = s; }));
  net.Run(1'000);
  ASSERT_EQ(got.size(), 5u);
  for (auto& [i, s] : got) {
    for (const EchoResult& p : s.probes) {
      EXPECT_TRUE(p.answered) << "member " << i;
      EXPECT_EQ(p.vip, (*members)[i].vip);
      EXPECT_EQ(p.name, (*members)[i].name);
      EXPECT_GE(p.hops_there, 1);
    }
  }
}

TEST(OverlayHost, ANodeIsListedOnceUnderItsFreshestEntry) {
  Net net;
  net.Add(1, {});
  for (uint32_t i = 2; i <= 4; ++i) net.Add(i, {1});
  net.Run(25'000);
  // Entries of node 2 under addresses it no longer holds, with less TTL left than its own, in
  // buckets read before and after its own: whatever order the answers come in, the fresh one wins.
  const overlay::RingAddress node2 = net.hosts[1]->host->node().address();
  int put = 0;
  for (uint32_t k = 0; k < kMemberBuckets; ++k) {
    if (k == 2) continue;
    const MemberEntry stale{0x0a4d0100 + k, node2, "node2"};
    net.hosts[2]->host->dht().Put(MembersKey("unit", k), EncodeMember(stale), 10'000,
                                  [&](const DhtResult& r) { put += r.outcome == DhtOutcome::kOk; });
  }
  net.Run(3'000);
  ASSERT_EQ(put, int(kMemberBuckets) - 1);
  std::vector<MemberEntry> members;
  net.hosts[0]->host->Members([&](const std::vector<MemberEntry>& m, bool) { members = m; });
  net.Run(3'000);
  ASSERT_EQ(members.size(), 4u);
  EXPECT_EQ(members[1].vip, 0x0a4d0002u);
  EXPECT_EQ(members[1].node, node2);
}

TEST(OverlayHost, AReplayedEchoRequestGetsNoSecondReply) {
  Net net;
  Host& a = net.Add(1, {});
  Host& b = net.Add(2, {1});
  net.Run(10'000);
  std::vector<uint8_t> request;
  net.capture = [&](Host& from, Host&, const std::vector<uint8_t>& bytes) {
    if (&from == &a && request.empty() && bytes.size() > wire::kHeaderSize + 98 &&
        bytes[wire::kHeaderSize] == uint8_t(overlay::MsgType::kRouted))
      request = bytes;
  };
  bool answered = false;
  a.host->echo().StartSeries(b.host->node().address(), b.host->vip(), 1, 0,
                             [&](const EchoSeries& s) { answered = s.probes[0].answered; });
  net.Run(200);
  net.capture = nullptr;
  ASSERT_TRUE(answered);
  ASSERT_FALSE(request.empty());
  EXPECT_EQ(b.host->echo().counters().replies_sent, 1u);
  const uint64_t replayed = b.host->counters().replayed;
  b.host->OnControlDatagram(a.ep, request);
  EXPECT_EQ(b.host->counters().replayed, replayed + 1);
  // Tampered (another probe id): the tag no longer matches.
  std::vector<uint8_t> forged = request;
  forged[wire::kHeaderSize + 98 + 8] ^= 1;
  const uint64_t bad_tag = b.host->counters().bad_tag;
  b.host->OnControlDatagram(a.ep, forged);
  EXPECT_EQ(b.host->counters().bad_tag, bad_tag + 1);
  net.Run(100);
  EXPECT_EQ(b.host->echo().counters().requests_received, 1u);
  EXPECT_EQ(b.host->echo().counters().replies_sent, 1u);
}

TEST(OverlayHost, TableViewFollowsTheLinks) {
  Net net;
  net.Add(1, {});
  for (uint32_t i = 2; i <= 4; ++i) net.Add(i, {1});
  net.Run(15'000);
  OverlayHost& h = *net.hosts[0]->host;
  shm::TableSpec spec;
  h.FillTable(&spec);
  std::array<uint8_t, 20> self{};
  h.node().address().ToBytes(self);
  EXPECT_EQ(spec.self_ring, self);
  size_t structured = 0;
  for (const overlay::Link& l : h.node().links().links()) structured += l.structured();
  ASSERT_EQ(structured, 3u) << "linked to the three others";  // else the checks below are empty
  EXPECT_EQ(spec.links.size(), structured);
  for (const shm::LinkEntry& e : spec.links) {
    EXPECT_EQ(e.flags, shm::kLinkValid);
    const auto a = overlay::RingAddress::FromBytes(std::span<const uint8_t, 20>(e.ring, 20));
    EXPECT_TRUE(h.HasLink(a));
  }
  // A new link changes the version the process publishes on.
  const uint64_t v = h.table_version();
  net.Add(5, {1});
  net.Run(15'000);
  EXPECT_NE(h.table_version(), v);
}

TEST(OverlayHost, AnnouncedSubnetsReachEveryOtherMember) {
  Net net;
  net.Add(1, {});
  for (uint32_t i = 2; i <= 5; ++i) net.Add(i, {1});
  std::vector<std::vector<AnnouncedRoute>> seen(net.hosts.size());
  for (size_t i = 0; i < net.hosts.size(); ++i)
    net.hosts[i]->host->SetRoutesHandler(
        [&seen, i](const std::vector<AnnouncedRoute>& r) { seen[i] = r; });
  net.Run(15'000);
  // Host 3 (VIP 10.77.0.3) writes the record AnnounceRoutes writes for `announce` options.
  const AnnouncedRoute route{0xc0a84d00, 24, 0x0a4d0003};
  const std::vector<uint8_t> rec = EncodeRoute(route);
  bool ok = false;
  net.hosts[2]->host->dht().Put(RoutesKey("unit"), rec, 60'000,
                                [&](const DhtResult& r) { ok = r.outcome == DhtOutcome::kOk; });
  net.Run(20'000);
  ASSERT_TRUE(ok);
  for (size_t i = 0; i < net.hosts.size(); ++i) {
    if (i == 2) {
      EXPECT_TRUE(seen[i].empty()) << "a gateway does not route its own subnet to itself";
    } else {
      ASSERT_EQ(seen[i].size(), 1u) << i;
      EXPECT_EQ(seen[i][0], route);
    }
  }
  EXPECT_FALSE(DecodeRoute(std::span<const uint8_t>(rec).first(8)).has_value());
  std::vector<uint8_t> bad = rec;
  bad[4] = 33;
  EXPECT_FALSE(DecodeRoute(bad).has_value());
}

// Lookup of `name` from `from` after `ms` of simulated time: the VIP, or nullopt for a miss.
std::optional<uint32_t> LookupName(Net& net, Host& from, const std::string& name,
                                   uint64_t ms = 3'000) {
  std::optional<uint32_t> got;
  bool called = false;
  from.host->Lookup(name, [&](std::optional<uint32_t> v) {
    got = v;
    called = true;
  });
  net.Run(ms);
  EXPECT_TRUE(called) << name;
  return got;
}

void NameEveryNode(OverlayHostOptions& o) {
  o.dns_name = o.claim.network + "-" + std::to_string(o.vip & 0xff) + ".unit.ipop";
}

// A clean stop takes the node's name out of the DHT: another node's lookup misses at once instead
// of finding the old address until the record's TTL (90 s) runs out.
TEST(OverlayHost, NameIsRemovedOnACleanStop) {
  Net net;
  net.Add(1, {}, 7, NameEveryNode);
  for (uint32_t i = 2; i <= 5; ++i) net.Add(i, {1}, 7, NameEveryNode);
  net.Run(20'000);
  Host& leaving = *net.hosts[2];
  ASSERT_GE(leaving.host->counters().names_published, 1u);
  EXPECT_EQ(LookupName(net, *net.hosts[4], "unit-3.unit.ipop"), 0x0a4d0003u);
  bool released = false;
  leaving.host->ReleaseName([&] { released = true; });
  net.Run(3'000);
  ASSERT_TRUE(released);
  EXPECT_EQ(leaving.host->counters().names_released, 1u);
  leaving.host->Stop();
  net.Run(100);
  net.down[&leaving] = true;
  for (size_t i : {0u, 1u, 3u, 4u})
    EXPECT_EQ(LookupName(net, *net.hosts[i], "unit-3.unit.ipop"), std::nullopt) << i;
  // The other names are untouched.
  EXPECT_EQ(LookupName(net, *net.hosts[0], "unit-5.unit.ipop"), 0x0a4d0005u);
}

// A release that comes while a write of the name is in flight (a renewal, every
// directory_refresh_ns) waits for its answer, then removes the record: the late write must not
// bring it back for a whole TTL.
TEST(OverlayHost, NameWrittenWhileReleasingIsRemovedToo) {
  Net net;
  auto named = [](OverlayHostOptions& o) {
    NameEveryNode(o);
    o.directory_refresh_ns = 2'000'000'000ull;
  };
  net.Add(1, {}, 7, named);
  for (uint32_t i = 2; i <= 5; ++i) net.Add(i, {1}, 7, named);
  net.Run(20'000);
  Host& leaving = *net.hosts[4];
  ASSERT_GE(leaving.host->counters().names_published, 1u);
  for (int i = 0; i < 500 && !leaving.host->name_write_in_flight(); ++i) net.Run(20);
  ASSERT_TRUE(leaving.host->name_write_in_flight());
  // Its first attempt is lost: the write lands on its retry, after anything sent from now on.
  leaving.port.sent.clear();
  bool released = false;
  leaving.host->ReleaseName([&] { released = true; });
  EXPECT_FALSE(released) << "waits for the write in flight";
  net.Run(10'000);
  ASSERT_TRUE(released);
  EXPECT_EQ(leaving.host->counters().names_released, 1u);
  net.Run(5'000);  // past two refresh periods: nothing writes it again
  EXPECT_EQ(LookupName(net, *net.hosts[0], "unit-5.unit.ipop"), std::nullopt);
}

// A host that ARPs for every address of a huge subnet: each unknown address asks Resolve. New
// directory lookups are limited to the token bucket (burst, then resolve_per_second), the rest
// are refused at once and counted, and every caller hears back exactly once.
TEST(OverlayHost, DirectoryLookupsOfAScanAreThrottled) {
  Net net;
  net.Add(1, {});
  for (uint32_t i = 2; i <= 4; ++i) net.Add(i, {1});
  net.Run(15'000);
  OverlayHost& h = *net.hosts[1]->host;
  const OverlayHostOptions defaults;
  const uint64_t dht_ops = h.dht().counters().ops_started;
  size_t answered = 0;
  const uint32_t scan = 10'000;
  for (uint32_t k = 0; k < scan; ++k)
    h.Resolve(0x0b000000 + k, [&](uint32_t, const std::optional<VipLocation>&) { ++answered; });
  EXPECT_EQ(h.counters().resolves, defaults.resolve_burst);
  EXPECT_EQ(h.counters().resolve_throttled, scan - defaults.resolve_burst);
  EXPECT_LE(h.dht().counters().ops_started - dht_ops, defaults.resolve_burst);
  EXPECT_EQ(answered, scan - defaults.resolve_burst) << "refused callers hear back at once";
  // A second later the scan goes on: a second's worth of new lookups, not more.
  net.Run(1'000);
  const uint64_t before = h.counters().resolves;
  for (uint32_t k = 0; k < scan; ++k)
    h.Resolve(0x0c000000 + k, [&](uint32_t, const std::optional<VipLocation>&) { ++answered; });
  EXPECT_GE(h.counters().resolves - before, defaults.resolve_per_second - 1);
  EXPECT_LE(h.counters().resolves - before, defaults.resolve_per_second + 1);
  net.Run(30'000);  // every lookup answered (a miss)
  EXPECT_EQ(answered, 2 * scan);
  EXPECT_EQ(h.resolves_in_flight(), 0u);
}

// With a generous rate, the number of lookups in flight and of callers waiting on one lookup are
// still bounded.
TEST(OverlayHost, LookupsInFlightAndTheirWaitersAreBounded) {
  Net net;
  net.Add(1, {});
  net.Add(2, {1}, 7, [](OverlayHostOptions& o) {
    o.resolve_per_second = 1'000'000;
    o.resolve_burst = 1'000'000;
  });
  net.Run(10'000);
  OverlayHost& h = *net.hosts[1]->host;
  const OverlayHostOptions defaults;
  for (uint32_t k = 0; k < 5'000; ++k)
    h.Resolve(0x0b000000 + k, [](uint32_t, const std::optional<VipLocation>&) {});
  EXPECT_EQ(h.resolves_in_flight(), defaults.resolve_in_flight);
  EXPECT_EQ(h.counters().resolve_throttled, 5'000 - defaults.resolve_in_flight);
  net.Run(30'000);
  // One VIP asked for again and again while its lookup runs.
  const uint64_t throttled = h.counters().resolve_throttled;
  size_t now = 0, later = 0;
  bool in_call = true;
  for (int k = 0; k < 100; ++k)
    h.Resolve(0x0d000001,
              [&](uint32_t, const std::optional<VipLocation>&) { ++(in_call ? now : later); });
  in_call = false;
  EXPECT_EQ(h.resolves_in_flight(), 1u);
  EXPECT_EQ(h.counters().resolve_throttled - throttled, 100 - defaults.resolve_waiters);
  net.Run(30'000);
  EXPECT_EQ(now, 100 - defaults.resolve_waiters);
  EXPECT_EQ(later, defaults.resolve_waiters);
}

// The answer cache holds at most resolve_cache_max VIPs: expired answers are dropped first, then
// the live ones that expire soonest (misses), so a scan cannot push out a peer's location.
TEST(OverlayHost, ResolvedCacheIsBounded) {
  Net net;
  net.Add(1, {});
  for (uint32_t i = 2; i <= 4; ++i)
    net.Add(i, {1}, 7, [](OverlayHostOptions& o) {
      o.resolve_cache_max = 16;
      o.resolve_negative_ns = 5'000'000'000ull;  // no miss expires while the scan runs
      o.resolve_per_second = 1'000'000;
      o.resolve_burst = 1'000'000;
    });
  net.Run(15'000);
  OverlayHost& h = *net.hosts[1]->host;
  std::optional<VipLocation> peer;
  h.Resolve(0x0a4d0004, [&](uint32_t, const std::optional<VipLocation>& w) { peer = w; });
  net.Run(3'000);
  ASSERT_TRUE(peer.has_value());
  for (uint32_t k = 0; k < 100; ++k)
    h.Resolve(0x0b000000 + k, [](uint32_t, const std::optional<VipLocation>&) {});
  net.Run(3'000);
  EXPECT_LE(h.resolve_cache_size(), 16u);
  EXPECT_GE(h.counters().resolve_cache_evicted, 100u - 15u);
  // The peer's location survived the scan: answered from the cache, no new DHT lookup.
  const uint64_t resolves = h.counters().resolves, hits = h.counters().resolve_hits;
  bool found = false;
  h.Resolve(0x0a4d0004,
            [&](uint32_t, const std::optional<VipLocation>& w) { found = w.has_value(); });
  EXPECT_TRUE(found);
  EXPECT_EQ(h.counters().resolves, resolves);
  EXPECT_EQ(h.counters().resolve_hits, hits + 1);
  // Once the misses expired (5 s), new answers take their places without evicting a live one.
  net.Run(6'000);
  const uint64_t evicted = h.counters().resolve_cache_evicted;
  for (uint32_t k = 0; k < 10; ++k)
    h.Resolve(0x0c000000 + k, [](uint32_t, const std::optional<VipLocation>&) {});
  net.Run(3'000);
  EXPECT_EQ(h.counters().resolve_cache_evicted, evicted);
  EXPECT_LE(h.resolve_cache_size(), 16u);
}

TEST(OverlayHost, MemberRecordRoundTripsAndRejectsGarbage) {
  MemberEntry m;
  m.vip = 0x0a4d0007;
  m.node = overlay::RingAddress::FromHex(std::string(40, 'a')).value();
  m.name = "n7";
  const std::vector<uint8_t> v = EncodeMember(m);
  ASSERT_EQ(v.size(), 4u + 20u + 2u);
  EXPECT_EQ(DecodeMember(v), m);
  std::vector<uint8_t> bad = v;
  bad.back() = ' ';
  EXPECT_FALSE(DecodeMember(bad).has_value());
  EXPECT_FALSE(DecodeMember(std::span(v).first(23)).has_value());
  bad = v;
  std::fill(bad.begin(), bad.begin() + 4, 0);
  EXPECT_FALSE(DecodeMember(bad).has_value()) << "no VIP";
  bad = v;
  bad.resize(4 + 20 + kEchoMaxName + 1, 'x');
  EXPECT_FALSE(DecodeMember(bad).has_value()) << "name too long";
  EXPECT_NE(MembersKey("lab", 0), MembersKey("lab", 1));
  EXPECT_NE(MembersKey("lab", 0), MembersKey("lab2", 0));
}

TEST(OverlayHost, DirectoryRecordRoundTripsAndRejectsGarbage) {
  VipLocation w{overlay::RingAddress::FromHex("0123456789abcdef0123456789abcdef01234567").value(),
                Ep4(0xac1f0001, 5800)};
  const auto bytes = EncodeVipLocation(w);
  const auto back = DecodeVipLocation(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->node, w.node);
  EXPECT_EQ(back->endpoint.ToString(), "172.31.0.1:5800");
  EXPECT_FALSE(DecodeVipLocation(std::span<const uint8_t>(bytes).first(10)).has_value());
  std::vector<uint8_t> zero(bytes.size(), 0);
  EXPECT_FALSE(DecodeVipLocation(zero).has_value());
  EXPECT_NE(VipDirectoryKey("a", 1), VipDirectoryKey("b", 1));
  EXPECT_NE(VipDirectoryKey("a", 1), OperatorKey("a", "1"));
}

}  // namespace
}  // namespace ipop::cp

namespace ipop::cp {
namespace {

// Nodes without node.vip: addresses come from a pool through the DHT.
void UsePool(OverlayHostOptions& o, uint32_t first, uint32_t last, uint32_t lease_ms = 60'000) {
  o.vip = 0;
  o.claim.fixed = 0;
  o.claim.pool_first = first;
  o.claim.pool_last = last;
  o.claim.lease_ms = lease_ms;
  o.claim.refresh_ns = uint64_t{lease_ms} * 1'000'000ull / 3;
  o.claim.identity = "host";  // the same first candidate for everyone: every claim races
}

TEST(AddressAllocation, NodesGetDistinctAddressesFromASmallPool) {
  Net net;
  const uint32_t first = 0x0a4d0101, last = 0x0a4d0106;  // six addresses, six nodes
  auto pool = [&](OverlayHostOptions& o) { UsePool(o, first, last); };
  net.Add(1, {}, 7, pool);
  for (uint32_t i = 2; i <= 6; ++i) net.Add(i, {1}, 7, pool);
  net.Run(30'000);
  std::set<uint32_t> seen;
  for (auto& h : net.hosts) {
    const uint32_t vip = h->host->vip();
    EXPECT_GE(vip, first);
    EXPECT_LE(vip, last);
    EXPECT_TRUE(h->host->claim()->held());
    EXPECT_TRUE(seen.insert(vip).second) << "address handed out twice";
  }
  EXPECT_EQ(seen.size(), 6u);

  // A seventh node finds the pool full and keeps trying; when a node releases its address on
  // shutdown, the seventh gets exactly that one.
  Host& late = net.Add(7, {1}, 7, pool);
  net.Run(20'000);
  EXPECT_EQ(late.host->vip(), 0u);
  EXPECT_GE(late.host->claim()->counters().exhausted, 1u);
  const uint32_t freed = net.hosts[2]->host->vip();
  bool released = false;
  net.hosts[2]->host->ReleaseAddress([&] { released = true; });
  net.Run(3'000);
  ASSERT_TRUE(released);
  EXPECT_EQ(net.hosts[2]->host->claim()->counters().released, 1u);
  net.hosts[2]->host->Stop();  // graceful leave, as the process does after releasing
  net.Run(100);
  net.down[net.hosts[2].get()] = true;
  net.Run(20'000);
  EXPECT_EQ(late.host->vip(), freed);
}

TEST(AddressAllocation, DeadNodesAddressIsReusedAfterItsLease) {
  Net net;
  const uint32_t first = 0x0a4d0201, last = 0x0a4d0205;
  auto pool = [&](OverlayHostOptions& o) { UsePool(o, first, last, 20'000); };
  net.Add(1, {}, 7, pool);
  for (uint32_t i = 2; i <= 5; ++i) net.Add(i, {1}, 7, pool);
  net.Run(30'000);
  for (auto& h : net.hosts) ASSERT_NE(h->host->vip(), 0u);
  // Node 4 crashes: no release. Its address stays taken while the record lives.
  const uint32_t dead = net.hosts[3]->host->vip();
  net.down[net.hosts[3].get()] = true;
  Host& late = net.Add(6, {1}, 7, pool);
  net.Run(5'000);
  EXPECT_EQ(late.host->vip(), 0u) << "took an address whose lease is still running";
  net.Run(40'000);  // lease (20 s) ran out; the pool retry (5 s) finds it
  EXPECT_EQ(late.host->vip(), dead);
  for (auto& h : net.hosts) {
    if (!net.down.count(h.get()) && h.get() != &late) {
      EXPECT_NE(h->host->vip(), dead);
    }
  }
}

TEST(AddressAllocation, RestartedNodeGetsItsPreviousAddressBack) {
  Net net;
  const uint32_t first = 0x0a4d0301, last = 0x0a4d03fe;
  auto pool = [&](OverlayHostOptions& o) {
    UsePool(o, first, last, 600'000);
    o.claim.identity = "node-" + o.address.ToHex();  // spread like real nodes
  };
  net.Add(1, {}, 7, pool);
  for (uint32_t i = 2; i <= 5; ++i) net.Add(i, {1}, 7, pool);
  net.Run(30'000);
  const uint32_t before = net.hosts[4]->host->vip();
  ASSERT_NE(before, 0u);
  // Crash and come back at once with the same identity (overlay address): its own live record is
  // renewed, so it gets the same address without waiting for the lease.
  net.down[net.hosts[4].get()] = true;
  Host& again = net.Add(5, {1}, 7, pool);
  net.Run(20'000);
  EXPECT_EQ(again.host->vip(), before);
  EXPECT_EQ(again.host->claim()->counters().conflicts, 0u);
}

TEST(AddressAllocation, StaticAddressHeldByAnotherNodeIsNotUsed) {
  Net net;
  net.Add(1, {});
  for (uint32_t i = 2; i <= 4; ++i) net.Add(i, {1});
  net.Run(20'000);
  // Node 5 is configured with node 2's address.
  Host& dup = net.Add(5, {1}, 7, [](OverlayHostOptions& o) {
    o.vip = 0x0a4d0002;
    o.claim.fixed = o.vip;
  });
  std::vector<uint32_t> changes;
  dup.host->SetAddressHandler([&](uint32_t vip) { changes.push_back(vip); });
  EXPECT_EQ(dup.host->vip(), 0x0a4d0002u);  // in use from the start...
  net.Run(20'000);
  EXPECT_EQ(dup.host->vip(), 0u);  // ...withdrawn once the DHT says it is node 2's
  EXPECT_EQ(changes, std::vector<uint32_t>{0});
  EXPECT_GE(dup.host->claim()->counters().conflicts, 1u);
  EXPECT_EQ(net.hosts[1]->host->vip(), 0x0a4d0002u);
  EXPECT_TRUE(net.hosts[1]->host->claim()->held());
}

}  // namespace
}  // namespace ipop::cp
