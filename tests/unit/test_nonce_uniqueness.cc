// The invariant the whole encryption rests on: a (key, nonce) pair never seals twice.
//
// Real control planes (PeerSessions) handshake in memory; node A's tables are published through a
// real TableWriter into a shared region and A's dataplane stages (RunOutbound with the real
// CryptoState and TxNonceSpace) seal frames with them. Every sealed datagram's (tx key, salt,
// counter) is recorded and must be new. The scenarios are the shapes in which a key can meet a
// counter it has already used: a learned peer forgotten and learned again into another table slot
// (with a third peer taking the freed slot meanwhile), a configured peer removed by a reload and
// added back, and rekeys.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "controlplane/sessions/network_id.h"
#include "controlplane/sessions/peer_sessions.h"
#include "dataplane/outbound.h"
#include "shared/wire.h"
#include "tests/unit/cp_fakes.h"
#include "tests/unit/dp_test_nodes.h"

namespace ipop::cp {
namespace {

using testing::Ep4;
using testing::FakeClock;
using testing::FakePort;
using testing::FakeRandom;
using testing::Ip;

constexpr uint32_t kVipA = Ip(10, 77, 0, 1);
constexpr uint32_t kVipB = Ip(10, 77, 0, 2);
constexpr uint32_t kVipC = Ip(10, 77, 0, 3);
constexpr uint32_t kVipD = Ip(10, 77, 0, 4);
constexpr uint64_t kDpA = 0xA1;
const Endpoint kEpA = Ep4(Ip(192, 0, 2, 1), 5800);
const Endpoint kEpB = Ep4(Ip(192, 0, 2, 2), 5800);
const Endpoint kEpC = Ep4(Ip(192, 0, 2, 3), 5800);
const Endpoint kEpD = Ep4(Ip(192, 0, 2, 4), 5800);

std::array<uint8_t, 32> Secret() {
  std::array<uint8_t, 32> s;
  for (size_t i = 0; i < s.size(); ++i) s[i] = uint8_t(i * 5 + 3);
  return s;
}

NodeAddress NodeOf(uint32_t vip) {
  NodeAddress a{};
  a.fill(uint8_t(vip));
  return a;
}

struct CpNode {
  CpNode(FakeClock& clock, uint32_t vip_in, Endpoint ep, std::vector<PeerConfig> peers,
         uint64_t seed, uint64_t dp, bool learn = true, uint32_t rekey_ms = 120'000)
      : vip(vip_in), endpoint(ep), random(seed), auth(Secret(), "n"), keys(Secret(), "n") {
    PeerSessionsOptions o;
    o.local_vip = vip;
    o.network = "n";
    o.peers = std::move(peers);
    o.learn_peers = learn;
    o.learned_idle_ms = 60'000;
    o.rekey_interval_ms = rekey_ms;
    s = std::make_unique<PeerSessions>(o, clock, random, auth, keys, port, counters);
    s->ObserveDataplaneInstance(dp);
  }
  uint32_t vip;
  Endpoint endpoint;
  FakeRandom random;
  FakePort port;
  CpCounters counters;
  PskHelloAuthenticator auth;
  PskKeySource keys;
  std::unique_ptr<PeerSessions> s;
};

void Settle(const std::vector<CpNode*>& nodes) {
  for (int round = 0; round < 20; ++round) {
    size_t n = 0;
    for (CpNode* from : nodes) {
      std::vector<testing::FakePort::Datagram> out;
      out.swap(from->port.sent);
      for (const auto& d : out)
        for (CpNode* to : nodes)
          if (to != from && d.to == to->endpoint) {
            to->s->OnControlDatagram(from->endpoint, d.bytes);
            ++n;
          }
    }
    if (n == 0) return;
  }
  ADD_FAILURE() << "HELLO exchange did not settle";
}

// `ms` of simulated time in 100 ms steps: every node ticks, everything is delivered.
void RunFor(FakeClock& clock, const std::vector<CpNode*>& nodes, uint64_t ms) {
  for (uint64_t t = 0; t < ms; t += 100) {
    clock.AdvanceMs(100);
    for (CpNode* x : nodes) x->s->Tick();
    Settle(nodes);
  }
}

// A's dataplane: publishes A's table and seals frames with the real stages; remembers every
// (key, salt, counter) it ever sealed with.
class SealRecorder {
 public:
  SealRecorder() : dp_(std::make_unique<dp::test_nodes::Node>("nonce")) {}

  // A new dataplane process on the same region: its counters start again from zero.
  void Restart(uint64_t instance) {
    dp_ = std::make_unique<dp::test_nodes::Node>("nonce");
    instance_ = instance;
  }

  // Seals `n` frames to `dst` with A's current table. Returns how many were sealed.
  size_t Send(const PeerSessions& a, uint32_t dst, size_t n) {
    const shm::TableSpec spec = a.BuildSpec();
    dp_->Publish(spec);
    dp::test_nodes::PacketBuffers bufs;
    for (size_t i = 0; i < n; ++i) {
      std::vector<uint8_t> frame(ether::kHeaderSize);
      const uint8_t tap_mac[6] = {0x02, 0, 0, 0, 0, 1};
      ether::WriteEthernetHeader(frame.data(), spec.gateway_mac, tap_mac, ether::kTypeIpv4);
      const std::vector<uint8_t> ip = dp::test_nodes::Ipv4Packet(a.local_vip(), dst, 64);
      frame.insert(frame.end(), ip.begin(), ip.end());
      bufs.Add(frame);
    }
    std::vector<dp::Packet*> span = bufs.All();
    const dp::OutboundContext ctx{dp_->gen, 1400, instance_, &dp_->crypto, dp_->counters.get()};
    const size_t sealed = dp::RunOutbound(span, ctx);
    for (size_t i = 0; i < sealed; ++i) {
      const dp::Packet& p = *span[i];
      wire::PacketView v;
      EXPECT_EQ(wire::Parse({p.data, p.len}, v), wire::ParseError::kNone);
      const shm::PeerEntry& e = dp_->gen->peers[p.peer];
      Use use;
      std::memcpy(use.key.data(), e.tx_key, 32);
      std::memcpy(use.key.data() + 32, e.tx_salt, 4);
      use.counter = v.counter;
      if (!uses_.insert(use).second)
        ADD_FAILURE() << "key " << std::hex << e.tx_key_id << " sealed counter " << std::dec
                      << v.counter << " twice (slot " << p.peer << ")";
    }
    return sealed;
  }
  size_t uses() const { return uses_.size(); }

