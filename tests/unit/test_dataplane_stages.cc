// In-memory two-node test of the dataplane stages: node A's outbound chain seals frames, node B's
// inbound chain opens them, with real table generations published through TableWriter into two
// shared regions. Then every drop reason the stages can reach is provoked once and must bump
// exactly its own counter.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/aead.h"
#include "dataplane/arp_fallback.h"
#include "dataplane/crypto_state.h"
#include "dataplane/inbound.h"
#include "dataplane/outbound.h"
#include "dataplane/packet.h"
#include "dataplane/punt_inject.h"
#include "dataplane/replay_window.h"
#include "dataplane/tap_offload.h"
#include "dataplane/vnet.h"
#include "shared/checksum.h"
#include "shared/ether.h"
#include "shared/shm_region.h"
#include "shared/table.h"
#include "shared/wire.h"
#include "tests/unit/dp_test_nodes.h"

namespace ipop::dp {
namespace {

using namespace ::ipop::dp::test_nodes;

constexpr uint32_t kVipA = Ip(10, 0, 0, 1);
constexpr uint32_t kVipB = Ip(10, 0, 0, 2);
constexpr uint32_t kVipNotReady = Ip(10, 0, 0, 3);
constexpr uint32_t kVipStale = Ip(10, 0, 0, 4);
constexpr uint32_t kVipOther = Ip(10, 0, 0, 9);  // routed to another peer on B
constexpr uint32_t kMtu = 1400;
constexpr uint32_t kIndexAtB = 7;  // receiver index B assigned to A's packets
constexpr uint32_t kIndexAtA = 5;
constexpr uint64_t kInstanceA = 0xa11ce;
constexpr uint64_t kInstanceB = 0xb0b;

constexpr uint8_t kTapMacA[6] = {0x02, 0, 0, 0, 0, 0x0a};
constexpr uint8_t kTapMacB[6] = {0x02, 0, 0, 0, 0, 0x0b};
constexpr uint8_t kGwMacA[6] = {0x02, 0, 0, 0, 0xff, 0x0a};
constexpr uint8_t kGwMacB[6] = {0x02, 0, 0, 0, 0xff, 0x0b};

const Key kKeyAB = MakeKey(0x10);  // A -> B
const Key kKeyBA = MakeKey(0x80);  // B -> A

shm::TableSpec SpecA() {
  shm::TableSpec s = NodeSpec(kVipA, kMtu, kGwMacA);
  s.peers = {Peer(kVipB, kReady, kIndexAtB, 100, kKeyAB, kInstanceA),
             Peer(kVipNotReady, shm::kPeerValid, 0, 0, kKeyAB, kInstanceA),
             Peer(kVipStale, kReady, 9, 300, kKeyAB, kInstanceA + 1)};
  s.sessions = {Session(kIndexAtA, 0, 200, kKeyBA)};
  s.routes = {{kVipB, 32, 0}, {kVipNotReady, 32, 1}, {kVipStale, 32, 2}};
  return s;
}

shm::TableSpec SpecB() {
  shm::TableSpec s = NodeSpec(kVipB, kMtu, kGwMacB);
  s.peers = {Peer(kVipA, kReady, kIndexAtA, 200, kKeyBA, kInstanceB),
             Peer(kVipOther, shm::kPeerValid, 0, 0, kKeyBA, kInstanceB)};
  s.sessions = {Session(kIndexAtB, 0, 100, kKeyAB)};
  s.routes = {{kVipA, 32, 0}, {kVipOther, 32, 1}};
  return s;
}

Bytes Frame(uint16_t type, const Bytes& payload) {
  Bytes f(ether::kHeaderSize + payload.size());
  ether::WriteEthernetHeader(f.data(), kGwMacA, kTapMacA, type);
  std::copy(payload.begin(), payload.end(), f.begin() + ether::kHeaderSize);
  return f;
}

class DataplaneStagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    a_.Publish(SpecA());
    b_.Publish(SpecB());
  }

  OutboundContext OutCtx() { return {a_.gen, kMtu, kInstanceA, &a_.crypto, a_.counters.get()}; }
  InboundContext InCtx() {
    InboundContext ctx{b_.gen, {}, &b_.crypto, b_.counters.get()};
    std::memcpy(ctx.tap_mac, kTapMacB, 6);
    return ctx;
  }

  // Runs A's outbound chain; returns the datagrams it produced, in order.
  std::vector<Bytes> Outbound(const std::vector<Bytes>& frames,
                              std::vector<Verdict>* verdicts = nullptr) {
    PacketBuffers bufs;
    for (const Bytes& f : frames) bufs.Add(f);
    std::vector<Packet*> span = bufs.All();
    const size_t n = RunOutbound(span, OutCtx());
    std::vector<Bytes> out;
    for (size_t i = 0; i < n; ++i) out.emplace_back(span[i]->data, span[i]->data + span[i]->len);
    if (verdicts != nullptr) {
      verdicts->clear();
      for (Packet* p : bufs.All()) verdicts->push_back(p->verdict);
    }
    return out;
  }

  // Runs B's inbound chain on datagrams (placed as the worker's UDP receive path places them).
  std::vector<Bytes> Inbound(const std::vector<Bytes>& datagrams,
                             std::vector<Verdict>* verdicts = nullptr) {
    PacketBuffers bufs;
    for (const Bytes& d : datagrams) bufs.Add(d, kIpOffset - 16);
    std::vector<Packet*> span = bufs.All();
    const size_t n = RunInbound(span, InCtx());
    std::vector<Bytes> out;
    for (size_t i = 0; i < n; ++i) out.emplace_back(span[i]->data, span[i]->data + span[i]->len);
    if (verdicts != nullptr) {
      verdicts->clear();
      for (Packet* p : bufs.All()) verdicts->push_back(p->verdict);
    }
    return out;
  }

