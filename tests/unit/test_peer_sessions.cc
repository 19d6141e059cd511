// Two (or more) in-memory control planes exchange HELLOs through fake ports and a fake clock.
// The central invariant checked throughout: whatever transmit key a node publishes for a peer,
// the peer's published table has a receive session under that index with the same key, i.e. the
// dataplanes could exchange traffic at every instant, across restarts of either side.
#include "controlplane/sessions/peer_sessions.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "controlplane/sessions/network_id.h"
#include "tests/unit/cp_fakes.h"

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
constexpr uint64_t kDpA = 0xA1, kDpB = 0xB1;

std::array<uint8_t, 32> TestSecret() {
  std::array<uint8_t, 32> s;
  for (size_t i = 0; i < s.size(); ++i) s[i] = uint8_t(i * 7 + 1);
  return s;
}

// What TableWriter would put in shared memory, enough for inheritance.
std::unique_ptr<shm::Generation> GenerationFrom(const shm::TableSpec& spec) {
  auto g = std::make_unique<shm::Generation>();
  std::memset(g.get(), 0, sizeof(*g));
  g->hdr.seq = 1;
  g->hdr.n_peers = uint32_t(spec.peers.size());
  g->hdr.local_vip = spec.local_vip;
  g->hdr.dp_instance = spec.dp_instance;
  for (size_t i = 0; i < spec.peers.size(); ++i) g->peers[i] = spec.peers[i];
  for (const shm::SessionSpec& s : spec.sessions) g->sessions[s.receiver_index] = s.entry;
  return g;
}

// Records HELLOs PeerSessions sends through the overlay.
class FakeRelay final : public HelloRelay {
 public:
  struct Sent {
    NodeAddress to;
    std::vector<uint8_t> bytes;
  };
  bool SendHello(const NodeAddress& to, std::span<const uint8_t> hello) override {
    sent.push_back({to, {hello.begin(), hello.end()}});
    return true;
  }
  std::vector<Sent> sent;
};

NodeAddress NodeOf(uint32_t vip) {
  NodeAddress a{};
  a.fill(uint8_t(vip));
  return a;
}

