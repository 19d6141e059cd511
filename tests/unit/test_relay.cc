// Relaying DATA through the dataplane (dataplane/relay.h), with real stages and real table
// generations published into three shared regions. On the ring A (0x10..) < B (0x50..) <
// C (0x80..); A and C have no direct path and reach each other through B, which forwards the
// sealed datagrams without a session for them. Then each forwarding rule of a relay is checked on
// hand-built RELAY datagrams: the hop count, the hop limit, no route, and a malformed inner part.
#include <algorithm>
#include <array>
#include <cstring>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/inbound.h"
#include "dataplane/outbound.h"
#include "dataplane/packet.h"
#include "dataplane/relay.h"
#include "dataplane/source_limiter.h"
#include "shared/ether.h"
#include "shared/table.h"
#include "shared/wire.h"
#include "tests/unit/dp_test_nodes.h"

namespace ipop::dp {
namespace {

using namespace ::ipop::dp::test_nodes;
using Ring = std::array<uint8_t, shm::kRingBytes>;

Ring RingAt(uint8_t top, uint8_t last = 0) {
  Ring r{};
  r[0] = top;
  r[19] = last;
  return r;
}

const Ring kRingA = RingAt(0x10);
const Ring kRingB = RingAt(0x50);
const Ring kRingC = RingAt(0x80);

constexpr uint32_t kVipA = Ip(10, 0, 0, 1);
constexpr uint32_t kVipB = Ip(10, 0, 0, 2);
constexpr uint32_t kVipC = Ip(10, 0, 0, 3);
constexpr uint32_t kMtu = 1400;
constexpr uint32_t kIndexAtC = 11;  // receiver index C assigned to A's packets
constexpr uint32_t kIndexAtA = 12;  // ... A assigned to C's
constexpr uint32_t kIndexAtB = 13;  // ... B assigned to A's (direct)
constexpr uint64_t kInstanceA = 0xa;
constexpr uint64_t kInstanceB = 0xb;
constexpr uint64_t kInstanceC = 0xc;

constexpr uint8_t kTapMac[6] = {0x02, 0, 0, 0, 0, 0x01};
constexpr uint8_t kGwMac[6] = {0x02, 0, 0, 0, 0xff, 0x01};

const Key kKeyAC = MakeKey(0x21);
const Key kKeyCA = MakeKey(0x42);
const Key kKeyAB = MakeKey(0x63);

// A link to the node with ring `ring`, underlay 127.0.0.<octet>:5900 + octet.
shm::LinkEntry Link(const Ring& ring, uint8_t octet, uint16_t flags = shm::kLinkValid) {
  shm::LinkEntry l{};
  std::memcpy(l.ring, ring.data(), ring.size());
  l.underlay_addr[10] = 0xff;
  l.underlay_addr[11] = 0xff;
  l.underlay_addr[12] = 127;
  l.underlay_addr[15] = octet;
  l.underlay_port = uint16_t(5900 + octet);
  l.flags = flags;
  return l;
}

shm::PeerEntry RelayedPeer(uint32_t vip, uint32_t remote_index, uint64_t key_id, const Key& key,
                           uint64_t instance, const Ring& ring) {
  shm::PeerEntry p = Peer(vip, kReady | shm::kPeerRelayed, remote_index, key_id, key, instance);
  std::memcpy(p.relay_dst, ring.data(), ring.size());
  return p;
}

shm::TableSpec BaseSpec(uint32_t vip, const Ring& self) {
  shm::TableSpec s = NodeSpec(vip, kMtu, kGwMac);
  s.self_ring = self;
  return s;
}

// A: C relayed (peer 0), B direct (peer 1); one link, to B.
shm::TableSpec SpecA() {
  shm::TableSpec s = BaseSpec(kVipA, kRingA);
  s.peers = {RelayedPeer(kVipC, kIndexAtC, 1, kKeyAC, kInstanceA, kRingC),
             Peer(kVipB, kReady, kIndexAtB, 2, kKeyAB, kInstanceA)};
  s.sessions = {Session(kIndexAtA, 0, 3, kKeyCA)};
  s.routes = {{kVipC, 32, 0}, {kVipB, 32, 1}};
  s.links = {Link(kRingB, 2)};
  return s;
}

// B: A direct; links to A (0) and C (1); no session for anything between A and C.
shm::TableSpec SpecB() {
  shm::TableSpec s = BaseSpec(kVipB, kRingB);
  s.peers = {Peer(kVipA, kReady, 99, 4, kKeyCA, kInstanceB)};
  s.sessions = {Session(kIndexAtB, 0, 2, kKeyAB)};
  s.routes = {{kVipA, 32, 0}};
  s.links = {Link(kRingA, 1), Link(kRingC, 3)};
  return s;
}

// C: A relayed (peer 0); one link, to B.
shm::TableSpec SpecC() {
  shm::TableSpec s = BaseSpec(kVipC, kRingC);
  s.peers = {RelayedPeer(kVipA, kIndexAtA, 3, kKeyCA, kInstanceC, kRingA)};
  s.sessions = {Session(kIndexAtC, 0, 1, kKeyAC)};
  s.routes = {{kVipA, 32, 0}};
  s.links = {Link(kRingB, 2)};
  return s;
}

Bytes Frame(const Bytes& ip) {
  Bytes f(ether::kHeaderSize + ip.size());
  ether::WriteEthernetHeader(f.data(), kGwMac, kTapMac, ether::kTypeIpv4);
  std::copy(ip.begin(), ip.end(), f.begin() + ether::kHeaderSize);
  return f;
}

// What a stage chain did with one packet.
struct Out {
  Verdict verdict;
  uint32_t link;
  Bytes bytes;  // data/len afterwards
};

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_.Publish(SpecA());
    b_.Publish(SpecB());
    c_.Publish(SpecC());
  }