  Node a_{"A"};
  Node b_{"B"};
};

TEST_F(DataplaneStagesTest, FramesCrossFromAToB) {
  const std::vector<Bytes> packets = {Ipv4Packet(kVipA, kVipB, 0), Ipv4Packet(kVipA, kVipB, 100, 3),
                                      Ipv4Packet(kVipA, kVipB, kMtu - 20, 9)};
  std::vector<Bytes> frames;
  for (const Bytes& ip : packets) frames.push_back(Frame(ether::kTypeIpv4, ip));

  const std::vector<Bytes> datagrams = Outbound(frames);
  ASSERT_EQ(datagrams.size(), packets.size());
  for (size_t i = 0; i < datagrams.size(); ++i) {
    wire::PacketView view;
    ASSERT_EQ(wire::Parse(datagrams[i], view), wire::ParseError::kNone);
    EXPECT_EQ(view.type, wire::PacketType::kData);
    EXPECT_EQ(view.receiver_index, kIndexAtB);
    EXPECT_EQ(view.counter, i);  // a fresh key starts at 0
    EXPECT_EQ(datagrams[i].size(), wire::kHeaderSize + packets[i].size() + wire::kTagSize);
    // Sealed: the inner packet does not appear in clear.
    EXPECT_NE(0, std::memcmp(view.payload.data(), packets[i].data(), packets[i].size()));
  }

  const std::vector<Bytes> delivered = Inbound(datagrams);
  ASSERT_EQ(delivered.size(), packets.size());
  for (size_t i = 0; i < delivered.size(); ++i) {
    ether::EthernetView eth;
    ASSERT_TRUE(ether::ParseEthernet(delivered[i], eth));
    EXPECT_EQ(0, std::memcmp(eth.dst, kTapMacB, 6));
    EXPECT_EQ(0, std::memcmp(eth.src, kGwMacB, 6));
    EXPECT_EQ(eth.type, ether::kTypeIpv4);
    EXPECT_EQ(Bytes(eth.payload.begin(), eth.payload.end()), packets[i]);
  }
  for (uint32_t r = 0; r < kNumDropReasons; ++r) {
    EXPECT_EQ(a_.counters->drop[r].load(), 0u) << kDropReasonNames[r];
    EXPECT_EQ(b_.counters->drop[r].load(), 0u) << kDropReasonNames[r];
  }
  uint64_t inner_bytes = 0;
  for (const Bytes& ip : packets) inner_bytes += ip.size();
  EXPECT_EQ(a_.counters->peer[0].tx_packets.load(), packets.size());
  EXPECT_EQ(a_.counters->peer[0].tx_bytes.load(), inner_bytes);
  EXPECT_EQ(b_.counters->peer[0].rx_packets.load(), packets.size());
  EXPECT_EQ(b_.counters->peer[0].rx_bytes.load(), inner_bytes);
}

// A key that leaves the table leaves the dataplane: its crypto contexts are wiped at the switch.
TEST_F(DataplaneStagesTest, RetiredKeysAreWipedFromTheDataplane) {
  const std::vector<Bytes> datagrams =
      Outbound({Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, kVipB, 10))});
  ASSERT_EQ(Inbound(datagrams).size(), 1u);
  ASSERT_TRUE(b_.crypto.rx(kIndexAtB).ready);
  ASSERT_TRUE(a_.crypto.tx(0).ready);
  shm::TableSpec b = SpecB();
  b.sessions.clear();  // the session retired
  b_.Publish(b);
  EXPECT_FALSE(b_.crypto.rx(kIndexAtB).ready);
  EXPECT_FALSE(b_.crypto.rx(kIndexAtB).aead.ready());
  shm::TableSpec a = SpecA();
  a.peers[0].flags = shm::kPeerValid;  // the transmit key withdrawn
  a_.Publish(a);
  EXPECT_FALSE(a_.crypto.tx(0).ready);
  EXPECT_FALSE(a_.crypto.tx(0).aead.ready());
  // A later key for the slot continues the slot's counter.
  a_.Publish(SpecA());
  const std::vector<Bytes> again =
      Outbound({Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, kVipB, 10))});
  ASSERT_EQ(again.size(), 1u);
  wire::PacketView view;
  ASSERT_EQ(wire::Parse(again[0], view), wire::ParseError::kNone);
  EXPECT_EQ(view.counter, 1u);
}

TEST_F(DataplaneStagesTest, EthernetPaddingIsNotForwarded) {
  const Bytes ip = Ipv4Packet(kVipA, kVipB, 6);  // 26 bytes: the frame gets padded to 60
  Bytes frame = Frame(ether::kTypeIpv4, ip);
  frame.resize(60, 0);
  const std::vector<Bytes> delivered = Inbound(Outbound({frame}));
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(Bytes(delivered[0].begin() + ether::kHeaderSize, delivered[0].end()), ip);
}

TEST_F(DataplaneStagesTest, ArpIsPuntedNotDropped) {
  Bytes arp(ether::kArpIpv4Size, 0);
  std::vector<Verdict> verdicts;
  EXPECT_TRUE(Outbound({Frame(ether::kTypeArp, arp)}, &verdicts).empty());
  ASSERT_EQ(verdicts.size(), 1u);
  EXPECT_EQ(verdicts[0], Verdict::kPunt);
  for (uint32_t r = 0; r < kNumDropReasons; ++r) EXPECT_EQ(a_.counters->drop[r].load(), 0u);
}

