// AEAD through OpenSSL EVP: AES-256-GCM or ChaCha20-Poly1305. One context per session per worker,
// initialised once with the key; per packet only the IV (salt || counter) is set.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "shared/shm_layout.h"

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace ipop {

class AeadContext {
 public:
  AeadContext();
  ~AeadContext();
  AeadContext(AeadContext&& o) noexcept;
  AeadContext& operator=(AeadContext&& o) noexcept;
  AeadContext(const AeadContext&) = delete;
  AeadContext& operator=(const AeadContext&) = delete;

  // Sets cipher, key and salt and whether this context seals (true) or opens. false on failure.
  bool Init(shm::Cipher cipher, const uint8_t key[32], const uint8_t salt[4], bool seal);
  bool ready() const { return ready_; }

  // Encrypts len bytes from in to out (may alias) and writes the 16-byte tag.
  bool Seal(uint64_t counter, std::span<const uint8_t> aad, const uint8_t* in, size_t len,
            uint8_t* out, uint8_t* tag);
  // Decrypts and verifies; false if the tag does not match (out content is then unspecified).
  bool Open(uint64_t counter, std::span<const uint8_t> aad, const uint8_t* in, size_t len,
            uint8_t* out, const uint8_t* tag);

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
  uint8_t salt_[4] = {};
  bool ready_ = false;
  bool seal_ = false;
};

}  // namespace ipop