struct Node {
  Node(FakeClock& clock, uint32_t vip_in, Endpoint ep, std::vector<PeerConfig> peers, uint64_t seed,
       uint64_t dp, const shm::Generation* inherit = nullptr, bool learn = false,
       uint32_t rekey_interval_ms = 120'000)
      : vip(vip_in),
        endpoint(ep),
        random(seed),
        auth(TestSecret(), "testnet"),
        keys(TestSecret(), "testnet") {
    PeerSessionsOptions o;
    o.local_vip = vip;
    o.network = "testnet";
    o.hello_interval_ms = 1000;
    o.peer_timeout_ms = 5000;
    o.peers = std::move(peers);
    o.learn_peers = learn;
    o.learned_idle_ms = 60'000;
    o.rekey_interval_ms = rekey_interval_ms;
    o.rekey_after_messages = 1000;
    o.running_dp_instance = dp;
    s = std::make_unique<PeerSessions>(o, clock, random, auth, keys, port, counters, inherit);
    s->SetTxPackets([this](uint32_t) { return tx_packets; });
    s->ObserveDataplaneInstance(dp);
    s->SetHelloRelay(&relay);
  }
  uint64_t Count(CpCounter c) const { return counters.Get(c); }
  const PeerSessions::PeerStatus StatusOf(uint32_t peer_vip) const {
    for (const auto& st : s->Status())
      if (st.vip == peer_vip) return st;
    ADD_FAILURE() << "no status for peer";
    return {};
  }

  uint32_t vip;
  Endpoint endpoint;
  FakeRandom random;
  FakePort port;
  CpCounters counters;
  PskHelloAuthenticator auth;
  PskKeySource keys;
  FakeRelay relay;
  uint64_t tx_packets = 0;  // what the dataplane reports as sealed, for every slot
  std::unique_ptr<PeerSessions> s;
};

const Endpoint kEpA = Ep4(Ip(192, 0, 2, 1), 5800);
const Endpoint kEpB = Ep4(Ip(192, 0, 2, 2), 5800);
const Endpoint kEpC = Ep4(Ip(192, 0, 2, 3), 5800);

const shm::PeerEntry* EntryFor(const shm::TableSpec& spec, uint32_t vip) {
  for (const shm::PeerEntry& e : spec.peers)
    if ((e.flags & shm::kPeerValid) && e.vip == vip) return &e;
  return nullptr;
}

size_t SessionsFor(const shm::TableSpec& spec, uint32_t vip) {
  size_t n = 0;
  for (const shm::SessionSpec& s : spec.sessions)
    if (s.entry.peer < spec.peers.size() && spec.peers[s.entry.peer].vip == vip) ++n;
  return n;
}

// The core invariant: from's published tx key for `to` opens at `to`.
::testing::AssertionResult TxOpensAtPeer(const Node& from, const Node& to) {
  const shm::TableSpec fs = from.s->BuildSpec();
  const shm::TableSpec ts = to.s->BuildSpec();
  const shm::PeerEntry* e = EntryFor(fs, to.vip);
  if (e == nullptr) return ::testing::AssertionFailure() << "no peer entry";
  if (!(e->flags & shm::kPeerTxReady)) return ::testing::AssertionFailure() << "not tx-ready";
  for (const shm::SessionSpec& s : ts.sessions) {
    if (s.receiver_index != e->tx_remote_index) continue;
    if (s.entry.peer >= ts.peers.size() || ts.peers[s.entry.peer].vip != from.vip)
      return ::testing::AssertionFailure() << "index " << s.receiver_index << " is another peer's";
    if (std::memcmp(s.entry.rx_key, e->tx_key, 32) != 0 ||
        std::memcmp(s.entry.rx_salt, e->tx_salt, 4) != 0 || s.entry.key_id != e->tx_key_id ||
        s.entry.cipher != e->cipher)
      return ::testing::AssertionFailure() << "key mismatch at index " << s.receiver_index;
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "peer has no session " << e->tx_remote_index;
}

::testing::AssertionResult UniqueIndexes(const shm::TableSpec& spec) {
  std::set<uint32_t> seen;
  for (const shm::SessionSpec& s : spec.sessions) {
    if (s.receiver_index == 0 || s.receiver_index >= shm::kMaxSessions)
      return ::testing::AssertionFailure() << "index out of range " << s.receiver_index;
    if (!seen.insert(s.receiver_index).second)
      return ::testing::AssertionFailure() << "duplicate index " << s.receiver_index;
  }
  return ::testing::AssertionSuccess();
}

// Hands every queued datagram of `from` to whichever node owns the destination endpoint.
// Returns the number delivered.
size_t Deliver(Node& from, std::vector<Node*> nodes) {
  std::vector<FakePort::Datagram> out;
  out.swap(from.port.sent);
  size_t n = 0;
  for (const auto& d : out)
    for (Node* to : nodes)
      if (to != &from && d.to == to->endpoint) {
        to->s->OnControlDatagram(from.endpoint, d.bytes);
        ++n;
      }
  return n;
}

// Delivers until nobody has anything queued (immediate replies included).
void Settle(std::vector<Node*> nodes) {
  for (int round = 0; round < 20; ++round) {
    size_t n = 0;
    for (Node* x : nodes) n += Deliver(*x, nodes);
    if (n == 0) return;
  }
  ADD_FAILURE() << "HELLO exchange did not settle";
}

// Runs `ms` of simulated time in 100 ms steps: every node ticks, everything is delivered.
void RunFor(FakeClock& clock, std::vector<Node*> nodes, uint64_t ms) {
  for (uint64_t t = 0; t < ms; t += 100) {
    clock.AdvanceMs(100);
    for (Node* x : nodes) x->s->Tick();
    Settle(nodes);
  }
}

class PeerSessionsTest : public ::testing::Test {
 protected:
  std::unique_ptr<Node> MakeA(uint64_t seed = 1, const shm::Generation* g = nullptr) {
    return std::make_unique<Node>(clock_, kVipA, kEpA, std::vector<PeerConfig>{{kVipB, kEpB}}, seed,
                                  kDpA, g);
  }
  std::unique_ptr<Node> MakeB(uint64_t seed = 2, const shm::Generation* g = nullptr) {
    return std::make_unique<Node>(clock_, kVipB, kEpB, std::vector<PeerConfig>{{kVipA, kEpA}}, seed,
                                  kDpB, g);
  }
  FakeClock clock_;
};

TEST_F(PeerSessionsTest, HandshakeReachesTxReadyWithMatchingKeys) {
  auto a = MakeA();
  auto b = MakeB();
  EXPECT_FALSE(EntryFor(a->s->BuildSpec(), kVipB)->flags & shm::kPeerTxReady);
  EXPECT_EQ(SessionsFor(a->s->BuildSpec(), kVipB), 0u);  // peer public key unknown: no rx yet

  // One HELLO from A converges both sides through immediate replies, without waiting for the
  // next hello interval: A -> B (B learns A), B -> A (A learns B, B echoed A: A tx-ready),
  // A -> B (A echoed B: B tx-ready).
  a->s->Tick();
  Settle({a.get(), b.get()});
  EXPECT_TRUE(TxOpensAtPeer(*a, *b));
  EXPECT_TRUE(TxOpensAtPeer(*b, *a));
  EXPECT_TRUE(a->StatusOf(kVipB).tx_ready);
  EXPECT_TRUE(b->StatusOf(kVipA).tx_ready);
  EXPECT_TRUE(a->StatusOf(kVipB).up);
  EXPECT_TRUE(b->StatusOf(kVipA).up);
  EXPECT_EQ(a->Count(CpCounter::tx_keys_ready), 1u);
  EXPECT_EQ(b->Count(CpCounter::tx_keys_ready), 1u);
  // Published entries carry the dataplane instance of their own node.
  EXPECT_EQ(EntryFor(a->s->BuildSpec(), kVipB)->dp_instance, kDpA);
  EXPECT_EQ(EntryFor(b->s->BuildSpec(), kVipA)->dp_instance, kDpB);
  // Route and gateway MAC.
  const shm::TableSpec spec = a->s->BuildSpec();
  ASSERT_EQ(spec.routes.size(), 1u);
  EXPECT_EQ(spec.routes[0].prefix, kVipB);
  EXPECT_EQ(spec.routes[0].length, 32);
  EXPECT_EQ(spec.gateway_mac[0], 0x02);
  EXPECT_EQ(std::memcmp(EntryFor(spec, kVipB)->underlay_addr, kEpB.addr, 16), 0);
  EXPECT_EQ(EntryFor(spec, kVipB)->underlay_port, kEpB.port);

  // Steady state: periodic HELLOs change nothing in the table.
  a->s->MarkPublished();
  b->s->MarkPublished();
  RunFor(clock_, {a.get(), b.get()}, 3000);
  EXPECT_FALSE(a->s->spec_changed());
  EXPECT_FALSE(b->s->spec_changed());
  EXPECT_GT(a->Count(CpCounter::hello_sent), 3u);
}

TEST_F(PeerSessionsTest, ControlPlaneRestartKeepsTrafficFlowing) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  ASSERT_TRUE(TxOpensAtPeer(*a, *b));
  const uint64_t a_key_before = EntryFor(a->s->BuildSpec(), kVipB)->tx_key_id;

  // B's control plane restarts: new key pair, inherits the generation its dataplane runs with.
  const shm::TableSpec b_before = b->s->BuildSpec();
  auto gen = GenerationFrom(b_before);
  clock_.AdvanceMs(10);
  auto b2 = std::make_unique<Node>(clock_, kVipB, kEpB, std::vector<PeerConfig>{{kVipA, kEpA}}, 22,
                                   kDpB, gen.get());
  b.reset();
  EXPECT_NE(b2->s->local_public(kVipA), PublicKey{});
  EXPECT_EQ(b2->Count(CpCounter::inherited_peers), 1u);
  EXPECT_GE(b2->Count(CpCounter::inherited_sessions), 1u);
  // Republished unchanged.
  const shm::TableSpec b2_first = b2->s->BuildSpec();
  ASSERT_EQ(b2_first.peers.size(), b_before.peers.size());
  EXPECT_EQ(std::memcmp(b2_first.peers.data(), b_before.peers.data(),
                        b_before.peers.size() * sizeof(shm::PeerEntry)),
            0);
  EXPECT_EQ(b2_first.sessions.size(), b_before.sessions.size());
  EXPECT_TRUE(b2->StatusOf(kVipA).tx_inherited);

  // Step the new handshake one delivery at a time: traffic must open both ways at every step.
  std::vector<Node*> nodes = {a.get(), b2.get()};
  b2->s->Tick();
  for (int step = 0; step < 10; ++step) {
    ASSERT_TRUE(TxOpensAtPeer(*a, *b2)) << "step " << step;
    ASSERT_TRUE(TxOpensAtPeer(*b2, *a)) << "step " << step;
    Deliver(*b2, nodes);
    ASSERT_TRUE(TxOpensAtPeer(*a, *b2)) << "step " << step;
    ASSERT_TRUE(TxOpensAtPeer(*b2, *a)) << "step " << step;
    Deliver(*a, nodes);
  }
  EXPECT_TRUE(b2->StatusOf(kVipA).tx_ready);
  EXPECT_TRUE(a->StatusOf(kVipB).tx_ready);
  EXPECT_EQ(a->Count(CpCounter::peer_key_changes), 1u);
  EXPECT_NE(EntryFor(a->s->BuildSpec(), kVipB)->tx_key_id, a_key_before);
  // Old sessions are still installed on both sides (grace period).
  EXPECT_EQ(SessionsFor(a->s->BuildSpec(), kVipB), 2u);
  EXPECT_EQ(SessionsFor(b2->s->BuildSpec(), kVipA), 2u);
  EXPECT_TRUE(UniqueIndexes(b2->s->BuildSpec()));

  // After 2 x peer timeout they are gone; traffic still opens.
  RunFor(clock_, nodes, 2 * 5000 + 500);
  EXPECT_EQ(SessionsFor(a->s->BuildSpec(), kVipB), 1u);
  EXPECT_EQ(SessionsFor(b2->s->BuildSpec(), kVipA), 1u);
  EXPECT_TRUE(TxOpensAtPeer(*a, *b2));
  EXPECT_TRUE(TxOpensAtPeer(*b2, *a));
  EXPECT_GE(a->Count(CpCounter::rx_sessions_retired), 1u);
}

TEST_F(PeerSessionsTest, OldSessionsStayWhileNewHandshakeCannotComplete) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  auto gen = GenerationFrom(b->s->BuildSpec());
  clock_.AdvanceMs(10);
  auto b2 = std::make_unique<Node>(clock_, kVipB, kEpB, std::vector<PeerConfig>{{kVipA, kEpA}}, 23,
                                   kDpB, gen.get());
  // Only B2 -> A gets through: A learns the new public key but B2 never hears back.
  for (int i = 0; i < 50; ++i) {
    clock_.AdvanceMs(1000);
    b2->s->Tick();
    a->s->Tick();
    Deliver(*b2, {a.get(), b2.get()});
    a->port.sent.clear();
  }
  // A keeps the session B2's dataplane still sends on; both old tx keys still open.
  EXPECT_TRUE(TxOpensAtPeer(*b2, *a));
  EXPECT_TRUE(TxOpensAtPeer(*a, *b2));
  EXPECT_FALSE(b2->StatusOf(kVipA).tx_ready);
}

