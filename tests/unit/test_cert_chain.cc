// Chains: root -> node and root -> issuing -> node verify; a deeper chain, a node key signing, an
// unknown or untrusted issuer, another network, a wider scope or validity than the issuer's, a
// tampered signature, expiry and not-yet-valid at the exact edges, and revocation of the node or
// of its issuing CA are each refused with their reason and the certificate they concern.
#include "controlplane/identity/chain.h"

#include <gtest/gtest.h>

#include "tests/unit/identity_fixtures.h"

namespace ipop::cp::identity {
namespace {

using namespace testing;

class ChainTest : public ::testing::Test {
 protected:
  ChainResult Check(const Certificate& leaf, std::vector<Certificate> issuing = {},
                    uint64_t now = kT0 + 100, const RevocationList* revoked = nullptr) {
    return VerifyChain(leaf, issuing, roots, "lab", now, revoked);
  }
  std::unique_ptr<PrivateKey> root_key = Key(1);
  std::unique_ptr<PrivateKey> site_key = Key(2);
  std::unique_ptr<PrivateKey> node_key = Key(3);
  Certificate root = Root(*root_key);
  std::vector<Certificate> roots = {root};
  Certificate site = Issue(CaFields(Usage::kIssuingCa, *site_key, "site"), *root_key);
  Certificate direct = Issue(NodeFields(*node_key), *root_key);
  Certificate via_site = Issue(NodeFields(*node_key), *site_key);
};

TEST_F(ChainTest, RootToNodeVerifies) {
  const ChainResult r = Check(direct);
  ASSERT_TRUE(r.ok()) << ChainErrorText(r.error);
  ASSERT_EQ(r.path.size(), 2u);
  EXPECT_EQ(r.path[0], &direct);
  EXPECT_EQ(r.path[1], &roots[0]);
  EXPECT_TRUE(VerifyNodeChain(direct, {}, roots, "lab", kT0, nullptr).ok());
}

TEST_F(ChainTest, RootToIssuingToNodeVerifies) {
  const std::vector<Certificate> issuing = {site};
  const ChainResult r = VerifyChain(via_site, issuing, roots, "lab", kT0 + 100, nullptr);
  ASSERT_TRUE(r.ok()) << ChainErrorText(r.error);
  ASSERT_EQ(r.path.size(), 3u);
  EXPECT_EQ(r.path[1], &issuing[0]);
  EXPECT_EQ(r.path[2], &roots[0]);
  // Without the issuing certificate the node's issuer is unknown.
  EXPECT_EQ(Check(via_site).error, ChainError::kUnknownIssuer);
  // The issuing CA itself verifies against the root.
  EXPECT_TRUE(Check(site).ok());
}

TEST_F(ChainTest, AChainDeeperThanRootIssuingNodeIsRefused) {
  std::unique_ptr<PrivateKey> sub_key = Key(4);
  const Certificate sub = Issue(CaFields(Usage::kIssuingCa, *sub_key, "sub"), *site_key);
  const Certificate deep = Issue(NodeFields(*node_key), *sub_key);
  const std::vector<Certificate> issuing = {site, sub};
  const ChainResult r = VerifyChain(deep, issuing, roots, "lab", kT0 + 100, nullptr);
  EXPECT_EQ(r.error, ChainError::kTooDeep);
  EXPECT_EQ(r.failed, &issuing[1]);
  EXPECT_EQ(Check(sub, {site}).error, ChainError::kTooDeep);
}

TEST_F(ChainTest, ANodeKeyCannotSign) {
  std::unique_ptr<PrivateKey> other = Key(5);
  const Certificate child = Issue(NodeFields(*other, "n2"), *node_key);
  EXPECT_EQ(Check(child, {direct}).error, ChainError::kIssuerNotCa);
}

TEST_F(ChainTest, AnotherRootIsAnUnknownIssuer) {
  std::unique_ptr<PrivateKey> other_root_key = Key(6);
  const Certificate foreign = Issue(NodeFields(*node_key), *other_root_key);
  const ChainResult r = Check(foreign);
  EXPECT_EQ(r.error, ChainError::kUnknownIssuer);
  EXPECT_EQ(r.failed, &foreign);
  // Its root, passed as an issuing certificate, is not trusted for being there.
  const Certificate other_root = Root(*other_root_key);
  EXPECT_EQ(Check(foreign, {other_root}).error, ChainError::kRootNotTrusted);
  // A root as the leaf verifies only if it is a trusted root itself.
  EXPECT_TRUE(Check(root).ok());
  EXPECT_EQ(Check(other_root).error, ChainError::kRootNotTrusted);
}

TEST_F(ChainTest, ATamperedCertificateOfAKnownIssuerFailsTheSignature) {
  Certificate forged = direct;
  forged.fields.vips = {P(10, 77, 0, 2, 32)};  // claim another VIP
  EXPECT_EQ(Check(forged).error, ChainError::kBadSignature);
  Certificate sig = direct;
  sig.signature[10] ^= 1;
  EXPECT_EQ(Check(sig).error, ChainError::kBadSignature);
  // A tampered issuing CA breaks the node below it.
  Certificate bad_site = site;
  bad_site.fields.vips = {P(10, 0, 0, 0, 8)};
  EXPECT_EQ(Check(via_site, {bad_site}).error, ChainError::kBadSignature);
  EXPECT_TRUE(IsValidRoot(root));
  Certificate bad_root = root;
  bad_root.fields.name = "evil";
  EXPECT_FALSE(IsValidRoot(bad_root));
  EXPECT_FALSE(IsValidRoot(site));
}

TEST_F(ChainTest, EveryCertificateOfThePathMustBeOfTheNetwork) {
  const Certificate other_net = Issue(NodeFields(*node_key, "n1", "other"), *root_key);
  EXPECT_EQ(Check(other_net).error, ChainError::kWrongNetwork);
  EXPECT_EQ(VerifyChain(direct, {}, roots, "other", kT0 + 100, nullptr).error,
            ChainError::kWrongNetwork);
  // An issuing CA of another network signing a "lab" node.
  const Certificate other_site =
      Issue(CaFields(Usage::kIssuingCa, *site_key, "site", "other"), *root_key);
  const ChainResult r = Check(via_site, {other_site});
  EXPECT_EQ(r.error, ChainError::kWrongNetwork);
}

TEST_F(ChainTest, AnIssuerBoundsVipsSubnetsMulticastAndGroups) {
  CertificateFields narrow = CaFields(Usage::kIssuingCa, *site_key, "site");
  narrow.vips = {P(10, 77, 0, 0, 24)};
  narrow.subnets = {P(192, 168, 0, 0, 16)};
  narrow.multicast = {P(239, 0, 0, 0, 8)};
  narrow.groups = {"web", "db"};
  const Certificate narrow_site = Issue(narrow, *root_key);
  EXPECT_TRUE(Check(via_site, {narrow_site}).ok());

  struct Case {
    const char* what;
    void (*edit)(CertificateFields*);
  };
  const Case cases[] = {
      {"VIP outside", [](CertificateFields* f) { f->vips = {P(10, 77, 1, 3, 32)}; }},
      {"pool wider", [](CertificateFields* f) { f->vips = {P(10, 77, 0, 0, 23)}; }},
      {"subnet outside", [](CertificateFields* f) { f->subnets = {P(192, 169, 0, 0, 24)}; }},
      {"multicast outside", [](CertificateFields* f) { f->multicast = {P(238, 0, 0, 0, 8)}; }},
      {"group not granted",
       [](CertificateFields* f) {
         f->groups = {"web", "admin"};
       }},
      {"second VIP outside",
       [](CertificateFields* f) {
         f->vips = {P(10, 77, 0, 3, 32), P(10, 1, 0, 0, 32)};
       }},
  };
  for (const Case& c : cases) {
    CertificateFields f = NodeFields(*node_key);
    c.edit(&f);
    const Certificate wide = Issue(f, *site_key);
    const ChainResult r = Check(wide, {narrow_site});
    EXPECT_EQ(r.error, ChainError::kExceedsIssuer) << c.what;
    // The root grants everything ("*" and 0.0.0.0/0): the same fields verify directly under it.
    EXPECT_TRUE(Check(Issue(f, *root_key)).ok()) << c.what;
  }
}

TEST_F(ChainTest, ValidityMustLieWithinTheIssuers) {
  CertificateFields f = NodeFields(*node_key);
  f.not_after = root.fields.not_after + 1;
  EXPECT_EQ(Check(Issue(f, *root_key)).error, ChainError::kOutlivesIssuer);
  f = NodeFields(*node_key);
  f.not_before = root.fields.not_before - 1;
  EXPECT_EQ(Check(Issue(f, *root_key)).error, ChainError::kOutlivesIssuer);
}

TEST_F(ChainTest, ExpiryAndNotBeforeAtTheExactEdges) {
  CertificateFields f = NodeFields(*node_key);
  f.not_before = kT0 + 1000;
  f.not_after = kT0 + 2000;
  const Certificate node = Issue(f, *root_key);
  EXPECT_EQ(Check(node, {}, kT0 + 999).error, ChainError::kNotYetValid);
  EXPECT_TRUE(Check(node, {}, kT0 + 1000).ok());
  EXPECT_TRUE(Check(node, {}, kT0 + 1999).ok());
  const ChainResult r = Check(node, {}, kT0 + 2000);
  EXPECT_EQ(r.error, ChainError::kExpired);
  EXPECT_EQ(r.failed, &node);
}

TEST_F(ChainTest, AnExpiredIssuingCaExpiresItsNodes) {
  CertificateFields sf = CaFields(Usage::kIssuingCa, *site_key, "site");
  sf.not_after = kT0 + 5000;
  const std::vector<Certificate> issuing = {Issue(sf, *root_key)};
  CertificateFields nf = NodeFields(*node_key);
  nf.not_after = kT0 + 5000;
  const Certificate node = Issue(nf, *site_key);
  EXPECT_TRUE(VerifyChain(node, issuing, roots, "lab", kT0 + 4999, nullptr).ok());
  // The root expiring ends everything too.
  const ChainResult late = VerifyChain(node, issuing, roots, "lab", kT0 + kLife, nullptr);
  EXPECT_EQ(late.error, ChainError::kExpired);
}

TEST_F(ChainTest, ARevokedNodeOrIssuingCaIsRefused) {
  RevocationList revoked;
  EXPECT_TRUE(Check(direct, {}, kT0 + 100, &revoked).ok());
  SignedRevocation rn = RevokeCertificate(direct, root, *root_key, kT0 + 50);
  ASSERT_TRUE(rn.revocation.has_value());
  ASSERT_EQ(revoked.Add(*rn.revocation, kT0 + 50), RevocationList::AddResult::kAdded);
  const ChainResult r = Check(direct, {}, kT0 + 100, &revoked);
  EXPECT_EQ(r.error, ChainError::kRevoked);
  EXPECT_EQ(r.failed, &direct);
  // A renewed certificate (new serial, same key) is not covered by the revocation.
  CertificateFields renewed = NodeFields(*node_key);
  renewed.serial = SerialOf(77);
  EXPECT_TRUE(Check(Issue(renewed, *root_key), {}, kT0 + 100, &revoked).ok());

  RevocationList site_revoked;
  SignedRevocation rs = RevokeCertificate(site, root, *root_key, kT0 + 50);
  ASSERT_TRUE(rs.revocation.has_value());
  site_revoked.Add(*rs.revocation, kT0 + 50);
  const std::vector<Certificate> issuing = {site};
  const ChainResult rr = VerifyChain(via_site, issuing, roots, "lab", kT0 + 100, &site_revoked);
  EXPECT_EQ(rr.error, ChainError::kRevoked);
  EXPECT_EQ(rr.failed, &issuing[0]);
}

TEST_F(ChainTest, ANodeChainNeedsANodeLeaf) {
  EXPECT_EQ(VerifyNodeChain(site, {}, roots, "lab", kT0 + 100, nullptr).error,
            ChainError::kNotANode);
  EXPECT_EQ(VerifyNodeChain(root, {}, roots, "lab", kT0 + 100, nullptr).error,
            ChainError::kNotANode);
}

}  // namespace
}  // namespace ipop::cp::identity
