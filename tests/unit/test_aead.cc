// AeadContext: published known-answer vectors pin the IV layout (salt || big-endian counter);
// the rest checks round trips, every tamper, context reuse and move semantics for both ciphers.
#include "shared/aead.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "shared/wire.h"

namespace ipop {
namespace {

using shm::Cipher;

std::vector<uint8_t> Hex(const std::string& s) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(uint8_t(std::stoul(s.substr(i, 2), nullptr, 16)));
  return out;
}

struct Keys {
  uint8_t key[32];
  uint8_t salt[4];
};

Keys MakeKeys(uint8_t seed) {
  Keys k;
  for (int i = 0; i < 32; ++i) k.key[i] = uint8_t(seed + i * 7);
  for (int i = 0; i < 4; ++i) k.salt[i] = uint8_t(seed ^ (0xa0 + i));
  return k;
}

std::vector<uint8_t> Pattern(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = uint8_t(i * 13 + 5);
  return v;
}

class AeadTest : public ::testing::TestWithParam<Cipher> {
 protected:
  void SetUp() override {
    const Keys k = MakeKeys(1);
    ASSERT_TRUE(sealer_.Init(GetParam(), k.key, k.salt, true));
    ASSERT_TRUE(opener_.Init(GetParam(), k.key, k.salt, false));
    for (size_t i = 0; i < aad_.size(); ++i) aad_[i] = uint8_t(0x40 + i);
  }
  AeadContext sealer_, opener_;
  std::array<uint8_t, wire::kHeaderSize> aad_{};
};

TEST_P(AeadTest, RoundTripAtManySizes) {
  for (size_t len : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{64},
                     size_t{1400}, size_t{1500}, size_t{9000}}) {
    const auto plain = Pattern(len);
    std::vector<uint8_t> sealed(len), opened(len, 0xee);
    uint8_t tag[16];
    ASSERT_TRUE(sealer_.Seal(42, aad_, plain.data(), len, sealed.data(), tag)) << len;
    if (len >= 16) {
      EXPECT_NE(plain, sealed) << len;
    }
    ASSERT_TRUE(opener_.Open(42, aad_, sealed.data(), len, opened.data(), tag)) << len;
    EXPECT_EQ(plain, opened) << len;
  }
}

TEST_P(AeadTest, EmptyAadWorks) {
  const auto plain = Pattern(100);
  std::vector<uint8_t> sealed(100), opened(100);
  uint8_t tag[16];
  ASSERT_TRUE(sealer_.Seal(1, {}, plain.data(), 100, sealed.data(), tag));
  ASSERT_TRUE(opener_.Open(1, {}, sealed.data(), 100, opened.data(), tag));
  EXPECT_EQ(plain, opened);
  EXPECT_FALSE(opener_.Open(1, aad_, sealed.data(), 100, opened.data(), tag));
}

TEST_P(AeadTest, EveryTamperIsRejected) {
  const auto plain = Pattern(64);
  std::vector<uint8_t> sealed(64), out(64);
  uint8_t tag[16];
  ASSERT_TRUE(sealer_.Seal(7, aad_, plain.data(), 64, sealed.data(), tag));
  for (size_t i = 0; i < sealed.size(); ++i) {
    auto bad = sealed;
    bad[i] ^= 0x01;
    EXPECT_FALSE(opener_.Open(7, aad_, bad.data(), 64, out.data(), tag)) << "ciphertext " << i;
  }
  for (size_t i = 0; i < 16; ++i) {
    uint8_t bad_tag[16];
    std::memcpy(bad_tag, tag, 16);
    bad_tag[i] ^= 0x80;
    EXPECT_FALSE(opener_.Open(7, aad_, sealed.data(), 64, out.data(), bad_tag)) << "tag " << i;
  }
  for (size_t i = 0; i < aad_.size(); ++i) {
    auto bad_aad = aad_;
    bad_aad[i] ^= 0x10;
    EXPECT_FALSE(opener_.Open(7, bad_aad, sealed.data(), 64, out.data(), tag)) << "aad " << i;
  }
  // Truncation is a tamper too.
  EXPECT_FALSE(opener_.Open(7, aad_, sealed.data(), 63, out.data(), tag));
  // The context is still usable after failures.
  ASSERT_TRUE(opener_.Open(7, aad_, sealed.data(), 64, out.data(), tag));
  EXPECT_EQ(plain, out);
}