// DNS to the node's service address goes to the control plane over UDP and TCP (RFC 7766); TCP
// to any other port of it, or to port 53 elsewhere, stays on the data path.
TEST_F(DataplaneStagesTest, DnsOverTcpToTheServiceAddressIsPuntedAndCounted) {
  constexpr uint32_t kService = Ip(10, 0, 0, 254);
  shm::TableSpec spec = SpecA();
  spec.service_ip = kService;
  spec.routes.push_back({kService, 32, 0});  // so a frame not punted would be forwarded
  a_.Publish(spec);
  auto segment = [](uint32_t dst, uint16_t dst_port, uint8_t proto, size_t l4_len) {
    Bytes ip = Ipv4Packet(kVipA, dst, l4_len);
    ip[9] = proto;
    if (l4_len >= 4) ether::StoreBe16(&ip[20 + 2], dst_port);
    if (l4_len >= 13) ip[20 + 12] = 0x50;  // data offset 5
    return Frame(ether::kTypeIpv4, ip);
  };
  std::vector<Verdict> verdicts;
  const std::vector<Bytes> sent = Outbound({segment(kService, 53, 6, 40),   // TCP DNS: punt
                                            segment(kService, 53, 17, 40),  // UDP DNS: punt
                                            segment(kService, 80, 6, 40),   // another port
                                            segment(kVipB, 53, 6, 40),      // DNS elsewhere
                                            segment(kService, 53, 6, 12)},  // no whole header
                                           &verdicts);
  EXPECT_EQ(verdicts, (std::vector<Verdict>{Verdict::kPunt, Verdict::kPunt, Verdict::kForward,
                                            Verdict::kForward, Verdict::kForward}));
  EXPECT_EQ(sent.size(), 3u);
  EXPECT_EQ(a_.stat(Stat::dns_tcp_punted), 1u);
  for (uint32_t r = 0; r < kNumDropReasons; ++r) EXPECT_EQ(a_.counters->drop[r].load(), 0u);
}

// An ARP request "who has target? tell sender" as the host's kernel sends it on the TAP.
Bytes ArpRequest(uint32_t sender, uint32_t target) {
  Bytes body(ether::kArpIpv4Size, 0);
  ether::StoreBe16(&body[0], 1);       // Ethernet
  ether::StoreBe16(&body[2], 0x0800);  // IPv4
  body[4] = 6;
  body[5] = 4;
  ether::StoreBe16(&body[6], 1);  // request
  std::memcpy(&body[8], kTapMacA, 6);
  wire::StoreBe32(&body[14], sender);
  wire::StoreBe32(&body[24], target);
  Bytes f(ether::kHeaderSize + body.size());
  const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  ether::WriteEthernetHeader(f.data(), broadcast, kTapMacA, ether::kTypeArp);
  std::copy(body.begin(), body.end(), f.begin() + ether::kHeaderSize);
  return f;
}

TEST_F(DataplaneStagesTest, ArpFallbackAnswersRoutedAddressWithGatewayMac) {
  PacketBuffers bufs;
  Packet* p = bufs.Add(ArpRequest(kVipA, kVipB));
  ASSERT_TRUE(AnswerArpFromTable(*a_.gen, *p));
  ASSERT_EQ(p->len, 42u);
  const uint8_t* f = p->data;
  EXPECT_EQ(Bytes(f, f + 6), Bytes(kTapMacA, kTapMacA + 6));      // back to the requester
  EXPECT_EQ(Bytes(f + 6, f + 12), Bytes(kGwMacA, kGwMacA + 6));   // from the gateway MAC
  EXPECT_EQ(ether::LoadBe16(f + 20), 2);                          // ARP reply
  EXPECT_EQ(Bytes(f + 22, f + 28), Bytes(kGwMacA, kGwMacA + 6));  // "kVipB is at gateway"
  EXPECT_EQ(wire::LoadBe32(f + 28), kVipB);
  EXPECT_EQ(wire::LoadBe32(f + 38), kVipA);
}

TEST_F(DataplaneStagesTest, ArpFallbackIgnoresUnroutedOwnAndMalformed) {
  PacketBuffers bufs;
  Packet* unknown = bufs.Add(ArpRequest(kVipA, kVipA + 77));
  Packet* own = bufs.Add(ArpRequest(kVipA, kVipA));
  Bytes short_frame = ArpRequest(kVipA, kVipB);
  short_frame.resize(30);
  Packet* truncated = bufs.Add(short_frame);
  const Bytes before = Bytes(unknown->data, unknown->data + unknown->len);
  EXPECT_FALSE(AnswerArpFromTable(*a_.gen, *unknown));
  EXPECT_FALSE(AnswerArpFromTable(*a_.gen, *own));
  EXPECT_FALSE(AnswerArpFromTable(*a_.gen, *truncated));
  EXPECT_EQ(Bytes(unknown->data, unknown->data + unknown->len), before);  // left untouched
}

// The own-address rule on its own: a subnet route covers this node's address, another address
// on the host asks for it (the "own" case above is also gratuitous and unrouted).
TEST_F(DataplaneStagesTest, ArpFallbackNeverAnswersForOwnAddressInsideARoutedSubnet) {
  shm::TableSpec spec = SpecA();
  spec.routes.push_back({Ip(10, 0, 0, 0), 24, 0});
  a_.Publish(spec);
  PacketBuffers bufs;
  Packet* own = bufs.Add(ArpRequest(kVipA + 100, kVipA));
  const Bytes before(own->data, own->data + own->len);
  EXPECT_FALSE(AnswerArpFromTable(*a_.gen, *own));
  EXPECT_EQ(Bytes(own->data, own->data + own->len), before);
  Packet* covered = bufs.Add(ArpRequest(kVipA + 100, kVipA + 50));  // routed by the subnet
  EXPECT_TRUE(AnswerArpFromTable(*a_.gen, *covered));
}

