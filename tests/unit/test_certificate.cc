// Certificate format: a signed certificate decodes to exactly its fields and re-encodes to its
// bytes; the signature covers every byte (any single changed byte is refused or fails to verify);
// every malformed field is refused with its reason; validity edges; the permission checks the
// control plane will make on claims (VIP, subnet, multicast group, peer group).
#include "controlplane/identity/certificate.h"

#include <gtest/gtest.h>

#include "tests/unit/identity_fixtures.h"

namespace ipop::cp::identity {
namespace {

using namespace testing;

class CertificateTest : public ::testing::Test {
 protected:
  std::unique_ptr<PrivateKey> ca = Key(1);
  std::unique_ptr<PrivateKey> node_key = Key(2);
  Certificate node = Issue(NodeFields(*node_key), *ca);
};

TEST_F(CertificateTest, RoundTripKeepsEveryFieldAndTheBytes) {
  const std::vector<uint8_t> bytes = EncodeCertificate(node);
  const DecodedCertificate d = DecodeCertificate(bytes);
  ASSERT_TRUE(d.cert.has_value()) << CertErrorText(d.error);
  EXPECT_EQ(d.cert->fields, node.fields);
  EXPECT_EQ(d.cert->signature, node.signature);
  EXPECT_EQ(EncodeCertificate(*d.cert), bytes);
  EXPECT_EQ(d.cert->fields.issuer, KeyIdOf(ca->public_key()));
  EXPECT_TRUE(SignatureVerifies(*d.cert, ca->public_key()));
}

TEST_F(CertificateTest, TheLargestCertificateIsExactlyTheDocumentedBound) {
  CertificateFields f =
      CaFields(Usage::kIssuingCa, *node_key, std::string(32, 'n'), std::string(32, 'w'));
  f.vips.assign(kMaxVipPrefixes, P(10, 0, 0, 0, 8));
  f.vips = {P(10, 0, 0, 0, 8), P(10, 1, 0, 0, 16), P(10, 2, 0, 0, 16), P(10, 3, 0, 0, 16)};
  f.subnets.clear();
  for (uint8_t i = 0; i < kMaxSubnets; ++i) f.subnets.push_back(P(172, 16, i, 0, 24));
  f.multicast = {P(224, 0, 0, 0, 8), P(225, 0, 0, 0, 8), P(226, 0, 0, 0, 8), P(227, 0, 0, 0, 8)};
  f.groups.clear();
  for (int i = 0; i < int(kMaxGroups); ++i)
    f.groups.push_back(std::string(15, 'g') + char('a' + i));
  const Certificate big = Issue(f, *ca);
  EXPECT_EQ(EncodeCertificate(big).size(), kMaxCertificateSize);
  EXPECT_EQ(kMaxCertificateSize, 434u);  // docs/pki.md quotes this figure
  // A typical node certificate (the fixture's) is far smaller.
  EXPECT_LT(EncodeCertificate(node).size(), 200u);
}

TEST_F(CertificateTest, OnlyTheIssuerKeyVerifies) {
  EXPECT_TRUE(SignatureVerifies(node, ca->public_key()));
  EXPECT_FALSE(SignatureVerifies(node, node_key->public_key()));
  EXPECT_FALSE(SignatureVerifies(node, Key(9)->public_key()));
}

TEST_F(CertificateTest, EveryChangedByteIsRefusedOrFailsVerification) {
  const std::vector<uint8_t> good = EncodeCertificate(node);
  size_t refused = 0, bad_signature = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      std::vector<uint8_t> t = good;
      t[i] ^= mask;
      const DecodedCertificate d = DecodeCertificate(t);
      if (!d.cert) {
        ++refused;
        continue;
      }
      EXPECT_FALSE(SignatureVerifies(*d.cert, ca->public_key()))
          << "byte " << i << " ^ " << int(mask) << " still verifies";
      ++bad_signature;
    }
  }
  // Both paths are exercised: structure bytes are refused, values and signature fail to verify.
  EXPECT_GT(refused, 0u);
  EXPECT_GT(bad_signature, good.size());
}

TEST_F(CertificateTest, EveryTruncationAndAnyExtraByteIsRefused) {
  const std::vector<uint8_t> good = EncodeCertificate(node);
  for (size_t n = 0; n < good.size(); ++n) {
    const DecodedCertificate d = DecodeCertificate(std::span(good.data(), n));
    EXPECT_FALSE(d.cert.has_value()) << "prefix of " << n << " bytes accepted";
  }
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  EXPECT_EQ(DecodeCertificate(longer).error, CertError::kTrailingBytes);
  EXPECT_EQ(DecodeCertificate(std::span(good.data(), good.size() - 1)).error,
            CertError::kTruncated);
}

