// The DHT service on a simulated 150-node ring, running the real overlay and DHT code: values put
// by one node are read by every node, create-exclusive races have one winner everywhere, replicas
// are re-created when their nodes die, replicas new to a key do not vote a claim through, one
// replica that knows a rival refuses a claim the others would let through, an undecided renewal
// keeps the owner's record, values expire, per-source rate limits hold, and a reply is taken only
// for a request id in flight and from a node that can be one of the key's replicas, and the
// write check guards every write path.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "controlplane/dht/dht_service.h"
#include "tools/sim/simulator.h"

namespace ipop::sim {
namespace {

using cp::DhtKey;
using cp::DhtOutcome;
using cp::DhtResult;
using cp::DhtStatus;

constexpr uint64_t kS = 1'000'000'000ull;
constexpr size_t kNodes = 150;

DhtKey AddressKey(const RingAddress& a) {
  DhtKey k;
  a.ToBytes(k);
  return k;
}

DhtKey KeyBefore(const DhtKey& k) {
  DhtKey one{};
  one.back() = 1;
  const auto ring = [](const DhtKey& x) {
    return RingAddress::FromBytes(std::span<const uint8_t, RingAddress::kBytes>(x));
  };
  return AddressKey(ring(k) - ring(one));
}

std::vector<uint8_t> Bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

class DhtServiceSim : public ::testing::Test {
 protected:
  void Build(uint64_t seed, cp::DhtServiceOptions dht = {}) {
    SimOptions o;
    o.seed = seed;
    o.dht = dht;
    sim = std::make_unique<Simulator>(o);
    sim->AddNode(0, {});
    std::vector<Endpoint> boot{sim->endpoint(0)};
    for (size_t i = 1; i < 4; ++i) sim->AddNode(i * 50'000'000ull, boot);
    boot.clear();
    for (size_t i = 0; i < 4; ++i) boot.push_back(sim->endpoint(i));
    for (size_t i = 4; i < kNodes; ++i)
      sim->AddNode(kS + uint64_t(sim->random().Unit() * 5e9), boot);
    sim->RunUntil(30 * kS);
    ASSERT_TRUE(sim->RingConsistent());
  }

  // Runs `n` gets of `key`, one from each of the first `n` live nodes, and returns the results.
  std::vector<DhtResult> GetFromAll(const DhtKey& key) {
    std::vector<DhtResult> results;
    for (size_t i : sim->LiveNodes()) {
      sim->dht(i).Get(key, [&results](const DhtResult& r) { results.push_back(r); });
      sim->Poke(i);
    }
    sim->RunUntil(sim->now_ns() + 15 * kS);
    return results;
  }

  DhtResult RunOne(size_t node, const std::function<void(cp::DhtDoneFn)>& op) {
    DhtResult out;
    bool done = false;
    op([&](const DhtResult& r) {
      out = r;
      done = true;
    });
    sim->Poke(node);
    sim->RunUntil(sim->now_ns() + 15 * kS);
    EXPECT_TRUE(done);
    return out;
  }

  // Live nodes whose store holds a live value under `key`.
  std::vector<size_t> Holders(const DhtKey& key) {
    std::vector<size_t> out;
    for (size_t i : sim->LiveNodes()) {
      cp::DhtRangeReader reader(sim->dht(i).store(), KeyBefore(key), key);
      std::vector<cp::DhtRecord> recs;
      reader.Next(1, &recs);
      if (!recs.empty()) out.push_back(i);
    }
    return out;
  }

  // The `r` live nodes nearest `key` (reference: a scan of all addresses).
  std::vector<size_t> TrueReplicas(const DhtKey& key, size_t r) {
    const RingAddress k = RingAddress::FromBytes(std::span<const uint8_t, 20>(key));
    std::vector<size_t> live = sim->LiveNodes();
    std::sort(live.begin(), live.end(), [&](size_t a, size_t b) {
      return cp::overlay::CloserTo(k, sim->node(a).address(), sim->node(b).address());
    });
    live.resize(r);
    std::sort(live.begin(), live.end());
    return live;
  }

