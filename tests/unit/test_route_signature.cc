// Route announcement signatures: a good record verifies; any changed field (prefix, length, via,
// expiry, network), another key, an expired or far-future expiry, or a missing signature is
// refused when a verifier is configured; without one every well-formed record passes. A private key
// file other users can read is refused.
#include "controlplane/directory/route_signature.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "tests/unit/cp_fakes.h"

namespace ipop::cp {
namespace {

using testing::Ip;

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
};

KeyPair NewKey() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  EXPECT_NE(key, nullptr);
  KeyPair k;
  for (bool priv : {true, false}) {
    BIO* bio = BIO_new(BIO_s_mem());
    if (priv)
      EXPECT_EQ(PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr), 1);
    else
      EXPECT_EQ(PEM_write_bio_PUBKEY(bio, key), 1);
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    (priv ? k.private_pem : k.public_pem).assign(data, size_t(n));
    BIO_free(bio);
  }
  EVP_PKEY_free(key);
  return k;
}

constexpr uint64_t kNow = 1'700'000'000;

class RouteSignatureTest : public ::testing::Test {
 protected:
  RouteSignatureTest() : keys(NewKey()) {
    std::string err;
    signer = RouteSigner::FromPem(keys.private_pem, &err);
    verifier = RouteVerifier::FromPem(keys.public_pem, &err);
    claim = {Ip(192, 168, 77, 0), 24, Ip(10, 77, 0, 2), RouteExpiryFor(kNow)};
  }
  RouteVerdict Check(const std::vector<uint8_t>& value, const std::string& network = "rt",
                     uint64_t now = kNow) {
    const std::optional<RouteRecord> r = DecodeRouteRecord(value);
    EXPECT_TRUE(r.has_value());
    return r ? CheckRoute(*r, verifier.get(), network, now) : RouteVerdict::kUnsigned;
  }

  KeyPair keys;
  std::unique_ptr<RouteSigner> signer;
  std::unique_ptr<RouteVerifier> verifier;
  RouteClaim claim;
};

TEST_F(RouteSignatureTest, GoodSignatureIsAccepted) {
  ASSERT_TRUE(signer && verifier);
  const std::vector<uint8_t> v = signer->SignedRecord("rt", claim);
  ASSERT_EQ(v.size(), kSignedRouteSize);
  const std::optional<RouteRecord> r = DecodeRouteRecord(v);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->is_signed);
  EXPECT_EQ(r->claim, claim);
  EXPECT_EQ(Check(v), RouteVerdict::kAccepted);
}

TEST_F(RouteSignatureTest, TamperedFieldsOrOtherNetworkFail) {
  const std::vector<uint8_t> good = signer->SignedRecord("rt", claim);
  EXPECT_EQ(Check(good, "other"), RouteVerdict::kBadSignature);  // replayed in another network
  struct Edit {
    size_t offset;
    uint8_t value;
  };
  for (const Edit& e : {Edit{2, 78},     // prefix 192.168.78.0
                        Edit{4, 16},     // length (prefix stays valid when masked)
                        Edit{8, 3},      // via 10.77.0.3
                        Edit{16, 0x01},  // expiry (low byte)
                        Edit{17, 0x00},  // the signature itself
                        Edit{80, 0x5a}}) {
    std::vector<uint8_t> v = good;
    // A field that already holds the edit's value (a signature byte, 1 in 256) gets another.
    v[e.offset] = v[e.offset] == e.value ? uint8_t(e.value ^ 0xff) : e.value;
    EXPECT_EQ(Check(v), RouteVerdict::kBadSignature) << "offset " << e.offset;
  }
}

TEST_F(RouteSignatureTest, ExpiredOrFarFutureRecordsFail) {
  EXPECT_GE(claim.expiry_s, kNow + 240);
  EXPECT_LE(claim.expiry_s, kNow + 360);
  const std::vector<uint8_t> v = signer->SignedRecord("rt", claim);
  EXPECT_EQ(Check(v, "rt", claim.expiry_s), RouteVerdict::kAccepted);  // within the skew
  EXPECT_EQ(Check(v, "rt", claim.expiry_s + kRouteClockSkewS), RouteVerdict::kExpired);
  EXPECT_EQ(Check(v, "rt", kNow - kRouteClockSkewS), RouteVerdict::kAccepted);  // slow clock
  RouteClaim far = claim;
  far.expiry_s = kNow + kRouteMaxAheadS + kRouteClockSkewS + 1;
  EXPECT_EQ(Check(signer->SignedRecord("rt", far)), RouteVerdict::kTooFarAhead);
  // Same value across a refresh period: the DHT does not collect one value per refresh.
  EXPECT_EQ(RouteExpiryFor(kNow / kRouteExpiryPeriodS * kRouteExpiryPeriodS),
            RouteExpiryFor(kNow / kRouteExpiryPeriodS * kRouteExpiryPeriodS + 119));
}