TEST_F(PeerSessionsTest, ReplayedHellosAreIgnored) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  ASSERT_FALSE(a->port.sent.empty());
  const std::vector<uint8_t> first_hello_of_a = a->port.sent.front().bytes;
  Settle({a.get(), b.get()});

  // A restarts (new key pair) and re-converges with B.
  auto gen = GenerationFrom(a->s->BuildSpec());
  auto a2 = MakeA(11, gen.get());
  clock_.AdvanceMs(10);
  a2->s->Tick();
  Settle({a2.get(), b.get()});
  ASSERT_TRUE(TxOpensAtPeer(*a2, *b));
  ASSERT_TRUE(TxOpensAtPeer(*b, *a2));
  b->s->MarkPublished();

  // The old HELLO (old public key, older timestamp) replayed from anywhere changes nothing.
  const uint64_t stale_before = b->Count(CpCounter::hello_stale);
  const shm::TableSpec spec_before = b->s->BuildSpec();
  b->s->OnControlDatagram(kEpA, first_hello_of_a);
  b->s->OnControlDatagram(kEpC, first_hello_of_a);
  EXPECT_EQ(b->Count(CpCounter::hello_stale), stale_before + 2);
  EXPECT_FALSE(b->s->spec_changed());
  EXPECT_TRUE(b->StatusOf(kVipA).endpoint == kEpA);
  EXPECT_TRUE(TxOpensAtPeer(*a2, *b));

  // A current HELLO replayed (same timestamp) is stale too and cannot move the endpoint.
  clock_.AdvanceMs(1000);
  a2->s->Tick();
  ASSERT_FALSE(a2->port.sent.empty());
  const std::vector<uint8_t> latest = a2->port.sent.back().bytes;
  Settle({a2.get(), b.get()});
  b->s->OnControlDatagram(kEpC, latest);
  EXPECT_EQ(b->Count(CpCounter::hello_stale), stale_before + 3);
  EXPECT_TRUE(b->StatusOf(kVipA).endpoint == kEpA);
  EXPECT_EQ(b->Count(CpCounter::endpoint_changes), 0u);
}

TEST_F(PeerSessionsTest, PeerTimeoutMarksDownAndRecovers) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  ASSERT_TRUE(a->StatusOf(kVipB).up);
  // B goes silent: still up just before the 5 s timeout, down just after.
  auto silent_ms = [&](int ms) {
    for (int i = 0; i < ms / 100; ++i) {
      clock_.AdvanceMs(100);
      a->s->Tick();
      a->port.sent.clear();
    }
  };
  silent_ms(4900);
  EXPECT_TRUE(a->StatusOf(kVipB).up);
  EXPECT_EQ(a->Count(CpCounter::peer_down), 0u);
  silent_ms(200);
  EXPECT_FALSE(a->StatusOf(kVipB).up);
  EXPECT_EQ(a->s->peers_up(), 0u);
  EXPECT_EQ(a->Count(CpCounter::peer_down), 1u);
  // Keys stay published: a peer coming back needs no new handshake to receive.
  EXPECT_TRUE(TxOpensAtPeer(*a, *b));
  RunFor(clock_, {a.get(), b.get()}, 1000);
  EXPECT_TRUE(a->StatusOf(kVipB).up);
  EXPECT_EQ(a->Count(CpCounter::peer_up), 2u);
}

TEST_F(PeerSessionsTest, InheritanceDropsUnconfiguredPeersAndReservesIndexes) {
  // A knows B and C; both converge.
  auto a = std::make_unique<Node>(clock_, kVipA, kEpA,
                                  std::vector<PeerConfig>{{kVipB, kEpB}, {kVipC, kEpC}}, 1, kDpA);
  auto b = MakeB();
  auto c =
      std::make_unique<Node>(clock_, kVipC, kEpC, std::vector<PeerConfig>{{kVipA, kEpA}}, 3, 0xC1);
  a->s->Tick();
  Settle({a.get(), b.get(), c.get()});
  ASSERT_TRUE(TxOpensAtPeer(*a, *c));
  const shm::TableSpec before = a->s->BuildSpec();
  const uint32_t b_slot = a->StatusOf(kVipB).slot;

  // A restarts with C removed from its config.
  auto gen = GenerationFrom(before);
  clock_.AdvanceMs(10);
  auto a2 = std::make_unique<Node>(clock_, kVipA, kEpA, std::vector<PeerConfig>{{kVipB, kEpB}}, 12,
                                   kDpA, gen.get());
  const shm::TableSpec first = a2->s->BuildSpec();
  EXPECT_EQ(EntryFor(first, kVipC), nullptr);  // gone at the first publish
  EXPECT_EQ(SessionsFor(first, kVipC), 0u);
  EXPECT_EQ(a2->StatusOf(kVipB).slot, b_slot);  // same peer id: its dataplane counters continue
  EXPECT_GE(a2->Count(CpCounter::inherit_rejected), 1u);
  EXPECT_TRUE(TxOpensAtPeer(*a2, *b));

  // New sessions never take an index an inherited session still uses.
  std::set<uint32_t> inherited;
  for (const auto& s : first.sessions) inherited.insert(s.receiver_index);
  a2->s->Tick();
  Settle({a2.get(), b.get()});
  const shm::TableSpec after = a2->s->BuildSpec();
  EXPECT_TRUE(UniqueIndexes(after));
  EXPECT_EQ(SessionsFor(after, kVipB), inherited.size() + 1);
  EXPECT_TRUE(TxOpensAtPeer(*a2, *b));
  EXPECT_TRUE(TxOpensAtPeer(*b, *a2));
}

TEST_F(PeerSessionsTest, CorruptGenerationIsNotTrusted) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  auto gen = GenerationFrom(a->s->BuildSpec());
  // A session pointing past n_peers, one with an unknown cipher, and an absurd peer count.
  gen->sessions[4000] = gen->sessions[a->StatusOf(kVipB).rx_index];
  gen->sessions[4000].peer = 999;
  gen->sessions[4001] = gen->sessions[a->StatusOf(kVipB).rx_index];
  gen->sessions[4001].cipher = 77;
  auto a2 = MakeA(5, gen.get());
  EXPECT_EQ(a2->Count(CpCounter::inherit_rejected), 2u);
  EXPECT_EQ(SessionsFor(a2->s->BuildSpec(), kVipB), 1u);

  gen->hdr.n_peers = shm::kMaxPeers + 1;
  auto a3 = MakeA(6, gen.get());
  EXPECT_EQ(a3->Count(CpCounter::inherited_peers), 0u);
  EXPECT_EQ(a3->s->BuildSpec().sessions.size(), 0u);
  EXPECT_FALSE(EntryFor(a3->s->BuildSpec(), kVipB)->flags & shm::kPeerTxReady);
}