TEST(ArpFallback, ControlPlaneAbsentWhenNoPidOrStaleHeartbeat) {
  auto hdr = std::make_unique<shm::RegionHeader>();
  const uint64_t now = 50'000'000'000;
  hdr->cp_pid.store(0);
  hdr->cp_heartbeat_ns.store(now);
  EXPECT_TRUE(ControlPlaneAbsent(*hdr, now));  // no control plane attached
  hdr->cp_pid.store(1234);
  EXPECT_FALSE(ControlPlaneAbsent(*hdr, now));
  EXPECT_FALSE(ControlPlaneAbsent(*hdr, now + kControlPlaneAbsentNs));
  EXPECT_TRUE(ControlPlaneAbsent(*hdr, now + kControlPlaneAbsentNs + 1));  // stale heartbeat
}

struct OutboundDropCase {
  const char* what;
  Bytes frame;
  DropReason reason;
};

TEST_F(DataplaneStagesTest, EachOutboundDropBumpsExactlyItsCounter) {
  Bytes bad_version = Ipv4Packet(kVipA, kVipB, 10);
  bad_version[0] = 0x65;
  Bytes short_ihl = Ipv4Packet(kVipA, kVipB, 10);
  short_ihl[0] = 0x44;
  Bytes long_total = Ipv4Packet(kVipA, kVipB, 10);
  ether::StoreBe16(&long_total[2], uint16_t(long_total.size() + 1));
  Bytes truncated = Ipv4Packet(kVipA, kVipB, 0);
  truncated.resize(19);

  const std::vector<OutboundDropCase> cases = {
      {"short frame", Bytes(10, 0), DropReason::tap_short_frame},
      {"IPv4 version 6", Frame(ether::kTypeIpv4, bad_version), DropReason::tap_bad_ipv4},
      {"IHL 4", Frame(ether::kTypeIpv4, short_ihl), DropReason::tap_bad_ipv4},
      {"total length past frame", Frame(ether::kTypeIpv4, long_total), DropReason::tap_bad_ipv4},
      {"truncated header", Frame(ether::kTypeIpv4, truncated), DropReason::tap_bad_ipv4},
      {"IPv6 ethertype", Frame(ether::kTypeIpv6, Ipv4Packet(kVipA, kVipB, 10)),
       DropReason::tap_unsupported_ethertype},
      {"multicast", Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, Ip(224, 0, 0, 251), 10)),
       DropReason::mcast_no_group},
      {"limited broadcast", Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, Ip(255, 255, 255, 255), 10)),
       DropReason::mcast_no_group},
      {"subnet broadcast", Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, Ip(10, 0, 0, 255), 10)),
       DropReason::mcast_no_group},
      {"too big", Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, kVipB, kMtu - 19)),
       DropReason::too_big},
      {"no route", Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, Ip(10, 0, 1, 1), 10)),
       DropReason::no_route},
      {"peer not ready", Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, kVipNotReady, 10)),
       DropReason::peer_not_ready},
      {"stale key", Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, kVipStale, 10)),
       DropReason::stale_key},
  };
  for (const OutboundDropCase& c : cases) {
    const auto before = a_.drops();
    std::vector<Verdict> verdicts;
    EXPECT_TRUE(Outbound({c.frame}, &verdicts).empty()) << c.what;
    EXPECT_EQ(verdicts.at(0), Verdict::kDrop) << c.what;
    const auto after = a_.drops();
    for (uint32_t r = 0; r < kNumDropReasons; ++r) {
      const uint64_t expected = before[r] + (r == uint32_t(c.reason) ? 1 : 0);
      EXPECT_EQ(after[r], expected) << c.what << ": counter " << kDropReasonNames[r];
    }
  }
  // The drops did not consume tx counters: the next good packet still uses counter 0.
  const std::vector<Bytes> ok = Outbound({Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, kVipB, 1))});
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(wire::LoadBe64(ok[0].data() + 8), 0u);
}

// Sealing in place needs room for the wire header in front and the tag behind (a caller that
// did not lay the buffer out for it), and a keyed context (a peer whose key could not be
// installed, e.g. a cipher this build lacks): otherwise the frame is dropped as seal_failed.
TEST_F(DataplaneStagesTest, SealFailuresAreCounted) {
  constexpr uint32_t kVipNoKey = Ip(10, 0, 0, 5);
  shm::TableSpec spec = SpecA();
  shm::PeerEntry no_key = Peer(kVipNoKey, kReady, 11, 400, kKeyAB, kInstanceA);
  no_key.cipher = 0;  // no such cipher
  spec.peers.push_back(no_key);
  spec.routes.push_back({kVipNoKey, 32, uint32_t(spec.peers.size() - 1)});
  a_.Publish(spec);

  const Bytes to_b = Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, kVipB, 40));
  const uint32_t end = 2048 - uint32_t(to_b.size());  // PacketBuffers holds 2048 bytes
  struct Case {
    const char* what;
    Bytes frame;
    uint32_t offset;
    bool sealed;
  };
  const std::vector<Case> cases = {
      {"no headroom", to_b, 0, false},
      {"headroom one short", to_b, kOutboundHeadroom - 1, false},
      {"headroom exactly enough", to_b, kOutboundHeadroom, true},
      {"no tailroom", to_b, end, false},
      {"tailroom one short", to_b, end - (kOutboundTailroom - 1), false},
      {"tailroom exactly enough", to_b, end - kOutboundTailroom, true},
      {"key not installed", Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, kVipNoKey, 40)),
       kIpOffset - 14, false},
  };
  for (const Case& c : cases) {
    PacketBuffers bufs;
    Packet* p = bufs.Add(c.frame, c.offset);
    std::vector<Packet*> span = bufs.All();
    const auto before = a_.drops();
    EXPECT_EQ(RunOutbound(span, OutCtx()), c.sealed ? 1u : 0u) << c.what;
    EXPECT_EQ(p->verdict, c.sealed ? Verdict::kForward : Verdict::kDrop) << c.what;
    const auto after = a_.drops();
    for (uint32_t r = 0; r < kNumDropReasons; ++r) {
      const bool counted = !c.sealed && r == uint32_t(DropReason::seal_failed);
      EXPECT_EQ(after[r], before[r] + (counted ? 1 : 0)) << c.what << ": " << kDropReasonNames[r];
    }
  }
}

