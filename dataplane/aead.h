// AEAD per session: AES-256-GCM or ChaCha20-Poly1305. One context per session per worker,
// initialised once with the key; per packet only the IV (salt || counter) is set. AES-256-GCM runs
// on OpenSSL EVP or on intel-ipsec-mb (chosen at Init, one branch per packet); ChaCha20-Poly1305
// always runs on OpenSSL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "shared/shm_layout.h"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace ipop {

namespace ipsecmb {
struct GcmKey;
}

enum class AeadBackend : uint8_t { kOpenSsl, kIpsecMb };
const char* AeadBackendName(AeadBackend backend);  // "openssl" | "ipsec-mb"

// intel-ipsec-mb is linked in and passed its known-answer self-test on this CPU (run once).
bool IpsecMbUsable();
// The AES-256-GCM backend Init() uses when none is given. Process-wide: set it at start-up before
// any worker thread starts. Setting kIpsecMb when !IpsecMbUsable() makes AES-GCM Init() fail.
void SetDefaultGcmBackend(AeadBackend backend);
AeadBackend DefaultGcmBackend();

class AeadContext {
 public:
  AeadContext();
  ~AeadContext();
  AeadContext(AeadContext&& o) noexcept;
  AeadContext& operator=(AeadContext&& o) noexcept;
  AeadContext(const AeadContext&) = delete;
  AeadContext& operator=(const AeadContext&) = delete;

  // Sets cipher, key and salt and whether this context seals (true) or opens. false on failure.
  // AES-256-GCM uses DefaultGcmBackend().
  bool Init(shm::Cipher cipher, const uint8_t key[32], const uint8_t salt[4], bool seal);
  // Same with an explicit AES-256-GCM backend (ChaCha20-Poly1305 ignores it: OpenSSL only).
  // false if kIpsecMb is asked for AES-256-GCM and !IpsecMbUsable().
  bool Init(shm::Cipher cipher, const uint8_t key[32], const uint8_t salt[4], bool seal,
            AeadBackend gcm_backend);
  // Wipes the key schedule and salt (retired session); ready() is false until the next Init.
  void Clear();
  bool ready() const { return ready_; }
  // The backend actually serving this context (valid once ready()).
  AeadBackend backend() const { return backend_; }

  // Encrypts len bytes from in to out (may alias) and writes the 16-byte tag.
  bool Seal(uint64_t counter, std::span<const uint8_t> aad, const uint8_t* in, size_t len,
            uint8_t* out, uint8_t* tag);
  // Decrypts and verifies; false if the tag does not match (out content is then unspecified).
  bool Open(uint64_t counter, std::span<const uint8_t> aad, const uint8_t* in, size_t len,
            uint8_t* out, const uint8_t* tag);

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
  ipsecmb::GcmKey* gcm_ = nullptr;  // allocated on the first ipsec-mb Init, kept across rekeys
  uint8_t salt_[4] = {};
  AeadBackend backend_ = AeadBackend::kOpenSsl;
  bool ready_ = false;
  bool seal_ = false;
};

}  // namespace ipop
