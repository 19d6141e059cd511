// Revocations: signed by the certificate's issuer or the root, they round-trip and verify; any
// changed byte is refused or fails to verify; an issuing CA cannot revoke what it did not issue, a
// node cannot revoke, a revocation names its network; the list remembers an entry exactly until
// the revoked certificate would have expired, and is bounded.
#include "controlplane/identity/revocation.h"

#include <gtest/gtest.h>

#include "tests/unit/identity_fixtures.h"

namespace ipop::cp::identity {
namespace {

using namespace testing;

class RevocationTest : public ::testing::Test {
 protected:
  std::unique_ptr<PrivateKey> root_key = Key(1);
  std::unique_ptr<PrivateKey> site_key = Key(2);
  std::unique_ptr<PrivateKey> node_key = Key(3);
  Certificate root = Root(*root_key);
  Certificate site = Issue(CaFields(Usage::kIssuingCa, *site_key, "site"), *root_key);
  Certificate node = Issue(NodeFields(*node_key), *site_key);

  Revocation Revoke(const Certificate& c, const Certificate& signer, const PrivateKey& key) {
    SignedRevocation s = RevokeCertificate(c, signer, key, kT0 + 10);
    EXPECT_TRUE(s.revocation.has_value()) << RevocationErrorText(s.error);
    if (!s.revocation) std::abort();
    return *s.revocation;
  }
};

TEST_F(RevocationTest, RoundTripAndFields) {
  const Revocation r = Revoke(node, site, *site_key);
  EXPECT_EQ(r.fields.serial, node.fields.serial);
  EXPECT_EQ(r.fields.issuer, site.key_id());
  EXPECT_EQ(r.fields.subject, node.key_id());
  EXPECT_EQ(r.fields.until, node.fields.not_after);
  EXPECT_EQ(r.fields.revoked_at, kT0 + 10);
  EXPECT_EQ(r.fields.signer, site.key_id());
  EXPECT_EQ(r.fields.network, "lab");
  const std::vector<uint8_t> bytes = EncodeRevocation(r);
  EXPECT_LE(bytes.size(), kMaxRevocationSize);
  const DecodedRevocation d = DecodeRevocation(bytes);
  ASSERT_TRUE(d.revocation.has_value()) << RevocationErrorText(d.error);
  EXPECT_EQ(d.revocation->fields, r.fields);
  EXPECT_EQ(EncodeRevocation(*d.revocation), bytes);
  EXPECT_EQ(VerifyRevocation(*d.revocation, site, "lab"), RevocationError::kOk);
  EXPECT_TRUE(d.revocation->Matches(node));
  EXPECT_FALSE(d.revocation->Matches(site));
}

TEST_F(RevocationTest, EveryChangedByteIsRefusedOrFailsVerification) {
  const std::vector<uint8_t> good = EncodeRevocation(Revoke(node, site, *site_key));
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::vector<uint8_t> t = good;
      t[i] ^= mask;
      const DecodedRevocation d = DecodeRevocation(t);
      if (!d.revocation) continue;
      EXPECT_NE(VerifyRevocation(*d.revocation, site, "lab"), RevocationError::kOk)
          << "byte " << i << " ^ " << int(mask) << " still verifies";
    }
  }
  for (size_t n = 0; n < good.size(); ++n)
    EXPECT_FALSE(DecodeRevocation(std::span(good.data(), n)).revocation.has_value()) << n;
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  EXPECT_EQ(DecodeRevocation(longer).error, RevocationError::kTrailingBytes);
}

TEST_F(RevocationTest, MalformedFieldsAreRefusedWithTheirReason) {
  const Revocation r = Revoke(node, site, *site_key);
  std::vector<uint8_t> b = EncodeRevocation(r);
  b[0] = 2;
  EXPECT_EQ(DecodeRevocation(b).error, RevocationError::kBadVersion);
  b = EncodeRevocation(r);
  b[2] = 1;
  EXPECT_EQ(DecodeRevocation(b).error, RevocationError::kBadFlags);
  Revocation z = r;
  z.fields.serial = {};
  EXPECT_EQ(DecodeRevocation(EncodeRevocation(z)).error, RevocationError::kZeroSerial);
  Revocation n = r;
  n.fields.network = "a b";
  EXPECT_EQ(DecodeRevocation(EncodeRevocation(n)).error, RevocationError::kBadNetwork);
}

