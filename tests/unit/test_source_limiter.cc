// The dataplane's flood limits without the stages around them: the fixed per-source table
// (dataplane/source_limiter.h) and the punt budget that uses it (dataplane/punt_budget.h).
#include <array>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "dataplane/packet.h"
#include "dataplane/punt_budget.h"
#include "dataplane/source_limiter.h"

namespace ipop::dp {
namespace {

using Addr = std::array<uint8_t, 16>;
using Result = SourceLimiter::Result;

constexpr uint64_t kSeed = 0x5eed;
constexpr uint64_t kT0 = 1'000'000'000;  // any non-zero monotonic time
constexpr Budget kPerSource{100, 8};     // one token per 10 ms
constexpr Budget kUntracked{100, 5};

Addr V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  Addr x{};
  x[10] = 0xff;
  x[11] = 0xff;
  x[12] = a;
  x[13] = b;
  x[14] = c;
  x[15] = d;
  return x;
}

// Takes tokens of `src` at `now` until one is refused; returns how many were granted.
uint32_t Drain(SourceLimiter& l, const Addr& src, uint64_t now, Result* refusal = nullptr) {
  uint32_t n = 0;
  for (;; ++n) {
    const Result r = l.Take(src.data(), now);
    if (r != Result::kAllowed) {
      if (refusal != nullptr) *refusal = r;
      return n;
    }
    if (n > 1'000'000) return n;  // a limiter that never refuses
  }
}

// `count` IPv4 sources 10.x.y.z that share one set of `l`.
std::vector<Addr> SameSet(const SourceLimiter& l, size_t count) {
  std::vector<Addr> out;
  const uint32_t set = l.SetOf(V4(10, 0, 0, 1).data());
  for (uint32_t i = 1; out.size() < count && i < (1u << 24); ++i) {
    const Addr a = V4(10, uint8_t(i >> 16), uint8_t(i >> 8), uint8_t(i));
    if (l.SetOf(a.data()) == set) out.push_back(a);
  }
  return out;
}

TEST(SourceLimiter, EachSourceHasItsOwnBucket) {
  SourceLimiter l(kPerSource, kUntracked, kSeed);
  Result refusal{};
  EXPECT_EQ(Drain(l, V4(192, 0, 2, 1), kT0, &refusal), kPerSource.burst);
  EXPECT_EQ(refusal, Result::kSourceLimited);
  // Another address is not touched by the first one's flood; the first refills at its rate.
  EXPECT_EQ(Drain(l, V4(192, 0, 2, 2), kT0), kPerSource.burst);
  EXPECT_EQ(Drain(l, V4(192, 0, 2, 1), kT0 + 30'000'000), 3u);  // 30 ms: 3 tokens
  EXPECT_EQ(l.tracked(), 2u);
}

TEST(SourceLimiter, Ipv6SourcesDifferingAnywhereAreDistinct) {
  SourceLimiter l(kPerSource, kUntracked, kSeed);
  Addr a{};
  a[0] = 0x20;
  a[1] = 0x01;
  Addr b = a;
  b[7] = 1;  // same last 8 bytes
  Addr c = a;
  c[15] = 1;  // same first 8 bytes
  for (const Addr& x : {a, b, c}) EXPECT_EQ(Drain(l, x, kT0), kPerSource.burst);
  EXPECT_EQ(l.tracked(), 3u);
}

// A hash of only the first 8 bytes would put every IPv4-mapped source into one set: 4 tracked.
TEST(SourceLimiter, Ipv4SourcesSpreadOverTheTable) {
  SourceLimiter l(kPerSource, kUntracked, kSeed);
  constexpr uint32_t kSources = SourceLimiter::kSets * SourceLimiter::kWays / 2;
  for (uint32_t i = 0; i < kSources; ++i)
    l.Take(V4(172, 31, uint8_t(i >> 8), uint8_t(i)).data(), kT0);
  // Random placement of half as many sources as slots leaves few sets over-full.
  EXPECT_GT(l.tracked(), kSources * 9 / 10);
}

TEST(SourceLimiter, AFullSetSendsNewSourcesToTheSharedBucket) {
  SourceLimiter l(kPerSource, kUntracked, kSeed);
  const std::vector<Addr> srcs = SameSet(l, SourceLimiter::kWays + 3);
  ASSERT_EQ(srcs.size(), SourceLimiter::kWays + 3);
  for (uint32_t i = 0; i < SourceLimiter::kWays; ++i)
    ASSERT_EQ(l.Take(srcs[i].data(), kT0), Result::kAllowed);  // busy: buckets not full
  // The other three are untracked and together get the shared budget once.
  uint32_t granted = 0;
  Result r{};
  for (int round = 0; round < 10; ++round)
    for (size_t i = SourceLimiter::kWays; i < srcs.size(); ++i)
      if ((r = l.Take(srcs[i].data(), kT0)) == Result::kAllowed) ++granted;
  EXPECT_EQ(granted, kUntracked.burst);
  EXPECT_EQ(r, Result::kUntrackedLimited);
  EXPECT_EQ(l.tracked(), SourceLimiter::kWays);
  // The tracked sources keep their own budgets meanwhile.
  for (uint32_t i = 0; i < SourceLimiter::kWays; ++i)
    EXPECT_EQ(Drain(l, srcs[i], kT0), kPerSource.burst - 1);
}

TEST(SourceLimiter, AnIdleSourceGivesUpItsSlot) {
  SourceLimiter l(kPerSource, kUntracked, kSeed);
  const std::vector<Addr> srcs = SameSet(l, SourceLimiter::kWays + 1);
  for (uint32_t i = 0; i < SourceLimiter::kWays; ++i) l.Take(srcs[i].data(), kT0);
  // 10 ms later every bucket is full again: forgetting one loses nothing, so the newcomer is
  // tracked with a budget of its own instead of the shared one.
  EXPECT_EQ(Drain(l, srcs.back(), kT0 + 10'000'000), kPerSource.burst);
  EXPECT_EQ(l.tracked(), SourceLimiter::kWays);
}

TEST(SourceLimiter, TheSeedMovesSources) {
  SourceLimiter a(kPerSource, kUntracked, 1);
  SourceLimiter b(kPerSource, kUntracked, 2);
  uint32_t same = 0;
  for (uint32_t i = 0; i < 256; ++i) {
    const Addr x = V4(10, 1, 0, uint8_t(i));
    same += a.SetOf(x.data()) == b.SetOf(x.data()) ? 1 : 0;
  }
  EXPECT_LT(same, 16u);  // 1 in 256 by chance
}

// ---- PuntBudget

Packet From(const Addr& a) {
  Packet p;
  std::memcpy(p.addr, a.data(), 16);
  return p;
}

constexpr uint32_t kRing = 512;

// Admits packets of `kind` from `src` while the budget allows (ring never filling); returns the
// count and the first refusal's reason.
uint32_t Admitted(PuntBudget& b, shm::PuntKind kind, const Addr& src, uint64_t now,
                  DropReason* why) {
  const Packet p = From(src);
  uint32_t n = 0;
  while (b.Admit(kind, p, kRing, kRing, now, why) && n < 1'000'000) ++n;
  return n;
}

TEST(PuntBudget, AnUnderlaySourceGetsItsOwnBudgetOthersTheRestOfTheWorkers) {
  PuntBudget b(kSeed);
  DropReason why{};
  EXPECT_EQ(Admitted(b, shm::PuntKind::kUnderlayControl, V4(192, 0, 2, 7), kT0, &why),
            kUnderlayPuntsPerSource.burst);
  EXPECT_EQ(why, DropReason::punt_source_limited);
  EXPECT_EQ(Admitted(b, shm::PuntKind::kUnderlayControl, V4(192, 0, 2, 8), kT0, &why),
            kUnderlayPunts.burst - kUnderlayPuntsPerSource.burst);
  EXPECT_EQ(why, DropReason::punt_underlay_limited);
}

TEST(PuntBudget, ManySourcesTogetherMeetTheWorkersBudget) {
  PuntBudget b(kSeed);
  DropReason why{};
  uint32_t admitted = 0;
  for (uint32_t i = 0; i < 64; ++i)
    admitted +=
        Admitted(b, shm::PuntKind::kUnderlayControl, V4(198, 51, 100, uint8_t(i)), kT0, &why);
  EXPECT_EQ(admitted, kUnderlayPunts.burst);
  EXPECT_EQ(why, DropReason::punt_underlay_limited);
}

TEST(PuntBudget, TheHostsFramesHaveABudgetTheUnderlayCannotSpend) {
  PuntBudget b(kSeed);
  DropReason why{};
  for (uint32_t i = 0; i < 64; ++i)
    Admitted(b, shm::PuntKind::kUnderlayControl, V4(198, 51, 100, uint8_t(i)), kT0, &why);
  ASSERT_EQ(why, DropReason::punt_underlay_limited);
  EXPECT_EQ(Admitted(b, shm::PuntKind::kTapFrame, Addr{}, kT0, &why), kTapPunts.burst);
  EXPECT_EQ(why, DropReason::punt_tap_limited);
  // ... and the other way round: the host's frames spent nothing of the underlay's.
  PuntBudget c(kSeed);
  Admitted(c, shm::PuntKind::kTapFrame, Addr{}, kT0, &why);
  EXPECT_EQ(Admitted(c, shm::PuntKind::kUnderlayControl, V4(192, 0, 2, 7), kT0, &why),
            kUnderlayPuntsPerSource.burst);
}

TEST(PuntBudget, UnderlayDatagramsLeaveTheLastQuarterOfTheRingToTheHost) {
  PuntBudget b(kSeed);
  const Packet p = From(V4(192, 0, 2, 7));
  DropReason why{};
  EXPECT_TRUE(b.Admit(shm::PuntKind::kUnderlayControl, p, kRing / 4 + 1, kRing, kT0, &why));
  EXPECT_FALSE(b.Admit(shm::PuntKind::kUnderlayControl, p, kRing / 4, kRing, kT0, &why));
  EXPECT_EQ(why, DropReason::punt_ring_reserved);
  EXPECT_TRUE(b.Admit(shm::PuntKind::kTapFrame, p, 1, kRing, kT0, &why));
  EXPECT_FALSE(b.Admit(shm::PuntKind::kTapFrame, p, 0, kRing, kT0, &why));
  EXPECT_EQ(why, DropReason::punt_ring_full);
  // Refused for room, a datagram spends no token: the source still has its whole budget.
  EXPECT_EQ(Admitted(b, shm::PuntKind::kUnderlayControl, V4(192, 0, 2, 7), kT0, &why),
            kUnderlayPuntsPerSource.burst - 1);
}

}  // namespace
}  // namespace ipop::dp

