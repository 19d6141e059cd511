// The simulator at 200 nodes running the real overlay code: the ring becomes consistent, every
// node can reach every other (exact delivery through the link tables), real lookups reach the
// true closest node in few hops, and the ring survives crashes, address changes and a partition.
#include <gtest/gtest.h>

#include <cmath>

#include "tools/sim/scenarios.h"
#include "tools/sim/simulator.h"

namespace ipop::sim {
namespace {

constexpr uint64_t kS = 1'000'000'000ull;

std::vector<Endpoint> Bootstrap(Simulator& sim, size_t n) {
  std::vector<Endpoint> out;
  for (size_t i = 0; i < n; ++i) out.push_back(sim.endpoint(i));
  return out;
}

class OverlaySim : public ::testing::Test {
 protected:
  void Build(size_t n, uint64_t seed) {
    SimOptions o;
    o.seed = seed;
    sim = std::make_unique<Simulator>(o);
    // Bootstrap nodes first (their endpoints are known once added), then the rest within 5 s.
    // The first node starts alone; the next three join through it.
    sim->AddNode(0, {});
    const std::vector<Endpoint> boot = Bootstrap(*sim, 1);
    for (size_t i = 1; i < 4; ++i) sim->AddNode(i * 50'000'000ull, boot);
    const std::vector<Endpoint> all = Bootstrap(*sim, 4);
    for (size_t i = 4; i < n; ++i) sim->AddNode(kS + uint64_t(sim->random().Unit() * 5e9), all);
  }
  std::unique_ptr<Simulator> sim;
};

TEST_F(OverlaySim, RingConsistentAndAllPairsRoutable) {
  Build(200, 1);
  sim->RunUntil(20 * kS);
  size_t bad = 0;
  EXPECT_TRUE(sim->RingConsistent({}, &bad)) << bad << " nodes with wrong ring neighbours";
  sim->RunUntil(60 * kS);  // far links
  ASSERT_TRUE(sim->RingConsistent());
  const auto live = sim->LiveNodes();
  ASSERT_EQ(live.size(), 200u);
  double sum = 0;
  unsigned worst = 0;
  size_t pairs = 0;
  for (size_t a : live) {
    for (size_t b : live) {
      const auto r = sim->WalkRoute(a, sim->node(b).address(), DeliveryMode::kExact);
      ASSERT_TRUE(r.has_value()) << a << " -> " << b;
      ASSERT_EQ(r->first, b);
      sum += r->second;
      worst = std::max(worst, r->second);
      ++pairs;
    }
  }
  const double mean = sum / double(pairs);
  EXPECT_LE(mean, std::log2(200.0) / 2) << "mean hops";
  EXPECT_LE(worst, 12u);
  // Far links were drawn: about log2(N) each.
  size_t far = 0;
  for (size_t i : live) far += sim->node(i).links().CountWithRole(cp::overlay::kRoleFarOut);
  EXPECT_GE(double(far) / double(live.size()), 4.0);

  // Real messages through the simulated network agree with the reference.
  const LookupStats st = sim->RunLookups(400, 2 * kS, 2 * kS);
  EXPECT_EQ(st.issued, 400u);
  EXPECT_EQ(st.delivered, 400u);
  EXPECT_EQ(st.correct, 400u);
  EXPECT_LE(st.hops_mean, std::log2(200.0) / 2);
}

TEST_F(OverlaySim, HealsAfterCrashesAndAddressChanges) {
  Build(200, 2);
  sim->RunUntil(40 * kS);
  ASSERT_TRUE(sim->RingConsistent());
  // Ten nodes crash (including two bootstrap nodes), ten move to new endpoints.
  for (size_t i = 2; i < 200; i += 20) sim->Crash(i);
  for (size_t i = 13; i < 200; i += 20) sim->Move(i);
  // Peers follow a moved node at once (it tells every link), long before a link to its old
  // endpoint could time out and be made again: every live node linked to it holds its new
  // endpoint, its ring neighbours among them.
  sim->RunUntil(42 * kS);
  for (size_t i = 13; i < 200; i += 20) {
    const RingAddress& moved = sim->node(i).address();
    size_t holders = 0;
    for (size_t j : sim->LiveNodes()) {
      const cp::overlay::Link* l = sim->node(j).links().Find(moved);
      if (l == nullptr) continue;
      ++holders;
      EXPECT_EQ(l->endpoint, sim->endpoint(i)) << "node " << j << "'s link to moved node " << i;
    }
    for (const cp::overlay::Link* n : {sim->node(i).successor(), sim->node(i).predecessor()}) {
      ASSERT_NE(n, nullptr);
      size_t j = 0;
      while (j < sim->size() && sim->node(j).address() != n->address) ++j;
      ASSERT_LT(j, sim->size());
      ASSERT_NE(sim->node(j).links().Find(moved), nullptr) << "neighbour " << j << " of " << i;
    }
    EXPECT_GE(holders, 2u);
  }
  sim->RunUntil(100 * kS);  // dead after ~30 s, repair within a few more
  size_t bad = 0;
  EXPECT_TRUE(sim->RingConsistent({}, &bad)) << bad;
  for (size_t i = 13; i < 200; i += 20) {
    // Still linked at the new endpoint after the crashed nodes were replaced.
    const auto* s = sim->node(i).successor();
    ASSERT_NE(s, nullptr);
    size_t j = 0;
    while (j < sim->size() && sim->node(j).address() != s->address) ++j;
    ASSERT_LT(j, sim->size());
    const cp::overlay::Link* back = sim->node(j).links().Find(sim->node(i).address());
    ASSERT_NE(back, nullptr) << "successor " << j << " of moved node " << i;
    EXPECT_EQ(back->endpoint, sim->endpoint(i));
  }
  const LookupStats st = sim->RunLookups(200, 2 * kS, 2 * kS);
  EXPECT_EQ(st.correct, st.issued);
}

TEST(OverlaySimScenario, PartitionHealsAndBootstrapLossSurvives) {
  ScenarioOptions o;
  o.nodes = 200;
  o.bootstrap = 4;
  o.duration_s = 240;
  o.lookups = 200;
  o.scenario = "partition";
  o.partition_s = 60;
  ScenarioReport r = RunScenario(o);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GE(r.consistent_at_s, 0);
  EXPECT_GE(r.sides_consistent_after_split_s, 0);
  EXPECT_GE(r.reconsistent_after_event_s, 0);
  EXPECT_TRUE(r.consistent_at_end);
  EXPECT_EQ(r.final_lookups.correct, r.final_lookups.issued);

  o.scenario = "bootstrap-loss";
  o.duration_s = 200;
  r = RunScenario(o);
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_GE(r.reconsistent_after_event_s, 0);
  EXPECT_EQ(r.late_joiners, 20u);
  EXPECT_EQ(r.late_joiners_in_ring, 20u);
  EXPECT_TRUE(r.consistent_at_end);
}

TEST(OverlaySimScenario, DeterministicBySeed) {
  ScenarioOptions o;
  o.nodes = 100;
  o.bootstrap = 4;
  o.duration_s = 60;
  o.lookups = 100;
  const ScenarioReport a = RunScenario(o), b = RunScenario(o);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.final_lookups.hops_mean, b.final_lookups.hops_mean);
  o.seed = 2;
  EXPECT_NE(RunScenario(o).events, a.events);
}

}  // namespace
}  // namespace ipop::sim