TEST_F(RevocationTest, TheRootRevokesAnythingAnIssuingCaOnlyItsOwn) {
  // The root revokes a node the issuing CA signed.
  EXPECT_EQ(VerifyRevocation(Revoke(node, root, *root_key), root, "lab"), RevocationError::kOk);
  // An issuing CA revoking a certificate the root signed directly.
  const Certificate direct = Issue(NodeFields(*Key(4), "n4"), *root_key);
  EXPECT_EQ(RevokeCertificate(direct, site, *site_key, kT0).error, RevocationError::kNotTheIssuer);
  // The same, hand-made and signed: verification refuses it too.
  Revocation forged = Revoke(node, site, *site_key);
  forged.fields.issuer = root.key_id();
  forged.fields.serial = direct.fields.serial;
  EXPECT_EQ(VerifyRevocation(forged, site, "lab"), RevocationError::kNotTheIssuer);
}

TEST_F(RevocationTest, SignerMustBeTheNamedCaOfTheNetwork) {
  const Revocation r = Revoke(node, site, *site_key);
  EXPECT_EQ(VerifyRevocation(r, root, "lab"), RevocationError::kSignerMismatch);
  EXPECT_EQ(VerifyRevocation(r, node, "lab"), RevocationError::kSignerNotCa);
  EXPECT_EQ(VerifyRevocation(r, site, "other"), RevocationError::kWrongNetwork);
  // A CA certificate with the signer's key id but another key cannot exist (the id is a hash of
  // the key); a changed signature can.
  Revocation bad = r;
  bad.signature[0] ^= 1;
  EXPECT_EQ(VerifyRevocation(bad, site, "lab"), RevocationError::kBadSignature);
  // A key that does not belong to the signing certificate is refused before signing.
  EXPECT_EQ(RevokeCertificate(node, site, *root_key, kT0).error, RevocationError::kSignerMismatch);
}

TEST_F(RevocationTest, RememberedExactlyUntilTheCertificateWouldHaveExpired) {
  RevocationList list;
  const Revocation r = Revoke(node, site, *site_key);
  const uint64_t until = node.fields.not_after;
  EXPECT_EQ(list.Add(r, kT0 + 20), RevocationList::AddResult::kAdded);
  EXPECT_EQ(list.Add(r, kT0 + 21), RevocationList::AddResult::kKnown);
  EXPECT_TRUE(list.IsRevoked(node));
  EXPECT_FALSE(list.IsRevoked(site));
  EXPECT_EQ(list.Expire(until - 1), 0u);
  EXPECT_TRUE(list.IsRevoked(node));
  EXPECT_EQ(list.Expire(until), 1u);
  EXPECT_FALSE(list.IsRevoked(node));
  EXPECT_EQ(list.size(), 0u);
  // An entry whose certificate has expired is not taken (the certificate is refused anyway).
  EXPECT_EQ(list.Add(r, until), RevocationList::AddResult::kExpired);
  EXPECT_EQ(list.Add(r, until - 1), RevocationList::AddResult::kAdded);
}

TEST_F(RevocationTest, TheListIsBounded) {
  RevocationList list;
  Revocation r = Revoke(node, site, *site_key);
  for (size_t i = 0; i < RevocationList::kMaxEntries; ++i) {
    r.fields.serial = {};
    r.fields.serial[0] = 1;
    r.fields.serial[1] = uint8_t(i >> 16);
    r.fields.serial[2] = uint8_t(i >> 8);
    r.fields.serial[3] = uint8_t(i);
    ASSERT_EQ(list.Add(r, kT0), RevocationList::AddResult::kAdded) << i;
  }
  r.fields.serial[5] = 1;
  EXPECT_EQ(list.Add(r, kT0), RevocationList::AddResult::kFull);
  EXPECT_EQ(list.size(), RevocationList::kMaxEntries);
}

}  // namespace
}  // namespace ipop::cp::identity
