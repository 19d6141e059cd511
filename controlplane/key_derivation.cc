#include "controlplane/key_derivation.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <cstring>
#include <vector>

#include "shared/wire.h"

namespace ipop::cp {
namespace {

constexpr char kDataInfoLabel[] = "ipop v1 data";
constexpr char kKeyIdLabel[] = "ipop key id";

}  // namespace

bool HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                std::span<const uint8_t> info, std::span<uint8_t> out) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) return false;
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  if (ctx == nullptr) return false;
  // OSSL_PARAM wants non-const pointers; the KDF only reads them.
  char digest[] = "SHA256";
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  const_cast<uint8_t*>(ikm.data()), ikm.size());
  if (!salt.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                                    const_cast<uint8_t*>(salt.data()), salt.size());
  if (!info.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                    const_cast<uint8_t*>(info.data()), info.size());
  params[n] = OSSL_PARAM_construct_end();
  const bool ok = EVP_KDF_derive(ctx, out.data(), out.size(), params) == 1;
  EVP_KDF_CTX_free(ctx);
  return ok;
}

uint64_t KeyIdOf(const uint8_t key[32], const uint8_t salt[4]) {
  uint8_t input[sizeof(kKeyIdLabel) - 1 + 32 + 4];
  std::memcpy(input, kKeyIdLabel, sizeof(kKeyIdLabel) - 1);
  std::memcpy(input + sizeof(kKeyIdLabel) - 1, key, 32);
  std::memcpy(input + sizeof(kKeyIdLabel) - 1 + 32, salt, 4);
  uint8_t digest[32];
  unsigned int len = 0;
  uint64_t id = 0;
  if (EVP_Digest(input, sizeof(input), digest, &len, EVP_sha256(), nullptr) == 1 && len == 32)
    id = wire::LoadBe64(digest);
  OPENSSL_cleanse(input, sizeof(input));
  return id == 0 ? 1 : id;
}

PskKeySource::PskKeySource(const std::array<uint8_t, 32>& secret, std::string_view network)
    : secret_(secret), network_(network) {}

PskKeySource::~PskKeySource() {
  OPENSSL_cleanse(secret_.data(), secret_.size());
}

bool PskKeySource::DeriveDirection(const Nonce& sender_nonce, const Nonce& receiver_nonce,
                                   uint32_t sender_vip, uint32_t receiver_vip,
                                   DirectionKey* out) const {
  uint8_t salt[2 * kNonceSize];
  std::memcpy(salt, sender_nonce.data(), kNonceSize);
  std::memcpy(salt + kNonceSize, receiver_nonce.data(), kNonceSize);
  // Fixed-length label and VIPs around the variable network name keep the encoding unambiguous.
  std::vector<uint8_t> info(kDataInfoLabel, kDataInfoLabel + sizeof(kDataInfoLabel) - 1);
  info.insert(info.end(), network_.begin(), network_.end());
  uint8_t vips[8];
  wire::StoreBe32(vips, sender_vip);
  wire::StoreBe32(vips + 4, receiver_vip);
  info.insert(info.end(), vips, vips + sizeof(vips));
  uint8_t okm[36];
  if (!HkdfSha256(secret_, salt, info, okm)) return false;
  std::memcpy(out->key, okm, 32);
  std::memcpy(out->salt, okm + 32, 4);
  OPENSSL_cleanse(okm, sizeof(okm));
  out->key_id = KeyIdOf(out->key, out->salt);
  return true;
}

bool PskKeySource::Derive(const SessionKeyInput& in, SessionKeys* out) const {
  return DeriveDirection(in.local_nonce, in.peer_nonce, in.local_vip, in.peer_vip, &out->tx) &&
         DeriveDirection(in.peer_nonce, in.local_nonce, in.peer_vip, in.local_vip, &out->rx);
}

}  // namespace ipop::cp
