// AEAD per session through OpenSSL 3 EVP or, for AES-256-GCM, intel-ipsec-mb. The expensive part
// of set-up (cipher fetch, key schedule, GHASH tables) happens once in Init(); per packet EVP only
// installs the 12-byte IV, which for both GCM and ChaCha20-Poly1305 resets the MAC state without
// touching the key schedule, and ipsec-mb makes one call over the expanded key.
#include "dataplane/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <atomic>
#include <climits>
#include <cstring>
#include <utility>

#include "dataplane/aead_ipsec_mb.h"
#include "shared/wire.h"

namespace ipop {
namespace {

constexpr int kIvSize = 12;
constexpr int kTagSize = int(wire::kTagSize);

const EVP_CIPHER* CipherOf(shm::Cipher cipher) {
  switch (cipher) {
    case shm::Cipher::kAes256Gcm:
      return EVP_aes_256_gcm();
    case shm::Cipher::kChaCha20Poly1305:
      return EVP_chacha20_poly1305();
  }
  return nullptr;
}

// IV = salt (4 bytes) || counter (8 bytes, big endian): unique per (key, counter) as long as the
// sender never reuses a counter under one key, which the session layer guarantees.
inline void MakeIv(const uint8_t salt[4], uint64_t counter, uint8_t iv[kIvSize]) {
  std::memcpy(iv, salt, 4);
  wire::StoreBe64(iv + 4, counter);
}

// EVP takes int lengths; anything this large is not a datagram and is refused, not truncated.
inline bool LengthsFit(size_t aad_len, size_t len) {
  return aad_len <= size_t(INT_MAX) && len <= size_t(INT_MAX);
}

std::atomic<AeadBackend> g_default_gcm_backend{AeadBackend::kOpenSsl};

}  // namespace

const char* AeadBackendName(AeadBackend backend) {
  return backend == AeadBackend::kIpsecMb ? "ipsec-mb" : "openssl";
}

bool IpsecMbUsable() {
  return ipsecmb::Usable();
}

void SetDefaultGcmBackend(AeadBackend backend) {
  g_default_gcm_backend.store(backend, std::memory_order_relaxed);
}

AeadBackend DefaultGcmBackend() {
  return g_default_gcm_backend.load(std::memory_order_relaxed);
}

AeadContext::AeadContext() = default;

AeadContext::~AeadContext() {
  EVP_CIPHER_CTX_free(ctx_);
  ipsecmb::FreeKey(gcm_);
}

AeadContext::AeadContext(AeadContext&& o) noexcept
    : ctx_(std::exchange(o.ctx_, nullptr)),
      gcm_(std::exchange(o.gcm_, nullptr)),
      backend_(o.backend_),
      ready_(std::exchange(o.ready_, false)),
      seal_(o.seal_) {
  std::memcpy(salt_, o.salt_, sizeof(salt_));
}

AeadContext& AeadContext::operator=(AeadContext&& o) noexcept {
  if (this != &o) {
    EVP_CIPHER_CTX_free(ctx_);
    ipsecmb::FreeKey(gcm_);
    ctx_ = std::exchange(o.ctx_, nullptr);
    gcm_ = std::exchange(o.gcm_, nullptr);
    backend_ = o.backend_;
    ready_ = std::exchange(o.ready_, false);
    seal_ = o.seal_;
    std::memcpy(salt_, o.salt_, sizeof(salt_));
  }
  return *this;
}

bool AeadContext::Init(shm::Cipher cipher, const uint8_t key[32], const uint8_t salt[4],
                       bool seal) {
  return Init(cipher, key, salt, seal, DefaultGcmBackend());
}

bool AeadContext::Init(shm::Cipher cipher, const uint8_t key[32], const uint8_t salt[4], bool seal,
                       AeadBackend gcm_backend) {
  ready_ = false;
  if (cipher == shm::Cipher::kAes256Gcm && gcm_backend == AeadBackend::kIpsecMb) {
    // Rekey or backend switch: no old key schedule may survive in either backend.
    if (ctx_ != nullptr) EVP_CIPHER_CTX_reset(ctx_);
    if (gcm_ == nullptr) gcm_ = ipsecmb::NewKey();
    if (!ipsecmb::SetKey(gcm_, key)) return false;
    std::memcpy(salt_, salt, sizeof(salt_));
    seal_ = seal;
    backend_ = AeadBackend::kIpsecMb;
    ready_ = true;
    return true;
  }
  ipsecmb::FreeKey(std::exchange(gcm_, nullptr));
  backend_ = AeadBackend::kOpenSsl;
  const EVP_CIPHER* evp_cipher = CipherOf(cipher);
  if (evp_cipher == nullptr) return false;
  if (ctx_ == nullptr) {
    ctx_ = EVP_CIPHER_CTX_new();
    if (ctx_ == nullptr) return false;
  } else {
    // Rekey: the old key schedule is wiped before the new cipher is installed.
    EVP_CIPHER_CTX_reset(ctx_);
  }
  const int enc = seal ? 1 : 0;
  if (EVP_CipherInit_ex(ctx_, evp_cipher, nullptr, nullptr, nullptr, enc) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_IVLEN, kIvSize, nullptr) != 1) return false;
  if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, key, nullptr, enc) != 1) return false;
  std::memcpy(salt_, salt, sizeof(salt_));
  seal_ = seal;
  ready_ = true;
  return true;
}

