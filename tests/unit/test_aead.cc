// AeadContext: published known-answer vectors pin the IV layout (salt || big-endian counter);
// the rest checks round trips, every tamper, context reuse and move semantics for both ciphers
// and, for AES-256-GCM, both backends (OpenSSL EVP and intel-ipsec-mb), which must interoperate
// byte for byte.
#include "dataplane/aead.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/aead_ipsec_mb.h"
#include "dataplane/crypto_backend.h"
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

// A build without intel-ipsec-mb skips its cases; a build with it must pass its self-test here.
bool SkipIpsecMb(AeadBackend backend) {
  if (backend != AeadBackend::kIpsecMb) return false;
  if (!ipsecmb::Built()) return true;
  EXPECT_TRUE(IpsecMbUsable()) << "intel-ipsec-mb is linked but failed its self-test";
  return !IpsecMbUsable();
}

struct Variant {
  Cipher cipher;
  AeadBackend backend;
};

class AeadTest : public ::testing::TestWithParam<Variant> {
 protected:
  void SetUp() override {
    if (SkipIpsecMb(backend())) GTEST_SKIP() << "built without intel-ipsec-mb";
    const Keys k = MakeKeys(1);
    ASSERT_TRUE(sealer_.Init(cipher(), k.key, k.salt, true, backend()));
    ASSERT_TRUE(opener_.Init(cipher(), k.key, k.salt, false, backend()));
    ASSERT_EQ(backend(), sealer_.backend());
    for (size_t i = 0; i < aad_.size(); ++i) aad_[i] = uint8_t(0x40 + i);
  }
  static Cipher cipher() { return GetParam().cipher; }
  static AeadBackend backend() { return GetParam().backend; }
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
  ASSERT_TRUE(wrong_key.Init(cipher(), other.key, other.salt, false, backend()));
  EXPECT_FALSE(wrong_key.Open(9, aad_, sealed.data(), 200, out.data(), tag));
  other = MakeKeys(1);
  other.salt[0] ^= 1;
  AeadContext wrong_salt;
  ASSERT_TRUE(wrong_salt.Init(cipher(), other.key, other.salt, false, backend()));
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
  ASSERT_TRUE(assigned.Init(cipher(), other.key, other.salt, false, backend()));
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
  ASSERT_TRUE(sealer_.Init(cipher(), k2.key, k2.salt, true, backend()));
  ASSERT_TRUE(sealer_.Seal(5, aad_, plain.data(), 80, sealed.data(), tag));
  EXPECT_FALSE(opener_.Open(5, aad_, sealed.data(), 80, out.data(), tag));
  ASSERT_TRUE(opener_.Init(cipher(), k2.key, k2.salt, false, backend()));
  ASSERT_TRUE(opener_.Open(5, aad_, sealed.data(), 80, out.data(), tag));
  EXPECT_EQ(plain, out);
}

INSTANTIATE_TEST_SUITE_P(
    CiphersAndBackends, AeadTest,
    ::testing::Values(Variant{Cipher::kAes256Gcm, AeadBackend::kOpenSsl},
                      Variant{Cipher::kAes256Gcm, AeadBackend::kIpsecMb},
                      Variant{Cipher::kChaCha20Poly1305, AeadBackend::kOpenSsl}),
    [](const ::testing::TestParamInfo<Variant>& p) {
      const std::string cipher =
          p.param.cipher == Cipher::kAes256Gcm ? "Aes256Gcm" : "ChaCha20Poly1305";
      return cipher + (p.param.backend == AeadBackend::kIpsecMb ? "IpsecMb" : "OpenSsl");
    });

