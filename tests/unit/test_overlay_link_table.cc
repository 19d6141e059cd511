// LinkTable: near roles follow the ring position, neighbour lists wrap round zero, liveness
// timing, surplus trimming and far-link trimming.
#include "controlplane/overlay/link_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "tests/unit/cp_fakes.h"

namespace ipop::cp::overlay {
namespace {

constexpr uint64_t kS = 1'000'000'000ull;

RingAddress At(double fraction) {
  return RingAddress::FromFraction(fraction);
}
Endpoint Ep(uint32_t i) {
  return testing::Ep4(testing::Ip(10, 0, 0, uint8_t(i)), 5800);
}

TEST(OverlayLinkTable, NearRolesAndWrap) {
  LinkTable t(At(0.05), 2, {});
  // Positions round the ring; 0.95 and 0.9 are predecessors across zero.
  const double pos[] = {0.9, 0.95, 0.1, 0.2, 0.5, 0.3};
  for (size_t i = 0; i < std::size(pos); ++i) t.Upsert(At(pos[i]), Ep(uint32_t(i)), 0, kS);
  EXPECT_TRUE(t.RecomputeNear(kS));
  std::set<double> near;
  for (const Link& l : t.links())
    if (l.roles & kRoleNear) near.insert(std::round(l.address.ToFraction() * 100) / 100);
  EXPECT_EQ(near, (std::set<double>{0.9, 0.95, 0.1, 0.2}));
  const auto s = t.Successors(2);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0]->address, At(0.1));
  EXPECT_EQ(s[1]->address, At(0.2));
  const auto p = t.Predecessors(2);
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0]->address, At(0.95));
  EXPECT_EQ(p[1]->address, At(0.9));
  EXPECT_FALSE(t.RecomputeNear(kS));  // unchanged
  EXPECT_TRUE(t.WouldBeNear(At(0.15)));
  EXPECT_TRUE(t.WouldBeNear(At(0.92)));
  EXPECT_FALSE(t.WouldBeNear(At(0.25)));
  EXPECT_FALSE(t.WouldBeNear(At(0.6)));
  // A closer node takes the near role from the second successor, which becomes surplus.
  t.Upsert(At(0.07), Ep(9), 0, 2 * kS);
  EXPECT_TRUE(t.RecomputeNear(2 * kS));
  EXPECT_FALSE(t.Find(At(0.2))->roles & kRoleNear);
  const uint64_t grace = LinkTimers{}.surplus_grace_ns;
  auto has = [](const std::vector<RingAddress>& v, const RingAddress& a) {
    return std::find(v.begin(), v.end(), a) != v.end();
  };
  EXPECT_FALSE(has(t.Surplus(2 * kS + grace - 1), At(0.2)));
  EXPECT_TRUE(has(t.Surplus(2 * kS + grace), At(0.2)));
  EXPECT_TRUE(has(t.Surplus(2 * kS + grace), At(0.5)));
  EXPECT_FALSE(has(t.Surplus(2 * kS + grace), At(0.1)));
}

TEST(OverlayLinkTable, SurplusAfterGraceOnly) {
  LinkTimers timers;
  LinkTable t(At(0.5), 1, timers);
  t.Upsert(At(0.4), Ep(1), 0, kS);
  t.Upsert(At(0.6), Ep(2), 0, kS);
  t.Upsert(At(0.9), Ep(3), kRoleFarOut, kS);
  t.Upsert(At(0.1), Ep(4), 0, kS);
  t.RecomputeNear(kS);
  EXPECT_TRUE(t.Surplus(kS + timers.surplus_grace_ns - 1).empty());
  const auto s = t.Surplus(kS + timers.surplus_grace_ns);
  ASSERT_EQ(s.size(), 1u);  // 0.1: no role; 0.9 is a far link
  EXPECT_EQ(s[0], At(0.1));
  // Taking a role back clears the surplus mark.
  t.Upsert(At(0.1), Ep(4), kRoleShortcut, 2 * kS);
  EXPECT_TRUE(t.Surplus(100 * kS).empty());
}

TEST(OverlayLinkTable, LivenessProbesThenDead) {
  LinkTimers timers;  // idle 15 s, interval 5 s, dead after 3 missed
  LinkTable t(At(0.5), 2, timers);
  t.Upsert(At(0.4), Ep(1), 0, 0);
  t.Upsert(At(0.6), Ep(2), 0, 0);
  LinkTable::LivenessActions a;
  t.CheckLiveness(14 * kS, &a);
  EXPECT_TRUE(a.probe.empty());
  t.Heard(*t.Find(At(0.6)), 10 * kS);
  a = {};
  t.CheckLiveness(15 * kS, &a);
  EXPECT_EQ(a.probe, (std::vector<RingAddress>{At(0.4)}));
  a = {};
  t.CheckLiveness(20 * kS, &a);  // second probe of 0.4; 0.6 idle only since 10 s
  EXPECT_EQ(a.probe, (std::vector<RingAddress>{At(0.4)}));
  a = {};
  t.CheckLiveness(25 * kS, &a);
  EXPECT_EQ(a.probe, (std::vector<RingAddress>{At(0.4), At(0.6)}));
  a = {};
  t.CheckLiveness(30 * kS, &a);  // 0.4: three probes unanswered
  EXPECT_EQ(a.dead, (std::vector<RingAddress>{At(0.4)}));
  t.Remove(At(0.4));  // the caller removes dead links
  // Hearing from a link resets its missed probes.
  t.Heard(*t.Find(At(0.6)), 31 * kS);
  a = {};
  t.CheckLiveness(40 * kS, &a);
  EXPECT_TRUE(a.dead.empty());
}

TEST(OverlayLinkTable, FarOutBeyondDropsOldest) {
  LinkTable t(At(0.5), 1, {});
  const double far_pos[] = {0.05, 0.15, 0.25, 0.35, 0.45};
  for (int i = 0; i < 5; ++i)
    t.Upsert(At(far_pos[i]), Ep(uint32_t(i)), kRoleFarOut, uint64_t(i) * kS);
  t.Upsert(At(0.99), Ep(9), kRoleFarIn, 0);
  EXPECT_TRUE(t.FarOutBeyond(5).empty());
  const auto drop = t.FarOutBeyond(3);
  EXPECT_EQ(drop, (std::vector<RingAddress>{At(0.05), At(0.15)}));
  EXPECT_EQ(t.CountWithRole(kRoleFarOut), 5u);
  EXPECT_EQ(t.CountWithRole(kRoleFarIn), 1u);
  t.ClearRole(At(0.05), kRoleFarOut, 10 * kS);
  EXPECT_EQ(t.CountWithRole(kRoleFarOut), 4u);
  EXPECT_TRUE(t.Remove(At(0.05)));
  EXPECT_FALSE(t.Remove(At(0.05)));
  EXPECT_EQ(t.Find(At(0.05)), nullptr);
}

TEST(OverlayLinkTable, SizeEstimate) {
  // 1000 evenly spaced nodes: neighbours 1/1000 apart.
  LinkTable t(At(0.5), 2, {});
  for (int k : {-2, -1, 1, 2}) t.Upsert(At(0.5 + k / 1000.0), Ep(uint32_t(k + 3)), 0, 0);
  EXPECT_NEAR(t.EstimateSize(), 1000, 1);
}

}  // namespace
}  // namespace ipop::cp::overlay
