// The node's certified identity: loading refuses, with one line naming the file, a node
// certificate from another CA, an expired one, a key that is not the certificate's, another
// network, a CA certificate where the node's belongs and a revoked one; PSK mode has none. The
// ring address is SHA-256("ipop ring address v1" || key)[0..20). Chains round-trip through the
// wire encoding and peers' chains are refused for a wrong CA, expiry and revocation, also once
// a good verdict was cached.
#include "controlplane/identity/node_identity.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "controlplane/identity/identity_files.h"
#include "controlplane/identity/pem.h"
#include "tests/unit/identity_fixtures.h"

namespace ipop::cp::identity {
namespace {

using namespace testing;

constexpr uint64_t kNow = kT0 + 100;

std::string CertPem(std::initializer_list<const Certificate*> certs) {
  std::string out;
  for (const Certificate* c : certs) out += WritePem(kCertificateLabel, EncodeCertificate(*c));
  return out;
}

class NodeIdentityTest : public ::testing::Test {
 protected:
  NodeIdentityTest() {
    char tmpl[] = "/tmp/ipop-node-identity-XXXXXX";
    dir = mkdtemp(tmpl);
    cfg.name = "n1";
    cfg.network = "lab";
    cfg.ca_file = Path("ca.crt");
    cfg.overlay_ca_file = cfg.ca_file;
    cfg.cert_file = Path("n1.crt");
    cfg.key_file = Path("n1.key");
    Put("ca.crt", CertPem({&root}));
    Put("n1.crt", CertPem({&node}));
    EXPECT_EQ(WriteNewFile(cfg.key_file, node_key->ToPem(), 0600), "");
  }
  ~NodeIdentityTest() override { std::system(("rm -rf " + dir).c_str()); }
  std::string Path(const std::string& name) { return dir + "/" + name; }
  void Put(const std::string& name, const std::string& text) {
    std::ofstream(Path(name), std::ios::trunc) << text;
  }
  std::string LoadError(uint64_t now = kNow) {
    NodeIdentity::Loaded l = NodeIdentity::Load(cfg, now);
    EXPECT_EQ(l.identity == nullptr, !l.error.empty());
    return l.error;
  }
  std::unique_ptr<NodeIdentity> MustLoad() {
    NodeIdentity::Loaded l = NodeIdentity::Load(cfg, kNow);
    EXPECT_EQ(l.error, "");
    return std::move(l.identity);
  }

