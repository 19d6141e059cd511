// Ed25519 keys through OpenSSL 3 EVP: the signing key of a CA or a node, and the one check every
// certificate, revocation and (later) signed claim goes through. Private keys are stored as
// PKCS#8 PEM ("BEGIN PRIVATE KEY"), the form `openssl genpkey -algorithm ed25519` writes, so the
// standard tools can inspect them; public keys travel as their 32 raw bytes (RFC 8032).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

typedef struct evp_pkey_st EVP_PKEY;

namespace ipop::cp::identity {

inline constexpr size_t kPublicKeySize = 32;
inline constexpr size_t kSignatureSize = 64;
using PublicKey = std::array<uint8_t, kPublicKeySize>;
using Signature = std::array<uint8_t, kSignatureSize>;

class PrivateKey {
 public:
  // A fresh key from OpenSSL's CSPRNG; null only if OpenSSL fails.
  static std::unique_ptr<PrivateKey> Generate();
  // The key whose RFC 8032 seed is `seed` (tests and fuzz seeds: deterministic keys).
  static std::unique_ptr<PrivateKey> FromSeed(std::span<const uint8_t, 32> seed);
  // PKCS#8 PEM holding an Ed25519 key; null with *error saying what the text is instead.
  static std::unique_ptr<PrivateKey> FromPem(std::string_view pem, std::string* error);
  ~PrivateKey();
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;

  const PublicKey& public_key() const { return public_key_; }
  std::string ToPem() const;
  Signature Sign(std::span<const uint8_t> message) const;

 private:
  PrivateKey(EVP_PKEY* key, const PublicKey& pub) : key_(key), public_key_(pub) {}
  EVP_PKEY* key_;
  PublicKey public_key_;
};

// SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY", `openssl pkey -pubout`) <-> raw key. The CA signs
// a node's public key without ever seeing its private key.
std::string PublicKeyToPem(const PublicKey& key);
std::optional<PublicKey> PublicKeyFromPem(std::string_view pem, std::string* error);

// True iff `signature` is `key`'s Ed25519 signature of `message` (RFC 8032, as OpenSSL checks it:
// non-canonical S and small-order keys are refused).
bool VerifySignature(const PublicKey& key, std::span<const uint8_t> message,
                     const Signature& signature);

}  // namespace ipop::cp::identity
