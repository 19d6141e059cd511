// Session key schedule: ephemeral X25519 bound to the network's pre-shared secret
// (docs/control-protocol.md).
//
// Each node holds one ephemeral X25519 key pair (replaced on every control-plane start, dataplane
// instance change and local rekey) and learns each peer's public key from its HELLOs. Each
// direction of a peer pair has its own key:
//   shared   = X25519(local private, peer public)            (all zeros: rejected)
//   bind_key = HKDF-SHA256(ikm = network secret, no salt, info = "ipop v1 bind" || network)
//   okm      = HKDF-SHA256(ikm  = shared, salt = bind_key,
//                          info = "ipop v1 data" || network || sender public || receiver public
//                                 || sender VIP || receiver VIP)
//   key = okm[0..32), salt = okm[32..36)
// The DH gives keys an eavesdropper cannot compute even holding the secret; the bind key makes a
// node without the secret unable to derive them even if it could inject HELLOs. A new key pair on
// either side gives new keys, so a dataplane whose counters restart never sees an old key again.
// SessionKeySource is the seam a certificate-authenticated handshake plugs into later;
// PeerSessions only asks it for the two direction keys.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "controlplane/runtime/random_source.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace ipop::cp {

inline constexpr size_t kX25519KeySize = 32;
using PublicKey = std::array<uint8_t, kX25519KeySize>;

// All zeros means "unknown" wherever a public key is optional (the HELLO echo).
inline bool IsZero(const PublicKey& k) {
  uint8_t acc = 0;
  for (uint8_t b : k) acc |= b;
  return acc == 0;
}

// RFC 5869 through OpenSSL EVP_KDF. false if libcrypto refuses (e.g. out.size() > 255 * 32).
bool HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                std::span<const uint8_t> info, std::span<uint8_t> out);

// An X25519 key pair whose private half never leaves this object: it lives in an OpenSSL EVP_PKEY
// (which clears it when freed) and the raw bytes used to create it are cleansed at once.
// Move-only; an empty pair (valid() false) agrees on nothing.
class X25519KeyPair {
 public:
  X25519KeyPair() = default;
  ~X25519KeyPair();
  X25519KeyPair(X25519KeyPair&& other) noexcept;
  X25519KeyPair& operator=(X25519KeyPair&& other) noexcept;
  X25519KeyPair(const X25519KeyPair&) = delete;
  X25519KeyPair& operator=(const X25519KeyPair&) = delete;

  // Replaces the pair by one whose private key is 32 bytes of `random` (RFC 7748 clamps them).
  // Randomness comes from the caller so tests and fuzzers are reproducible. On failure the pair
  // is empty.
  bool Generate(RandomSource& random);
  // Replaces the pair by the one of `private_key` (test vectors). The caller cleanses its copy.
  bool SetPrivateKey(std::span<const uint8_t, kX25519KeySize> private_key);
  void Clear();

  bool valid() const { return pkey_ != nullptr; }
  const PublicKey& public_key() const { return public_; }  // zeros while empty
  // X25519(private, peer). false for an empty pair, a libcrypto failure, or an all-zero result
  // (peer sent a low-order point, RFC 7748 section 6.1); `shared` is zeroed then.
  bool Agree(const PublicKey& peer, std::span<uint8_t, kX25519KeySize> shared) const;

 private:
  EVP_PKEY* pkey_ = nullptr;
  PublicKey public_{};
};

struct DirectionKey {
  uint8_t key[32] = {};
  uint8_t salt[4] = {};
  uint64_t key_id = 0;  // KeyIdOf(key, salt): changes exactly when the material changes
};

// First 8 bytes of SHA-256("ipop key id" || key || salt), never 0. A hash rather than a counter so
// a restarted control plane cannot hand out an id an inherited entry already uses for other keys.
uint64_t KeyIdOf(const uint8_t key[32], const uint8_t salt[4]);

// A certified key's id (identity::KeyId, the first 16 bytes of SHA-256("ipop key id v1" ||
// key)); zeros in PSK mode.
using CertKeyId = std::array<uint8_t, 16>;

struct SessionKeyInput {
  const X25519KeyPair* local = nullptr;  // our current pair; its public key is the one we sent
  PublicKey peer_public{};
  uint32_t local_vip = 0;  // host order
  uint32_t peer_vip = 0;
  // Certificate mode: the key ids of our certificate and of the peer's verified one.
  CertKeyId local_key_id{};
  CertKeyId peer_key_id{};
};

struct SessionKeys {
  DirectionKey tx;  // local -> peer (sealed by our dataplane)
  DirectionKey rx;  // peer -> local (opened by our dataplane)
};

class SessionKeySource {
 public:
  virtual ~SessionKeySource() = default;
  // false (keys unusable) on an empty local pair, a low-order peer key or a libcrypto failure.
  virtual bool Derive(const SessionKeyInput& in, SessionKeys* out) const = 0;
};

// X25519 bound to the network secret shared by all nodes of a network. Only the bind key derived
// from the secret is kept.
class PskKeySource final : public SessionKeySource {
 public:
  PskKeySource(const std::array<uint8_t, 32>& secret, std::string_view network);
  ~PskKeySource() override;
  PskKeySource(const PskKeySource&) = delete;
  PskKeySource& operator=(const PskKeySource&) = delete;

  bool Derive(const SessionKeyInput& in, SessionKeys* out) const override;
  // One direction from an agreed `shared` secret, exposed for tests and documentation examples.
  bool DeriveDirection(std::span<const uint8_t, kX25519KeySize> shared,
                       const PublicKey& sender_public, const PublicKey& receiver_public,
                       uint32_t sender_vip, uint32_t receiver_vip, DirectionKey* out) const;

 private:
  bool bind_ok_ = false;  // false if HKDF failed at construction: every Derive fails
  std::array<uint8_t, 32> bind_key_{};
  std::string network_;
};

// Certificate mode (docs/pki.md): no shared secret. The ephemeral keys are authenticated by the
// HELLO signatures of the two certified keys, and the data keys are bound to those keys:
//   bind = HKDF-SHA256(ikm = "ipop v2 bind", no salt,
//                      info = network || sender key id || receiver key id)
//   okm  = HKDF-SHA256(ikm = shared, salt = bind,
//                      info = "ipop v2 data" || network || sender public || receiver public
//                             || sender VIP || receiver VIP || sender key id || receiver key id)
// so a session key belongs to exactly the two certificates whose keys signed its ephemeral keys.
class CertKeySource final : public SessionKeySource {
 public:
  explicit CertKeySource(std::string_view network) : network_(network) {}
  // false also when either key id is missing (zeros): no session without both certificates.
  bool Derive(const SessionKeyInput& in, SessionKeys* out) const override;
  bool DeriveDirection(std::span<const uint8_t, kX25519KeySize> shared,
                       const PublicKey& sender_public, const PublicKey& receiver_public,
                       uint32_t sender_vip, uint32_t receiver_vip, const CertKeyId& sender_key_id,
                       const CertKeyId& receiver_key_id, DirectionKey* out) const;

 private:
  std::string network_;
};

}  // namespace ipop::cp
