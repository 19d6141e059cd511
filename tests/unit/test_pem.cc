// PEM armour: what WritePem writes reads back byte for byte for every length; several blocks and
// explanatory text are read; each malformed armour (missing or mismatched END, bad characters,
// non-canonical base64, data after padding, long lines, headers, stray dashes, empty or too many
// or too large blocks) is an error naming its line.
#include "controlplane/identity/pem.h"

#include <gtest/gtest.h>

#include <string>

namespace ipop::cp::identity {
namespace {

std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> b(n);
  for (size_t i = 0; i < n; ++i) b[i] = uint8_t(seed + i * 37 + (i >> 3));
  return b;
}

TEST(PemTest, EveryLengthRoundTrips) {
  for (size_t n = 1; n <= 300; ++n) {
    const std::vector<uint8_t> data = Bytes(n, uint8_t(n));
    const std::string text = WritePem("IPOP CERTIFICATE", data);
    const PemText pem = ReadPem(text);
    ASSERT_TRUE(pem.error.empty()) << n << ": " << pem.error;
    ASSERT_EQ(pem.blocks.size(), 1u);
    EXPECT_EQ(pem.blocks[0].label, "IPOP CERTIFICATE");
    EXPECT_EQ(pem.blocks[0].data, data) << n;
  }
}

TEST(PemTest, SeveralBlocksWithTextAroundThemAndCrlf) {
  std::string text = "root of lab, made 2026-12-02\n" + WritePem("IPOP CERTIFICATE", Bytes(90, 1)) +
                     "\nthe site CA:\n" + WritePem("IPOP CERTIFICATE", Bytes(120, 2));
  PemText pem = ReadPem(text);
  ASSERT_TRUE(pem.error.empty()) << pem.error;
  ASSERT_EQ(pem.blocks.size(), 2u);
  EXPECT_EQ(pem.blocks[1].data, Bytes(120, 2));
  std::string crlf;
  for (char c : WritePem("IPOP REVOCATION", Bytes(50, 3))) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  pem = ReadPem(crlf);
  ASSERT_TRUE(pem.error.empty()) << pem.error;
  EXPECT_EQ(pem.blocks[0].data, Bytes(50, 3));
  EXPECT_TRUE(ReadPem("no blocks here\n").blocks.empty());
  EXPECT_TRUE(ReadPem("no blocks here\n").error.empty());
}

TEST(PemTest, MalformedArmourIsAnErrorNamingTheLine) {
  const std::string b = "-----BEGIN IPOP CERTIFICATE-----\n";
  const std::string e = "-----END IPOP CERTIFICATE-----\n";
  struct Case {
    std::string text;
    std::string want;  // a part of the error
  };
  const Case cases[] = {
      {b + "AAAA\n", "line 1: '-----BEGIN IPOP CERTIFICATE-----' has no END"},
      {b + "AAAA\n-----END IPOP REVOCATION-----\n", "line 3: expected '-----END IPOP CERTIFICATE"},
      {b + "AA*A\n" + e, "line 1: the IPOP CERTIFICATE block is not valid base64"},
      {b + "AAA\n" + e, "not valid base64"},   // not a multiple of 4
      {b + "AB==\n" + e, "not valid base64"},  // unused bits set (canonical: AA==)
      {b + "AAB=\n" + e, "not valid base64"},  // unused bits set (canonical: AAA=)
      {b + "A===\n" + e, "not valid base64"},
      {b + "AA=A\n" + e, "not valid base64"},
      {b + "AA==\nAAAA\n" + e, "line 3: base64 continues after padding"},
      {b + std::string(80, 'A') + "\n" + e, "line 2: base64 line longer than 76"},
      {b + "Proc-Type: 4,ENCRYPTED\nAAAA\n" + e, "not valid base64"},
      {b + e, "holds 0 bytes"},
      {"-----BEGIN -----\n", "line 1: expected a '-----BEGIN LABEL-----' line"},
      {"text\n-----END IPOP CERTIFICATE-----\n", "line 2: expected a '-----BEGIN"},
      {"-----BEGIN IPOP CERTIFICATE----\nAAAA\n" + e, "line 1: expected a '-----BEGIN"},
  };
  for (const Case& c : cases) {
    const PemText pem = ReadPem(c.text);
    EXPECT_NE(pem.error.find(c.want), std::string::npos) << "text:\n"
                                                         << c.text << "error: " << pem.error;
    EXPECT_TRUE(pem.blocks.empty());
  }
}

TEST(PemTest, BlockCountAndSizeAreBounded) {
  std::string many;
  for (size_t i = 0; i <= kMaxPemBlocks; ++i) many += WritePem("IPOP CERTIFICATE", Bytes(4, 1));
  EXPECT_NE(ReadPem(many).error.find("more than 256 blocks"), std::string::npos);
  EXPECT_TRUE(ReadPem(WritePem("X", Bytes(kMaxPemBlockBytes, 1))).error.empty());
  EXPECT_FALSE(ReadPem(WritePem("X", Bytes(kMaxPemBlockBytes + 1, 1))).error.empty());
}

}  // namespace
}  // namespace ipop::cp::identity