  static bool Holds(const DhtResult& r, const RingAddress& owner, const std::vector<uint8_t>& v) {
    return std::any_of(r.values.begin(), r.values.end(), [&](const cp::DhtRecord& rec) {
      return rec.owner == AddressKey(owner) && rec.value == v;
    });
  }

  std::unique_ptr<Simulator> sim;
};

TEST_F(DhtServiceSim, PutThenGetFromEveryNode) {
  Build(11);
  const DhtKey key = cp::HashDhtKey("dns:alice");
  const std::vector<uint8_t> value = Bytes("10.0.0.7");
  const size_t writer = 17;
  const DhtResult put =
      RunOne(writer, [&](cp::DhtDoneFn f) { sim->dht(writer).Put(key, value, 600'000, f); });
  ASSERT_EQ(put.outcome, DhtOutcome::kOk);
  EXPECT_EQ(put.attempts, 1u);
  // Exactly the three nodes nearest the key store it.
  EXPECT_EQ(Holders(key), TrueReplicas(key, 3));

  const std::vector<DhtResult> gets = GetFromAll(key);
  ASSERT_EQ(gets.size(), kNodes);
  for (const DhtResult& g : gets) {
    ASSERT_EQ(g.outcome, DhtOutcome::kOk);
    ASSERT_EQ(g.values.size(), 1u);
    EXPECT_TRUE(Holds(g, sim->node(writer).address(), value));
  }
  // A key nobody wrote: a successful read with no values.
  const DhtResult miss =
      RunOne(3, [&](cp::DhtDoneFn f) { sim->dht(3).Get(cp::HashDhtKey("dns:nobody"), f); });
  EXPECT_EQ(miss.outcome, DhtOutcome::kOk);
  EXPECT_TRUE(miss.values.empty());
  // The owner is the writer's overlay address, so another node cannot remove the value...
  const DhtResult foreign =
      RunOne(40, [&](cp::DhtDoneFn f) { sim->dht(40).Remove(key, value, f); });
  EXPECT_EQ(foreign.outcome, DhtOutcome::kRejected);
  EXPECT_EQ(foreign.reason, DhtStatus::kNotOwner);
  // ...but the writer can.
  const DhtResult removed =
      RunOne(writer, [&](cp::DhtDoneFn f) { sim->dht(writer).Remove(key, value, f); });
  EXPECT_EQ(removed.outcome, DhtOutcome::kOk);
  EXPECT_TRUE(Holders(key).empty());
}

TEST_F(DhtServiceSim, CreateRaceHasOneWinnerEverywhere) {
  Build(12);
  for (int round = 0; round < 5; ++round) {
    const DhtKey key = cp::HashDhtKey("ip:10.0.0." + std::to_string(round));
    const size_t a = 20 + size_t(round), b = 100 + size_t(round);
    const std::vector<uint8_t> va = Bytes("node-a"), vb = Bytes("node-b");
    std::vector<DhtResult> ra, rb;
    sim->dht(a).Create(key, va, 600'000, [&](const DhtResult& r) { ra.push_back(r); });
    sim->dht(b).Create(key, vb, 600'000, [&](const DhtResult& r) { rb.push_back(r); });
    sim->Poke(a);
    sim->Poke(b);
    sim->RunUntil(sim->now_ns() + 15 * kS);
    ASSERT_EQ(ra.size(), 1u);
    ASSERT_EQ(rb.size(), 1u);
    const bool a_won = ra[0].outcome == DhtOutcome::kOk, b_won = rb[0].outcome == DhtOutcome::kOk;
    ASSERT_NE(a_won, b_won) << "round " << round;
    const DhtResult& lost = a_won ? rb[0] : ra[0];
    EXPECT_EQ(lost.outcome, DhtOutcome::kRejected);
    EXPECT_EQ(lost.reason, DhtStatus::kKeyExists);
    const size_t winner = a_won ? a : b;
    const std::vector<uint8_t>& wv = a_won ? va : vb;
    for (const DhtResult& g : GetFromAll(key)) {
      ASSERT_EQ(g.outcome, DhtOutcome::kOk);
      ASSERT_EQ(g.values.size(), 1u);
      EXPECT_TRUE(Holds(g, sim->node(winner).address(), wv));
      EXPECT_TRUE(g.values[0].exclusive);
    }
    // Every replica holds the winner's claim only (losing claims repaired or rolled back).
    ASSERT_EQ(Holders(key), TrueReplicas(key, 3)) << "round " << round;
    for (size_t h : Holders(key)) {
      cp::DhtRangeReader reader(sim->dht(h).store(), KeyBefore(key), key);
      std::vector<cp::DhtRecord> recs;
      reader.Next(1, &recs);
      ASSERT_EQ(recs.size(), 1u);
      EXPECT_EQ(recs[0].owner, AddressKey(sim->node(winner).address()));
    }
  }
}

TEST_F(DhtServiceSim, ReplicasAreRecreatedWhenResponsibleNodesDie) {
  Build(13);
  std::vector<DhtKey> keys;
  const std::vector<uint8_t> value = Bytes("survives");
  for (int k = 0; k < 20; ++k) {
    keys.push_back(cp::HashDhtKey("svc:" + std::to_string(k)));
    sim->dht(9).Put(keys.back(), value, 3'600'000, nullptr);
  }
  sim->Poke(9);
  sim->RunUntil(sim->now_ns() + 10 * kS);
  // Kill two of the three replicas of every key, one at a time with time in between to detect
  // the death and hand over: a key survives only if its replicas were re-created.
  for (int wave = 0; wave < 2; ++wave) {
    std::vector<size_t> victims;
    for (const DhtKey& k : keys) {
      const std::vector<size_t> holders = Holders(k), replicas = TrueReplicas(k, 3);
      ASSERT_TRUE(std::includes(holders.begin(), holders.end(), replicas.begin(), replicas.end()))
          << "wave " << wave;
      if (replicas.front() != 9) victims.push_back(replicas.front());
    }
    for (size_t v : victims)
      if (sim->alive(v)) sim->Crash(v);
    sim->RunUntil(sim->now_ns() + 90 * kS);
    ASSERT_TRUE(sim->RingConsistent());
  }
  for (const DhtKey& k : keys) {
    // The true replicas hold it; a node that heard of a change before its neighbours may keep
    // an extra copy (handover accepts one node of slack).
    const std::vector<size_t> holders = Holders(k), replicas = TrueReplicas(k, 3);
    EXPECT_TRUE(std::includes(holders.begin(), holders.end(), replicas.begin(), replicas.end()));
    EXPECT_LE(holders.size(), 4u);
    const size_t reader = sim->LiveNodes()[50];
    const DhtResult g = RunOne(reader, [&](cp::DhtDoneFn f) { sim->dht(reader).Get(k, f); });
    ASSERT_EQ(g.outcome, DhtOutcome::kOk);
    EXPECT_TRUE(Holds(g, sim->node(9).address(), value));
  }
  size_t handed = 0;
  for (size_t i : sim->LiveNodes()) handed += sim->dht(i).counters().handover_keys;
  EXPECT_GT(handed, 0u);
}

// A node that has just seen its near set change abstains from letting a CREATE of a key it does
// not hold through (it may be new to that key's replica set): with the settle time longer than
// the whole run, every node still counts as settling and a claim is refused as kNotResponsible,
// never won; with the default (5 s, long past after the 30 s build) the same claim wins.
TEST_F(DhtServiceSim, NewlyPlacedReplicasDoNotVoteAClaimThrough) {
  cp::DhtServiceOptions o;
  o.create_settle_ns = 3600 * kS;
  Build(15, o);
  const DhtKey key = cp::HashDhtKey("vip:demo:10.0.0.9");
  const DhtResult r = RunOne(30, [&](cp::DhtDoneFn f) {
    sim->dht(30).Create(key, Bytes("n30"), 600'000, f, cp::DhtCreateMode::kClaim);
  });
  EXPECT_EQ(r.outcome, DhtOutcome::kRejected);
  EXPECT_EQ(r.reason, DhtStatus::kNotResponsible);
  EXPECT_TRUE(Holders(key).empty());  // what a replica applied was rolled back
  size_t settling = 0;
  for (size_t i : sim->LiveNodes()) settling += sim->dht(i).counters().creates_settling;
  EXPECT_GE(settling, 2u);

  Build(15);
  const DhtResult won = RunOne(30, [&](cp::DhtDoneFn f) {
    sim->dht(30).Create(key, Bytes("n30"), 600'000, f, cp::DhtCreateMode::kClaim);
  });
  EXPECT_EQ(won.outcome, DhtOutcome::kOk);
  EXPECT_EQ(Holders(key), TrueReplicas(key, 3));
}

// A claim is refused by any replica that knows a rival, whatever the majority says (the rule
// DhtService passes to DecideWrite as `claim`). Two of a key's three replicas die; their
// successors take their place empty (handover held back, and no settle time, so they vote): one
// old replica holding the rival's live record and two fresh ones that would let the claim through.
TEST_F(DhtServiceSim, OneReplicaThatKnowsARivalRefusesAClaim) {
  cp::DhtServiceOptions o;
  o.create_settle_ns = 0;
  o.handover_delay_ns = 3600 * kS;
  Build(17, o);
  const DhtKey key = cp::HashDhtKey("vip:demo:10.0.0.5");
  const RingAddress k = RingAddress::FromBytes(std::span<const uint8_t, 20>(key));
  std::vector<size_t> near = sim->LiveNodes();
  std::sort(near.begin(), near.end(), [&](size_t a, size_t b) {
    return cp::overlay::CloserTo(k, sim->node(a).address(), sim->node(b).address());
  });
  const size_t holder = near[40], claimant = near[80];
  const std::vector<uint8_t> held = Bytes("holder");
  const DhtResult first = RunOne(holder, [&](cp::DhtDoneFn f) {
    sim->dht(holder).Create(key, held, 600'000, f, cp::DhtCreateMode::kClaim);
  });
  ASSERT_EQ(first.outcome, DhtOutcome::kOk);
  ASSERT_EQ(Holders(key), TrueReplicas(key, 3));

  sim->Crash(near[1]);
  sim->Crash(near[2]);
  sim->RunUntil(sim->now_ns() + 60 * kS);  // the deaths are noticed and the ring repaired
  ASSERT_TRUE(sim->RingConsistent());
  std::vector<size_t> replicas = {near[0], near[3], near[4]};
  std::sort(replicas.begin(), replicas.end());
  ASSERT_EQ(TrueReplicas(key, 3), replicas);
  ASSERT_EQ(Holders(key), std::vector<size_t>{near[0]}) << "the new replicas must start empty";

  const DhtResult r = RunOne(claimant, [&](cp::DhtDoneFn f) {
    sim->dht(claimant).Create(key, Bytes("claimant"), 600'000, f, cp::DhtCreateMode::kClaim);
  });
  EXPECT_EQ(r.outcome, DhtOutcome::kRejected);
  EXPECT_EQ(r.reason, DhtStatus::kKeyExists);
  // The old replica still holds the rival's record, untouched; the fresh ones were rolled back.
  EXPECT_EQ(Holders(key), std::vector<size_t>{near[0]});
  cp::DhtRangeReader reader(sim->dht(near[0]).store(), KeyBefore(key), key);
  std::vector<cp::DhtRecord> recs;
  reader.Next(1, &recs);
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].owner, AddressKey(sim->node(holder).address()));
  EXPECT_EQ(recs[0].value, held);
  EXPECT_TRUE(recs[0].exclusive);
}

// An undecided renewal leaves the owner's record where it was applied: it only extended it, and
// taking it back (as an undecided claim is) would remove the owner's own live record. Two of a
// key's three replicas die, and before anyone notices, the owner renews with one attempt only:
// the nearest replica (alive, the coordinator) applies it, the other two never answer.
TEST_F(DhtServiceSim, UndecidedRenewalKeepsTheRecord) {
  cp::DhtServiceOptions o;
  o.max_attempts = 1;
  Build(16, o);
  const DhtKey key = cp::HashDhtKey("vip:demo:10.0.0.1");
  const RingAddress k = RingAddress::FromBytes(std::span<const uint8_t, 20>(key));
  std::vector<size_t> near = sim->LiveNodes();
  std::sort(near.begin(), near.end(), [&](size_t a, size_t b) {
    return cp::overlay::CloserTo(k, sim->node(a).address(), sim->node(b).address());
  });
  const size_t owner = near[40];
  const std::vector<uint8_t> v = Bytes("owner");
  const DhtResult first = RunOne(owner, [&](cp::DhtDoneFn f) {
    sim->dht(owner).Create(key, v, 600'000, f, cp::DhtCreateMode::kClaim);
  });
  ASSERT_EQ(first.outcome, DhtOutcome::kOk);
  const std::vector<size_t> before = Holders(key);
  ASSERT_TRUE(std::find(before.begin(), before.end(), near[0]) != before.end());
  sim->Crash(near[1]);
  sim->Crash(near[2]);
  const uint64_t rollbacks = sim->dht(owner).counters().rollbacks_sent;
  std::vector<DhtResult> again;
  sim->dht(owner).Create(
      key, v, 600'000, [&](const DhtResult& r) { again.push_back(r); }, cp::DhtCreateMode::kRenew);
  sim->Poke(owner);
  sim->RunUntil(sim->now_ns() + 3 * kS);  // one attempt (2 s), well before the deaths are seen
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].outcome, DhtOutcome::kNoQuorum);
  EXPECT_EQ(sim->dht(owner).counters().rollbacks_sent, rollbacks);
  EXPECT_EQ(Holders(key), std::vector<size_t>{near[0]});
}

TEST_F(DhtServiceSim, ValuesExpire) {
  Build(14);
  const DhtKey key = cp::HashDhtKey("lease");
  const std::vector<uint8_t> value = Bytes("short");
  sim->dht(30).Put(key, value, 20'000, nullptr);
  sim->Poke(30);
  sim->RunUntil(sim->now_ns() + 5 * kS);
  DhtResult g = RunOne(60, [&](cp::DhtDoneFn f) { sim->dht(60).Get(key, f); });
  ASSERT_EQ(g.outcome, DhtOutcome::kOk);
  ASSERT_EQ(g.values.size(), 1u);
  EXPECT_LE(g.values[0].ttl_ms, 20'000u - 5'000u);
  const std::vector<size_t> holders = Holders(key);
  ASSERT_EQ(holders.size(), 3u);
  sim->RunUntil(sim->now_ns() + 10 * kS);  // 30 s after the put
  g = RunOne(61, [&](cp::DhtDoneFn f) { sim->dht(61).Get(key, f); });
  EXPECT_EQ(g.outcome, DhtOutcome::kOk);
  EXPECT_TRUE(g.values.empty());
  // The replicas reclaimed the memory on their own ticks.
  for (size_t h : holders) {
    EXPECT_EQ(sim->dht(h).store().value_count(), 0u);
    EXPECT_GE(sim->dht(h).store().counters().expired, 1u);
  }
}

TEST_F(DhtServiceSim, RateLimitPerSource) {
  cp::DhtServiceOptions o;
  o.rate_limit.per_second = 2;
  o.rate_limit.burst = 5;
  o.max_attempts = 1;
  Build(15, o);
  const DhtKey key = cp::HashDhtKey("busy");
  sim->dht(5).Put(key, Bytes("v"), 600'000, nullptr);
  sim->Poke(5);
  sim->RunUntil(sim->now_ns() + 5 * kS);
  // One node floods: 30 gets at once. The replicas serve its burst and refuse the rest.
  std::vector<DhtResult> flood;
  for (int i = 0; i < 30; ++i)
    sim->dht(70).Get(key, [&](const DhtResult& r) { flood.push_back(r); });
  sim->Poke(70);
  sim->RunUntil(sim->now_ns() + 10 * kS);
  ASSERT_EQ(flood.size(), 30u);
  size_t ok = 0, overloaded = 0;
  for (const DhtResult& r : flood) {
    ok += r.outcome == DhtOutcome::kOk ? 1 : 0;
    overloaded += r.outcome == DhtOutcome::kNoQuorum && r.reason == DhtStatus::kOverloaded;
  }
  EXPECT_GE(ok, 4u);
  EXPECT_LE(ok, 6u);
  EXPECT_EQ(ok + overloaded, 30u);
  uint64_t limited = 0;
  for (size_t i : sim->LiveNodes()) limited += sim->dht(i).counters().rate_limited;
  EXPECT_GE(limited, 25u);
  // Another node is not affected.
  const DhtResult other = RunOne(71, [&](cp::DhtDoneFn f) { sim->dht(71).Get(key, f); });
  EXPECT_EQ(other.outcome, DhtOutcome::kOk);
  EXPECT_EQ(other.values.size(), 1u);
}

// A forged reply: the REPLY envelope (3) with one record, as `from` sent it to `node`.
void ForgeReply(Simulator& sim, size_t node, const RingAddress& from, uint64_t request_id,
                const DhtKey& key, const std::vector<uint8_t>& value) {
  cp::DhtMessage m;
  m.type = cp::DhtMsgType::kReply;
  m.request_id = request_id;
  m.key = key;
  m.record_count = 1;
  m.records[0].owner = AddressKey(from);
  m.records[0].ttl_ms = 60'000;
  m.records[0].version = UINT64_MAX;
  m.records[0].value = value;
  uint8_t buf[1500];
  buf[0] = 3;
  const size_t n = cp::EncodeDhtMessage(m, std::span(buf + 1, sizeof(buf) - 1));
  ASSERT_GT(n, 0u);
  cp::overlay::Routed r;
  r.mode = cp::overlay::DeliveryMode::kExact;
  r.source = from;
  r.key = sim.node(node).address();
  r.payload_type = cp::kPayloadDht;
  r.payload = {buf, n + 1};
  ASSERT_TRUE(sim.dht(node).OnRouted(r));
}

TEST_F(DhtServiceSim, RepliesOnlyFromReplicasForRequestsInFlight) {
  Build(16);
  // A key right next to the client: its near links lie between the key and the far side of the
  // ring, so a node there cannot be one of the key's replicas in the client's view.
  const size_t client = 40;
  const RingAddress self = sim->node(client).address();
  DhtKey one{};
  one.back() = 1;
  const DhtKey key = AddressKey(self + RingAddress::FromBytes(std::span<const uint8_t, 20>(one)));
  const std::vector<uint8_t> forged = Bytes("forged");
  size_t faraway = 0;
  for (size_t i : sim->LiveNodes())
    if (cp::overlay::CloserTo(self + RingAddress::FromFraction(0.5), sim->node(i).address(),
                              sim->node(faraway).address()))
      faraway = i;
  ASSERT_NE(faraway, client);

  DhtResult got;
  bool done = false;
  sim->dht(client).Get(key, [&](const DhtResult& r) {
    got = r;
    done = true;
  });
  const std::vector<uint64_t> ids = sim->dht(client).RequestIdsInFlight();
  ASSERT_EQ(ids.size(), 1u);
  // Ids are 64 random bits: 40 more operations share no upper half (a counter would).
  for (int i = 0; i < 40; ++i) sim->dht(client + 1).Get(key, nullptr);
  std::set<uint64_t> upper;
  for (uint64_t id : sim->dht(client + 1).RequestIdsInFlight()) upper.insert(id >> 32);
  EXPECT_EQ(upper.size(), 40u);
  const cp::DhtServiceCounters before = sim->dht(client).counters();
  // An id that is not in flight.
  ForgeReply(*sim, client, sim->node(faraway).address(), ids[0] ^ 1, key, forged);
  EXPECT_EQ(sim->dht(client).counters().replies_unknown_id, before.replies_unknown_id + 1);
  // The right id from a node that cannot be a replica: refused, whatever the majority says.
  for (int i = 0; i < 3; ++i)
    ForgeReply(*sim, client, sim->node(faraway).address() + RingAddress::FromFraction(0.001 * i),
               ids[0], key, forged);
  EXPECT_EQ(sim->dht(client).counters().replies_not_replica, before.replies_not_replica + 3);
  sim->Poke(client);
  sim->RunUntil(sim->now_ns() + 15 * kS);
  ASSERT_TRUE(done);
  EXPECT_EQ(got.outcome, DhtOutcome::kOk);
  EXPECT_TRUE(got.values.empty());
}

// The write check sees every path a value takes into a replica's store: a PUT, a REMOVE and a
// REPLICATE (repair) it refuses change nothing. The check here stands in for ClaimAuthority:
// a value must start with its writer's address (so a record cannot be re-attributed) and bare
// REMOVEs are refused.
TEST_F(DhtServiceSim, WriteCheckGuardsEveryWritePath) {
  Build(17);
  const auto check = [](cp::DhtMsgType op, const DhtKey&, const cp::DhtOwner& owner,
                        std::span<const uint8_t> value, std::span<const cp::DhtRecord>) {
    if (op == cp::DhtMsgType::kRemove) return DhtStatus::kNotAuthorized;
    if (value.size() < owner.size() || !std::equal(owner.begin(), owner.end(), value.begin()))
      return DhtStatus::kNotAuthorized;
    return DhtStatus::kOk;
  };
  for (size_t i : sim->LiveNodes()) sim->dht(i).SetWriteCheck(check);
  const size_t writer = 20, other = 90;
  const DhtKey key = cp::HashDhtKey("checked");
  const DhtKey w = AddressKey(sim->node(writer).address());
  std::vector<uint8_t> good(w.begin(), w.end());
  good.push_back('!');
  std::vector<uint8_t> bad(20, 0x42);
  DhtResult r =
      RunOne(writer, [&](cp::DhtDoneFn f) { sim->dht(writer).Put(key, bad, 600'000, f); });
  EXPECT_EQ(r.outcome, DhtOutcome::kRejected);
  EXPECT_EQ(r.reason, DhtStatus::kNotAuthorized);
  r = RunOne(writer, [&](cp::DhtDoneFn f) { sim->dht(writer).Put(key, good, 600'000, f); });
  ASSERT_EQ(r.outcome, DhtOutcome::kOk);
  r = RunOne(writer, [&](cp::DhtDoneFn f) { sim->dht(writer).Remove(key, good, f); });
  EXPECT_NE(r.outcome, DhtOutcome::kOk);
  const std::vector<size_t> holders = Holders(key);
  ASSERT_EQ(holders.size(), 3u);
  // A repair that re-attributes the writer's value to another node.
  cp::DhtRecord forged;
  forged.key = key;
  forged.owner = AddressKey(sim->node(other).address());
  forged.value = good;
  forged.ttl_ms = 600'000;
  forged.version = UINT64_MAX;
  cp::DhtMessage m;
  m.type = cp::DhtMsgType::kReplicate;
  m.flags = cp::kDhtFlagRepair;
  m.key = key;
  m.record_count = 1;
  m.records[0] = cp::ToDhtRecordView(forged);
  uint8_t buf[1500];
  buf[0] = 3;
  const size_t n = cp::EncodeDhtMessage(m, std::span(buf + 1, sizeof(buf) - 1));
  ASSERT_GT(n, 0u);
  cp::overlay::Routed routed;
  routed.mode = cp::overlay::DeliveryMode::kExact;
  routed.source = sim->node(other).address();
  routed.key = sim->node(holders[0]).address();
  routed.payload_type = cp::kPayloadDht;
  routed.payload = {buf, n + 1};
  const uint64_t refused = sim->dht(holders[0]).counters().writes_unauthorized;
  ASSERT_TRUE(sim->dht(holders[0]).OnRouted(routed));
  EXPECT_EQ(sim->dht(holders[0]).counters().writes_unauthorized, refused + 1);
  std::vector<cp::DhtRecord> held;
  cp::DhtRangeReader(sim->dht(holders[0]).store(), KeyBefore(key), key).Next(1, &held);
  ASSERT_EQ(held.size(), 1u);
  EXPECT_EQ(held[0].owner, w);
  // Every replica still holds the writer's value, and a reader gets it.
  EXPECT_EQ(Holders(key).size(), 3u);
  r = RunOne(other, [&](cp::DhtDoneFn f) { sim->dht(other).Get(key, f); });
  ASSERT_EQ(r.outcome, DhtOutcome::kOk);
  ASSERT_EQ(r.values.size(), 1u);
  EXPECT_EQ(r.values[0].owner, w);
}

}  // namespace
}  // namespace ipop::sim