  static std::vector<Out> Collect(PacketBuffers& bufs) {
    std::vector<Out> out;
    for (Packet* p : bufs.All())
      out.push_back({p->verdict, p->link, Bytes(p->data, p->data + p->len)});
    return out;
  }

  // The node's outbound chain on frames; one Out per frame, in order.
  std::vector<Out> Outbound(Node& n, uint64_t instance, const std::vector<Bytes>& frames) {
    PacketBuffers bufs;
    for (const Bytes& f : frames) bufs.Add(f);
    std::vector<Packet*> span = bufs.All();
    RunOutbound(span, OutboundContext{n.gen, kMtu, instance, &n.crypto, n.counters.get()});
    return Collect(bufs);
  }

  // The node's inbound chain on datagrams placed as the worker's UDP receive places them.
  std::vector<Out> Inbound(Node& n, const std::vector<Bytes>& datagrams) {
    PacketBuffers bufs;
    for (const Bytes& d : datagrams) bufs.Add(d, kIpOffset - 16);
    std::vector<Packet*> span = bufs.All();
    InboundContext ctx{n.gen, {}, &n.crypto, n.counters.get(), kMtu};
    std::memcpy(ctx.tap_mac, kTapMac, 6);
    RunInbound(span, ctx);
    return Collect(bufs);
  }

  static void ExpectNoDrops(const Node& n, const char* who) {
    for (uint32_t r = 0; r < kNumDropReasons; ++r)
      EXPECT_EQ(n.counters->drop[r].load(), 0u) << who << ": " << kDropReasonNames[r];
  }

  Node a_{"relayA"};
  Node b_{"relayB"};
  Node c_{"relayC"};
};

