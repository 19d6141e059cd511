#include "controlplane/dht/dht_key.h"

#include <openssl/evp.h>

#include <cstring>

namespace ipop::cp {

DhtKey HashDhtKey(std::string_view name) {
  static constexpr std::string_view kDomain = "ipop dht v1";
  uint8_t digest[32] = {};
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, kDomain.data(), kDomain.size()) == 1 &&
                  EVP_DigestUpdate(ctx, name.data(), name.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len == sizeof(digest);
  EVP_MD_CTX_free(ctx);
  if (!ok) std::memset(digest, 0, sizeof(digest));  // unreachable with a working libcrypto
  DhtKey k;
  std::memcpy(k.data(), digest, k.size());
  return k;
}

bool InClockwiseRange(const DhtKey& k, const DhtKey& from, const DhtKey& to) {
  if (from == to) return true;
  if (from < to) return from < k && k <= to;
  return k > from || k <= to;  // the arc wraps through zero
}

std::string DhtKeyHex(const DhtKey& k) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * k.size());
  for (uint8_t b : k) {
    s.push_back(kDigits[b >> 4]);
    s.push_back(kDigits[b & 15]);
  }
  return s;
}

}  // namespace ipop::cp