class InboundDropTest : public DataplaneStagesTest {
 protected:
  // A valid datagram from A to B, inner source `src`.
  Bytes Sealed(uint32_t src = kVipA, size_t payload = 40) {
    std::vector<Bytes> d = Outbound({Frame(ether::kTypeIpv4, Ipv4Packet(src, kVipB, payload))});
    EXPECT_EQ(d.size(), 1u);
    return d.at(0);
  }
  // Seals arbitrary plaintext under the A->B key, as a peer with the key could.
  Bytes SealRaw(const Bytes& plaintext, uint64_t counter) {
    AeadContext aead;
    EXPECT_TRUE(aead.Init(shm::Cipher::kAes256Gcm, kKeyAB.key, kKeyAB.salt, true));
    Bytes d(wire::kHeaderSize + plaintext.size() + wire::kTagSize);
    wire::WriteHeader(d.data(), wire::PacketType::kData, kIndexAtB, counter);
    EXPECT_TRUE(aead.Seal(counter, {d.data(), wire::kHeaderSize}, plaintext.data(),
                          plaintext.size(), d.data() + wire::kHeaderSize,
                          d.data() + wire::kHeaderSize + plaintext.size()));
    return d;
  }
  void ExpectOnlyDrop(const std::vector<Bytes>& datagrams, DropReason reason, uint64_t times,
                      const char* what) {
    const auto before = b_.drops();
    Inbound(datagrams);
    const auto after = b_.drops();
    for (uint32_t r = 0; r < kNumDropReasons; ++r) {
      const uint64_t expected = before[r] + (r == uint32_t(reason) ? times : 0);
      EXPECT_EQ(after[r], expected) << what << ": counter " << kDropReasonNames[r];
    }
  }
};

TEST_F(InboundDropTest, WireHeaderErrors) {
  Bytes short_dg(wire::kHeaderSize - 1, 0);
  Bytes data_no_tag = Sealed();
  data_no_tag.resize(wire::kHeaderSize + wire::kTagSize - 1);
  Bytes bad_version = Sealed();
  bad_version[0] = uint8_t((2 << 4) | 1);
  Bytes bad_type = Sealed();
  bad_type[0] = uint8_t((wire::kVersion << 4) | 9);
  Bytes bad_reserved = Sealed();
  bad_reserved[3] = 1;
  ExpectOnlyDrop({short_dg}, DropReason::udp_short, 1, "shorter than header");
  ExpectOnlyDrop({data_no_tag}, DropReason::udp_short, 1, "DATA without room for a tag");
  ExpectOnlyDrop({bad_version}, DropReason::udp_bad_version, 1, "version");
  ExpectOnlyDrop({bad_type}, DropReason::udp_bad_type, 1, "type");
  ExpectOnlyDrop({bad_reserved}, DropReason::udp_bad_reserved, 1, "reserved");
}

TEST_F(InboundDropTest, UnknownSession) {
  for (uint32_t index : {0u, 3u, shm::kMaxSessions, 0xffffffffu}) {
    Bytes d = Sealed();
    wire::StoreBe32(d.data() + 4, index);
    ExpectOnlyDrop({d}, DropReason::unknown_session, 1, "receiver index");
  }
}

TEST_F(InboundDropTest, ReplayedDatagramIsDroppedOnce) {
  const Bytes d = Sealed();
  EXPECT_EQ(Inbound({d}).size(), 1u);
  ExpectOnlyDrop({d}, DropReason::replay, 1, "replay in a later burst");
  const Bytes d2 = Sealed();
  std::vector<Verdict> verdicts;
  const auto before = b_.drop(DropReason::replay);
  EXPECT_EQ(Inbound({d2, d2}, &verdicts).size(), 1u);  // duplicate inside one burst
  EXPECT_EQ(b_.drop(DropReason::replay), before + 1);
}

// The window is marked only after the tag verified (inbound.cc): a datagram anyone can forge must
// not mark its counter, or the genuine datagram with that counter is dropped as a replay.
TEST_F(InboundDropTest, TamperedCopyDoesNotMarkItsCounter) {
  const Bytes genuine = Sealed();
  Bytes tampered = genuine;
  tampered[wire::kHeaderSize + 3] ^= 0x01;
  ExpectOnlyDrop({tampered}, DropReason::auth_failed, 1, "tampered copy first");
  EXPECT_EQ(Inbound({genuine}).size(), 1u) << "the genuine datagram behind it";
  EXPECT_EQ(b_.drop(DropReason::replay), 0u);

  // The same inside one burst: the forgery ahead of the genuine datagram.
  const Bytes genuine2 = Sealed();
  Bytes tampered2 = genuine2;
  tampered2.back() ^= 0x80;
  std::vector<Verdict> verdicts;
  EXPECT_EQ(Inbound({tampered2, genuine2}, &verdicts).size(), 1u);
  EXPECT_EQ(verdicts, (std::vector<Verdict>{Verdict::kDrop, Verdict::kForward}));
  EXPECT_EQ(b_.drop(DropReason::replay), 0u);
}

