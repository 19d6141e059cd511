#include "controlplane/sessions/hello_authenticator.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <string>

#include "controlplane/sessions/key_derivation.h"

namespace ipop::cp {

PskHelloAuthenticator::PskHelloAuthenticator(const std::array<uint8_t, 32>& secret,
                                             std::string_view network) {
  std::string info = "ipop v1 hello";
  info.append(network);
  uint8_t key[32];
  if (!HkdfSha256(secret, {}, {reinterpret_cast<const uint8_t*>(info.data()), info.size()}, key))
    return;  // keyed_ stays null: Sign and Verify fail closed
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (mac != nullptr) {
    keyed_ = EVP_MAC_CTX_new(mac);
    EVP_MAC_free(mac);
  }
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_end()};
  if (keyed_ != nullptr && EVP_MAC_init(keyed_, key, sizeof(key), params) != 1) {
    EVP_MAC_CTX_free(keyed_);
    keyed_ = nullptr;
  }
  OPENSSL_cleanse(key, sizeof(key));
}

PskHelloAuthenticator::~PskHelloAuthenticator() {
  EVP_MAC_CTX_free(keyed_);
}

bool PskHelloAuthenticator::Mac(std::span<const uint8_t> message, uint8_t out[32]) const {
  if (keyed_ == nullptr) return false;
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_dup(keyed_);
  if (ctx == nullptr) return false;
  size_t len = 0;
  const bool ok = EVP_MAC_update(ctx, message.data(), message.size()) == 1 &&
                  EVP_MAC_final(ctx, out, &len, 32) == 1 && len == 32;
  EVP_MAC_CTX_free(ctx);
  return ok;
}

bool PskHelloAuthenticator::Sign(std::span<const uint8_t> message, std::span<uint8_t> tag) const {
  uint8_t full[32];
  if (tag.size() != kTagSize || !Mac(message, full)) return false;
  std::copy(full, full + kTagSize, tag.begin());
  return true;
}

bool PskHelloAuthenticator::Verify(std::span<const uint8_t> message,
                                   std::span<const uint8_t> tag) const {
  uint8_t full[32];
  if (tag.size() != kTagSize || !Mac(message, full)) return false;
  return CRYPTO_memcmp(full, tag.data(), kTagSize) == 0;
}

}  // namespace ipop::cp