TEST_F(RelayTest, ThreeNodesRelayThroughTheMiddleBothWays) {
  const std::vector<Bytes> to_c = {Ipv4Packet(kVipA, kVipC, 0), Ipv4Packet(kVipA, kVipC, 300, 1),
                                   Ipv4Packet(kVipA, kVipC, kMtu - 20, 2)};
  const Bytes to_b = Ipv4Packet(kVipA, kVipB, 40, 3);
  std::vector<Bytes> frames;
  for (const Bytes& ip : to_c) frames.push_back(Frame(ip));
  frames.push_back(Frame(to_b));

  // A: C's packets leave wrapped, for link 0 (B); B's packet leaves plain for B's own endpoint.
  const std::vector<Out> sent = Outbound(a_, kInstanceA, frames);
  ASSERT_EQ(sent.size(), 4u);
  std::vector<Bytes> relayed;
  for (size_t i = 0; i < to_c.size(); ++i) {
    const Out& o = sent[i];
    ASSERT_EQ(o.verdict, Verdict::kForward);
    EXPECT_EQ(o.link, 0u);
    ASSERT_EQ(o.bytes.size(),
              wire::kRelayHeaderSize + wire::kHeaderSize + to_c[i].size() + wire::kTagSize);
    EXPECT_EQ(o.bytes[0], (wire::kVersion << 4) | 4);
    EXPECT_EQ(o.bytes[1], 0);  // flags
    EXPECT_EQ(o.bytes[2], 0);  // hops
    EXPECT_EQ(o.bytes[3], 0);  // reserved
    EXPECT_TRUE(std::equal(kRingC.begin(), kRingC.end(), o.bytes.begin() + 4));
    wire::PacketView inner;
    ASSERT_EQ(wire::Parse(std::span(o.bytes).subspan(wire::kRelayHeaderSize), inner),
              wire::ParseError::kNone);
    EXPECT_EQ(inner.type, wire::PacketType::kData);
    EXPECT_EQ(inner.receiver_index, kIndexAtC);
    EXPECT_EQ(inner.counter, i);
    relayed.push_back(o.bytes);
  }
  EXPECT_EQ(sent[3].verdict, Verdict::kForward);
  EXPECT_EQ(sent[3].link, shm::kNoLink);
  EXPECT_EQ(sent[3].bytes[0], (wire::kVersion << 4) | 1);
  EXPECT_EQ(a_.stat(Stat::relay_sent), 3u);
  EXPECT_EQ(a_.counters->peer[0].tx_packets.load(), 3u);  // relayed packets count for their peer

  // B: forwards to link 1 (C) with hops 1 and every other byte as it came; opens nothing. The
  // direct packet in the same burst is delivered.
  std::vector<Bytes> at_b = relayed;
  at_b.push_back(sent[3].bytes);
  const std::vector<Out> fwd = Inbound(b_, at_b);
  std::vector<Bytes> forwarded;
  for (size_t i = 0; i < relayed.size(); ++i) {
    ASSERT_EQ(fwd[i].verdict, Verdict::kRelay);
    EXPECT_EQ(fwd[i].link, 1u);
    Bytes expected = relayed[i];
    expected[2] = 1;
    EXPECT_EQ(fwd[i].bytes, expected);
    forwarded.push_back(fwd[i].bytes);
  }
  EXPECT_EQ(fwd[3].verdict, Verdict::kForward);
  EXPECT_EQ(b_.stat(Stat::relay_forwarded), 3u);
  EXPECT_EQ(b_.stat(Stat::relay_delivered), 0u);
  EXPECT_EQ(b_.counters->peer[0].rx_packets.load(), 1u);  // only the direct one

  // C: unwraps, opens and delivers A's inner packets.
  const std::vector<Out> got = Inbound(c_, forwarded);
  for (size_t i = 0; i < to_c.size(); ++i) {
    ASSERT_EQ(got[i].verdict, Verdict::kForward);
    ether::EthernetView eth;
    ASSERT_TRUE(ether::ParseEthernet(got[i].bytes, eth));
    EXPECT_EQ(Bytes(eth.payload.begin(), eth.payload.end()), to_c[i]);
  }
  EXPECT_EQ(c_.stat(Stat::relay_delivered), 3u);
  EXPECT_EQ(c_.counters->peer[0].rx_packets.load(), 3u);

  // The reply takes the same way back: C -> B (link 0 of C) -> A (link 0 of B).
  const Bytes reply = Ipv4Packet(kVipC, kVipA, 77, 4);
  const std::vector<Out> back = Outbound(c_, kInstanceC, {Frame(reply)});
  ASSERT_EQ(back[0].verdict, Verdict::kForward);
  EXPECT_EQ(back[0].link, 0u);
  const std::vector<Out> via_b = Inbound(b_, {back[0].bytes});
  ASSERT_EQ(via_b[0].verdict, Verdict::kRelay);
  EXPECT_EQ(via_b[0].link, 0u);
  const std::vector<Out> at_a = Inbound(a_, {via_b[0].bytes});
  ASSERT_EQ(at_a[0].verdict, Verdict::kForward);
  EXPECT_EQ(Bytes(at_a[0].bytes.begin() + ether::kHeaderSize, at_a[0].bytes.end()), reply);

  ExpectNoDrops(a_, "A");
  ExpectNoDrops(b_, "B");
  ExpectNoDrops(c_, "C");
}