TEST_F(PeerSessionsTest, DataplaneRestartForcesNewTxKeys) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  const shm::PeerEntry before = *EntryFor(a->s->BuildSpec(), kVipB);
  ASSERT_EQ(a->s->BuildSpec().sessions.size(), 1u);
  const shm::SessionSpec rx_before = a->s->BuildSpec().sessions[0];
  const PublicKey public_before = a->s->local_public(kVipB);

  a->s->ObserveDataplaneInstance(0xA2);
  EXPECT_NE(a->s->local_public(kVipB), public_before);
  EXPECT_EQ(a->Count(CpCounter::local_rekeys), 1u);
  // Until B has the new public key, the old key stays bound to the old instance (the new dataplane
  // refuses it as stale rather than reusing its AEAD nonces).
  const shm::PeerEntry during = *EntryFor(a->s->BuildSpec(), kVipB);
  EXPECT_EQ(during.tx_key_id, before.tx_key_id);
  EXPECT_EQ(during.dp_instance, kDpA);

  a->s->Tick();  // HELLOs are due at once after a rekey
  Settle({a.get(), b.get()});
  const shm::PeerEntry after = *EntryFor(a->s->BuildSpec(), kVipB);
  EXPECT_NE(after.tx_key_id, before.tx_key_id);
  EXPECT_EQ(after.dp_instance, 0xA2u);
  EXPECT_TRUE(TxOpensAtPeer(*a, *b));
  EXPECT_TRUE(TxOpensAtPeer(*b, *a));
  // B's key towards A changed too (it is derived from A's public key).
  EXPECT_EQ(b->Count(CpCounter::tx_keys_ready), 2u);
  // A's old receive session is gone at once: the new dataplane's replay window for it would be
  // empty. (A may hold one more new session, keyed with B's old public key before B answered
  // with a fresh one.) B keeps its old one (B's dataplane did not restart) for the grace period.
  for (const shm::SessionSpec& s : a->s->BuildSpec().sessions)
    EXPECT_NE(s.entry.key_id, rx_before.entry.key_id);
  EXPECT_EQ(a->Count(CpCounter::rx_sessions_flushed), 1u);
  EXPECT_EQ(SessionsFor(b->s->BuildSpec(), kVipA), 2u);
}

TEST_F(PeerSessionsTest, ControlPlaneStartedAfterADataplaneRestartInheritsNoReceiveSessions) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  ASSERT_TRUE(TxOpensAtPeer(*a, *b));
  auto gen = GenerationFrom(a->s->BuildSpec());
  ASSERT_EQ(gen->hdr.dp_instance, kDpA);
  // A's control plane is down while its dataplane restarts (new instance 0xA7, empty replay
  // windows); then the control plane starts again and finds the old generation.
  auto a2 = std::make_unique<Node>(clock_, kVipA, kEpA, std::vector<PeerConfig>{{kVipB, kEpB}}, 17,
                                   0xA7, gen.get());
  EXPECT_EQ(a2->Count(CpCounter::inherited_peers), 1u);
  EXPECT_EQ(a2->Count(CpCounter::inherited_sessions), 0u);
  EXPECT_EQ(a2->Count(CpCounter::rx_sessions_flushed), 1u);
  EXPECT_EQ(SessionsFor(a2->s->BuildSpec(), kVipB), 0u);
  // The same generation under the dataplane it was published for keeps its sessions.
  auto a3 = std::make_unique<Node>(clock_, kVipA, kEpA, std::vector<PeerConfig>{{kVipB, kEpB}}, 18,
                                   kDpA, gen.get());
  EXPECT_EQ(a3->Count(CpCounter::inherited_sessions), 1u);
}

TEST_F(PeerSessionsTest, KeysFromBeforeAnyDataplaneAreBoundToTheFirstOne) {
  auto a =
      std::make_unique<Node>(clock_, kVipA, kEpA, std::vector<PeerConfig>{{kVipB, kEpB}}, 1, 0);
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  EXPECT_EQ(EntryFor(a->s->BuildSpec(), kVipB)->dp_instance, 0u);
  const PublicKey n = a->s->local_public(kVipB);
  a->s->MarkPublished();
  a->s->ObserveDataplaneInstance(0xA5);
  EXPECT_EQ(a->s->local_public(kVipB), n);  // nothing was sealed with these keys: no rekey needed
  EXPECT_EQ(EntryFor(a->s->BuildSpec(), kVipB)->dp_instance, 0xA5u);
  EXPECT_TRUE(a->s->spec_changed());
  EXPECT_EQ(a->Count(CpCounter::local_rekeys), 0u);
}

TEST_F(PeerSessionsTest, RepeatedRestartsNeverCollideIndexes) {
  auto a = MakeA();
  auto b = MakeB();
  std::vector<Node*> nodes = {a.get(), b.get()};
  for (int i = 0; i < 40; ++i) {
    // Alternate dataplane restarts on both sides and partial exchanges.
    if (i % 3 == 0) a->s->ObserveDataplaneInstance(0x1000 + uint64_t(i));
    if (i % 4 == 1) b->s->ObserveDataplaneInstance(0x2000 + uint64_t(i));
    clock_.AdvanceMs(700);
    a->s->Tick();
    b->s->Tick();
    if (i % 5 != 2) Settle(nodes);
    ASSERT_TRUE(UniqueIndexes(a->s->BuildSpec())) << i;
    ASSERT_TRUE(UniqueIndexes(b->s->BuildSpec())) << i;
    ASSERT_LE(SessionsFor(a->s->BuildSpec(), kVipB), 1 + PeerSessions::kMaxRetiring);
  }
  Settle(nodes);
  a->s->Tick();
  Settle(nodes);
  EXPECT_TRUE(TxOpensAtPeer(*a, *b));
  EXPECT_TRUE(TxOpensAtPeer(*b, *a));
}

// A member holding the secret sends, as B, a HELLO with a low-order public key (the shared secret
// would be all zeros). A counts the failed derivation, installs nothing for it, keeps the working
// keys, and re-keys normally once the real B speaks again.
TEST_F(PeerSessionsTest, LowOrderPeerKeyInstallsNothing) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  ASSERT_TRUE(TxOpensAtPeer(*a, *b));
  const shm::TableSpec before = a->s->BuildSpec();
  const uint64_t accepted_before = a->Count(CpCounter::hello_accepted);

  Hello forged;
  forged.cipher = uint8_t(shm::Cipher::kAes256Gcm);
  forged.sender_vip = kVipB;
  forged.receiver_vip = kVipA;
  forged.sender_public[0] = 1;  // u = 1: a point of order 4
  forged.echo_public = a->s->local_public(kVipB);
  forged.sender_receiver_index = 99;
  forged.timestamp_ns = clock_.wall_ns + 500'000'000ull;
  uint8_t buf[kMaxHelloSize];
  const size_t n = EncodeHello(forged, NetworkHash("testnet"), a->auth, buf);
  ASSERT_NE(n, 0u);
  a->s->OnControlDatagram(kEpB, {buf, n});
  EXPECT_EQ(a->Count(CpCounter::hello_accepted), accepted_before + 1);  // tag and time are good
  EXPECT_EQ(a->Count(CpCounter::key_derivation_failed), 1u);
  EXPECT_EQ(a->Count(CpCounter::peer_key_changes), 1u);
  const shm::TableSpec after = a->s->BuildSpec();
  EXPECT_EQ(after.sessions.size(), before.sessions.size());
  EXPECT_EQ(EntryFor(after, kVipB)->tx_key_id, EntryFor(before, kVipB)->tx_key_id);
  EXPECT_EQ(EntryFor(after, kVipB)->tx_remote_index, EntryFor(before, kVipB)->tx_remote_index);
  EXPECT_TRUE(TxOpensAtPeer(*a, *b));
  EXPECT_TRUE(TxOpensAtPeer(*b, *a));

  a->port.sent.clear();  // the immediate reply went to B's endpoint, not to the forger
  RunFor(clock_, {a.get(), b.get()}, 2000);
  EXPECT_TRUE(TxOpensAtPeer(*a, *b));
  EXPECT_TRUE(TxOpensAtPeer(*b, *a));
  EXPECT_TRUE(a->StatusOf(kVipB).tx_ready);
  EXPECT_EQ(a->Count(CpCounter::key_derivation_failed), 1u);
}