// Sealed by one backend, opened by the other, at sizes around the 16-byte block and the 64-byte
// stride of the vector code paths: both must produce identical ciphertext and tags.
TEST(AeadInterop, EachBackendOpensTheOther) {
  if (SkipIpsecMb(AeadBackend::kIpsecMb)) GTEST_SKIP() << "built without intel-ipsec-mb";
  const Keys k = MakeKeys(5);
  AeadContext ssl_seal, ssl_open, mb_seal, mb_open;
  ASSERT_TRUE(ssl_seal.Init(Cipher::kAes256Gcm, k.key, k.salt, true, AeadBackend::kOpenSsl));
  ASSERT_TRUE(ssl_open.Init(Cipher::kAes256Gcm, k.key, k.salt, false, AeadBackend::kOpenSsl));
  ASSERT_TRUE(mb_seal.Init(Cipher::kAes256Gcm, k.key, k.salt, true, AeadBackend::kIpsecMb));
  ASSERT_TRUE(mb_open.Init(Cipher::kAes256Gcm, k.key, k.salt, false, AeadBackend::kIpsecMb));
  std::array<uint8_t, wire::kHeaderSize> aad{};
  for (size_t i = 0; i < aad.size(); ++i) aad[i] = uint8_t(0x90 ^ i);
  uint64_t counter = 1;
  for (size_t len = 0; len <= 1500; len += (len < 300 ? 1 : 61)) {
    const auto plain = Pattern(len);
    std::vector<uint8_t> by_ssl(len), by_mb(len), out(len);
    uint8_t tag_ssl[16], tag_mb[16];
    ASSERT_TRUE(ssl_seal.Seal(counter, aad, plain.data(), len, by_ssl.data(), tag_ssl));
    ASSERT_TRUE(mb_seal.Seal(counter, aad, plain.data(), len, by_mb.data(), tag_mb));
    EXPECT_EQ(by_ssl, by_mb) << len;
    EXPECT_EQ(0, std::memcmp(tag_ssl, tag_mb, 16)) << len;
    ASSERT_TRUE(mb_open.Open(counter, aad, by_ssl.data(), len, out.data(), tag_ssl)) << len;
    EXPECT_EQ(plain, out) << len;
    ASSERT_TRUE(ssl_open.Open(counter, aad, by_mb.data(), len, out.data(), tag_mb)) << len;
    EXPECT_EQ(plain, out) << len;
    if (len > 0) {
      by_ssl[len / 2] ^= 0x04;
      EXPECT_FALSE(mb_open.Open(counter, aad, by_ssl.data(), len, out.data(), tag_ssl)) << len;
    }
    ++counter;
  }
}

TEST(AeadBackendChoice, DefaultFollowsSetterAndChaChaStaysOnOpenSsl) {
  const Keys k = MakeKeys(6);
  const AeadBackend saved = DefaultGcmBackend();
  AeadContext ctx;
  SetDefaultGcmBackend(AeadBackend::kOpenSsl);
  ASSERT_TRUE(ctx.Init(Cipher::kAes256Gcm, k.key, k.salt, true));
  EXPECT_EQ(AeadBackend::kOpenSsl, ctx.backend());
  SetDefaultGcmBackend(AeadBackend::kIpsecMb);
  EXPECT_EQ(IpsecMbUsable(), ctx.Init(Cipher::kAes256Gcm, k.key, k.salt, true));
  if (IpsecMbUsable()) {
    EXPECT_EQ(AeadBackend::kIpsecMb, ctx.backend());
  }
  ASSERT_TRUE(ctx.Init(Cipher::kChaCha20Poly1305, k.key, k.salt, true));
  EXPECT_EQ(AeadBackend::kOpenSsl, ctx.backend());
  SetDefaultGcmBackend(saved);
  EXPECT_STREQ("openssl", AeadBackendName(AeadBackend::kOpenSsl));
  EXPECT_STREQ("ipsec-mb", AeadBackendName(AeadBackend::kIpsecMb));
}

// The dataplane's start-up choice: auto prefers ipsec-mb exactly when it is usable, a demanded
// but unusable ipsec-mb is an error, and the choice becomes the default for Init().
TEST(AeadBackendChoice, StartupSelection) {
  const AeadBackend saved = DefaultGcmBackend();
  const AeadBackend best = IpsecMbUsable() ? AeadBackend::kIpsecMb : AeadBackend::kOpenSsl;
  const dp::CryptoBackendSelection automatic = dp::SelectCryptoBackend(CryptoBackend::kAuto);
  ASSERT_TRUE(automatic.ok);
  EXPECT_EQ(best, automatic.gcm);
  EXPECT_EQ(best, DefaultGcmBackend());
  EXPECT_NE(std::string::npos, automatic.summary.find(AeadBackendName(best))) << automatic.summary;
  EXPECT_NE(std::string::npos, automatic.summary.find("(auto)")) << automatic.summary;
  EXPECT_NE(std::string::npos, automatic.summary.find("cpu ")) << automatic.summary;
  const dp::CryptoBackendSelection ssl = dp::SelectCryptoBackend(CryptoBackend::kOpenSsl);
  ASSERT_TRUE(ssl.ok);
  EXPECT_EQ(AeadBackend::kOpenSsl, ssl.gcm);
  EXPECT_EQ(AeadBackend::kOpenSsl, DefaultGcmBackend());
  const dp::CryptoBackendSelection mb = dp::SelectCryptoBackend(CryptoBackend::kIpsecMb);
  EXPECT_EQ(IpsecMbUsable(), mb.ok);
  if (mb.ok) {
    EXPECT_EQ(AeadBackend::kIpsecMb, DefaultGcmBackend());
  } else {
    EXPECT_NE(std::string::npos, mb.error.find("network.crypto-backend")) << mb.error;
  }
  SetDefaultGcmBackend(saved);
}