// A forged counter far ahead must not slide the window: were it marked, every genuine datagram
// (low counters) would fall behind the window and the session would be blackholed.
TEST_F(InboundDropTest, ForgedFarFutureCounterDoesNotMoveTheWindow) {
  EXPECT_EQ(Inbound({Sealed()}).size(), 1u);
  Bytes forged = Sealed();  // a real datagram with its counter rewritten: the tag no longer fits
  wire::StoreBe64(forged.data() + 8, uint64_t{1} << 40);
  ExpectOnlyDrop({forged}, DropReason::auth_failed, 1, "counter 2^40");
  const Bytes next = Sealed();
  ASSERT_LT(wire::LoadBe64(next.data() + 8), ReplayWindow::kWindow);
  EXPECT_EQ(Inbound({next}).size(), 1u) << "a genuine low counter after the forgery";
  EXPECT_EQ(b_.drop(DropReason::replay), 0u);
  // And a forgery of a counter the genuine stream has not reached yet, in the same burst.
  Bytes forged_near = Sealed();
  wire::StoreBe64(forged_near.data() + 8, wire::LoadBe64(forged_near.data() + 8) + 1);
  const Bytes after = Sealed();  // carries exactly the counter the forgery claimed
  std::vector<Verdict> verdicts;
  EXPECT_EQ(Inbound({forged_near, after}, &verdicts).size(), 1u);
  EXPECT_EQ(verdicts, (std::vector<Verdict>{Verdict::kDrop, Verdict::kForward}));
  EXPECT_EQ(b_.drop(DropReason::replay), 0u);
}

TEST_F(InboundDropTest, TamperedDatagramFailsAuthentication) {
  Bytes body = Sealed();
  body[wire::kHeaderSize + 3] ^= 0x01;
  Bytes tag = Sealed();
  tag.back() ^= 0x80;
  Bytes counter = Sealed();
  counter[15] ^= 0x40;  // header is associated data
  ExpectOnlyDrop({body}, DropReason::auth_failed, 1, "ciphertext bit");
  ExpectOnlyDrop({tag}, DropReason::auth_failed, 1, "tag bit");
  ExpectOnlyDrop({counter}, DropReason::auth_failed, 1, "counter bit");
  // Relays may change the hop count: it is outside the associated data.
  Bytes hops = Sealed();
  hops[2] = 3;
  EXPECT_EQ(Inbound({hops}).size(), 1u);
}

TEST_F(InboundDropTest, SpoofedInnerSourceIsNotAllowed) {
  ExpectOnlyDrop({Sealed(kVipOther)}, DropReason::src_not_allowed, 1, "source of another peer");
  ExpectOnlyDrop({Sealed(Ip(192, 168, 1, 1))}, DropReason::src_not_allowed, 1, "unrouted source");
}

TEST_F(InboundDropTest, SealedGarbageIsNotIpv4) {
  Bytes not_ip(40, 0x60);  // IPv6 version nibble
  Bytes short_total = Ipv4Packet(kVipA, kVipB, 20);
  ether::StoreBe16(&short_total[2], uint16_t(short_total.size() + 1));
  ExpectOnlyDrop({SealRaw(not_ip, 1000)}, DropReason::inner_bad_ipv4, 1, "IPv6 inside");
  ExpectOnlyDrop({SealRaw(short_total, 1001)}, DropReason::inner_bad_ipv4, 1, "total length");
  ExpectOnlyDrop({SealRaw(Bytes(10, 0x45), 1002)}, DropReason::inner_bad_ipv4, 1, "short");
}

TEST_F(InboundDropTest, ControlAndHandshakeArePunted) {
  Bytes control(wire::kHeaderSize + 5, 0);
  wire::WriteHeader(control.data(), wire::PacketType::kControl, 0, 0);
  Bytes handshake(wire::kHeaderSize, 0);
  wire::WriteHeader(handshake.data(), wire::PacketType::kHandshake, 0, 0);
  std::vector<Verdict> verdicts;
  EXPECT_TRUE(Inbound({control, handshake}, &verdicts).empty());
  EXPECT_EQ(verdicts, (std::vector<Verdict>{Verdict::kPunt, Verdict::kPunt}));
  for (uint32_t r = 0; r < kNumDropReasons; ++r) EXPECT_EQ(b_.counters->drop[r].load(), 0u);
}

TEST_F(DataplaneStagesTest, CounterContinuesAcrossTxKeysAndSameKey) {
  const Bytes frame = Frame(ether::kTypeIpv4, Ipv4Packet(kVipA, kVipB, 10));
  EXPECT_EQ(wire::LoadBe64(Outbound({frame}).at(0).data() + 8), 0u);
  EXPECT_EQ(wire::LoadBe64(Outbound({frame}).at(0).data() + 8), 1u);
  const uint64_t rekeys = a_.stat(Stat::rekeys);
  a_.Publish(SpecA());  // same key ids: nothing is re-keyed, the counter continues
  EXPECT_EQ(a_.stat(Stat::rekeys), rekeys);
  EXPECT_EQ(wire::LoadBe64(Outbound({frame}).at(0).data() + 8), 2u);

  // New A->B key on both sides: A's counter goes on (it never goes back, tx_nonce.h), B resets
  // its window and accepts it.
  const Key next = MakeKey(0x33);
  shm::TableSpec spec_a = SpecA();
  spec_a.peers[0] = Peer(kVipB, kReady, kIndexAtB, 101, next, kInstanceA);
  a_.Publish(spec_a);
  shm::TableSpec spec_b = SpecB();
  spec_b.sessions[0] = Session(kIndexAtB, 0, 101, next);
  b_.Publish(spec_b);
  const std::vector<Bytes> d = Outbound({frame});
  EXPECT_EQ(wire::LoadBe64(d.at(0).data() + 8), 3u);
  EXPECT_EQ(Inbound(d).size(), 1u);
}