TEST_F(RelayTest, RelayedDatagramsGoThroughTheWholeDataPathAtTheDestination) {
  const Bytes d = Outbound(a_, kInstanceA, {Frame(Ipv4Packet(kVipA, kVipC, 20))})[0].bytes;
  EXPECT_EQ(Inbound(c_, {d})[0].verdict, Verdict::kForward);
  EXPECT_EQ(Inbound(c_, {d})[0].verdict, Verdict::kDrop);  // replay window of the session
  EXPECT_EQ(c_.drop(DropReason::replay), 1u);
  Bytes tampered = Outbound(a_, kInstanceA, {Frame(Ipv4Packet(kVipA, kVipC, 20))})[0].bytes;
  tampered.back() ^= 1;
  EXPECT_EQ(Inbound(c_, {tampered})[0].verdict, Verdict::kDrop);
  EXPECT_EQ(c_.drop(DropReason::auth_failed), 1u);
  // The relay hop count is outside the sealed part: any value opens.
  Bytes hops = Outbound(a_, kInstanceA, {Frame(Ipv4Packet(kVipA, kVipC, 20))})[0].bytes;
  hops[2] = 200;
  EXPECT_EQ(Inbound(c_, {hops})[0].verdict, Verdict::kForward);
  EXPECT_EQ(c_.stat(Stat::relay_delivered), 4u);
}

TEST_F(RelayTest, OutboundPicksTheGreedyLinkAndIgnoresThePeerEndpoint) {
  shm::TableSpec s = SpecA();
  s.links = {Link(RingAt(0xf0), 9),              // tie with A around C: A is smaller
             Link(RingAt(0x70), 7),              // closer than A
             Link(RingAt(0x7f), 8, 0),           // closest but not valid
             Link(RingAt(0x88), 6),              // closer still (0x08 from C)
             Link(RingAt(0x00), 5)};             // farther than A
  std::memset(s.peers[0].underlay_addr, 0, 16);  // a relayed peer needs no endpoint
  s.peers[0].underlay_port = 0;
  a_.Publish(s);
  const std::vector<Out> sent = Outbound(a_, kInstanceA, {Frame(Ipv4Packet(kVipA, kVipC, 8))});
  ASSERT_EQ(sent[0].verdict, Verdict::kForward);
  EXPECT_EQ(sent[0].link, 3u);
}

TEST_F(RelayTest, OutboundWithoutACloserLinkDropsBeforeSealing) {
  shm::TableSpec s = SpecA();
  s.links = {Link(RingAt(0xf0), 9), Link(RingAt(0x00), 5), Link(kRingC, 3, 0)};
  a_.Publish(s);
  const Bytes frame = Frame(Ipv4Packet(kVipA, kVipC, 8));
  EXPECT_EQ(Outbound(a_, kInstanceA, {frame})[0].verdict, Verdict::kDrop);
  EXPECT_EQ(a_.drop(DropReason::relay_no_route), 1u);
  EXPECT_EQ(a_.stat(Stat::relay_sent), 0u);
  a_.Publish(SpecA());
  const Out ok = Outbound(a_, kInstanceA, {frame})[0];
  ASSERT_EQ(ok.verdict, Verdict::kForward);
  EXPECT_EQ(wire::LoadBe64(ok.bytes.data() + wire::kRelayHeaderSize + 8), 0u);  // no nonce burned
}

// A RELAY datagram for `dst` around an inner datagram of `inner_type` (sealed or not: relays
// never look inside).
Bytes RelayDatagram(const Ring& dst, uint8_t hops, uint8_t inner_type = 1, size_t body = 40) {
  Bytes d(wire::kRelayHeaderSize + wire::kHeaderSize + body, 0x5c);
  wire::WriteRelayHeader(d.data(), dst.data(), hops);
  wire::WriteHeader(d.data() + wire::kRelayHeaderSize, wire::PacketType(inner_type), 77, 5);
  return d;
}

TEST_F(RelayTest, RelayIncrementsHopsUpToTheLimit) {
  for (uint8_t hops : {0, 1, 17, 31}) {
    const Bytes d = RelayDatagram(kRingC, hops);
    const Out o = Inbound(b_, {d})[0];
    ASSERT_EQ(o.verdict, Verdict::kRelay) << int(hops);
    EXPECT_EQ(o.link, 1u);
    Bytes expected = d;
    expected[2] = uint8_t(hops + 1);
    EXPECT_EQ(o.bytes, expected);
  }
  for (uint8_t hops : {32, 33, 255}) {
    EXPECT_EQ(Inbound(b_, {RelayDatagram(kRingC, hops)})[0].verdict, Verdict::kDrop);
  }
  EXPECT_EQ(b_.drop(DropReason::relay_hop_limit), 3u);
  EXPECT_EQ(b_.stat(Stat::relay_forwarded), 4u);
  // The limit is on hops crossed so far, not on hops left: the destination takes any count.
  EXPECT_EQ(Inbound(b_, {RelayDatagram(kRingB, 255)})[0].verdict, Verdict::kDrop);
  EXPECT_EQ(b_.drop(DropReason::unknown_session), 1u);  // ... and hands it to the DATA path
  EXPECT_EQ(b_.drop(DropReason::relay_hop_limit), 3u);
}