void AeadContext::Clear() {
  if (ctx_ != nullptr) EVP_CIPHER_CTX_reset(ctx_);  // cleanses the cipher's key schedule
  ipsecmb::FreeKey(std::exchange(gcm_, nullptr));
  OPENSSL_cleanse(salt_, sizeof(salt_));
  ready_ = false;
}

bool AeadContext::Seal(uint64_t counter, std::span<const uint8_t> aad, const uint8_t* in,
                       size_t len, uint8_t* out, uint8_t* tag) {
  if (!ready_ || !seal_ || !LengthsFit(aad.size(), len)) [[unlikely]]
    return false;
  uint8_t iv[kIvSize];
  MakeIv(salt_, counter, iv);
  if (backend_ == AeadBackend::kIpsecMb) {
    ipsecmb::Seal(*gcm_, iv, aad.data(), aad.size(), in, len, out, tag);
    return true;
  }
  int n = 0;
  if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, iv, -1) != 1) return false;
  if (!aad.empty() && EVP_CipherUpdate(ctx_, nullptr, &n, aad.data(), int(aad.size())) != 1)
    return false;
  int done = 0;
  if (len > 0) {
    if (EVP_CipherUpdate(ctx_, out, &done, in, int(len)) != 1) return false;
  }
  if (EVP_CipherFinal_ex(ctx_, out + done, &n) != 1) return false;
  if (size_t(done) + size_t(n) != len) [[unlikely]]
    return false;
  return EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, kTagSize, tag) == 1;
}

bool AeadContext::Open(uint64_t counter, std::span<const uint8_t> aad, const uint8_t* in,
                       size_t len, uint8_t* out, const uint8_t* tag) {
  if (!ready_ || seal_ || !LengthsFit(aad.size(), len)) [[unlikely]]
    return false;
  uint8_t iv[kIvSize];
  MakeIv(salt_, counter, iv);
  if (backend_ == AeadBackend::kIpsecMb)
    return ipsecmb::Open(*gcm_, iv, aad.data(), aad.size(), in, len, out, tag);
  int n = 0;
  if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, nullptr, iv, -1) != 1) return false;
  // EVP only reads the expected tag, but its ctrl interface is not const-correct.
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, kTagSize, const_cast<uint8_t*>(tag)) != 1)
    return false;
  if (!aad.empty() && EVP_CipherUpdate(ctx_, nullptr, &n, aad.data(), int(aad.size())) != 1)
    return false;
  int done = 0;
  if (len > 0) {
    if (EVP_CipherUpdate(ctx_, out, &done, in, int(len)) != 1) return false;
  }
  // Final verifies the tag in constant time; any mismatch returns <= 0.
  if (EVP_CipherFinal_ex(ctx_, out + done, &n) != 1) return false;
  return size_t(done) + size_t(n) == len;
}

}  // namespace ipop
