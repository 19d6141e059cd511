// HKDF against RFC 5869, X25519 against RFC 7748, and the direction-key schedule: A's tx key is
// B's rx key, a third key pair gets nothing of theirs, low-order peer keys are refused, every
// input (key pairs, VIPs, network, secret) changes the key, and key ids follow the key material.
#include "controlplane/sessions/key_derivation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "tests/unit/cp_fakes.h"

namespace ipop::cp {
namespace {

using testing::FakeRandom;
using testing::Ip;

std::vector<uint8_t> Hex(const char* s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; s[i] && s[i + 1]; i += 2)
    out.push_back(uint8_t(std::stoul(std::string(s + i, 2), nullptr, 16)));
  return out;
}

PublicKey Key(const char* hex) {
  const std::vector<uint8_t> v = Hex(hex);
  PublicKey k{};
  EXPECT_EQ(v.size(), k.size());
  std::memcpy(k.data(), v.data(), std::min(v.size(), k.size()));
  return k;
}

X25519KeyPair PairFromSeed(uint64_t seed) {
  FakeRandom random(seed);
  X25519KeyPair pair;
  EXPECT_TRUE(pair.Generate(random));
  return pair;
}

X25519KeyPair PairFromPrivate(const char* hex) {
  const std::vector<uint8_t> priv = Hex(hex);
  X25519KeyPair pair;
  EXPECT_TRUE(pair.SetPrivateKey(std::span<const uint8_t, kX25519KeySize>(priv.data(), 32)));
  return pair;
}

// RFC 7748 section 6.1.
constexpr char kAlicePrivate[] = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr char kAlicePublic[] = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
constexpr char kBobPrivate[] = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
constexpr char kBobPublic[] = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
constexpr char kShared[] = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

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

TEST(X25519, Rfc7748Section6_1) {
  const X25519KeyPair alice = PairFromPrivate(kAlicePrivate);
  const X25519KeyPair bob = PairFromPrivate(kBobPrivate);
  EXPECT_EQ(alice.public_key(), Key(kAlicePublic));
  EXPECT_EQ(bob.public_key(), Key(kBobPublic));
  PublicKey at_alice{}, at_bob{};
  ASSERT_TRUE(alice.Agree(bob.public_key(), at_alice));
  ASSERT_TRUE(bob.Agree(alice.public_key(), at_bob));
  EXPECT_EQ(at_alice, Key(kShared));
  EXPECT_EQ(at_bob, Key(kShared));
}

TEST(X25519, GenerateUsesTheGivenRandomnessAndReplacesThePair) {
  FakeRandom r1(1), r1_again(1), r2(2);
  X25519KeyPair a, a_again, b;
  ASSERT_TRUE(a.Generate(r1));
  ASSERT_TRUE(a_again.Generate(r1_again));
  ASSERT_TRUE(b.Generate(r2));
  EXPECT_TRUE(a.valid());
  EXPECT_FALSE(IsZero(a.public_key()));
  EXPECT_EQ(a.public_key(), a_again.public_key());
  EXPECT_NE(a.public_key(), b.public_key());
  const PublicKey first = a.public_key();
  ASSERT_TRUE(a.Generate(r1));  // the next 32 bytes of the stream: a new pair
  EXPECT_NE(a.public_key(), first);
}

TEST(X25519, EmptyAndMovedFromPairsAgreeOnNothing) {
  const X25519KeyPair bob = PairFromPrivate(kBobPrivate);
  X25519KeyPair empty;
  PublicKey shared{};
  shared.fill(0x55);
  EXPECT_FALSE(empty.valid());
  EXPECT_TRUE(IsZero(empty.public_key()));
  EXPECT_FALSE(empty.Agree(bob.public_key(), shared));
  EXPECT_TRUE(IsZero(shared));  // no stale bytes left behind on failure

  X25519KeyPair alice = PairFromPrivate(kAlicePrivate);
  X25519KeyPair moved(std::move(alice));
  EXPECT_FALSE(alice.valid());  // NOLINT(bugprone-use-after-move): checking the moved-from state
  EXPECT_TRUE(IsZero(alice.public_key()));
  ASSERT_TRUE(moved.Agree(bob.public_key(), shared));
  EXPECT_EQ(shared, Key(kShared));
  moved.Clear();
  EXPECT_FALSE(moved.Agree(bob.public_key(), shared));
}

// Points of small order (and their non-canonical encodings) give an all-zero shared secret.
TEST(X25519, LowOrderPeerKeysAreRejected) {
  const X25519KeyPair alice = PairFromPrivate(kAlicePrivate);
  std::array<uint8_t, 32> secret{};
  const PskKeySource src(secret, "net");
  for (const char* hex : {"0000000000000000000000000000000000000000000000000000000000000000",
                          "0100000000000000000000000000000000000000000000000000000000000000",
                          "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
                          "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
                          "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                          "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
                          "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"}) {
    PublicKey shared{};
    EXPECT_FALSE(alice.Agree(Key(hex), shared)) << hex;
    EXPECT_TRUE(IsZero(shared)) << hex;
    SessionKeys keys;
    SessionKeyInput in{&alice, Key(hex), Ip(10, 0, 0, 1), Ip(10, 0, 0, 2)};
    EXPECT_FALSE(src.Derive(in, &keys)) << hex;
  }
}

bool SameKey(const DirectionKey& a, const DirectionKey& b) {
  return std::memcmp(a.key, b.key, 32) == 0 && std::memcmp(a.salt, b.salt, 4) == 0 &&
         a.key_id == b.key_id;
}

class SessionKeysTest : public ::testing::Test {
 protected:
  SessionKeys Derive(const PskKeySource& src, const X25519KeyPair& local, const PublicKey& peer,
                     uint32_t lv, uint32_t pv) {
    SessionKeys k;
    SessionKeyInput in{&local, peer, lv, pv};
    EXPECT_TRUE(src.Derive(in, &k));
    return k;
  }
  std::array<uint8_t, 32> secret_{};
  uint32_t a_ = Ip(10, 77, 0, 1), b_ = Ip(10, 77, 0, 2), c_ = Ip(10, 77, 0, 3);
  X25519KeyPair pa_ = PairFromSeed(1), pb_ = PairFromSeed(2), pc_ = PairFromSeed(3);
};

TEST_F(SessionKeysTest, DirectionsMatchAcrossPeers) {
  secret_.fill(3);
  PskKeySource src(secret_, "net");
  const SessionKeys at_a = Derive(src, pa_, pb_.public_key(), a_, b_);
  const SessionKeys at_b = Derive(src, pb_, pa_.public_key(), b_, a_);
  EXPECT_TRUE(SameKey(at_a.tx, at_b.rx));
  EXPECT_TRUE(SameKey(at_b.tx, at_a.rx));
  EXPECT_FALSE(SameKey(at_a.tx, at_a.rx));  // each direction has its own key
  EXPECT_EQ(at_a.tx.key_id, KeyIdOf(at_a.tx.key, at_a.tx.salt));
  EXPECT_NE(at_a.tx.key_id, 0u);
}

// C holds the secret and sees both public keys, but not A's or B's private key: whatever it
// derives, even claiming B's VIP, is not the A <-> B key.
TEST_F(SessionKeysTest, ThirdKeyPairGetsOtherKeys) {
  secret_.fill(3);
  PskKeySource src(secret_, "net");
  const SessionKeys at_a = Derive(src, pa_, pb_.public_key(), a_, b_);
  const SessionKeys c_as_b = Derive(src, pc_, pa_.public_key(), b_, a_);
  const SessionKeys c_with_b = Derive(src, pc_, pb_.public_key(), a_, b_);
  for (const SessionKeys& c : {c_as_b, c_with_b}) {
    EXPECT_FALSE(SameKey(c.tx, at_a.tx));
    EXPECT_FALSE(SameKey(c.tx, at_a.rx));
    EXPECT_FALSE(SameKey(c.rx, at_a.tx));
    EXPECT_FALSE(SameKey(c.rx, at_a.rx));
  }
  // Between themselves A and C agree, on a key of their own.
  const SessionKeys a_c = Derive(src, pa_, pc_.public_key(), a_, c_);
  const SessionKeys c_a = Derive(src, pc_, pa_.public_key(), c_, a_);
  EXPECT_TRUE(SameKey(a_c.tx, c_a.rx));
  EXPECT_FALSE(SameKey(a_c.tx, at_a.tx));
}

TEST_F(SessionKeysTest, EveryInputChangesTheKey) {
  secret_.fill(3);
  PskKeySource src(secret_, "net");
  const DirectionKey base = Derive(src, pa_, pb_.public_key(), a_, b_).tx;
  const X25519KeyPair pa2 = PairFromSeed(11), pb2 = PairFromSeed(12);
  EXPECT_FALSE(SameKey(base, Derive(src, pa2, pb_.public_key(), a_, b_).tx));  // our rekey
  EXPECT_FALSE(SameKey(base, Derive(src, pa_, pb2.public_key(), a_, b_).tx));  // peer rekey
  EXPECT_FALSE(SameKey(base, Derive(src, pa_, pb_.public_key(), a_, c_).tx));
  EXPECT_FALSE(SameKey(base, Derive(src, pa_, pb_.public_key(), c_, b_).tx));
  PskKeySource other_net(secret_, "net2");
  EXPECT_FALSE(SameKey(base, Derive(other_net, pa_, pb_.public_key(), a_, b_).tx));
  std::array<uint8_t, 32> s2 = secret_;
  s2[31] ^= 1;
  PskKeySource other_secret(s2, "net");
  EXPECT_FALSE(SameKey(base, Derive(other_secret, pa_, pb_.public_key(), a_, b_).tx));
  // Deterministic: the same inputs give the same key.
  EXPECT_TRUE(SameKey(base, Derive(src, pa_, pb_.public_key(), a_, b_).tx));
}

TEST_F(SessionKeysTest, EmptyLocalPairDerivesNothing) {
  PskKeySource src(secret_, "net");
  const X25519KeyPair empty;
  SessionKeys k;
  EXPECT_FALSE(src.Derive(SessionKeyInput{&empty, pb_.public_key(), a_, b_}, &k));
  EXPECT_FALSE(src.Derive(SessionKeyInput{nullptr, pb_.public_key(), a_, b_}, &k));
}

// The schedule of docs/control-protocol.md, recomputed step by step from the RFC 7748 pairs.
TEST_F(SessionKeysTest, DirectionMatchesDocumentedSchedule) {
  secret_.fill(3);
  PskKeySource src(secret_, "net");
  const X25519KeyPair alice = PairFromPrivate(kAlicePrivate);
  const PublicKey bob = Key(kBobPublic);
  const std::string bind_info = "ipop v1 bindnet";
  std::vector<uint8_t> bind_key(32);
  ASSERT_TRUE(HkdfSha256(secret_, {},
                         {reinterpret_cast<const uint8_t*>(bind_info.data()), bind_info.size()},
                         bind_key));
  std::vector<uint8_t> info = {'i', 'p', 'o', 'p', ' ', 'v', '1', ' ',
                               'd', 'a', 't', 'a', 'n', 'e', 't'};
  info.insert(info.end(), alice.public_key().begin(), alice.public_key().end());
  info.insert(info.end(), bob.begin(), bob.end());
  info.insert(info.end(), {10, 77, 0, 1, 10, 77, 0, 2});
  std::vector<uint8_t> okm(36);
  ASSERT_TRUE(HkdfSha256(Key(kShared), bind_key, info, okm));
  const DirectionKey k = Derive(src, alice, bob, a_, b_).tx;
  EXPECT_EQ(std::memcmp(k.key, okm.data(), 32), 0);
  EXPECT_EQ(std::memcmp(k.salt, okm.data() + 32, 4), 0);
  EXPECT_EQ(k.key_id, KeyIdOf(okm.data(), okm.data() + 32));
}

}  // namespace
}  // namespace ipop::cp