TEST_F(PeerSessionsTest, RoamingUpdatesEndpoint) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  a->s->MarkPublished();
  // B's NAT mapping changes: its next HELLO arrives from another address.
  const Endpoint roamed = Ep4(Ip(198, 51, 100, 9), 40000);
  clock_.AdvanceMs(1000);
  b->s->Tick();
  ASSERT_FALSE(b->port.sent.empty());
  a->s->OnControlDatagram(roamed, b->port.sent.back().bytes);
  b->port.sent.clear();
  EXPECT_TRUE(a->s->spec_changed());
  EXPECT_EQ(a->Count(CpCounter::endpoint_changes), 1u);
  const shm::TableSpec roamed_spec = a->s->BuildSpec();
  const shm::PeerEntry* e = EntryFor(roamed_spec, kVipB);
  EXPECT_EQ(e->underlay_port, 40000);
  EXPECT_EQ(std::memcmp(e->underlay_addr, roamed.addr, 16), 0);
  // HELLOs now go to the learned endpoint and still to the configured one.
  a->port.sent.clear();
  clock_.AdvanceMs(1000);
  a->s->Tick();
  ASSERT_EQ(a->port.sent.size(), 2u);
  EXPECT_TRUE(a->port.sent[0].to == roamed);
  EXPECT_TRUE(a->port.sent[1].to == kEpB);
}

TEST_F(PeerSessionsTest, RejectsStrangersWrongReceiverAndCipherMismatch) {
  auto a = MakeA();
  // C is not in A's config.
  auto c =
      std::make_unique<Node>(clock_, kVipC, kEpC, std::vector<PeerConfig>{{kVipA, kEpA}}, 3, 0xC1);
  c->s->Tick();
  Deliver(*c, {a.get(), c.get()});
  EXPECT_EQ(a->Count(CpCounter::hello_unknown_peer), 1u);
  EXPECT_EQ(a->s->BuildSpec().sessions.size(), 0u);

  // B addresses a HELLO to another VIP but sends it to A.
  auto b =
      std::make_unique<Node>(clock_, kVipB, kEpB, std::vector<PeerConfig>{{kVipC, kEpA}}, 2, kDpB);
  b->s->Tick();
  Deliver(*b, {a.get(), b.get()});
  EXPECT_EQ(a->Count(CpCounter::hello_wrong_receiver), 1u);

  // B configured with another cipher.
  PeerSessionsOptions o;
  o.local_vip = kVipB;
  o.network = "testnet";
  o.cipher = shm::Cipher::kChaCha20Poly1305;
  o.peers = {{kVipA, kEpA}};
  Node b2(clock_, kVipB, kEpB, {}, 9, kDpB);
  b2.s =
      std::make_unique<PeerSessions>(o, clock_, b2.random, b2.auth, b2.keys, b2.port, b2.counters);
  b2.s->Tick();
  Deliver(b2, {a.get(), &b2});
  EXPECT_EQ(a->Count(CpCounter::hello_cipher_mismatch), 1u);
  EXPECT_FALSE(a->StatusOf(kVipB).up);

  // Garbage and a wrong-secret HELLO are counted, not acted on.
  const std::vector<uint8_t> junk(10, 0x21);
  a->s->OnControlDatagram(kEpB, junk);
  EXPECT_EQ(a->Count(CpCounter::hello_too_short), 1u);
}

TEST_F(PeerSessionsTest, ReconfigureAddsRemovesAndChangesPeers) {
  auto a = MakeA();
  auto b = MakeB();
  a->s->Tick();
  Settle({a.get(), b.get()});
  const uint32_t b_slot = a->StatusOf(kVipB).slot;
  const Endpoint b_new = Ep4(Ip(192, 0, 2, 22), 5900);
  a->s->MarkPublished();
  ReconfigureSummary sum = a->s->Reconfigure({{kVipB, b_new}, {kVipC, kEpC}}, 500, 2000);
  EXPECT_EQ(sum.added, 1u);
  EXPECT_EQ(sum.changed, 1u);
  EXPECT_EQ(sum.removed, 0u);
  EXPECT_TRUE(a->s->spec_changed());
  const shm::TableSpec spec = a->s->BuildSpec();
  EXPECT_EQ(EntryFor(spec, kVipB)->underlay_port, 5900);
  EXPECT_NE(EntryFor(spec, kVipC), nullptr);
  EXPECT_NE(a->StatusOf(kVipC).slot, b_slot);
  EXPECT_EQ(spec.routes.size(), 2u);

  sum = a->s->Reconfigure({{kVipC, kEpC}}, 500, 2000);
  EXPECT_EQ(sum.removed, 1u);
  const shm::TableSpec spec2 = a->s->BuildSpec();
  EXPECT_EQ(EntryFor(spec2, kVipB), nullptr);
  EXPECT_EQ(SessionsFor(spec2, kVipB), 0u);
  EXPECT_EQ(a->s->peer_count(), 1u);
}

// ---- peers learned through the overlay

// Hands every HELLO queued in `from`'s relay to the node it names, as the overlay would.
size_t DeliverRelayed(Node& from, std::vector<Node*> nodes) {
  std::vector<FakeRelay::Sent> out;
  out.swap(from.relay.sent);
  const NodeAddress source = NodeOf(from.vip);
  for (const auto& d : out)
    for (Node* to : nodes)
      if (to != &from && d.to == NodeOf(to->vip))
        to->s->OnControlDatagram(from.endpoint, d.bytes, &source);
  return out.size();
}

void SettleAll(std::vector<Node*> nodes) {
  for (int round = 0; round < 20; ++round) {
    size_t n = 0;
    for (Node* x : nodes) n += Deliver(*x, nodes) + DeliverRelayed(*x, nodes);
    if (n == 0) return;
  }
  ADD_FAILURE() << "exchange did not settle";
}