TEST_P(AeadTest, WrongKeyOrSaltRejected) {
  const auto plain = Pattern(200);
  std::vector<uint8_t> sealed(200), out(200);
  uint8_t tag[16];
  ASSERT_TRUE(sealer_.Seal(9, aad_, plain.data(), 200, sealed.data(), tag));
  Keys other = MakeKeys(1);
  other.key[31] ^= 1;
  AeadContext wrong_key;
  ASSERT_TRUE(wrong_key.Init(GetParam(), other.key, other.salt, false));
  EXPECT_FALSE(wrong_key.Open(9, aad_, sealed.data(), 200, out.data(), tag));
  other = MakeKeys(1);
  other.salt[0] ^= 1;
  AeadContext wrong_salt;
  ASSERT_TRUE(wrong_salt.Init(GetParam(), other.key, other.salt, false));
  EXPECT_FALSE(wrong_salt.Open(9, aad_, sealed.data(), 200, out.data(), tag));
}

TEST_P(AeadTest, WrongCounterRejected) {
  const auto plain = Pattern(100);
  std::vector<uint8_t> sealed(100), out(100);
  uint8_t tag[16];
  const uint64_t counter = 0x0102030405060708ULL;
  ASSERT_TRUE(sealer_.Seal(counter, aad_, plain.data(), 100, sealed.data(), tag));
  for (uint64_t wrong : {counter + 1, counter - 1, counter ^ (uint64_t{1} << 63), uint64_t{0}})
    EXPECT_FALSE(opener_.Open(wrong, aad_, sealed.data(), 100, out.data(), tag)) << wrong;
}

TEST_P(AeadTest, InPlaceSealAndOpen) {
  const auto plain = Pattern(1400);
  auto buf = plain;
  uint8_t tag[16];
  ASSERT_TRUE(sealer_.Seal(3, aad_, buf.data(), buf.size(), buf.data(), tag));
  EXPECT_NE(plain, buf);
  // In-place must produce the same ciphertext as out-of-place.
  std::vector<uint8_t> separate(1400);
  uint8_t tag2[16];
  ASSERT_TRUE(sealer_.Seal(3, aad_, plain.data(), plain.size(), separate.data(), tag2));
  EXPECT_EQ(separate, buf);
  EXPECT_EQ(0, std::memcmp(tag, tag2, 16));
  ASSERT_TRUE(opener_.Open(3, aad_, buf.data(), buf.size(), buf.data(), tag));
  EXPECT_EQ(plain, buf);
}

TEST_P(AeadTest, OneInitManyPackets) {
  // Seal all first, then open in a shuffled order: no state may leak from packet to packet.
  constexpr int kPackets = 2000;
  std::vector<std::vector<uint8_t>> sealed(kPackets);
  std::vector<std::array<uint8_t, 16>> tags(kPackets);
  for (int i = 0; i < kPackets; ++i) {
    const auto plain = Pattern(size_t(i % 300));
    sealed[i].resize(plain.size());
    ASSERT_TRUE(sealer_.Seal(uint64_t(i) * 977, aad_, plain.data(), plain.size(), sealed[i].data(),
                             tags[i].data()));
  }
  // Same plaintext under different counters must give different ciphertext (fresh nonce).
  EXPECT_NE(sealed[299], sealed[599]);
  for (int j = 0; j < kPackets; ++j) {
    const int i = (j * 7919) % kPackets;
    std::vector<uint8_t> out(sealed[i].size());
    ASSERT_TRUE(opener_.Open(uint64_t(i) * 977, aad_, sealed[i].data(), sealed[i].size(),
                             out.data(), tags[i].data()))
        << i;
    EXPECT_EQ(Pattern(size_t(i % 300)), out);
  }
}

TEST_P(AeadTest, DirectionIsEnforced) {
  uint8_t buf[32] = {}, tag[16] = {};
  EXPECT_FALSE(opener_.Seal(1, aad_, buf, 32, buf, tag));
  EXPECT_FALSE(sealer_.Open(1, aad_, buf, 32, buf, tag));
  AeadContext uninitialised;
  EXPECT_FALSE(uninitialised.ready());
  EXPECT_FALSE(uninitialised.Seal(1, aad_, buf, 32, buf, tag));
  EXPECT_FALSE(uninitialised.Open(1, aad_, buf, 32, buf, tag));
}

TEST_P(AeadTest, MoveTransfersTheContext) {
  const auto plain = Pattern(50);
  std::vector<uint8_t> sealed(50), out(50);
  uint8_t tag[16];
  AeadContext moved(std::move(sealer_));
  EXPECT_FALSE(sealer_.ready());  // NOLINT(bugprone-use-after-move): moved-from state is defined
  EXPECT_FALSE(sealer_.Seal(1, aad_, plain.data(), 50, sealed.data(), tag));
  ASSERT_TRUE(moved.Seal(1, aad_, plain.data(), 50, sealed.data(), tag));
  AeadContext assigned;
  const Keys other = MakeKeys(9);
  ASSERT_TRUE(assigned.Init(GetParam(), other.key, other.salt, false));
  assigned = std::move(opener_);  // frees the old context (ASan would report a leak otherwise)
  ASSERT_TRUE(assigned.Open(1, aad_, sealed.data(), 50, out.data(), tag));
  EXPECT_EQ(plain, out);
  AeadContext& alias = assigned;
  assigned = std::move(alias);  // self-move keeps it usable
  ASSERT_TRUE(assigned.Open(1, aad_, sealed.data(), 50, out.data(), tag));
}