TEST_F(DataplaneStagesTest, TsoSuperFrameCrossesAsSegmentsAndIsCoalescedAgain) {
  // A's TAP hands over a 20 000-byte TCP super-frame; B must write one merged frame whose
  // payload is the same byte stream.
  constexpr size_t kPayload = 20000;
  constexpr uint16_t kMss = 1360;  // 1400 - 20 - 20
  Bytes ip = Ipv4Packet(kVipA, kVipB, 20 + kPayload);
  ip[9] = 6;  // TCP
  uint8_t* tcp = ip.data() + 20;
  std::memset(tcp, 0, 20);
  wire::StoreBe32(tcp + 4, 5000);  // seq
  tcp[12] = 5 << 4;
  tcp[13] = 0x10;  // ACK
  RefreshIpv4Checksum(ip.data(), 20);
  const uint16_t partial = ChecksumFold(PseudoHeaderSum(ip.data(), 6, 20 + kPayload));
  std::memcpy(tcp + 16, &partial, 2);
  const Bytes frame = Frame(ether::kTypeIpv4, ip);
  vnet::Header h;
  h.flags = vnet::kNeedsCsum;
  h.gso_type = vnet::kGsoTcpV4;
  h.hdr_len = 14 + 40;
  h.gso_size = kMss;
  h.csum_start = 14 + 20;
  h.csum_offset = 16;
  Bytes read(vnet::kHeaderSize + frame.size());
  vnet::Store(read.data(), h);
  std::copy(frame.begin(), frame.end(), read.begin() + vnet::kHeaderSize);

  // A: split into segment buffers laid out like the worker's, then seal.
  auto read_mem = std::make_unique<Bytes>(70000);
  std::copy(read.begin(), read.end(), read_mem->begin() + kIpOffset - 24);
  Packet read_pkt;
  read_pkt.data = read_mem->data() + kIpOffset - 24;
  read_pkt.len = uint32_t(read.size());
  std::vector<std::unique_ptr<std::array<uint8_t, 2048>>> seg_mem;
  std::vector<SegmentBuffer> free_segments;
  for (uint32_t i = 0; i < 32; ++i) {
    seg_mem.push_back(std::make_unique<std::array<uint8_t, 2048>>());
    free_segments.push_back({i, seg_mem.back()->data()});
  }
  std::vector<Packet> segs(32);
  Packet* reads[1] = {&read_pkt};
  const SplitResult split =
      SplitTapReads(reads, free_segments, 2048, kMtu, segs.data(), segs.size(), *a_.counters);
  const size_t n_segments = (kPayload + kMss - 1) / kMss;
  ASSERT_EQ(split.frames, n_segments);
  std::vector<Packet*> span;
  for (size_t i = 0; i < split.frames; ++i) span.push_back(&segs[i]);
  ASSERT_EQ(RunOutbound(span, OutCtx()), n_segments);
  std::vector<Bytes> datagrams;
  for (size_t i = 0; i < n_segments; ++i) {
    datagrams.emplace_back(span[i]->data, span[i]->data + span[i]->len);
  }

  // B: open and deliver, then coalesce.
  PacketBuffers bufs;
  for (const Bytes& d : datagrams) bufs.Add(d, kIpOffset - 16);
  std::vector<Packet*> in = bufs.All();
  const size_t delivered = RunInbound(in, InCtx());
  ASSERT_EQ(delivered, n_segments);
  in.resize(delivered);
  ASSERT_EQ(CoalesceTcp(in), 1u);
  ASSERT_EQ(in[0]->unit, n_segments);
  Bytes written;
  for (Packet* p : in) written.insert(written.end(), p->data, p->data + p->len);
  ASSERT_EQ(written.size(), vnet::kHeaderSize + frame.size());
  EXPECT_EQ(vnet::Load(written.data()).gso_size, kMss);
  const size_t headers = vnet::kHeaderSize + ether::kHeaderSize + 40;
  EXPECT_TRUE(std::equal(written.begin() + headers, written.end(), ip.begin() + 40));
  EXPECT_EQ(ether::LoadBe16(written.data() + vnet::kHeaderSize + 14 + 2), ip.size());
  for (uint32_t r = 0; r < kNumDropReasons; ++r) {
    EXPECT_EQ(a_.counters->drop[r].load(), 0u) << kDropReasonNames[r];
    EXPECT_EQ(b_.counters->drop[r].load(), 0u) << kDropReasonNames[r];
  }
}