TEST_F(RelayTest, RelayForwardsToTheClosestLinkOrDrops) {
  // An exact match goes to that link; a key between B and C to C; one just past B has no
  // closer link than B itself.
  EXPECT_EQ(Inbound(b_, {RelayDatagram(kRingA, 0)})[0].link, 0u);
  EXPECT_EQ(Inbound(b_, {RelayDatagram(RingAt(0x70), 0)})[0].link, 1u);
  EXPECT_EQ(Inbound(b_, {RelayDatagram(RingAt(0x2f), 0)})[0].link, 0u);
  const Out none = Inbound(b_, {RelayDatagram(RingAt(0x50, 1), 0)})[0];
  EXPECT_EQ(none.verdict, Verdict::kDrop);
  EXPECT_EQ(b_.drop(DropReason::relay_no_route), 1u);
  // Mixed destinations in one burst (the per-burst next-hop cache must not mix them up).
  const std::vector<Out> burst = Inbound(b_, {RelayDatagram(kRingC, 0), RelayDatagram(kRingC, 0),
                                              RelayDatagram(kRingA, 0), RelayDatagram(kRingC, 0)});
  EXPECT_EQ(burst[0].link, 1u);
  EXPECT_EQ(burst[1].link, 1u);
  EXPECT_EQ(burst[2].link, 0u);
  EXPECT_EQ(burst[3].link, 1u);
}

// RELAY datagrams B passes on, from two sources in one burst, through a worker's limiter.
TEST_F(RelayTest, RelayForwardingIsBoundedPerSourceAddress) {
  SourceLimiter limit(kRelayPerSource, kRelayUntracked, 7);
  BurstClock clock;
  constexpr uint32_t kOver = 100;
  auto burst = [&](uint64_t now, uint32_t from_flooder, uint32_t from_other) {
    PacketBuffers bufs;
    const Bytes d = RelayDatagram(kRingC, 0);
    for (uint32_t i = 0; i < from_flooder + from_other; ++i) {
      Packet* p = bufs.Add(d, kIpOffset - 16);
      p->addr[10] = p->addr[11] = 0xff;
      p->addr[12] = 198;
      p->addr[13] = 51;
      p->addr[15] = i < from_flooder ? 1 : 2;  // .1 floods; .2 is a flow of its own
      p->port = uint16_t(4000 + i % 500);      // ports do not make sources
    }
    std::vector<Packet*> span = bufs.All();
    clock.Set(now);
    InboundContext ctx{b_.gen, {}, &b_.crypto, b_.counters.get(), kMtu, &limit, &clock};
    RunInbound(span, ctx);
    uint32_t relayed[2] = {};
    for (Packet* p : bufs.All()) relayed[p->addr[15] - 1] += p->verdict == Verdict::kRelay;
    return std::pair(relayed[0], relayed[1]);
  };

  const uint64_t t0 = 1'000'000'000;
  auto [flooder, other] = burst(t0, kRelayPerSource.burst + kOver, 10);
  EXPECT_EQ(flooder, kRelayPerSource.burst);
  EXPECT_EQ(other, 10u);
  EXPECT_EQ(b_.drop(DropReason::relay_source_limited), kOver);
  // 1 ms later: 1 ms of the rate.
  std::tie(flooder, other) = burst(t0 + 1'000'000, kRelayPerSource.burst, 0);
  EXPECT_EQ(flooder, kRelayPerSource.per_second / 1000);
  EXPECT_EQ(b_.stat(Stat::relay_forwarded),
            kRelayPerSource.burst + 10 + kRelayPerSource.per_second / 1000);
  // Datagrams for B itself are not relayed: they spend nothing of the budget.
  PacketBuffers own;
  for (int i = 0; i < 10; ++i) own.Add(RelayDatagram(kRingB, 0), kIpOffset - 16)->addr[15] = 1;
  std::vector<Packet*> span = own.All();
  InboundContext ctx{b_.gen, {}, &b_.crypto, b_.counters.get(), kMtu, &limit, &clock};
  RunInbound(span, ctx);
  EXPECT_EQ(b_.drop(DropReason::relay_source_limited),
            kOver + kRelayPerSource.burst - kRelayPerSource.per_second / 1000);
}