TEST_F(PeerSessionsTest, LearnedDirectPeerHandshakesAndTheOtherSideLearnsIt) {
  Node a(clock_, kVipA, kEpA, {}, 1, kDpA, nullptr, /*learn=*/true);
  Node b(clock_, kVipB, kEpB, {}, 2, kDpB, nullptr, /*learn=*/true);
  ASSERT_TRUE(a.s->AddLearnedPeer(kVipB, NodeOf(kVipB), kEpB, /*relayed=*/false));
  EXPECT_FALSE(a.s->AddLearnedPeer(kVipB, NodeOf(kVipB), kEpB, false));  // already known
  EXPECT_FALSE(a.s->AddLearnedPeer(kVipA, NodeOf(kVipA), kEpA, false));  // ourselves
  a.s->Tick();
  SettleAll({&a, &b});
  EXPECT_TRUE(TxOpensAtPeer(a, b));
  EXPECT_TRUE(TxOpensAtPeer(b, a));
  EXPECT_TRUE(a.StatusOf(kVipB).learned);
  EXPECT_TRUE(b.StatusOf(kVipA).learned);  // from A's authenticated HELLO
  EXPECT_FALSE(b.StatusOf(kVipA).relayed);
  EXPECT_TRUE(b.StatusOf(kVipA).endpoint == kEpA);
  EXPECT_EQ(a.Count(CpCounter::peers_learned), 1u);
  EXPECT_EQ(b.Count(CpCounter::peers_learned), 1u);
  EXPECT_TRUE(a.relay.sent.empty());
}

TEST_F(PeerSessionsTest, RelayedPeerHandshakesThroughTheOverlayThenSwitchesToDirect) {
  Node a(clock_, kVipA, kEpA, {}, 1, kDpA, nullptr, true);
  Node b(clock_, kVipB, kEpB, {}, 2, kDpB, nullptr, true);
  ASSERT_TRUE(a.s->AddLearnedPeer(kVipB, NodeOf(kVipB), kEpB, /*relayed=*/true));
  a.s->Tick();
  EXPECT_TRUE(a.port.sent.empty());  // nothing goes to B's endpoint directly
  ASSERT_EQ(a.relay.sent.size(), 1u);
  EXPECT_EQ(a.relay.sent[0].to, NodeOf(kVipB));
  SettleAll({&a, &b});
  EXPECT_TRUE(TxOpensAtPeer(a, b));
  EXPECT_TRUE(TxOpensAtPeer(b, a));
  // B learned A on the path the HELLO took: relayed to A's node.
  EXPECT_TRUE(b.StatusOf(kVipA).relayed);
  EXPECT_EQ(b.StatusOf(kVipA).node, NodeOf(kVipA));
  EXPECT_EQ(b.Count(CpCounter::hello_via_overlay), b.Count(CpCounter::hello_received));
  const shm::TableSpec relayed_spec = a.s->BuildSpec();
  const shm::PeerEntry* e = EntryFor(relayed_spec, kVipB);
  ASSERT_NE(e, nullptr);
  EXPECT_TRUE(e->flags & shm::kPeerRelayed);
  EXPECT_EQ(0, std::memcmp(e->relay_dst, NodeOf(kVipB).data(), 20));
  const uint64_t key_id = e->tx_key_id;

  // A shortcut link came up: the path changes, the keys do not (no packet is lost).
  a.s->SetPath(kVipB, false, kEpB);
  b.s->SetPath(kVipA, false, kEpA);
  const shm::TableSpec direct_spec = a.s->BuildSpec();
  e = EntryFor(direct_spec, kVipB);
  ASSERT_NE(e, nullptr);
  EXPECT_FALSE(e->flags & shm::kPeerRelayed);
  EXPECT_EQ(e->tx_key_id, key_id);
  EXPECT_EQ(e->underlay_port, kEpB.port);
  EXPECT_TRUE(TxOpensAtPeer(a, b));
  EXPECT_EQ(a.Count(CpCounter::path_changes), 1u);
  // From now on HELLOs go to the endpoint.
  clock_.AdvanceMs(1000);
  a.s->Tick();
  EXPECT_TRUE(a.relay.sent.empty());
  EXPECT_FALSE(a.port.sent.empty());
  RunFor(clock_, {&a, &b}, 3000);
  EXPECT_TRUE(a.StatusOf(kVipB).up);
  EXPECT_TRUE(TxOpensAtPeer(b, a));
}