// One context switched between backends by re-Init keeps working and never mixes key state.
TEST(AeadBackendChoice, ReinitAcrossBackends) {
  if (SkipIpsecMb(AeadBackend::kIpsecMb)) GTEST_SKIP() << "built without intel-ipsec-mb";
  const Keys k1 = MakeKeys(7), k2 = MakeKeys(8);
  AeadContext seal, open;
  const auto plain = Pattern(333);
  std::vector<uint8_t> sealed(333), out(333);
  uint8_t tag[16];
  const AeadBackend order[] = {AeadBackend::kIpsecMb, AeadBackend::kOpenSsl, AeadBackend::kIpsecMb};
  for (int round = 0; round < 3; ++round) {
    const Keys& k = round % 2 == 0 ? k1 : k2;
    ASSERT_TRUE(seal.Init(Cipher::kAes256Gcm, k.key, k.salt, true, order[round]));
    ASSERT_TRUE(open.Init(Cipher::kAes256Gcm, k.key, k.salt, false, order[2 - round]));
    ASSERT_TRUE(seal.Seal(11, {}, plain.data(), 333, sealed.data(), tag));
    ASSERT_TRUE(open.Open(11, {}, sealed.data(), 333, out.data(), tag)) << round;
    EXPECT_EQ(plain, out);
  }
}

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
    // Same paper, Test Cases 13-15 (AES-256: empty input, one zero block, no AAD).
    {Cipher::kAes256Gcm, "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
    {Cipher::kAes256Gcm, "0000000000000000000000000000000000000000000000000000000000000000",
     "000000000000000000000000", "", "00000000000000000000000000000000",
     "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
    {Cipher::kAes256Gcm, "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
     "cafebabefacedbaddecaf888", "",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
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

class AeadKnownAnswer : public ::testing::TestWithParam<AeadBackend> {};

TEST_P(AeadKnownAnswer, PublishedVectorsMatch) {
  if (SkipIpsecMb(GetParam())) GTEST_SKIP() << "built without intel-ipsec-mb";
  for (const KnownAnswer& v : kVectors) {
    const auto key = Hex(v.key), iv = Hex(v.iv), aad = Hex(v.aad), plain = Hex(v.plain);
    const auto expected = Hex(v.sealed), expected_tag = Hex(v.tag);
    ASSERT_EQ(12u, iv.size());
    const uint64_t counter = wire::LoadBe64(iv.data() + 4);
    AeadContext seal, open;
    ASSERT_TRUE(seal.Init(v.cipher, key.data(), iv.data(), true, GetParam()));
    ASSERT_TRUE(open.Init(v.cipher, key.data(), iv.data(), false, GetParam()));
    std::vector<uint8_t> sealed(plain.size()), opened(plain.size());
    uint8_t tag[16];
    ASSERT_TRUE(seal.Seal(counter, aad, plain.data(), plain.size(), sealed.data(), tag));
    EXPECT_EQ(expected, sealed) << int(v.cipher);
    EXPECT_EQ(expected_tag, std::vector<uint8_t>(tag, tag + 16)) << int(v.cipher);
    ASSERT_TRUE(open.Open(counter, aad, expected.data(), expected.size(), opened.data(),
                          expected_tag.data()));
    EXPECT_EQ(plain, opened);
    if (!expected.empty()) {
      auto forged = expected;
      forged.back() ^= 0x01;
      EXPECT_FALSE(open.Open(counter, aad, forged.data(), forged.size(), opened.data(),
                             expected_tag.data()));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, AeadKnownAnswer,
                         ::testing::Values(AeadBackend::kOpenSsl, AeadBackend::kIpsecMb),
                         [](const ::testing::TestParamInfo<AeadBackend>& p) {
                           return std::string(p.param == AeadBackend::kIpsecMb ? "IpsecMb"
                                                                               : "OpenSsl");
                         });

}  // namespace
}  // namespace ipop
