#include "controlplane/overlay/address.h"

#include <openssl/sha.h>

#include <cmath>

namespace ipop::cp::overlay {

RingAddress RingAddress::FromBytes(std::span<const uint8_t, kBytes> bytes) {
  RingAddress a;
  for (size_t i = 0; i < kWords; ++i) {
    const uint8_t* p = bytes.data() + 4 * i;
    a.words_[i] = (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  }
  return a;
}

RingAddress RingAddress::FromIdentity(std::span<const uint8_t> identity) {
  uint8_t digest[SHA_DIGEST_LENGTH];
  SHA1(identity.data(), identity.size(), digest);
  return FromBytes(std::span<const uint8_t, kBytes>(digest, kBytes));
}

RingAddress RingAddress::Random(RandomSource& random) {
  uint8_t b[kBytes];
  random.Fill(b);
  return FromBytes(b);
}

RingAddress RingAddress::FromFraction(double fraction) {
  RingAddress a;
  if (!(fraction > 0)) return a;  // also NaN
  if (fraction >= 1) fraction = std::nextafter(1.0, 0.0);
  const uint64_t top = uint64_t(std::ldexp(fraction, 64));
  a.words_[0] = uint32_t(top >> 32);
  a.words_[1] = uint32_t(top);
  return a;
}

std::optional<RingAddress> RingAddress::FromHex(std::string_view hex) {
  if (hex.size() != 2 * kBytes) return std::nullopt;
  uint8_t b[kBytes];
  for (size_t i = 0; i < hex.size(); ++i) {
    const char c = hex[i];
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    if (i % 2 == 0) {
      b[i / 2] = uint8_t(v << 4);
    } else {
      b[i / 2] |= uint8_t(v);
    }
  }
  return FromBytes(b);
}

void RingAddress::ToBytes(std::span<uint8_t, kBytes> out) const {
  for (size_t i = 0; i < kWords; ++i) {
    out[4 * i] = uint8_t(words_[i] >> 24);
    out[4 * i + 1] = uint8_t(words_[i] >> 16);
    out[4 * i + 2] = uint8_t(words_[i] >> 8);
    out[4 * i + 3] = uint8_t(words_[i]);
  }
}

std::string RingAddress::ToHex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(2 * kBytes, '0');
  for (size_t i = 0; i < kWords; ++i)
    for (int n = 0; n < 8; ++n) s[8 * i + size_t(n)] = kDigits[(words_[i] >> (28 - 4 * n)) & 0xf];
  return s;
}

double RingAddress::ToFraction() const {
  const uint64_t top = (uint64_t{words_[0]} << 32) | words_[1];
  return std::ldexp(double(top), -64);
}

RingAddress RingAddress::operator+(const RingAddress& o) const {
  RingAddress r;
  uint64_t carry = 0;
  for (size_t i = kWords; i-- > 0;) {
    const uint64_t s = uint64_t{words_[i]} + o.words_[i] + carry;
    r.words_[i] = uint32_t(s);
    carry = s >> 32;
  }
  return r;
}

RingAddress RingAddress::operator-(const RingAddress& o) const {
  RingAddress r;
  uint64_t borrow = 0;
  for (size_t i = kWords; i-- > 0;) {
    const uint64_t d = uint64_t{words_[i]} - o.words_[i] - borrow;
    r.words_[i] = uint32_t(d);
    borrow = (d >> 32) & 1;
  }
  return r;
}

RingAddress RingDistance(const RingAddress& a, const RingAddress& b) {
  const RingAddress cw = b - a;
  const RingAddress ccw = a - b;
  return cw < ccw ? cw : ccw;
}

bool CloserTo(const RingAddress& key, const RingAddress& a, const RingAddress& b) {
  const RingAddress da = RingDistance(a, key);
  const RingAddress db = RingDistance(b, key);
  if (da != db) return da < db;
  return a < b;
}

}  // namespace ipop::cp::overlay
