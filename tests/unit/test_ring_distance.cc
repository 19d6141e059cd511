// shared/ring_distance.h against the control plane's overlay::RingDistance / CloserTo: the
// dataplane relays with one and the overlay routes with the other, so they must agree exactly,
// including at the wrap-around, at the half-way point and on ties.
#include "shared/ring_distance.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>

#include "controlplane/overlay/address.h"

namespace ipop {
namespace {

using Bytes20 = std::array<uint8_t, ring::kAddressBytes>;
using cp::overlay::RingAddress;

RingAddress ToOverlay(const Bytes20& b) {
  return RingAddress::FromBytes(std::span<const uint8_t, RingAddress::kBytes>(b));
}

Bytes20 FromOverlay(const RingAddress& a) {
  Bytes20 b{};
  a.ToBytes(b);
  return b;
}

// Random addresses biased toward the places where arithmetic goes wrong: all-zero and all-one
// limbs (borrows across limb boundaries), values near 0, 2^159 and 2^160 - 1, and near-equal
// pairs.
class AddressSource {
 public:
  explicit AddressSource(uint64_t seed) : rng_(seed) {}
  Bytes20 Next() {
    Bytes20 b{};
    const uint32_t shape = Pick(8);
    for (auto& x : b) x = uint8_t(rng_());
    if (shape == 0) b.fill(0);
    if (shape == 1) b.fill(0xff);
    if (shape == 2) std::fill(b.begin(), b.begin() + 12, uint8_t(Pick(2) ? 0 : 0xff));
    if (shape == 3) std::fill(b.begin() + 4, b.end(), uint8_t(Pick(2) ? 0 : 0xff));
    if (shape == 4) b[0] = uint8_t(0x7f + Pick(3));  // around half way
    return b;
  }
  // An address a small step away from `a` (either direction, possibly across the wrap).
  Bytes20 Near(const Bytes20& a) {
    uint8_t step[ring::kAddressBytes] = {};
    step[19] = uint8_t(Pick(4));
    step[11] = uint8_t(Pick(2));
    const RingAddress d = RingAddress::FromBytes(std::span<const uint8_t, 20>(step, 20));
    return FromOverlay(Pick(2) ? ToOverlay(a) + d : ToOverlay(a) - d);
  }
  uint32_t Pick(uint32_t n) { return uint32_t(rng_() % n); }

 private:
  std::mt19937_64 rng_;
};

TEST(RingDistance, LoadStoreRoundTrip) {
  AddressSource src(1);
  for (int i = 0; i < 1000; ++i) {
    const Bytes20 a = src.Next();
    Bytes20 back{};
    ring::Store(ring::Load(a.data()), back.data());
    EXPECT_EQ(a, back);
  }
}

TEST(RingDistance, AgreesWithOverlayOnRandomPairs) {
  AddressSource src(2);
  for (int i = 0; i < 5000; ++i) {
    const Bytes20 a = src.Next();
    const Bytes20 b = (i % 3 == 0) ? src.Near(a) : src.Next();
    Bytes20 d{};
    ring::Distance(a.data(), b.data(), d.data());
    EXPECT_EQ(d, FromOverlay(cp::overlay::RingDistance(ToOverlay(a), ToOverlay(b))))
        << ToOverlay(a).ToHex() << " " << ToOverlay(b).ToHex();
    Bytes20 sub{};
    ring::Store(ring::Sub(ring::Load(a.data()), ring::Load(b.data())), sub.data());
    EXPECT_EQ(sub, FromOverlay(ToOverlay(a) - ToOverlay(b)));
  }
}

TEST(RingDistance, CloserToAgreesWithOverlayOnRandomTriples) {
  AddressSource src(3);
  int ties = 0;
  for (int i = 0; i < 5000; ++i) {
    const Bytes20 key = src.Next();
    Bytes20 a = (i % 4 == 0) ? src.Near(key) : src.Next();
    Bytes20 b = (i % 5 == 0) ? src.Near(key) : src.Next();
    if (i % 7 == 0) {
      // Mirror a around the key: equal distances, the smaller address must win.
      b = FromOverlay(ToOverlay(key) + (ToOverlay(key) - ToOverlay(a)));
      ++ties;
    }
    if (i % 11 == 0) b = a;
    const bool expected = cp::overlay::CloserTo(ToOverlay(key), ToOverlay(a), ToOverlay(b));
    EXPECT_EQ(ring::CloserTo(key.data(), a.data(), b.data()), expected)
        << ToOverlay(key).ToHex() << " " << ToOverlay(a).ToHex() << " " << ToOverlay(b).ToHex();
  }
  EXPECT_GT(ties, 0);
}

TEST(RingDistance, EdgesOfTheRing) {
  Bytes20 zero{}, one{}, max{}, half{}, half_plus{};
  one[19] = 1;
  max.fill(0xff);
  half[0] = 0x80;
  half_plus = half;
  half_plus[19] = 1;
  Bytes20 d{};
  ring::Distance(zero.data(), max.data(), d.data());
  EXPECT_EQ(d, one);  // one step across the wrap, not 2^160 - 1
  ring::Distance(zero.data(), half.data(), d.data());
  EXPECT_EQ(d, half);  // exactly opposite: both ways are 2^159
  ring::Distance(zero.data(), half_plus.data(), d.data());
  Bytes20 below_half{};
  below_half.fill(0xff);
  below_half[0] = 0x7f;
  EXPECT_EQ(d, below_half);  // the other way round is shorter
  EXPECT_FALSE(ring::CloserTo(half.data(), zero.data(), zero.data()));  // never beats itself
  // `one` and `max` are both one step from `zero`: the tie goes to the smaller address.
  EXPECT_TRUE(ring::CloserTo(zero.data(), one.data(), max.data()));
  EXPECT_FALSE(ring::CloserTo(zero.data(), max.data(), one.data()));
}

}  // namespace
}  // namespace ipop
