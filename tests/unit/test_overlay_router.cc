// Greedy routing decisions against a naive reference: a sorted ring of all addresses. On a
// consistent ring (every node linked to its true near neighbours, plus random far links) the
// greedy walk must end at the true closest node (nearest), at the key's node (exact), and at the
// two nodes bracketing the key (both-neighbours); every hop must get strictly closer.
#include "controlplane/overlay/router.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <vector>

#include "tests/unit/cp_fakes.h"

namespace ipop::cp::overlay {
namespace {

using Action = RouteDecision::Action;

struct Ring {
  std::vector<RingAddress> sorted;
  std::map<RingAddress, LinkTable> tables;

  Ring(size_t n, size_t near, size_t far, uint64_t seed) {
    testing::FakeRandom rnd(seed);
    for (size_t i = 0; i < n; ++i) sorted.push_back(RingAddress::Random(rnd));
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < n; ++i) {
      LinkTable t(sorted[i], near, {});
      for (size_t k = 1; k <= near; ++k) {
        t.Upsert(sorted[(i + k) % n], {}, 0, 0);
        t.Upsert(sorted[(i + n - k) % n], {}, 0, 0);
      }
      for (size_t f = 0; f < far; ++f) {
        uint8_t b[8];
        rnd.Fill(b);
        const size_t j = wire::LoadBe64(b) % n;
        if (j != i) t.Upsert(sorted[j], {}, kRoleFarOut, 0);
      }
      t.RecomputeNear(0);
      tables.emplace(sorted[i], std::move(t));
    }
  }
  // Reference answers from the sorted list.
  RingAddress Closest(const RingAddress& key) const {
    RingAddress best = sorted[0];
    for (const RingAddress& a : sorted)
      if (CloserTo(key, a, best)) best = a;
    return best;
  }
  std::pair<RingAddress, RingAddress> Bracket(const RingAddress& key) const {
    // Predecessor: largest address <= key (wrapping); successor: the next one.
    auto it = std::upper_bound(sorted.begin(), sorted.end(), key);
    const RingAddress pred = it == sorted.begin() ? sorted.back() : *(it - 1);
    const RingAddress succ = it == sorted.end() ? sorted.front() : *it;
    return {pred, succ};
  }
  // Walks DecideRoute; returns the delivering node and collects a last-hop copy target if any.
  RouteDecision Walk(RingAddress at, const RingAddress& key, DeliveryMode mode, uint8_t flags,
                     const RingAddress& source, RingAddress* end, unsigned* hops,
                     uint8_t limit = 64) const {
    for (unsigned h = 0;; ++h) {
      const RouteDecision d =
          DecideRoute(tables.at(at), key, mode, flags, source, uint8_t(h), limit);
      if (d.action != Action::kForward) {
        *end = at;
        *hops = h;
        return d;
      }
      EXPECT_TRUE(CloserTo(key, d.next, at) || (flags & kRoutedExcludeSource && at == source));
      at = d.next;
    }
  }
};

TEST(OverlayRouter, NearestEqualsTrueClosest) {
  for (uint64_t seed : {1, 2, 3}) {
    const Ring ring(300, 2, 6, seed);
    testing::FakeRandom rnd(seed * 100);
    unsigned total_hops = 0;
    for (int i = 0; i < 500; ++i) {
      const RingAddress key = RingAddress::Random(rnd);
      const RingAddress src = ring.sorted[size_t(i * 7919) % ring.sorted.size()];
      RingAddress end;
      unsigned hops;
      const RouteDecision d = ring.Walk(src, key, DeliveryMode::kNearest, 0, src, &end, &hops);
      ASSERT_EQ(d.action, Action::kDeliver);
      ASSERT_EQ(end, ring.Closest(key)) << "seed " << seed << " lookup " << i;
      total_hops += hops;
    }
    EXPECT_LT(total_hops / 500.0, 10.0);  // far links make it much shorter than n/4
  }
}

TEST(OverlayRouter, ExactReachesEveryNodeAndDropsMissingKeys) {
  const Ring ring(120, 2, 3, 9);
  for (size_t i = 0; i < ring.sorted.size(); i += 3) {
    for (size_t j = 0; j < ring.sorted.size(); j += 5) {
      RingAddress end;
      unsigned hops;
      const RouteDecision d = ring.Walk(ring.sorted[i], ring.sorted[j], DeliveryMode::kExact, 0,
                                        ring.sorted[i], &end, &hops);
      ASSERT_EQ(d.action, Action::kDeliver);
      EXPECT_EQ(end, ring.sorted[j]);
    }
  }
  const RingAddress missing = ring.sorted[10] + RingAddress::FromFraction(1e-9);
  RingAddress end;
  unsigned hops;
  EXPECT_EQ(
      ring.Walk(ring.sorted[50], missing, DeliveryMode::kExact, 0, ring.sorted[50], &end, &hops)
          .action,
      Action::kDropNoSuchNode);
}

TEST(OverlayRouter, BothNeighboursBracketTheKey) {
  const Ring ring(200, 2, 4, 5);
  testing::FakeRandom rnd(55);
  for (int i = 0; i < 300; ++i) {
    const RingAddress key = RingAddress::Random(rnd);
    RingAddress end;
    unsigned hops;
    const RouteDecision d =
        ring.Walk(ring.sorted[size_t(i) % 200], key, DeliveryMode::kBothNeighbours, 0,
                  ring.sorted[0], &end, &hops);
    ASSERT_EQ(d.action, Action::kDeliverAndCopy);
    const auto [pred, succ] = ring.Bracket(key);
    EXPECT_TRUE((end == pred && d.next == succ) || (end == succ && d.next == pred)) << i;
    // The copy is delivered where it lands, without routing further.
    const RouteDecision last =
        DecideRoute(ring.tables.at(d.next), key, DeliveryMode::kBothNeighbours, kRoutedLastHop,
                    ring.sorted[0], 5, 64);
    EXPECT_EQ(last.action, Action::kDeliver);
  }
}

TEST(OverlayRouter, ExcludeSourceFindsTheSourcesNeighbours) {
  // A node looking for the neighbours of its own address must get them, not itself.
  const Ring ring(100, 2, 3, 11);
  for (size_t i = 0; i < ring.sorted.size(); i += 7) {
    const RingAddress me = ring.sorted[i];
    RingAddress end;
    unsigned hops;
    const RouteDecision d =
        ring.Walk(me, me, DeliveryMode::kBothNeighbours, kRoutedExcludeSource, me, &end, &hops);
    ASSERT_EQ(d.action, Action::kDeliverAndCopy);
    const RingAddress pred = ring.sorted[(i + 99) % 100], succ = ring.sorted[(i + 1) % 100];
    EXPECT_TRUE((end == pred && d.next == succ) || (end == succ && d.next == pred)) << i;
  }
}

TEST(OverlayRouter, HopLimitAndNoRoute) {
  const Ring ring(300, 2, 0, 4);  // ring only: long paths
  RingAddress end;
  unsigned hops;
  const RingAddress far_key = ring.sorted[150];
  EXPECT_EQ(
      ring.Walk(ring.sorted[0], far_key, DeliveryMode::kNearest, 0, ring.sorted[0], &end, &hops, 5)
          .action,
      Action::kDropHopLimit);
  EXPECT_EQ(hops, 5u);
  // A lone node delivers everything to itself, unless it is the excluded source.
  LinkTable alone(ring.sorted[0], 2, {});
  EXPECT_EQ(DecideRoute(alone, far_key, DeliveryMode::kNearest, 0, far_key, 0, 8).action,
            Action::kDeliver);
  EXPECT_EQ(DecideRoute(alone, far_key, DeliveryMode::kNearest, kRoutedExcludeSource,
                        ring.sorted[0], 0, 8)
                .action,
            Action::kDropNoRoute);
}

TEST(OverlayRouter, LeafLinksOnlyWhenNothingElse) {
  testing::FakeRandom rnd(3);
  const RingAddress self = RingAddress::FromFraction(0.5);
  LinkTable t(self, 2, {});
  t.Upsert(RingAddress::FromFraction(0.1), {}, kRoleLeaf, 0);  // bootstrap link
  const RingAddress key = RingAddress::FromFraction(0.12);
  RouteDecision d = DecideRoute(t, key, DeliveryMode::kNearest, 0, self, 0, 8);
  EXPECT_EQ(d.action, Action::kForward);
  EXPECT_EQ(d.next, RingAddress::FromFraction(0.1));
  t.Upsert(RingAddress::FromFraction(0.45), {}, kRoleNear, 0);
  d = DecideRoute(t, key, DeliveryMode::kNearest, 0, self, 0, 8);
  EXPECT_EQ(d.next, RingAddress::FromFraction(0.45));
}

}  // namespace
}  // namespace ipop::cp::overlay