TEST_P(AeadTest, ReinitRekeys) {
  const auto plain = Pattern(80);
  std::vector<uint8_t> sealed(80), out(80);
  uint8_t tag[16];
  const Keys k2 = MakeKeys(2);
  ASSERT_TRUE(sealer_.Init(GetParam(), k2.key, k2.salt, true));
  ASSERT_TRUE(sealer_.Seal(5, aad_, plain.data(), 80, sealed.data(), tag));
  EXPECT_FALSE(opener_.Open(5, aad_, sealed.data(), 80, out.data(), tag));
  ASSERT_TRUE(opener_.Init(GetParam(), k2.key, k2.salt, false));
  ASSERT_TRUE(opener_.Open(5, aad_, sealed.data(), 80, out.data(), tag));
  EXPECT_EQ(plain, out);
}

INSTANTIATE_TEST_SUITE_P(BothCiphers, AeadTest,
                         ::testing::Values(Cipher::kAes256Gcm, Cipher::kChaCha20Poly1305),
                         [](const ::testing::TestParamInfo<Cipher>& p) {
                           return p.param == Cipher::kAes256Gcm ? std::string("Aes256Gcm")
                                                                : std::string("ChaCha20Poly1305");
                         });

TEST(AeadTest, CiphersAreNotInterchangeable) {
  const Keys k = MakeKeys(3);
  AeadContext gcm, chacha;
  ASSERT_TRUE(gcm.Init(Cipher::kAes256Gcm, k.key, k.salt, true));
  ASSERT_TRUE(chacha.Init(Cipher::kChaCha20Poly1305, k.key, k.salt, false));
  const auto plain = Pattern(40);
  std::vector<uint8_t> sealed(40), out(40);
  uint8_t tag[16];
  ASSERT_TRUE(gcm.Seal(1, {}, plain.data(), 40, sealed.data(), tag));
  EXPECT_FALSE(chacha.Open(1, {}, sealed.data(), 40, out.data(), tag));
  EXPECT_FALSE(gcm.Init(Cipher(0), k.key, k.salt, true));
  EXPECT_FALSE(gcm.ready());
}

struct KnownAnswer {
  Cipher cipher;
  const char *key, *iv, *aad, *plain, *sealed, *tag;
};

// The 12-byte IV of each published vector is split as salt (4) || counter (8, big endian); a
// match proves AeadContext lays out the nonce that way.
const KnownAnswer kVectors[] = {
    // McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)", Appendix B, Test Case 16.
    {Cipher::kAes256Gcm, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
    // RFC 8439 section 2.8.2 (AEAD_CHACHA20_POLY1305): nonce = 07000000 || 4041424344454647.
    {Cipher::kChaCha20Poly1305, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
     "070000004041424344454647", "50515253c0c1c2c3c4c5c6c7",
     "4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
     "73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
     "6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
     "637265656e20776f756c642062652069742e",
     "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
     "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
     "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
     "3ff4def08e4b7a9de576d26586cec64b6116",
     "1ae10b594f09e26a7e902ecbd0600691"},
};

TEST(AeadKnownAnswer, PublishedVectorsMatch) {
  for (const KnownAnswer& v : kVectors) {
    const auto key = Hex(v.key), iv = Hex(v.iv), aad = Hex(v.aad), plain = Hex(v.plain);
    const auto expected = Hex(v.sealed), expected_tag = Hex(v.tag);
    ASSERT_EQ(12u, iv.size());
    const uint64_t counter = wire::LoadBe64(iv.data() + 4);
    AeadContext seal, open;
    ASSERT_TRUE(seal.Init(v.cipher, key.data(), iv.data(), true));
    ASSERT_TRUE(open.Init(v.cipher, key.data(), iv.data(), false));
    std::vector<uint8_t> sealed(plain.size()), opened(plain.size());
    uint8_t tag[16];
    ASSERT_TRUE(seal.Seal(counter, aad, plain.data(), plain.size(), sealed.data(), tag));
    EXPECT_EQ(expected, sealed) << int(v.cipher);
    EXPECT_EQ(expected_tag, std::vector<uint8_t>(tag, tag + 16)) << int(v.cipher);
    ASSERT_TRUE(open.Open(counter, aad, expected.data(), expected.size(), opened.data(),
                          expected_tag.data()));
    EXPECT_EQ(plain, opened);
  }
}

}  // namespace
}  // namespace ipop