// Each malformed field, built by encoding fields that CheckFields would refuse.
TEST_F(CertificateTest, EachMalformedFieldIsRefusedWithItsReason) {
  struct Case {
    const char* what;
    void (*edit)(CertificateFields*);
    CertError want;
  };
  const Case cases[] = {
      {"usage 0", [](CertificateFields* f) { f->usage = Usage(0); }, CertError::kBadUsage},
      {"usage 4", [](CertificateFields* f) { f->usage = Usage(4); }, CertError::kBadUsage},
      {"zero serial", [](CertificateFields* f) { f->serial = {}; }, CertError::kZeroSerial},
      {"empty validity", [](CertificateFields* f) { f->not_after = f->not_before; },
       CertError::kBadValidity},
      {"network with a dot", [](CertificateFields* f) { f->network = "la.b"; },
       CertError::kBadNetwork},
      {"empty network", [](CertificateFields* f) { f->network = ""; }, CertError::kBadNetwork},
      {"33-character name", [](CertificateFields* f) { f->name = std::string(33, 'a'); },
       CertError::kBadName},
      {"name with a space", [](CertificateFields* f) { f->name = "n 1"; }, CertError::kBadName},
      {"five VIP prefixes", [](CertificateFields* f) { f->vips.assign(5, P(10, 0, 0, 1, 32)); },
       CertError::kTooManyEntries},
      {"nine subnets", [](CertificateFields* f) { f->subnets.assign(9, P(10, 0, 0, 0, 8)); },
       CertError::kTooManyEntries},
      {"nine groups",
       [](CertificateFields* f) {
         f->groups.clear();
         for (char c = 'a'; c < 'j'; ++c) f->groups.push_back(std::string(1, c));
       },
       CertError::kTooManyEntries},
      {"host bits", [](CertificateFields* f) { f->vips = {P(10, 77, 0, 3, 24)}; },
       CertError::kBadPrefix},
      {"length 33", [](CertificateFields* f) { f->subnets = {P(10, 77, 0, 3, 33)}; },
       CertError::kBadPrefix},
      {"multicast outside 224/4", [](CertificateFields* f) { f->multicast = {P(10, 0, 0, 0, 8)}; },
       CertError::kBadMulticast},
      {"multicast wider than 224/4",
       [](CertificateFields* f) { f->multicast = {P(0, 0, 0, 0, 0)}; }, CertError::kBadMulticast},
      {"duplicate group",
       [](CertificateFields* f) {
         f->groups = {"web", "web"};
       },
       CertError::kBadGroup},
      {"17-character group", [](CertificateFields* f) { f->groups = {std::string(17, 'g')}; },
       CertError::kBadGroup},
      {"wildcard group in a node", [](CertificateFields* f) { f->groups = {"*"}; },
       CertError::kBadGroup},
      {"root issued by another key",
       [](CertificateFields* f) {
         f->usage = Usage::kRootCa;
         f->issuer.fill(7);
       },
       CertError::kRootNotSelfIssued},
  };
  for (const Case& c : cases) {
    Certificate bad = node;
    c.edit(&bad.fields);
    EXPECT_EQ(CheckFields(bad.fields), c.want) << c.what;
    const DecodedCertificate d = DecodeCertificate(EncodeCertificate(bad));
    EXPECT_FALSE(d.cert.has_value()) << c.what;
    EXPECT_EQ(d.error, c.want) << c.what << ": " << CertErrorText(d.error);
    // Signing refuses what decoding would refuse (the root case: SignCertificate sets the
    // issuer itself, so a root signed by another key is a non-root-issuer problem).
    if (c.want != CertError::kRootNotSelfIssued) {
      EXPECT_EQ(SignCertificate(bad.fields, *ca).error, c.want) << c.what;
    }
  }
  EXPECT_EQ(SignCertificate(CaFields(Usage::kRootCa, *node_key, "r"), *ca).error,
            CertError::kRootNotSelfIssued);
}

TEST_F(CertificateTest, VersionFlagsAndWildcardGroupsInCas) {
  std::vector<uint8_t> b = EncodeCertificate(node);
  b[0] = 2;
  EXPECT_EQ(DecodeCertificate(b).error, CertError::kBadVersion);
  b = EncodeCertificate(node);
  b[3] = 1;
  EXPECT_EQ(DecodeCertificate(b).error, CertError::kBadFlags);
  // "*" is how a CA says "may grant any group"; it is no membership.
  const Certificate issuing = Issue(CaFields(Usage::kIssuingCa, *node_key, "site"), *ca);
  EXPECT_FALSE(issuing.InGroup("*"));
  EXPECT_FALSE(issuing.InGroup("web"));
}

TEST_F(CertificateTest, ValidFromNotBeforeUntilJustBeforeNotAfter) {
  const uint64_t nb = node.fields.not_before, na = node.fields.not_after;
  EXPECT_FALSE(node.ValidAt(nb - 1));
  EXPECT_TRUE(node.ValidAt(nb));
  EXPECT_TRUE(node.ValidAt(na - 1));
  EXPECT_FALSE(node.ValidAt(na));
  EXPECT_FALSE(node.ValidAt(0));
  EXPECT_FALSE(node.ValidAt(~uint64_t{0}));
}