  std::unique_ptr<PrivateKey> root_key = Key(1);
  std::unique_ptr<PrivateKey> site_key = Key(2);
  std::unique_ptr<PrivateKey> node_key = Key(3);
  std::unique_ptr<PrivateKey> peer_key = Key(4);
  std::unique_ptr<PrivateKey> other_root_key = Key(5);
  Certificate root = Root(*root_key);
  Certificate other_root = Root(*other_root_key);
  Certificate site = Issue(CaFields(Usage::kIssuingCa, *site_key, "site"), *root_key);
  Certificate node = Issue(NodeFields(*node_key), *root_key);
  Certificate peer = Issue(NodeFields(*peer_key, "n2"), *site_key);
  NodeConfig cfg;
  std::string dir;
};

TEST_F(NodeIdentityTest, PskModeHasNoIdentityAndNoError) {
  cfg.ca_file.clear();
  NodeIdentity::Loaded l = NodeIdentity::Load(cfg, kNow);
  EXPECT_EQ(l.identity, nullptr);
  EXPECT_EQ(l.error, "");
}

TEST_F(NodeIdentityTest, AGoodChainLoadsAndSignsWithTheCertifiedKey) {
  std::unique_ptr<NodeIdentity> id = MustLoad();
  ASSERT_NE(id, nullptr);
  EXPECT_EQ(id->public_key(), node_key->public_key());
  EXPECT_EQ(id->key_id(), KeyIdOf(node_key->public_key()));
  EXPECT_EQ(id->cert().fields.name, "n1");
  const uint8_t msg[] = {1, 2, 3};
  EXPECT_TRUE(VerifySignature(node_key->public_key(), msg, id->Sign(msg)));
}

TEST_F(NodeIdentityTest, ANodeOfAnotherCaIsRefusedNamingTheCertificateFile) {
  Put("ca.crt", CertPem({&other_root}));
  EXPECT_EQ(LoadError(),
            cfg.cert_file + ": node 'n1': " + ChainErrorText(ChainError::kUnknownIssuer));
}

TEST_F(NodeIdentityTest, AnExpiredCertificateIsRefusedWithItsDate) {
  const std::string e = LoadError(kT0 + kLife);
  EXPECT_EQ(e.rfind(cfg.cert_file + ": node 'n1': expired at ", 0), 0u) << e;
}

TEST_F(NodeIdentityTest, AKeyThatIsNotTheCertificatesIsRefusedNamingTheKeyFile) {
  ASSERT_EQ(unlink(cfg.key_file.c_str()), 0);
  EXPECT_EQ(WriteNewFile(cfg.key_file, peer_key->ToPem(), 0600), "");
  const std::string e = LoadError();
  EXPECT_EQ(e.rfind(cfg.key_file + ": private key (key id ", 0), 0u) << e;
  EXPECT_NE(e.find("does not belong to the certificate in " + cfg.cert_file), std::string::npos);
}

TEST_F(NodeIdentityTest, AKeyFileOthersMayReadIsRefused) {
  ASSERT_EQ(chmod(cfg.key_file.c_str(), 0644), 0);
  const std::string e = LoadError();
  EXPECT_NE(e.find(cfg.key_file + "' is readable by group or other"), std::string::npos) << e;
}

TEST_F(NodeIdentityTest, AnotherNetworkIsRefused) {
  cfg.network = "prod";
  Put("ca.crt", CertPem({&root}));
  EXPECT_EQ(LoadError(),
            cfg.ca_file + ": root CA 'root' is for network 'lab' but network.name " + "is 'prod'");
  Put("ca.crt", CertPem({&root}));
  std::unique_ptr<PrivateKey> prod_key = Key(9);
  const Certificate prod_root = Root(*prod_key, "prod");
  Put("ca.crt", CertPem({&prod_root}));
  EXPECT_EQ(LoadError(),
            cfg.cert_file + ": certificate is for network 'lab' but network.name is 'prod'");
}

TEST_F(NodeIdentityTest, ACaCertificateWhereTheNodesBelongsIsRefused) {
  Put("n1.crt", CertPem({&site, &node}));
  const std::string e = LoadError();
  EXPECT_EQ(e.rfind(cfg.cert_file + ": first certificate is a issuing-ca", 0), 0u) << e;
  Put("ca.crt", CertPem({&site}));
  Put("n1.crt", CertPem({&node}));
  EXPECT_EQ(LoadError(), cfg.ca_file + ": holds a issuing-ca certificate ('site'), expected " +
                             "root CA certificates only");
}

TEST_F(NodeIdentityTest, ARevokedOwnCertificateIsRefused) {
  const SignedRevocation r = RevokeCertificate(node, root, *root_key, kNow);
  ASSERT_TRUE(r.revocation);
  Put("n1.rev", WritePem(kRevocationLabel, EncodeRevocation(*r.revocation)));
  cfg.revocations_file = Path("n1.rev");
  EXPECT_EQ(LoadError(), cfg.cert_file + ": node 'n1': revoked");
}

TEST_F(NodeIdentityTest, TheRingAddressIsTheDocumentedHashOfTheKey) {
  const PublicKey& k = node_key->public_key();
  std::string input = "ipop ring address v1";
  input.append(reinterpret_cast<const char*>(k.data()), k.size());
  uint8_t digest[32];
  unsigned int len = 0;
  ASSERT_EQ(EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha256(), nullptr), 1);
  const RingAddressBytes a = RingAddressFromKey(k);
  EXPECT_TRUE(std::equal(a.begin(), a.end(), digest));
  std::unique_ptr<NodeIdentity> id = MustLoad();
  EXPECT_EQ(id->ring_address(), a);
  EXPECT_NE(RingAddressFromKey(peer_key->public_key()), a);
}

TEST_F(NodeIdentityTest, ChainsRoundTripAndMalformedOnesAreRefused) {
  const std::vector<uint8_t> one = EncodeChain(node, nullptr);
  DecodedChain d = DecodeChain(one);
  ASSERT_TRUE(d.leaf) << d.error;
  EXPECT_EQ(EncodeCertificate(*d.leaf), EncodeCertificate(node));
  EXPECT_FALSE(d.issuing);
  const std::vector<uint8_t> two = EncodeChain(peer, &site);
  d = DecodeChain(two);
  ASSERT_TRUE(d.leaf && d.issuing) << d.error;
  EXPECT_EQ(EncodeCertificate(*d.issuing), EncodeCertificate(site));
  EXPECT_LE(two.size(), kMaxEncodedChainSize);
  EXPECT_FALSE(DecodeChain({}).leaf);
  // Every cut but the one between the two certificates (a valid chain of one) is refused.
  const size_t first = 2 + EncodeCertificate(peer).size();
  for (size_t cut = 1; cut < two.size(); ++cut)
    if (cut != first) {
      EXPECT_FALSE(DecodeChain(std::span(two).first(cut)).leaf) << cut;
    }
  std::vector<uint8_t> three = two;
  three.insert(three.end(), one.begin(), one.end());
  EXPECT_EQ(DecodeChain(three).error, "chain holds more than two certificates");
}

TEST_F(NodeIdentityTest, PeerChainsVerifyOnlyUnderTheRightRootsValidityAndRevocations) {
  std::unique_ptr<NodeIdentity> id = MustLoad();
  const std::vector<uint8_t> good = EncodeChain(peer, &site);
  PeerVerdict v = id->VerifyPeerChain(good, TrustScope::kNetwork, kNow);
  ASSERT_TRUE(v.ok()) << v.text;
  EXPECT_EQ(v.cert->fields.name, "n2");
  // Cached, yet time still counts.
  EXPECT_TRUE(id->VerifyPeerChain(good, TrustScope::kNetwork, kNow).ok());
  v = id->VerifyPeerChain(good, TrustScope::kNetwork, kT0 + kLife);
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.error, ChainError::kExpired);
  // Another CA.
  std::unique_ptr<PrivateKey> stranger_key = Key(6);
  const Certificate stranger = Issue(NodeFields(*stranger_key, "x"), *other_root_key);
  v = id->VerifyPeerChain(EncodeChain(stranger, nullptr), TrustScope::kNetwork, kNow);
  EXPECT_EQ(v.error, ChainError::kUnknownIssuer);
  // Without the issuing CA the peer's issuer is unknown.
  EXPECT_EQ(id->VerifyPeerChain(EncodeChain(peer, nullptr), TrustScope::kNetwork, kNow).error,
            ChainError::kUnknownIssuer);
  // Garbage.
  const uint8_t junk[] = {0, 3, 1, 2, 3};
  v = id->VerifyPeerChain(junk, TrustScope::kNetwork, kNow);
  EXPECT_TRUE(v.malformed);
  EXPECT_FALSE(v.ok());
  // Revoking the peer (by the root) ends the cached verdict at once.
  const SignedRevocation r = RevokeCertificate(peer, root, *root_key, kNow);
  ASSERT_TRUE(r.revocation);
  EXPECT_EQ(id->AddRevocation(*r.revocation, kNow), "");
  v = id->VerifyPeerChain(good, TrustScope::kNetwork, kNow);
  EXPECT_EQ(v.error, ChainError::kRevoked);
}

