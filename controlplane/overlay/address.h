// 160-bit ring addresses (Brunet/Symphony): the identifier space of the overlay is the integers
// modulo 2^160 arranged on a circle. A node's address is SHA-1 of its identity (or random); a key
// is any point on the ring. Distances are measured both ways round and the nearer one counts.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "controlplane/runtime/random_source.h"

namespace ipop::cp::overlay {

class RingAddress {
 public:
  static constexpr size_t kBytes = 20;
  static constexpr size_t kWords = 5;

  RingAddress() = default;
  static RingAddress FromBytes(std::span<const uint8_t, kBytes> bytes);
  // SHA-1 of `identity` (a certificate, a public key, a node name in tests).
  static RingAddress FromIdentity(std::span<const uint8_t> identity);
  static RingAddress Random(RandomSource& random);
  // The point `fraction` of the way round the ring from zero, fraction in [0, 1). Only the top
  // 64 bits are set: enough precision for Symphony's far-link draws.
  static RingAddress FromFraction(double fraction);
  static std::optional<RingAddress> FromHex(std::string_view hex);

  void ToBytes(std::span<uint8_t, kBytes> out) const;
  std::string ToHex() const;
  // Value / 2^160, from the top 64 bits.
  double ToFraction() const;
  bool IsZero() const { return words_ == std::array<uint32_t, kWords>{}; }

  // Arithmetic modulo 2^160.
  RingAddress operator+(const RingAddress& o) const;
  RingAddress operator-(const RingAddress& o) const;
  // Numeric order of the unsigned 160-bit values (words_ is most significant first).
  auto operator<=>(const RingAddress&) const = default;

  uint32_t word(size_t i) const { return words_[i]; }

 private:
  std::array<uint32_t, kWords> words_{};  // words_[0] is the most significant
};

// Distance going clockwise (increasing addresses) from `from` to `to`.
inline RingAddress ClockwiseDistance(const RingAddress& from, const RingAddress& to) {
  return to - from;
}
// The shorter of the two ways round.
RingAddress RingDistance(const RingAddress& a, const RingAddress& b);
// True if `a` is strictly closer to `key` than `b`; equal distances (a and b mirrored around the
// key) go to the smaller address so every node picks the same winner.
bool CloserTo(const RingAddress& key, const RingAddress& a, const RingAddress& b);

}  // namespace ipop::cp::overlay
