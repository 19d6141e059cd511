// PKI files: private keys are written 0600 whatever the umask and refused when group or other may
// access them (the same check as the network secret); nothing is overwritten; a certificate file
// holding a key, a damaged block or nothing usable is an error that names the file and the block.
#include "controlplane/identity/identity_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "controlplane/identity/pem.h"
#include "tests/unit/identity_fixtures.h"

namespace ipop::cp::identity {
namespace {

using namespace testing;

class IdentityFilesTest : public ::testing::Test {
 protected:
  IdentityFilesTest() {
    char tmpl[] = "/tmp/ipop-identity-XXXXXX";
    dir = mkdtemp(tmpl);
  }
  ~IdentityFilesTest() override { std::system(("rm -rf " + dir).c_str()); }
  std::string Path(const std::string& name) { return dir + "/" + name; }
  void Put(const std::string& name, const std::string& text) { std::ofstream(Path(name)) << text; }
  std::string dir;
};

TEST_F(IdentityFilesTest, KeysAreWrittenOwnerOnlyAndReadBack) {
  const mode_t old = umask(0);
  std::unique_ptr<PrivateKey> key = Key(1);
  EXPECT_EQ(WriteNewFile(Path("k"), key->ToPem(), 0600), "");
  umask(old);
  struct stat st {};
  ASSERT_EQ(stat(Path("k").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const PrivateKeyFile k = ReadPrivateKeyFile(Path("k"));
  ASSERT_TRUE(k.error.empty()) << k.error;
  EXPECT_EQ(k.key->public_key(), key->public_key());
}

TEST_F(IdentityFilesTest, AKeyOthersCanReadIsRefused) {
  EXPECT_EQ(WriteNewFile(Path("k"), Key(1)->ToPem(), 0600), "");
  ASSERT_EQ(chmod(Path("k").c_str(), 0640), 0);
  const PrivateKeyFile k = ReadPrivateKeyFile(Path("k"));
  EXPECT_FALSE(k.key);
  EXPECT_NE(k.error.find(Path("k")), std::string::npos) << k.error;
  EXPECT_NE(k.error.find("readable by group or other"), std::string::npos) << k.error;
}

TEST_F(IdentityFilesTest, NothingIsOverwritten) {
  Put("c", "old");
  const std::string err = WriteNewFile(Path("c"), "new", 0644);
  EXPECT_NE(err.find("never overwrites"), std::string::npos) << err;
  std::ifstream in(Path("c"));
  std::string text;
  in >> text;
  EXPECT_EQ(text, "old");
}

TEST_F(IdentityFilesTest, WrongContentIsNamedWithTheFile) {
  Put("key-as-cert", Key(1)->ToPem());
  CertificateFile f = ReadCertificateFile(Path("key-as-cert"));
  EXPECT_EQ(f.error, Path("key-as-cert") +
                         ": holds a 'PRIVATE KEY' block where an 'IPOP CERTIFICATE' belongs");
  Put("empty", "");
  f = ReadCertificateFile(Path("empty"));
  EXPECT_EQ(f.error, Path("empty") + ": no '-----BEGIN IPOP CERTIFICATE-----' block");
  // The second block is damaged (valid armour, invalid certificate).
  const Certificate root = Root(*Key(1));
  std::vector<uint8_t> bad = EncodeCertificate(root);
  bad[0] = 9;
  Put("two",
      WritePem(kCertificateLabel, EncodeCertificate(root)) + WritePem(kCertificateLabel, bad));
  f = ReadCertificateFile(Path("two"));
  EXPECT_EQ(f.error, Path("two") + ": block 2: unsupported certificate format version");
  EXPECT_TRUE(f.certs.empty());
  f = ReadCertificateFile(Path("missing"));
  EXPECT_NE(f.error.find(Path("missing") + ": cannot open"), std::string::npos) << f.error;
  const RevocationFile r = ReadRevocationFile(Path("two"));
  EXPECT_NE(r.error.find("'IPOP CERTIFICATE' block where an 'IPOP REVOCATION' belongs"),
            std::string::npos)
      << r.error;
  EXPECT_NE(ReadPublicKeyFile(Path("two")).error.find("not a PEM public key"), std::string::npos);
  // A directory is not a certificate file.
  EXPECT_NE(ReadCertificateFile(dir).error.find("not a regular file"), std::string::npos);
}

TEST_F(IdentityFilesTest, PublicKeysRoundTrip) {
  std::unique_ptr<PrivateKey> key = Key(4);
  Put("p", PublicKeyToPem(key->public_key()));
  const PublicKeyFile p = ReadPublicKeyFile(Path("p"));
  ASSERT_TRUE(p.error.empty()) << p.error;
  EXPECT_EQ(p.key, key->public_key());
}

}  // namespace
}  // namespace ipop::cp::identity