namespace ipop::dp {
namespace {

TEST(PuntBudget, UntrackedUnderlaySourcesShareOneBudget) {
  PuntBudget b(kSeed);
  // The same seed puts sources in the same sets as the budget's own table.
  const SourceLimiter probe(kUnderlayPuntsPerSource, kUnderlayPuntsUntracked, kSeed);
  const std::vector<Addr> srcs = SameSet(probe, SourceLimiter::kWays + 2);
  ASSERT_EQ(srcs.size(), SourceLimiter::kWays + 2);
  DropReason why{};
  for (uint32_t i = 0; i < SourceLimiter::kWays; ++i) {
    const Packet p = From(srcs[i]);
    ASSERT_TRUE(b.Admit(shm::PuntKind::kUnderlayControl, p, kRing, kRing, kT0, &why));
  }
  uint32_t granted = 0;
  for (uint32_t i = 0; i < 2 * kUnderlayPuntsUntracked.burst; ++i) {
    const Packet p = From(srcs[SourceLimiter::kWays + i % 2]);
    if (b.Admit(shm::PuntKind::kUnderlayControl, p, kRing, kRing, kT0, &why)) ++granted;
  }
  EXPECT_EQ(granted, kUnderlayPuntsUntracked.burst);
  EXPECT_EQ(why, DropReason::punt_untracked_limited);
}

}  // namespace
}  // namespace ipop::dp
