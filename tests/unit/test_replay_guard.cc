// ReplayGuard: each authenticated control message is accepted once, reordering within the window
// is tolerated, and neither a restart nor a full table lets an old message back in.
#include "controlplane/sessions/replay_guard.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace ipop::cp {
namespace {

constexpr uint64_t kS = 1'000'000'000ull;
constexpr uint64_t kStart = 1'700'000'000ull * kS;

ReplayGuard::Key K(uint8_t n) {
  ReplayGuard::Key k{};
  k[0] = n;
  return k;
}

TEST(ReplayGuard, EachTimestampIsAcceptedOnce) {
  ReplayGuard g(kStart, 16);
  const uint64_t now = kStart + 100 * kS;
  EXPECT_EQ(g.Check(K(1), now, now), ReplayVerdict::kFresh);
  EXPECT_EQ(g.Check(K(1), now, now), ReplayVerdict::kReplayed);
  EXPECT_EQ(g.Check(K(1), now + 1, now), ReplayVerdict::kFresh);
  // Another sender's clock is its own business.
  EXPECT_EQ(g.Check(K(2), now, now), ReplayVerdict::kFresh);
  EXPECT_EQ(g.Check(K(2), now, now), ReplayVerdict::kReplayed);
}

TEST(ReplayGuard, ReorderedWithinTheWindowIsAcceptedOlderIsNot) {
  ReplayGuard g(kStart, 16);
  const uint64_t t = kStart + 100 * kS;
  ASSERT_EQ(g.Check(K(1), t, t), ReplayVerdict::kFresh);
  ASSERT_EQ(g.Check(K(1), t + kS, t), ReplayVerdict::kFresh);
  EXPECT_EQ(g.Check(K(1), t + kS / 2, t), ReplayVerdict::kFresh);  // overtaken, not a copy
  EXPECT_EQ(g.Check(K(1), t + kS / 2, t), ReplayVerdict::kReplayed);
  EXPECT_EQ(g.Check(K(1), t + kS - ReplayGuard::kReorderNs - 1, t), ReplayVerdict::kReplayed);
}

TEST(ReplayGuard, CopiesOlderThanTheRememberedHistoryAreRefused) {
  ReplayGuard g(kStart, 16);
  const uint64_t t = kStart + 100 * kS;
  for (uint64_t i = 0; i <= ReplayGuard::kHistory; ++i)
    ASSERT_EQ(g.Check(K(1), t + i, t), ReplayVerdict::kFresh);
  // t itself fell out of the history: within the reorder window, but it may be a copy.
  EXPECT_EQ(g.Check(K(1), t, t), ReplayVerdict::kReplayed);
}

TEST(ReplayGuard, WhatWasSentBeforeOurStartIsRefused) {
  ReplayGuard g(kStart, 16);
  EXPECT_EQ(g.Check(K(1), kStart - ReplayGuard::kStartSkewNs, kStart), ReplayVerdict::kTooOld);
  EXPECT_EQ(g.Check(K(1), kStart - ReplayGuard::kStartSkewNs + 1, kStart), ReplayVerdict::kFresh);
  EXPECT_EQ(g.Check(K(1), 0, kStart), ReplayVerdict::kTooOld);
}

TEST(ReplayGuard, EvictingASenderRaisesTheFloorSoItsOldMessagesStayRefused) {
  ReplayGuard g(kStart, 2);
  const uint64_t t = kStart + 100 * kS;
  ASSERT_EQ(g.Check(K(1), t, t), ReplayVerdict::kFresh);
  ASSERT_EQ(g.Check(K(2), t + kS, t + kS), ReplayVerdict::kFresh);
  // A third sender evicts the least recently heard one (1); 1's message cannot come back.
  ASSERT_EQ(g.Check(K(3), t + 2 * kS, t + 2 * kS), ReplayVerdict::kFresh);
  EXPECT_EQ(g.senders(), 2u);
  EXPECT_GE(g.floor_ns(), t);
  EXPECT_EQ(g.Check(K(1), t, t + 3 * kS), ReplayVerdict::kTooOld);
  // Sender 1's new messages are welcome (this evicts sender 2, whose message stays refused too).
  EXPECT_EQ(g.Check(K(1), t + 3 * kS, t + 3 * kS), ReplayVerdict::kFresh);
  EXPECT_EQ(g.Check(K(2), t + kS, t + 3 * kS), ReplayVerdict::kTooOld);
}

TEST(ReplayGuard, FarFutureTimestampsAreRefused) {
  ReplayGuard g(kStart, 16);
  const uint64_t now = kStart + 100 * kS;
  EXPECT_EQ(g.Check(K(1), now + ReplayGuard::kAheadNs + 1, now), ReplayVerdict::kAhead);
  EXPECT_EQ(g.Check(K(1), now + ReplayGuard::kAheadNs, now), ReplayVerdict::kFresh);
}

TEST(ReplayGuard, KeysOfVipsAndAddressesDiffer) {
  EXPECT_NE(ReplayGuard::KeyOfVip(0x0a4d0001), ReplayGuard::KeyOfVip(0x0a4d0002));
  const std::vector<uint8_t> addr(20, 7);
  EXPECT_EQ(ReplayGuard::KeyOf(addr)[19], 7);
}

}  // namespace
}  // namespace ipop::cp
