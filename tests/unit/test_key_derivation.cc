// HKDF against RFC 5869, and the direction-key schedule: A's tx key is B's rx key, every input
// (nonces, VIPs, network, secret) changes the key, and key ids follow the key material.
#include "controlplane/key_derivation.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "tests/unit/cp_fakes.h"

namespace ipop::cp {
namespace {

using testing::Ip;

std::vector<uint8_t> Hex(const char* s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; s[i] && s[i + 1]; i += 2)
    out.push_back(uint8_t(std::stoul(std::string(s + i, 2), nullptr, 16)));
  return out;
}

TEST(Hkdf, Rfc5869TestCase1) {
  const std::vector<uint8_t> ikm(22, 0x0b);
  const std::vector<uint8_t> salt = Hex("000102030405060708090a0b0c");
  const std::vector<uint8_t> info = Hex("f0f1f2f3f4f5f6f7f8f9");
  std::vector<uint8_t> okm(42);
  ASSERT_TRUE(HkdfSha256(ikm, salt, info, okm));
  EXPECT_EQ(okm, Hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5"
                     "b887185865"));
}

TEST(Hkdf, Rfc5869TestCase3NoSaltNoInfo) {
  const std::vector<uint8_t> ikm(22, 0x0b);
  std::vector<uint8_t> okm(42);
  ASSERT_TRUE(HkdfSha256(ikm, {}, {}, okm));
  EXPECT_EQ(okm, Hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395fa"
                     "a4b61a96c8"));
}

Nonce N(uint8_t fill) {
  Nonce n;
  n.fill(fill);
  return n;
}

bool SameKey(const DirectionKey& a, const DirectionKey& b) {
  return std::memcmp(a.key, b.key, 32) == 0 && std::memcmp(a.salt, b.salt, 4) == 0 &&
         a.key_id == b.key_id;
}

class SessionKeysTest : public ::testing::Test {
 protected:
  SessionKeys Derive(const PskKeySource& src, Nonce local, Nonce peer, uint32_t lv, uint32_t pv) {
    SessionKeys k;
    SessionKeyInput in{local, peer, lv, pv};
    EXPECT_TRUE(src.Derive(in, &k));
    return k;
  }
  std::array<uint8_t, 32> secret_{};
  uint32_t a_ = Ip(10, 77, 0, 1), b_ = Ip(10, 77, 0, 2);
};

TEST_F(SessionKeysTest, DirectionsMatchAcrossPeers) {
  secret_.fill(3);
  PskKeySource src(secret_, "net");
  const SessionKeys at_a = Derive(src, N(1), N(2), a_, b_);
  const SessionKeys at_b = Derive(src, N(2), N(1), b_, a_);
  EXPECT_TRUE(SameKey(at_a.tx, at_b.rx));
  EXPECT_TRUE(SameKey(at_b.tx, at_a.rx));
  EXPECT_FALSE(SameKey(at_a.tx, at_a.rx));  // each direction has its own key
  EXPECT_EQ(at_a.tx.key_id, KeyIdOf(at_a.tx.key, at_a.tx.salt));
  EXPECT_NE(at_a.tx.key_id, 0u);
}

TEST_F(SessionKeysTest, EveryInputChangesTheKey) {
  secret_.fill(3);
  PskKeySource src(secret_, "net");
  const DirectionKey base = Derive(src, N(1), N(2), a_, b_).tx;
  EXPECT_FALSE(SameKey(base, Derive(src, N(9), N(2), a_, b_).tx));  // our restart
  EXPECT_FALSE(SameKey(base, Derive(src, N(1), N(9), a_, b_).tx));  // peer restart
  EXPECT_FALSE(SameKey(base, Derive(src, N(1), N(2), a_, Ip(10, 77, 0, 3)).tx));
  PskKeySource other_net(secret_, "net2");
  EXPECT_FALSE(SameKey(base, Derive(other_net, N(1), N(2), a_, b_).tx));
  std::array<uint8_t, 32> s2 = secret_;
  s2[31] ^= 1;
  PskKeySource other_secret(s2, "net");
  EXPECT_FALSE(SameKey(base, Derive(other_secret, N(1), N(2), a_, b_).tx));
  // Deterministic: the same inputs give the same key.
  EXPECT_TRUE(SameKey(base, Derive(src, N(1), N(2), a_, b_).tx));
}

TEST_F(SessionKeysTest, DirectionMatchesDocumentedSchedule) {
  secret_.fill(3);
  PskKeySource src(secret_, "net");
  std::vector<uint8_t> salt(16, 1);
  salt.insert(salt.end(), 16, 2);
  std::vector<uint8_t> info = {'i', 'p', 'o', 'p', ' ', 'v', '1', ' ', 'd', 'a', 't', 'a',
                               'n', 'e', 't', 10,  77,  0,   1,   10,  77,  0,   2};
  std::vector<uint8_t> okm(36);
  ASSERT_TRUE(HkdfSha256(secret_, salt, info, okm));
  const DirectionKey k = Derive(src, N(1), N(2), a_, b_).tx;
  EXPECT_EQ(std::memcmp(k.key, okm.data(), 32), 0);
  EXPECT_EQ(std::memcmp(k.salt, okm.data() + 32, 4), 0);
}

}  // namespace
}  // namespace ipop::cp
