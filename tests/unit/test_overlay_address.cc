// Ring address arithmetic against 64-bit reference arithmetic on the top words, hex round trips
// and the distance / tie-break rules routing depends on.
#include "controlplane/overlay/address.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/cp_fakes.h"

namespace ipop::cp::overlay {
namespace {

RingAddress Hex(const std::string& h) {
  return *RingAddress::FromHex(h);
}

TEST(OverlayAddress, HexRoundTripAndBytes) {
  testing::FakeRandom rnd(7);
  for (int i = 0; i < 100; ++i) {
    const RingAddress a = RingAddress::Random(rnd);
    EXPECT_EQ(*RingAddress::FromHex(a.ToHex()), a);
    uint8_t b[20];
    a.ToBytes(b);
    EXPECT_EQ(RingAddress::FromBytes(b), a);
  }
  EXPECT_FALSE(RingAddress::FromHex("12").has_value());
  EXPECT_FALSE(RingAddress::FromHex(std::string(39, '0') + "g").has_value());
  EXPECT_EQ(Hex("00000000000000000000000000000000000000FF").ToHex(),
            "00000000000000000000000000000000000000ff");
}

TEST(OverlayAddress, FromIdentityIsSha1) {
  const uint8_t abc[] = {'a', 'b', 'c'};
  EXPECT_EQ(RingAddress::FromIdentity(abc).ToHex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(OverlayAddress, AddSubtractWrapAndCarry) {
  const RingAddress max = Hex(std::string(40, 'f'));
  const RingAddress one = Hex(std::string(39, '0') + "1");
  EXPECT_TRUE((max + one).IsZero());
  EXPECT_EQ(RingAddress() - one, max);
  // Carry across every word.
  EXPECT_EQ(Hex("00000000ffffffffffffffffffffffffffffffff") + one,
            Hex("0000000100000000000000000000000000000000"));
  testing::FakeRandom rnd(3);
  for (int i = 0; i < 1000; ++i) {
    const RingAddress a = RingAddress::Random(rnd), b = RingAddress::Random(rnd);
    EXPECT_EQ((a + b) - b, a);
    EXPECT_EQ(a - b + b, a);
    EXPECT_EQ(ClockwiseDistance(a, b) + ClockwiseDistance(b, a), RingAddress()) << i;
    // The top 64 bits behave like uint64 arithmetic up to a borrow/carry from below.
    const uint64_t ta = (uint64_t{a.word(0)} << 32) | a.word(1);
    const uint64_t tb = (uint64_t{b.word(0)} << 32) | b.word(1);
    const RingAddress s = a + b;
    const uint64_t ts = (uint64_t{s.word(0)} << 32) | s.word(1);
    EXPECT_TRUE(ts == ta + tb || ts == ta + tb + 1);
  }
}

TEST(OverlayAddress, OrderIsNumeric) {
  EXPECT_LT(Hex("0000000000000000000000000000000000000001"),
            Hex("0000000000000000000000000000000000000100"));
  EXPECT_LT(Hex("7fffffffffffffffffffffffffffffffffffffff"),
            Hex("8000000000000000000000000000000000000000"));
}

TEST(OverlayAddress, DistanceBothWaysAndTies) {
  const RingAddress a = Hex("1000000000000000000000000000000000000000");
  const RingAddress b = Hex("f000000000000000000000000000000000000000");
  // Going clockwise from b to a crosses zero and is the short way.
  EXPECT_EQ(RingDistance(a, b), Hex("2000000000000000000000000000000000000000"));
  EXPECT_EQ(RingDistance(b, a), RingDistance(a, b));
  const RingAddress key = Hex("0000000000000000000000000000000000000000");
  EXPECT_TRUE(CloserTo(key, b, Hex("2000000000000000000000000000000000000000")));
  // a and its mirror image around the key are equally far: the smaller address wins, both ways.
  const RingAddress mirror = RingAddress() - a;
  EXPECT_TRUE(CloserTo(key, a, mirror));
  EXPECT_FALSE(CloserTo(key, mirror, a));
}

TEST(OverlayAddress, Fractions) {
  EXPECT_EQ(RingAddress::FromFraction(0.5), Hex("8000000000000000000000000000000000000000"));
  EXPECT_NEAR(RingAddress::FromFraction(0.25).ToFraction(), 0.25, 1e-15);
  EXPECT_TRUE(RingAddress::FromFraction(-1).IsZero());
  EXPECT_LT(RingAddress::FromFraction(2.0).ToFraction(), 1.0);
}

}  // namespace
}  // namespace ipop::cp::overlay
