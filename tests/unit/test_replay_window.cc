// ReplayWindow: table-driven sequences, ring wrap, far jumps, and a randomized comparison with a
// naive reference (a std::set of seen counters plus the same "too old" rule).
#include "dataplane/replay_window.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <set>
#include <vector>

namespace ipop {
namespace {

constexpr uint64_t W = ReplayWindow::kWindow;

// The rule the window implements, without any bitmap: accept a counter that was never seen and
// is at most kWindow behind the highest counter accepted so far.
class NaiveWindow {
 public:
  bool Check(uint64_t c) const {
    if (seen_.empty() || c > highest_) return true;
    if (highest_ - c > W) return false;
    return seen_.count(c) == 0;
  }
  bool Update(uint64_t c) {
    if (!Check(c)) return false;
    seen_.insert(c);
    if (c > highest_) highest_ = c;
    return true;
  }

 private:
  std::set<uint64_t> seen_;
  uint64_t highest_ = 0;
};

struct Step {
  uint64_t counter;
  bool accepted;
};
struct Case {
  const char* name;
  std::vector<Step> steps;
};

const std::vector<Case>& Cases() {
  static const std::vector<Case> cases = {
      {"counter zero first", {{0, true}, {0, false}, {1, true}}},
      {"in order", {{1, true}, {2, true}, {3, true}, {4, true}}},
      {"duplicate of highest", {{5, true}, {5, false}}},
      {"out of order within window", {{10, true}, {8, true}, {9, true}, {8, false}, {7, true}}},
      {"zero after others", {{100, true}, {0, true}, {0, false}}},
      {"exactly at window edge", {{W + 10, true}, {10, true}, {10, false}}},
      {"one beyond window edge", {{W + 10, true}, {9, false}}},
      {"block boundaries", {{63, true}, {64, true}, {127, true}, {128, true}, {64, false}}},
      {"jump of one block", {{0, true}, {64, true}, {1, true}, {0, false}}},
      {"far jump clears everything",
       {{5, true}, {6, true}, {5 + 10 * W, true}, {5 + 10 * W - 1, true}, {6, false}}},
      {"jump of exactly the ring",
       {{0, true}, {ReplayWindow::kBlocks * 64, true}, {ReplayWindow::kBlocks * 64 - 1, true}}},
      {"old block bits do not survive a slide",
       // 69 sets bit 5 of block 1; sliding to block 257 reuses ring slot 1, which must be
       // cleared so 257*64+5 (same slot and bit as 69, below the new highest) is accepted.
       {{69, true},
        {70, true},
        {257 * 64 + 6, true},
        {257 * 64 + 5, true},
        {257 * 64 + 5, false},
        {69, false}}},
      {"slide of exactly the ring clears the reused slot",
       // 255 blocks ahead of block 0 is still in the ring; 256 blocks ahead reuses slot 0.
       {{5, true}, {256 * 64 + 10, true}, {256 * 64 + 5, true}, {256 * 64 + 5, false}}},
      {"near 2^64",
       {{~0ULL - 1, true},
        {~0ULL, true},
        {~0ULL - 1, false},
        {~0ULL - W, true},
        {~0ULL - W - 1, false}}},
  };
  return cases;
}

TEST(ReplayWindow, TableDriven) {
  for (const Case& c : Cases()) {
    ReplayWindow w;
    for (size_t i = 0; i < c.steps.size(); ++i) {
      const Step& s = c.steps[i];
      EXPECT_EQ(s.accepted, w.Check(s.counter)) << c.name << " step " << i << " check";
      EXPECT_EQ(s.accepted, w.Update(s.counter)) << c.name << " step " << i << " update";
    }
  }
}

TEST(ReplayWindow, CheckDoesNotMark) {
  ReplayWindow w;
  EXPECT_TRUE(w.Check(3));
  EXPECT_TRUE(w.Check(3));  // a forged packet that fails auth must not burn the counter
  EXPECT_TRUE(w.Update(3));
  EXPECT_FALSE(w.Check(3));
  EXPECT_EQ(3u, w.highest());
}

TEST(ReplayWindow, EveryCounterInWindowAcceptedOnceAfterJump) {
  ReplayWindow w;
  const uint64_t top = 5 * W + 17;
  ASSERT_TRUE(w.Update(top));
  for (uint64_t c = top - W; c < top; ++c) ASSERT_TRUE(w.Update(c)) << c;
  for (uint64_t c = top - W; c <= top; ++c) ASSERT_FALSE(w.Check(c)) << c;
  EXPECT_FALSE(w.Check(top - W - 1));
}

TEST(ReplayWindow, RingWrapsManyTimes) {
  // Sequential traffic over 50 full ring revolutions with a little reordering and duplicates.
  ReplayWindow w;
  const uint64_t n = 50 * ReplayWindow::kBlocks * 64;
  for (uint64_t c = 0; c < n; c += 2) {
    ASSERT_TRUE(w.Update(c + 1)) << c;
    ASSERT_TRUE(w.Update(c)) << c;
    ASSERT_FALSE(w.Update(c)) << c;
    ASSERT_FALSE(w.Update(c + 1)) << c;
    if (c >= W) {
      ASSERT_FALSE(w.Update(c - W)) << c;
    }
  }
  EXPECT_EQ(n - 1, w.highest());
}

TEST(ReplayWindow, ResetForgetsEverything) {
  ReplayWindow w;
  ASSERT_TRUE(w.Update(1000));
  ASSERT_TRUE(w.Update(0));
  w.Reset();
  EXPECT_TRUE(w.Update(0));
  EXPECT_TRUE(w.Update(1000));
  EXPECT_EQ(1000u, w.highest());
}

TEST(ReplayWindow, RandomizedAgainstNaiveReference) {
  std::mt19937_64 rng(6479);
  for (int round = 0; round < 20; ++round) {
    ReplayWindow w;
    NaiveWindow ref;
    uint64_t base = (round % 4 == 3) ? ~0ULL - 3 * W : uint64_t(rng() % 1000);
    for (int i = 0; i < 20000; ++i) {
      uint64_t c;
      const uint64_t r = rng() % 100;
      if (r < 50) {
        c = base + rng() % 8;  // near the front, many duplicates
        base += rng() % 4;
      } else if (r < 85) {
        c = base - std::min<uint64_t>(base, rng() % (W + 200));  // around the window edge
      } else if (r < 97) {
        c = base + rng() % (3 * W);  // jumps of up to a few windows
        base = c;
      } else {
        c = base + W * (1 + rng() % 100);  // far jump
        base = c;
      }
      if (base > ~0ULL - 4 * W) base = ~0ULL - 4 * W;  // stay clear of wrap in the generator
      ASSERT_EQ(ref.Check(c), w.Check(c)) << "round " << round << " step " << i << " c " << c;
      ASSERT_EQ(ref.Update(c), w.Update(c)) << "round " << round << " step " << i << " c " << c;
    }
  }
}

}  // namespace
}  // namespace ipop