TEST_F(CertificateTest, AllowsVipOnlyInsideItsPrefixes) {
  CertificateFields f = NodeFields(*node_key);
  f.vips = {P(10, 77, 0, 3, 32), P(10, 78, 0, 0, 24)};
  const Certificate c = Issue(f, *ca);
  auto ip = [](uint8_t a, uint8_t b, uint8_t cc, uint8_t d) { return P(a, b, cc, d, 32).address; };
  EXPECT_TRUE(c.AllowsVip(ip(10, 77, 0, 3)));
  EXPECT_FALSE(c.AllowsVip(ip(10, 77, 0, 2)));
  EXPECT_FALSE(c.AllowsVip(ip(10, 77, 0, 4)));
  EXPECT_TRUE(c.AllowsVip(ip(10, 78, 0, 0)));
  EXPECT_TRUE(c.AllowsVip(ip(10, 78, 0, 255)));
  EXPECT_FALSE(c.AllowsVip(ip(10, 78, 1, 0)));
  EXPECT_FALSE(c.AllowsVip(ip(10, 77, 255, 255)));
  CertificateFields none = NodeFields(*node_key);
  none.vips.clear();
  EXPECT_FALSE(Issue(none, *ca).AllowsVip(ip(10, 77, 0, 3)));
}

TEST_F(CertificateTest, AllowsSubnetOnlyWithinAnAnnouncedPrefix) {
  EXPECT_TRUE(node.AllowsSubnet(P(192, 168, 1, 0, 24)));
  EXPECT_TRUE(node.AllowsSubnet(P(192, 168, 1, 128, 25)));
  EXPECT_TRUE(node.AllowsSubnet(P(192, 168, 1, 7, 32)));
  EXPECT_FALSE(node.AllowsSubnet(P(192, 168, 0, 0, 23)));
  EXPECT_FALSE(node.AllowsSubnet(P(192, 168, 2, 0, 24)));
  EXPECT_FALSE(node.AllowsSubnet(P(0, 0, 0, 0, 0)));
  // A wider prefix that starts at the announced one is still outside it.
  CertificateFields f = NodeFields(*node_key);
  f.subnets = {P(192, 168, 0, 0, 24)};
  const Certificate c = Issue(f, *ca);
  EXPECT_TRUE(c.AllowsSubnet(P(192, 168, 0, 0, 24)));
  EXPECT_FALSE(c.AllowsSubnet(P(192, 168, 0, 0, 23)));
  EXPECT_FALSE(c.AllowsSubnet(P(192, 168, 0, 0, 16)));
  EXPECT_FALSE(c.AllowsSubnet(P(0, 0, 0, 0, 0)));
}

TEST_F(CertificateTest, AllowsMulticastAndGroupsOnlyAsListed) {
  EXPECT_TRUE(node.AllowsMulticast(P(239, 1, 2, 3, 32).address));
  EXPECT_FALSE(node.AllowsMulticast(P(239, 2, 0, 1, 32).address));
  EXPECT_FALSE(node.AllowsMulticast(P(224, 0, 0, 251, 32).address));
  EXPECT_TRUE(node.InGroup("web"));
  EXPECT_TRUE(node.InGroup("db"));
  EXPECT_FALSE(node.InGroup("we"));
  EXPECT_FALSE(node.InGroup("admin"));
  EXPECT_FALSE(node.InGroup(""));
}

TEST(PrefixTest, ParsesAddressesAndCanonicalPrefixesOnly) {
  EXPECT_EQ(ParsePrefix("10.77.0.3"), (Prefix{0x0a4d0003u, 32}));
  EXPECT_EQ(ParsePrefix("10.77.0.0/16"), (Prefix{0x0a4d0000u, 16}));
  EXPECT_EQ(ParsePrefix("0.0.0.0/0"), (Prefix{0, 0}));
  for (const char* bad : {"10.77.0.3/16", "10.77.0.0/33", "10.77.0.0/", "10.77.0/16", "x",
                          "10.77.0.0/1a", "10.77.0.0/-1", "", "/8"})
    EXPECT_FALSE(ParsePrefix(bad).has_value()) << bad;
  EXPECT_EQ(ParsePrefix("10.77.0.0/16")->ToString(), "10.77.0.0/16");
}

TEST(KeyIdTest, DiffersPerKeyAndIsStable) {
  EXPECT_EQ(KeyIdOf(Key(1)->public_key()), KeyIdOf(Key(1)->public_key()));
  EXPECT_NE(KeyIdOf(Key(1)->public_key()), KeyIdOf(Key(2)->public_key()));
}

}  // namespace
}  // namespace ipop::cp::identity