TEST_F(NodeIdentityTest, OverlayScopeUsesTheOverlayRootsInTheLeafsNetwork) {
  std::unique_ptr<PrivateKey> beta_key = Key(7);
  const Certificate beta_root = Root(*beta_key, "beta");
  std::unique_ptr<PrivateKey> b1_key = Key(8);
  const Certificate b1 = Issue(NodeFields(*b1_key, "b1", "beta"), *beta_key);
  Put("overlay.crt", CertPem({&root, &beta_root}));
  cfg.overlay_ca_file = Path("overlay.crt");
  std::unique_ptr<NodeIdentity> id = MustLoad();
  const std::vector<uint8_t> chain = EncodeChain(b1, nullptr);
  EXPECT_TRUE(id->VerifyPeerChain(chain, TrustScope::kOverlay, kNow).ok());
  // A member of the overlay is no member of this node's network.
  EXPECT_FALSE(id->VerifyPeerChain(chain, TrustScope::kNetwork, kNow).ok());
}

TEST_F(NodeIdentityTest, ARenewedCertificateIsReloadedAndAForeignOneIsNot) {
  std::unique_ptr<NodeIdentity> id = MustLoad();
  const uint64_t gen = id->chain_generation();
  CertificateFields f = NodeFields(*node_key);
  f.serial = SerialOf(9);
  f.not_after = kT0 + 2 * kLife / 3;
  const Certificate renewed = Issue(f, *root_key);
  Put("n1.crt", CertPem({&renewed}));
  EXPECT_EQ(id->ReloadCertificate(cfg.cert_file, kNow), "");
  EXPECT_EQ(id->cert().fields.serial, SerialOf(9));
  EXPECT_GT(id->chain_generation(), gen);
  EXPECT_EQ(id->EncodedChain(), EncodeChain(renewed, nullptr));
  // A certificate for another key is refused and changes nothing.
  Put("n1.crt", CertPem({&peer, &site}));
  EXPECT_NE(id->ReloadCertificate(cfg.cert_file, kNow), "");
  EXPECT_EQ(id->cert().fields.serial, SerialOf(9));
}

}  // namespace
}  // namespace ipop::cp::identity