// Sources the limiter cannot track (every slot of their set busy) share one budget.
TEST_F(RelayTest, UntrackedRelaySourcesShareOneBudget) {
  SourceLimiter limit(kRelayPerSource, kRelayUntracked, 7);
  BurstClock clock;
  clock.Set(1'000'000'000);
  // Sources in one set: the first kWays take its slots, the rest are untracked.
  std::vector<std::array<uint8_t, 16>> srcs;
  std::array<uint8_t, 16> a{};
  a[10] = a[11] = 0xff;
  a[12] = 198;
  const uint32_t set = limit.SetOf(a.data());
  for (uint32_t i = 0; srcs.size() < SourceLimiter::kWays + 2 && i < (1u << 24); ++i) {
    a[13] = uint8_t(i >> 16);
    a[14] = uint8_t(i >> 8);
    a[15] = uint8_t(i);
    if (limit.SetOf(a.data()) == set) srcs.push_back(a);
  }
  ASSERT_EQ(srcs.size(), SourceLimiter::kWays + 2);
  const uint32_t n_untracked = kRelayUntracked.burst + 50;
  PacketBuffers bufs;
  const Bytes d = RelayDatagram(kRingC, 0);
  for (uint32_t i = 0; i < SourceLimiter::kWays; ++i)
    std::memcpy(bufs.Add(d, kIpOffset - 16)->addr, srcs[i].data(), 16);
  for (uint32_t i = 0; i < n_untracked; ++i)
    std::memcpy(bufs.Add(d, kIpOffset - 16)->addr, srcs[SourceLimiter::kWays + i % 2].data(), 16);
  std::vector<Packet*> span = bufs.All();
  InboundContext ctx{b_.gen, {}, &b_.crypto, b_.counters.get(), kMtu, &limit, &clock};
  RunInbound(span, ctx);
  EXPECT_EQ(b_.drop(DropReason::relay_untracked_limited), n_untracked - kRelayUntracked.burst);
  EXPECT_EQ(b_.drop(DropReason::relay_source_limited), 0u);
}

TEST_F(RelayTest, MalformedRelayDatagramsAreDroppedNeverPunted) {
  Bytes bad_inner_version = RelayDatagram(kRingC, 0);
  bad_inner_version[wire::kRelayHeaderSize] = 0x21;
  Bytes bad_reserved = RelayDatagram(kRingC, 0);
  bad_reserved[3] = 1;
  Bytes short_relay = RelayDatagram(kRingC, 0, 1, 0);
  short_relay.resize(wire::kRelayHeaderSize + wire::kHeaderSize + wire::kTagSize - 1);
  struct Case {
    const char* what;
    Bytes datagram;
    DropReason reason;
  };
  const Case cases[] = {
      {"CONTROL inside", RelayDatagram(kRingC, 0, 2), DropReason::relay_malformed},
      {"HANDSHAKE inside, for us", RelayDatagram(kRingB, 0, 3), DropReason::relay_malformed},
      {"RELAY inside", RelayDatagram(kRingC, 0, 4), DropReason::relay_malformed},
      {"inner version", bad_inner_version, DropReason::relay_malformed},
      {"relay reserved byte", bad_reserved, DropReason::udp_bad_reserved},
      {"no room for a DATA datagram", short_relay, DropReason::udp_short},
  };
  for (const Case& c : cases) {
    const auto before = b_.drops();
    EXPECT_EQ(Inbound(b_, {c.datagram})[0].verdict, Verdict::kDrop) << c.what;
    const auto after = b_.drops();
    for (uint32_t r = 0; r < kNumDropReasons; ++r) {
      EXPECT_EQ(after[r], before[r] + (r == uint32_t(c.reason) ? 1 : 0))
          << c.what << ": " << kDropReasonNames[r];
    }
  }
  EXPECT_EQ(b_.stat(Stat::relay_forwarded), 0u);
}

}  // namespace
}  // namespace ipop::dp