TEST(PuntInject, PuntCountsFullRing) {
  alignas(64) static SpscRingShared shared{};
  static uint8_t slots[2 * 256];
  SpscRingView ring(&shared, slots, 2, 256);
  auto counters = std::make_unique<shm::WorkerCounters>();
  PuntBudget budget(1);
  Bytes frame(60, 0x42);
  Packet p;
  p.data = frame.data();
  p.len = uint32_t(frame.size());
  p.addr[15] = 9;
  p.port = 4242;
  for (int i = 0; i < 3; ++i)
    Punt(ring, p, shm::PuntKind::kUnderlayControl, 0, *counters, budget, 1'000'000'000);
  EXPECT_EQ(counters->stat[uint32_t(Stat::punted)].load(), 2u);
  EXPECT_EQ(counters->drop[uint32_t(DropReason::punt_ring_full)].load(), 1u);
  SpscRingView::Entry e;
  ASSERT_TRUE(ring.Peek(e));
  EXPECT_EQ(e.meta.kind, uint16_t(shm::PuntKind::kUnderlayControl));
  EXPECT_EQ(e.meta.port, 4242);
  EXPECT_EQ(e.meta.addr[15], 9);
  EXPECT_EQ(Bytes(e.payload.begin(), e.payload.end()), frame);
}

// What the worker does with one burst's punt verdicts (worker.cc): underlay datagrams and TAP
// frames go into one ring through one budget.
TEST_F(DataplaneStagesTest, AControlFloodFromOneHostIsPuntedUpToItsBudgetTapFramesStillGo) {
  constexpr uint32_t kSlotSize = 128;
  alignas(64) SpscRingShared shared{};
  std::vector<uint8_t> slots(size_t{shm::kRingSlots} * kSlotSize);
  SpscRingView ring(&shared, slots.data(), shm::kRingSlots, kSlotSize);
  PuntBudget budget(42);
  const OutboundContext tap_ctx{b_.gen, kMtu, kInstanceB, &b_.crypto, b_.counters.get()};
  constexpr uint32_t kFlood = 1000;
  constexpr uint32_t kFrames = 20;

  // One burst: kFlood CONTROL datagrams from one host, each from another source port, with
  // kFrames ARP requests of the host read from the TAP in between.
  auto burst = [&](uint64_t now) {
    PacketBuffers under;
    for (uint32_t i = 0; i < kFlood; ++i) {
      Bytes d(wire::kHeaderSize + 40, uint8_t(i));
      wire::WriteHeader(d.data(), wire::PacketType::kControl, 0, 0);
      Packet* p = under.Add(d, kIpOffset - 16);
      p->addr[10] = p->addr[11] = 0xff;
      p->addr[12] = 192;
      p->addr[14] = 2;
      p->addr[15] = 66;
      p->port = uint16_t(1024 + i);
    }
    std::vector<Packet*> datagrams = under.All();
    ASSERT_EQ(RunInbound(datagrams, InCtx()), 0u);
    PacketBuffers host;
    for (uint32_t i = 0; i < kFrames; ++i) host.Add(ArpRequest(kVipB, kVipA + 100 + i));
    std::vector<Packet*> frames = host.All();
    ASSERT_EQ(RunOutbound(frames, tap_ctx), 0u);
    for (uint32_t i = 0; i < kFlood; ++i) {
      ASSERT_EQ(datagrams[i]->verdict, Verdict::kPunt);
      Punt(ring, *datagrams[i], shm::PuntKind::kUnderlayControl, 0, *b_.counters, budget, now);
      if (i % (kFlood / kFrames) == 0) {
        Packet& f = *frames[i / (kFlood / kFrames)];
        ASSERT_EQ(f.verdict, Verdict::kPunt);
        Punt(ring, f, shm::PuntKind::kTapFrame, 0, *b_.counters, budget, now);
      }
    }
  };
  // The control plane's side: what the ring holds, by kind.
  auto drain = [&](uint32_t* underlay, uint32_t* tap) {
    *underlay = *tap = 0;
    SpscRingView::Entry e;
    while (ring.Peek(e)) {
      ++*(e.meta.kind == uint16_t(shm::PuntKind::kTapFrame) ? tap : underlay);
      ring.Pop();
    }
  };

  const uint64_t t0 = 5'000'000'000;
  burst(t0);
  uint32_t underlay = 0, tap = 0;
  drain(&underlay, &tap);
  EXPECT_EQ(underlay, kUnderlayPuntsPerSource.burst);
  EXPECT_EQ(tap, kFrames);
  EXPECT_EQ(b_.drop(DropReason::punt_source_limited), kFlood - kUnderlayPuntsPerSource.burst);
  EXPECT_EQ(b_.stat(Stat::punted), kUnderlayPuntsPerSource.burst + kFrames);

  // 100 ms later the host has earned 100 ms of its rate, not more.
  burst(t0 + 100'000'000);
  drain(&underlay, &tap);
  EXPECT_EQ(underlay, kUnderlayPuntsPerSource.per_second / 10);
  EXPECT_EQ(tap, kFrames);
  EXPECT_EQ(b_.drop(DropReason::punt_source_limited),
            2 * kFlood - kUnderlayPuntsPerSource.burst - kUnderlayPuntsPerSource.per_second / 10);
  for (DropReason r : {DropReason::punt_ring_full, DropReason::punt_tap_limited,
                       DropReason::punt_ring_reserved, DropReason::punt_underlay_limited})
    EXPECT_EQ(b_.drop(r), 0u) << kDropReasonNames[uint32_t(r)];
}

TEST(PuntInject, CheckInjectRejectsMalformedEntries) {
  Bytes payload(100, 1);
  SpscRingView::Entry e{};
  e.payload = payload;
  e.meta.kind = uint16_t(shm::InjectKind::kUnderlayDatagram);
  e.meta.port = 5800;
  EXPECT_EQ(CheckInject(e, kMtu), InjectAction::kSendUnderlay);
  e.meta.port = 0;
  EXPECT_EQ(CheckInject(e, kMtu), InjectAction::kReject);
  e.meta.kind = uint16_t(shm::InjectKind::kTapFrame);
  EXPECT_EQ(CheckInject(e, kMtu), InjectAction::kWriteTap);
  e.payload = std::span<const uint8_t>(payload).first(ether::kHeaderSize - 1);
  EXPECT_EQ(CheckInject(e, kMtu), InjectAction::kReject);
  e.payload = payload;
  EXPECT_EQ(CheckInject(e, 80), InjectAction::kReject);  // frame larger than 14 + mtu
  e.meta.kind = 77;
  EXPECT_EQ(CheckInject(e, kMtu), InjectAction::kReject);
  e.meta.kind = uint16_t(shm::InjectKind::kUnderlayDatagram);
  e.meta.port = 1;
  e.payload = {};
  EXPECT_EQ(CheckInject(e, kMtu), InjectAction::kReject);
}

}  // namespace
}  // namespace ipop::dp