TEST_F(PeerSessionsTest, UnusedLearnedPeersAreForgottenStaticOnesAndUsedOnesStay) {
  Node a(clock_, kVipA, kEpA, {{kVipC, kEpC}}, 1, kDpA, nullptr, true);
  // B does not learn A back, so B's HELLOs cannot teach A about B again once A forgot it.
  Node b(clock_, kVipB, kEpB, {}, 2, kDpB, nullptr, false);
  ASSERT_TRUE(a.s->AddLearnedPeer(kVipB, NodeOf(kVipB), kEpB, false));
  RunFor(clock_, {&a, &b}, 30'000);
  a.s->MarkUsed(kVipB);
  RunFor(clock_, {&a, &b}, 40'000);  // 40 s since the last use: kept (idle limit 60 s)
  EXPECT_EQ(a.s->peer_count(), 2u);
  // A reload that does not list it keeps a learned peer.
  a.s->Reconfigure({{kVipC, kEpC}}, 1000, 5000);
  EXPECT_EQ(a.s->peer_count(), 2u);
  RunFor(clock_, {&a, &b}, 25'000);  // 65 s unused
  EXPECT_EQ(a.s->peer_count(), 1u);  // only the static peer C is left
  EXPECT_EQ(a.Count(CpCounter::peers_forgotten), 1u);
  EXPECT_TRUE(EntryFor(a.s->BuildSpec(), kVipB) == nullptr);
}

TEST_F(PeerSessionsTest, RestartedControlPlaneInheritsLearnedPeers) {
  Node a(clock_, kVipA, kEpA, {}, 1, kDpA, nullptr, true);
  Node b(clock_, kVipB, kEpB, {}, 2, kDpB, nullptr, true);
  Node c(clock_, kVipC, kEpC, {}, 3, kDpB + 1, nullptr, true);
  ASSERT_TRUE(a.s->AddLearnedPeer(kVipB, NodeOf(kVipB), kEpB, /*relayed=*/false));
  ASSERT_TRUE(a.s->AddLearnedPeer(kVipC, NodeOf(kVipC), kEpC, /*relayed=*/true));
  a.s->Tick();
  SettleAll({&a, &b, &c});
  ASSERT_TRUE(TxOpensAtPeer(a, b));
  ASSERT_TRUE(TxOpensAtPeer(a, c));
  const auto g = GenerationFrom(a.s->BuildSpec());
  Node a2(clock_, kVipA, kEpA, {}, 9, kDpA, g.get(), true);
  EXPECT_EQ(a2.Count(CpCounter::inherited_peers), 2u);
  EXPECT_TRUE(a2.StatusOf(kVipB).learned);
  EXPECT_FALSE(a2.StatusOf(kVipB).relayed);
  EXPECT_TRUE(a2.StatusOf(kVipC).relayed);
  EXPECT_EQ(a2.StatusOf(kVipC).node, NodeOf(kVipC));
  EXPECT_TRUE(TxOpensAtPeer(a2, b));  // inherited keys keep traffic flowing
  EXPECT_TRUE(TxOpensAtPeer(a2, c));
  // Without learning, the same generation's learned peers are not adopted.
  Node a3(clock_, kVipA, kEpA, {}, 10, kDpA, g.get(), false);
  EXPECT_EQ(a3.s->peer_count(), 0u);
}

TEST_F(PeerSessionsTest, WithoutLearningStrangersStayStrangers) {
  Node a(clock_, kVipA, kEpA, {}, 1, kDpA, nullptr, /*learn=*/false);
  Node b(clock_, kVipB, kEpB, {}, 2, kDpB, nullptr, true);
  EXPECT_FALSE(a.s->AddLearnedPeer(kVipB, NodeOf(kVipB), kEpB, false));
  ASSERT_TRUE(b.s->AddLearnedPeer(kVipA, NodeOf(kVipA), kEpA, false));
  b.s->Tick();
  SettleAll({&a, &b});
  EXPECT_EQ(a.s->peer_count(), 0u);
  EXPECT_GT(a.Count(CpCounter::hello_unknown_peer), 0u);
}

// ---- rekeys

// Runs `ms` in 100 ms steps and checks the make-before-break invariant at every step: whatever
// either side transmits with, the other side can open.
void RunCheckingTraffic(FakeClock& clock, std::vector<Node*> nodes, uint64_t ms) {
  for (uint64_t t = 0; t < ms; t += 100) {
    clock.AdvanceMs(100);
    for (Node* x : nodes) x->s->Tick();
    Settle(nodes);
    ASSERT_TRUE(TxOpensAtPeer(*nodes[0], *nodes[1])) << "at " << t << " ms";
    ASSERT_TRUE(TxOpensAtPeer(*nodes[1], *nodes[0])) << "at " << t << " ms";
  }
}

TEST_F(PeerSessionsTest, SessionsRekeyOnTimeWithFreshKeysOnBothSidesAndNoGap) {
  Node a(clock_, kVipA, kEpA, {{kVipB, kEpB}}, 1, kDpA, nullptr, false, 2000);
  Node b(clock_, kVipB, kEpB, {{kVipA, kEpA}}, 2, kDpB, nullptr, false, 2000);
  a.s->Tick();
  Settle({&a, &b});
  ASSERT_TRUE(TxOpensAtPeer(a, b));
  std::set<uint64_t> tx_keys = {EntryFor(a.s->BuildSpec(), kVipB)->tx_key_id,
                                EntryFor(b.s->BuildSpec(), kVipA)->tx_key_id};
  std::set<PublicKey> publics = {a.s->local_public(kVipB), b.s->local_public(kVipA)};
  for (int round = 0; round < 5; ++round) {
    RunCheckingTraffic(clock_, {&a, &b}, 2100);
    tx_keys.insert(EntryFor(a.s->BuildSpec(), kVipB)->tx_key_id);
    tx_keys.insert(EntryFor(b.s->BuildSpec(), kVipA)->tx_key_id);
    publics.insert(a.s->local_public(kVipB));
    publics.insert(b.s->local_public(kVipA));
  }
  // Every interval each side makes exactly one fresh key pair: either its own timer fired or it
  // answered the other side's rekey (here both timers fire in the same step). 2 new keys and 2
  // new key pairs per round.
  const uint64_t started = a.Count(CpCounter::session_rekeys) + b.Count(CpCounter::session_rekeys);
  const uint64_t answered =
      a.Count(CpCounter::rekeys_answered) + b.Count(CpCounter::rekeys_answered);
  EXPECT_GE(started, 5u);
  EXPECT_EQ(started + answered, 10u);
  EXPECT_EQ(tx_keys.size(), 12u);
  EXPECT_EQ(publics.size(), 12u);
  // Replaced receive sessions go once their grace period is over: at most the retiring limit.
  EXPECT_LE(SessionsFor(a.s->BuildSpec(), kVipB), 1 + PeerSessions::kMaxRetiring);
  EXPECT_GT(a.Count(CpCounter::rx_sessions_retired) + a.Count(CpCounter::rx_sessions_evicted), 0u);
}

TEST_F(PeerSessionsTest, SessionsRekeyAfterSoManySealedPackets) {
  Node a(clock_, kVipA, kEpA, {{kVipB, kEpB}}, 1, kDpA);
  Node b(clock_, kVipB, kEpB, {{kVipA, kEpA}}, 2, kDpB);
  a.s->Tick();
  Settle({&a, &b});
  const uint64_t key_before = EntryFor(a.s->BuildSpec(), kVipB)->tx_key_id;
  const PublicKey b_public_before = b.s->local_public(kVipA);
  a.tx_packets = 999;  // rekey_after_messages is 1000 in these tests
  RunCheckingTraffic(clock_, {&a, &b}, 2500);
  EXPECT_EQ(EntryFor(a.s->BuildSpec(), kVipB)->tx_key_id, key_before);
  a.tx_packets = 1000;
  RunCheckingTraffic(clock_, {&a, &b}, 300);
  EXPECT_NE(EntryFor(a.s->BuildSpec(), kVipB)->tx_key_id, key_before);
  EXPECT_EQ(a.Count(CpCounter::session_rekeys), 1u);
  // B answered with a fresh key pair of its own: the old session's keys are gone on both sides.
  EXPECT_EQ(b.Count(CpCounter::rekeys_answered), 1u);
  EXPECT_NE(b.s->local_public(kVipA), b_public_before);
  // Counted from the new key: no second rekey until 1000 more.
  a.tx_packets = 1999;
  RunCheckingTraffic(clock_, {&a, &b}, 2500);
  EXPECT_EQ(a.Count(CpCounter::session_rekeys), 1u);
}

TEST_F(PeerSessionsTest, AKeyIsNotReplacedBeforeThePeerCanHaveSwitchedToIt) {
  Node a(clock_, kVipA, kEpA, {{kVipB, kEpB}}, 1, kDpA);
  Node b(clock_, kVipB, kEpB, {{kVipA, kEpA}}, 2, kDpB);
  a.s->Tick();
  Settle({&a, &b});
  a.tx_packets = 5000;  // far over the volume limit at once
  RunCheckingTraffic(clock_, {&a, &b}, 1900);
  EXPECT_EQ(a.Count(CpCounter::session_rekeys), 0u);  // two hello intervals first
  RunCheckingTraffic(clock_, {&a, &b}, 200);
  EXPECT_EQ(a.Count(CpCounter::session_rekeys), 1u);
}

TEST_F(PeerSessionsTest, ARekeyThatCannotCompleteKeepsTheOldKeysWorking) {
  Node a(clock_, kVipA, kEpA, {{kVipB, kEpB}}, 1, kDpA, nullptr, false, 2000);
  Node b(clock_, kVipB, kEpB, {{kVipA, kEpA}}, 2, kDpB, nullptr, false, 2000);
  a.s->Tick();
  Settle({&a, &b});
  const shm::TableSpec before = a.s->BuildSpec();
  // B goes silent: A's rekey starts and cannot finish; A keeps sending with the old key, and its
  // old receive session stays (not confirmed: no grace period running).
  for (int i = 0; i < 40; ++i) {
    clock_.AdvanceMs(100);
    a.s->Tick();
    a.port.sent.clear();
  }
  EXPECT_EQ(a.Count(CpCounter::session_rekeys), 1u);
  EXPECT_EQ(EntryFor(a.s->BuildSpec(), kVipB)->tx_key_id, EntryFor(before, kVipB)->tx_key_id);
  EXPECT_TRUE(TxOpensAtPeer(a, b));
  EXPECT_TRUE(TxOpensAtPeer(b, a));
  // B comes back: the rekey completes.
  RunCheckingTraffic(clock_, {&a, &b}, 1000);
  EXPECT_NE(EntryFor(a.s->BuildSpec(), kVipB)->tx_key_id, EntryFor(before, kVipB)->tx_key_id);
}

// KNOWN BUG (found by tests/integration/test_rekey.sh's author; see the rekey-itest report):
// rekeys by volume can follow each other faster than a HELLO crosses the network. A confirms
// rekey 1 and sends B the echo that lets B switch; before B gets it, A has sealed another 1000
// packets and starts rekey 2. Each rekey retires two receive sessions on A (the current one, then
// the intermediate one keyed for B's old public key), so with kMaxRetiring = 2 rekey 2 evicts the
// session B still transmits on: B's packets are dropped as unknown_session until it switches.
// In a namespace: network.rekey-after-packets = 1000 under iperf3 TCP, ~440 rekeys in 6 s,
// ~600 unknown_session drops. Enable once fixed.
TEST_F(PeerSessionsTest, BackToBackVolumeRekeysNeverDropTheSessionThePeerStillSendsOn) {
  Node a(clock_, kVipA, kEpA, {{kVipB, kEpB}}, 1, kDpA);
  Node b(clock_, kVipB, kEpB, {{kVipA, kEpA}}, 2, kDpB);
  a.s->Tick();
  Settle({&a, &b});
  ASSERT_TRUE(TxOpensAtPeer(b, a));
  // Rekey 1: A -> B (A's new key), B -> A (B's answer). A is confirmed and echoes B's new key,
  // but that HELLO is still on its way when A has sealed 1000 more packets.
  a.tx_packets = 1000;
  clock_.AdvanceMs(2000);  // the first key is old enough to be replaced
  a.s->Tick();
  Deliver(a, {&a, &b});
  Deliver(b, {&a, &b});
  ASSERT_EQ(a.Count(CpCounter::session_rekeys), 1u);
  ASSERT_TRUE(TxOpensAtPeer(b, a)) << "B still sends with its old key, which A keeps";
  std::vector<FakePort::Datagram> in_flight;
  in_flight.swap(a.port.sent);
  a.tx_packets = 2000;
  clock_.AdvanceMs(10);
  a.s->Tick();  // rekey 2 is due by volume, but waits until B can have switched
  EXPECT_TRUE(TxOpensAtPeer(b, a)) << "A dropped the session B still transmits on";
  EXPECT_EQ(a.Count(CpCounter::session_rekeys), 1u);
  // The echo arrives; two hello intervals after the first rekey the second one runs, and at no
  // step can B's transmit key fail to open at A.
  for (auto& d : in_flight) b.s->OnControlDatagram(kEpA, d.bytes);
  for (int step = 0; step < 30; ++step) {
    clock_.AdvanceMs(100);
    a.s->Tick();
    b.s->Tick();
    Settle({&a, &b});
    ASSERT_TRUE(TxOpensAtPeer(b, a)) << "step " << step;
    ASSERT_TRUE(TxOpensAtPeer(a, b)) << "step " << step;
  }
  EXPECT_EQ(a.Count(CpCounter::session_rekeys), 2u);
}

TEST_F(PeerSessionsTest, ReplayAfterThePeerWasForgottenIsStillRefused) {
  Node a(clock_, kVipA, kEpA, {}, 1, kDpA, nullptr, /*learn=*/true);
  Node b(clock_, kVipB, kEpB, {}, 2, kDpB, nullptr, /*learn=*/true);
  ASSERT_TRUE(b.s->AddLearnedPeer(kVipA, NodeOf(kVipA), kEpA, false));
  b.s->Tick();
  ASSERT_FALSE(b.port.sent.empty());
  const std::vector<uint8_t> recorded = b.port.sent.front().bytes;
  SettleAll({&a, &b});
  ASSERT_TRUE(TxOpensAtPeer(a, b));
  ASSERT_TRUE(a.s->ForgetLearnedPeer(kVipB));
  // An attacker replays B's recorded HELLO from its own address: A must neither learn B again
  // (nor point B's entry at the attacker) nor answer it.
  const uint64_t stale = a.Count(CpCounter::hello_stale);
  a.port.sent.clear();
  a.s->OnControlDatagram(kEpC, recorded);
  EXPECT_EQ(a.Count(CpCounter::hello_stale), stale + 1);
  EXPECT_EQ(a.s->peer_count(), 0u);
  EXPECT_TRUE(a.port.sent.empty());
  // B's next genuine HELLO is welcome.
  clock_.AdvanceMs(1000);
  b.s->Tick();
  SettleAll({&a, &b});
  EXPECT_EQ(a.s->peer_count(), 1u);
  EXPECT_TRUE(a.StatusOf(kVipB).endpoint == kEpB);
}

TEST_F(PeerSessionsTest, HellosFromBeforeOurStartOrFromFarAheadAreRefused) {
  auto a = MakeA();
  auto b = MakeB();
  Hello h;
  h.cipher = uint8_t(shm::Cipher::kAes256Gcm);
  h.sender_vip = kVipB;
  h.receiver_vip = kVipA;
  h.sender_public = b->s->local_public(kVipA);
  uint8_t buf[kMaxHelloSize];
  h.timestamp_ns = clock_.wall_ns - ReplayGuard::kStartSkewNs - 1;  // recorded before A started
  a->s->OnControlDatagram(kEpB, {buf, EncodeHello(h, NetworkHash("testnet"), a->auth, buf)});
  EXPECT_EQ(a->Count(CpCounter::hello_too_old), 1u);
  h.timestamp_ns = clock_.wall_ns + ReplayGuard::kAheadNs + 1'000'000'000ull;
  a->s->OnControlDatagram(kEpB, {buf, EncodeHello(h, NetworkHash("testnet"), a->auth, buf)});
  EXPECT_EQ(a->Count(CpCounter::hello_clock_ahead), 1u);
  EXPECT_EQ(a->Count(CpCounter::hello_accepted), 0u);
  EXPECT_FALSE(a->StatusOf(kVipB).heard);
}

TEST(ReceiverIndexAllocator, NeverHandsOutAnIndexInUse) {
  ReceiverIndexAllocator alloc(7, 64);
  EXPECT_TRUE(alloc.Reserve(7));
  EXPECT_TRUE(alloc.Reserve(8));
  EXPECT_FALSE(alloc.Reserve(8));
  EXPECT_FALSE(alloc.Reserve(0));
  EXPECT_FALSE(alloc.Reserve(64));
  std::set<uint32_t> got = {7, 8};
  for (int i = 0; i < 61; ++i) {
    const uint32_t idx = alloc.Allocate();
    ASSERT_NE(idx, 0u);
    ASSERT_LT(idx, 64u);
    ASSERT_TRUE(got.insert(idx).second) << "index " << idx << " handed out twice";
  }
  EXPECT_EQ(alloc.Allocate(), 0u);  // exhausted
  EXPECT_EQ(alloc.in_use(), 63u);
  alloc.Release(20);
  EXPECT_EQ(alloc.Allocate(), 20u);
  // Freed indexes come back last (round robin), not first.
  alloc.Release(30);
  alloc.Release(31);
  EXPECT_EQ(alloc.Allocate(), 30u);
  alloc.Release(5);
  EXPECT_EQ(alloc.Allocate(), 31u);
  EXPECT_EQ(alloc.Allocate(), 5u);
}

}  // namespace
}  // namespace ipop::cp