 private:
  struct Use {
    std::array<uint8_t, 36> key{};
    uint64_t counter = 0;
    bool operator<(const Use& o) const { return key != o.key ? key < o.key : counter < o.counter; }
  };
  std::unique_ptr<dp::test_nodes::Node> dp_;
  uint64_t instance_ = kDpA;
  std::set<Use> uses_;
};

TEST(NonceUniqueness, LearnedPeerForgottenAndLearnedAgainIntoAnotherSlot) {
  FakeClock clock;
  CpNode a(clock, kVipA, kEpA, {}, 1, kDpA);
  CpNode b(clock, kVipB, kEpB, {}, 2, 0xB1);
  CpNode c(clock, kVipC, kEpC, {}, 3, 0xC1);
  SealRecorder dp;

  ASSERT_TRUE(a.s->AddLearnedPeer(kVipB, NodeOf(kVipB), kEpB, false));
  a.s->Tick();
  Settle({&a, &b, &c});
  ASSERT_EQ(dp.Send(*a.s, kVipB, 5), 5u);

  // B goes idle at A and is forgotten; B itself still knows A (it did not forget).
  ASSERT_TRUE(a.s->ForgetLearnedPeer(kVipB));
  // C takes the freed slot; its counter continues there under C's key.
  ASSERT_TRUE(a.s->AddLearnedPeer(kVipC, NodeOf(kVipC), kEpC, false));
  RunFor(clock, {&a, &b, &c}, 2000);
  ASSERT_EQ(dp.Send(*a.s, kVipC, 5), 5u);

  // Meanwhile B's HELLOs taught A about B again: learned into another slot whose counter starts
  // lower.
  ASSERT_EQ(a.s->peer_count(), 2u);
  ASSERT_EQ(dp.Send(*a.s, kVipB, 5), 5u);
  ASSERT_EQ(dp.Send(*a.s, kVipC, 5), 5u);
  EXPECT_EQ(dp.uses(), 20u);
}

TEST(NonceUniqueness, ConfiguredPeerRemovedByReloadAndAddedBack) {
  FakeClock clock;
  CpNode a(clock, kVipA, kEpA, {{kVipB, kEpB}, {kVipC, kEpC}}, 1, kDpA, /*learn=*/false);
  CpNode b(clock, kVipB, kEpB, {{kVipA, kEpA}}, 2, 0xB1);
  CpNode c(clock, kVipC, kEpC, {{kVipA, kEpA}}, 3, 0xC1);
  CpNode d(clock, kVipD, kEpD, {{kVipA, kEpA}}, 4, 0xD1);
  const std::vector<CpNode*> all = {&a, &b, &c, &d};
  RunFor(clock, all, 1000);
  SealRecorder dp;
  ASSERT_EQ(dp.Send(*a.s, kVipB, 4), 4u);
  ASSERT_EQ(dp.Send(*a.s, kVipC, 4), 4u);

  // B removed by a reload, D added into B's slot, then B added back into a fresh slot.
  a.s->Reconfigure({{kVipC, kEpC}, {kVipD, kEpD}}, 1000, 5000);
  RunFor(clock, all, 1000);
  ASSERT_EQ(dp.Send(*a.s, kVipD, 4), 4u);
  a.s->Reconfigure({{kVipC, kEpC}, {kVipD, kEpD}, {kVipB, kEpB}}, 1000, 5000);
  RunFor(clock, all, 2000);
  ASSERT_EQ(dp.Send(*a.s, kVipB, 4), 4u);
  EXPECT_EQ(dp.uses(), 16u);
}

TEST(NonceUniqueness, RekeysAndADataplaneRestart) {
  FakeClock clock;
  CpNode a(clock, kVipA, kEpA, {{kVipB, kEpB}}, 1, kDpA, false, 2000);
  CpNode b(clock, kVipB, kEpB, {{kVipA, kEpA}}, 2, 0xB1, false, 2000);
  SealRecorder dp;
  size_t sent = 0;
  for (int step = 0; step < 100; ++step) {  // 10 s: about five rekeys
    RunFor(clock, {&a, &b}, 100);
    sent += dp.Send(*a.s, kVipB, 3);
  }
  EXPECT_EQ(sent, 300u);  // make-before-break: never a step without a usable key
  EXPECT_GE(a.counters.Get(CpCounter::session_rekeys) + a.counters.Get(CpCounter::rekeys_answered),
            4u);

  // A's dataplane restarts: its counters start from zero again, on the same table slots.
  dp.Restart(kDpA + 1);
  a.s->ObserveDataplaneInstance(kDpA + 1);
  EXPECT_EQ(dp.Send(*a.s, kVipB, 3), 0u);  // the old key is bound to the old instance: refused
  RunFor(clock, {&a, &b}, 1000);
  EXPECT_EQ(dp.Send(*a.s, kVipB, 3), 3u);
  EXPECT_EQ(dp.uses(), sent + 3);
}

}  // namespace
}  // namespace ipop::cp