TEST_F(RouteSignatureTest, WrongKeyAndUnsignedRecordsFail) {
  const KeyPair other = NewKey();
  std::string err;
  const auto intruder = RouteSigner::FromPem(other.private_pem, &err);
  ASSERT_TRUE(intruder) << err;
  EXPECT_EQ(Check(intruder->SignedRecord("rt", claim)), RouteVerdict::kBadSignature);
  EXPECT_EQ(Check(EncodeUnsignedRoute(claim)), RouteVerdict::kUnsigned);
}

TEST_F(RouteSignatureTest, WithoutAVerifierEveryWellFormedRecordPasses) {
  for (const std::vector<uint8_t>& v :
       {EncodeUnsignedRoute(claim), signer->SignedRecord("other", claim)}) {
    const std::optional<RouteRecord> r = DecodeRouteRecord(v);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(CheckRoute(*r, nullptr, "rt", kNow), RouteVerdict::kAccepted);
    EXPECT_EQ(r->claim.prefix, claim.prefix);
    EXPECT_EQ(r->claim.via, claim.via);
  }
}

TEST_F(RouteSignatureTest, DecoderRejectsMalformedValues) {
  std::vector<uint8_t> v = EncodeUnsignedRoute(claim);
  EXPECT_TRUE(DecodeRouteRecord(v).has_value());
  for (size_t n : {size_t{0}, size_t{8}, size_t{10}, size_t{80}, size_t{82}})
    EXPECT_FALSE(DecodeRouteRecord(std::vector<uint8_t>(n, 1)).has_value()) << n;
  v[4] = 0;
  EXPECT_FALSE(DecodeRouteRecord(v).has_value());
  v[4] = 33;
  EXPECT_FALSE(DecodeRouteRecord(v).has_value());
  v = EncodeUnsignedRoute({Ip(192, 168, 77, 9), 24, 0, 0});
  EXPECT_FALSE(DecodeRouteRecord(v).has_value());  // via 0
  v = EncodeUnsignedRoute({Ip(192, 168, 77, 9), 24, 1, 0});
  EXPECT_EQ(DecodeRouteRecord(v)->claim.prefix, Ip(192, 168, 77, 0));  // masked
}

TEST_F(RouteSignatureTest, KeysMustBeEd25519Pem) {
  std::string err;
  EXPECT_FALSE(RouteSigner::FromPem("garbage", &err));
  EXPECT_NE(err.find("genpkey"), std::string::npos);
  EXPECT_FALSE(RouteVerifier::FromPem(keys.private_pem, &err));  // a private key is no PUBKEY
  EXPECT_FALSE(RouteSigner::FromPemFile("/nonexistent/router.key", &err));
  EXPECT_NE(err.find("/nonexistent/router.key"), std::string::npos);
  EVP_PKEY* ec = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  ASSERT_NE(ec, nullptr);
  BIO* bio = BIO_new(BIO_s_mem());
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio, ec), 1);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  EXPECT_FALSE(RouteVerifier::FromPem(std::string(data, size_t(n)), &err));
  EXPECT_NE(err.find("Ed25519"), std::string::npos);
  BIO_free(bio);
  EVP_PKEY_free(ec);
}

// The signing key is a credential: another local user who can read it can sign routes.
TEST_F(RouteSignatureTest, PrivateKeyFileOthersCanReadIsRefused) {
  char path[] = "/tmp/ipop-router-key-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  const bool written = write(fd, keys.private_pem.data(), keys.private_pem.size()) ==
                       ssize_t(keys.private_pem.size());
  close(fd);
  ASSERT_TRUE(written);
  std::string err;
  ASSERT_EQ(chmod(path, 0644), 0);
  EXPECT_FALSE(RouteSigner::FromPemFile(path, &err));
  EXPECT_NE(err.find("(mode 0644)"), std::string::npos) << err;
  EXPECT_NE(err.find(std::string("chmod 600 ") + path), std::string::npos) << err;
  ASSERT_EQ(chmod(path, 0600), 0);
  EXPECT_TRUE(RouteSigner::FromPemFile(path, &err)) << err;
  unlink(path);
}

}  // namespace
}  // namespace ipop::cp
