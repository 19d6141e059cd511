#include "controlplane/identity/ed25519.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

namespace ipop::cp::identity {
namespace {

bool RawPublic(EVP_PKEY* key, PublicKey* out) {
  size_t len = out->size();
  return EVP_PKEY_get_raw_public_key(key, out->data(), &len) == 1 && len == out->size();
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return data != nullptr && n > 0 ? std::string(data, size_t(n)) : std::string();
}

}  // namespace

std::unique_ptr<PrivateKey> PrivateKey::Generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  PublicKey pub{};
  if (key == nullptr || !RawPublic(key, &pub)) {
    EVP_PKEY_free(key);
    return nullptr;
  }
  return std::unique_ptr<PrivateKey>(new PrivateKey(key, pub));
}

std::unique_ptr<PrivateKey> PrivateKey::FromSeed(std::span<const uint8_t, 32> seed) {
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size());
  PublicKey pub{};
  if (key == nullptr || !RawPublic(key, &pub)) {
    EVP_PKEY_free(key);
    return nullptr;
  }
  return std::unique_ptr<PrivateKey>(new PrivateKey(key, pub));
}

std::unique_ptr<PrivateKey> PrivateKey::FromPem(std::string_view pem, std::string* error) {
  BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
  if (bio == nullptr) {
    *error = "out of memory";
    return nullptr;
  }
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) {
    *error = "not a PEM private key (ipop-cert keygen writes one)";
    return nullptr;
  }
  PublicKey pub{};
  if (EVP_PKEY_id(key) != EVP_PKEY_ED25519 || !RawPublic(key, &pub)) {
    EVP_PKEY_free(key);
    *error = "the private key is not an Ed25519 key";
    return nullptr;
  }
  return std::unique_ptr<PrivateKey>(new PrivateKey(key, pub));
}

PrivateKey::~PrivateKey() {
  EVP_PKEY_free(key_);  // OpenSSL clears the key material
}

std::string PrivateKey::ToPem() const {
  // A secure-memory BIO: its buffer, which holds the key in clear, is wiped when freed.
  BIO* bio = BIO_new(BIO_s_secmem());
  if (bio == nullptr) return {};
  std::string text;
  if (PEM_write_bio_PrivateKey(bio, key_, nullptr, nullptr, 0, nullptr, nullptr) == 1)
    text = BioText(bio);
  BIO_free(bio);
  return text;
}

Signature PrivateKey::Sign(std::span<const uint8_t> message) const {
  Signature sig{};
  size_t sig_len = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
                  EVP_DigestSign(ctx, sig.data(), &sig_len, message.data(), message.size()) == 1 &&
                  sig_len == sig.size();
  EVP_MD_CTX_free(ctx);
  // A zero signature never verifies, so a failed signing cannot yield an accepted object.
  if (!ok) sig.fill(0);
  return sig;
}

std::string PublicKeyToPem(const PublicKey& key) {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size());
  if (pkey == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  std::string text;
  if (bio != nullptr && PEM_write_bio_PUBKEY(bio, pkey) == 1) text = BioText(bio);
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  return text;
}

std::optional<PublicKey> PublicKeyFromPem(std::string_view pem, std::string* error) {
  BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
  if (bio == nullptr) {
    *error = "out of memory";
    return std::nullopt;
  }
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) {
    *error = "not a PEM public key (ipop-cert keygen --pub writes one)";
    return std::nullopt;
  }
  PublicKey out{};
  const bool ok = EVP_PKEY_id(key) == EVP_PKEY_ED25519 && RawPublic(key, &out);
  EVP_PKEY_free(key);
  if (!ok) {
    *error = "the public key is not an Ed25519 key";
    return std::nullopt;
  }
  return out;
}

bool VerifySignature(const PublicKey& key, std::span<const uint8_t> message,
                     const Signature& signature) {
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.data(), key.size());
  if (pkey == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey) == 1 &&
      EVP_DigestVerify(ctx, signature.data(), signature.size(), message.data(), message.size()) ==
          1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return ok;
}

}  // namespace ipop::cp::identity
