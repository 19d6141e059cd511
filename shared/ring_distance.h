// Ring arithmetic on overlay addresses as they sit in packets and shared memory: 20-byte
// big-endian 160-bit numbers on a circle of 2^160 points. The results equal those of
// controlplane/overlay/address.h (RingDistance, CloserTo) - the control plane routes overlay
// messages with those and the dataplane relays DATA with these, so both must pick the same next
// hop (tests/unit/test_ring_distance.cc cross-checks them). Header-only and allocation-free for
// the per-packet relay path.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ipop::ring {

inline constexpr size_t kAddressBytes = 20;

// A 160-bit value as three limbs, most significant first; `top` holds only 32 bits.
struct U160 {
  uint64_t top = 0;
  uint64_t mid = 0;
  uint64_t low = 0;
  friend bool operator==(const U160&, const U160&) = default;
};

inline U160 Load(const uint8_t bytes[kAddressBytes]) {
  auto be64 = [](const uint8_t* p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
    return v;
  };
  U160 v;
  v.top = (uint64_t{bytes[0]} << 24) | (uint64_t{bytes[1]} << 16) | (uint64_t{bytes[2]} << 8) |
          bytes[3];
  v.mid = be64(bytes + 4);
  v.low = be64(bytes + 12);
  return v;
}

inline void Store(const U160& v, uint8_t out[kAddressBytes]) {
  for (int i = 0; i < 4; ++i) out[i] = uint8_t(v.top >> (24 - 8 * i));
  for (int i = 0; i < 8; ++i) out[4 + i] = uint8_t(v.mid >> (56 - 8 * i));
  for (int i = 0; i < 8; ++i) out[12 + i] = uint8_t(v.low >> (56 - 8 * i));
}

inline bool Less(const U160& a, const U160& b) {
  if (a.top != b.top) return a.top < b.top;
  if (a.mid != b.mid) return a.mid < b.mid;
  return a.low < b.low;
}

// a - b modulo 2^160.
inline U160 Sub(const U160& a, const U160& b) {
  U160 r;
  r.low = a.low - b.low;
  const uint64_t borrow_low = a.low < b.low ? 1 : 0;
  r.mid = a.mid - b.mid - borrow_low;
  const uint64_t borrow_mid = (a.mid < b.mid || (a.mid == b.mid && borrow_low)) ? 1 : 0;
  r.top = (a.top - b.top - borrow_mid) & 0xffff'ffffu;
  return r;
}

// The shorter of the two ways round the ring between a and b.
inline U160 Distance(const U160& a, const U160& b) {
  const U160 cw = Sub(b, a);
  const U160 ccw = Sub(a, b);
  return Less(cw, ccw) ? cw : ccw;
}

// True if `a` is strictly closer to `key` than `b`; equal distances go to the smaller address,
// so every node picks the same winner (and a node never beats itself).
inline bool CloserTo(const U160& key, const U160& a, const U160& b) {
  const U160 da = Distance(a, key);
  const U160 db = Distance(b, key);
  if (!(da == db)) return Less(da, db);
  return Less(a, b);
}

// Byte-array forms, for callers that hold addresses as they appear on the wire.
inline void Distance(const uint8_t a[kAddressBytes], const uint8_t b[kAddressBytes],
                     uint8_t out[kAddressBytes]) {
  Store(Distance(Load(a), Load(b)), out);
}
inline bool CloserTo(const uint8_t key[kAddressBytes], const uint8_t a[kAddressBytes],
                     const uint8_t b[kAddressBytes]) {
  return CloserTo(Load(key), Load(a), Load(b));
}

}  // namespace ipop::ring
