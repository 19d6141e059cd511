// Deterministic keys and certificates for the identity tests: a network "lab" with a root CA, an
// issuing CA and nodes, all valid from kT0 for kLife seconds unless a test says otherwise.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <memory>
#include <string>

#include "controlplane/identity/certificate.h"
#include "controlplane/identity/ed25519.h"

namespace ipop::cp::identity::testing {

inline constexpr uint64_t kT0 = 1'700'000'000;
inline constexpr uint64_t kLife = 1000 * 86400;

// The same seed byte gives the same key in every run.
inline std::unique_ptr<PrivateKey> Key(uint8_t seed_byte) {
  std::array<uint8_t, 32> seed;
  seed.fill(seed_byte);
  std::unique_ptr<PrivateKey> k = PrivateKey::FromSeed(seed);
  if (!k) std::abort();
  return k;
}

inline Serial SerialOf(uint8_t b) {
  Serial s{};
  s.fill(b);
  return s;
}

inline Prefix P(uint32_t a, uint8_t b, uint8_t c, uint8_t d, uint8_t len) {
  return Prefix{(a << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d, len};
}

// Fields of a CA that may grant everything.
inline CertificateFields CaFields(Usage usage, const PrivateKey& subject, std::string name,
                                  std::string network = "lab") {
  CertificateFields f;
  f.usage = usage;
  f.serial = SerialOf(usage == Usage::kRootCa ? 1 : 2);
  f.not_before = kT0;
  f.not_after = kT0 + kLife;
  f.public_key = subject.public_key();
  f.network = std::move(network);
  f.name = std::move(name);
  f.vips = {Prefix{0, 0}};
  f.subnets = {Prefix{0, 0}};
  f.multicast = {P(224, 0, 0, 0, 4)};
  f.groups = {"*"};
  return f;
}

// A node allowed 10.77.0.3, announcing 192.168.1.0/24, joining 239.1.0.0/16, in groups web, db.
inline CertificateFields NodeFields(const PrivateKey& subject, std::string name = "n1",
                                    std::string network = "lab") {
  CertificateFields f;
  f.usage = Usage::kNode;
  f.serial = SerialOf(3);
  f.not_before = kT0;
  f.not_after = kT0 + kLife;
  f.public_key = subject.public_key();
  f.network = std::move(network);
  f.name = std::move(name);
  f.vips = {P(10, 77, 0, 3, 32)};
  f.subnets = {P(192, 168, 1, 0, 24)};
  f.multicast = {P(239, 1, 0, 0, 16)};
  f.groups = {"web", "db"};
  return f;
}

// Signs or fails the test.
inline Certificate Issue(const CertificateFields& f, const PrivateKey& issuer) {
  SignedCertificate s = SignCertificate(f, issuer);
  EXPECT_TRUE(s.cert.has_value()) << CertErrorText(s.error);
  if (!s.cert) std::abort();
  return *s.cert;
}

inline Certificate Root(const PrivateKey& key, std::string network = "lab") {
  return Issue(CaFields(Usage::kRootCa, key, "root", std::move(network)), key);
}

}  // namespace ipop::cp::identity::testing
