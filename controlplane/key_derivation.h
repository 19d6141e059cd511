// Session key schedule for the pre-shared-secret stopgap (docs/control-protocol.md).
//
// Each direction of a peer pair has its own key:
//   okm  = HKDF-SHA256(ikm  = network secret,
//                      salt = sender boot nonce || receiver boot nonce,
//                      info = "ipop v1 data" || network name || sender VIP || receiver VIP)
//   key  = okm[0..32), salt = okm[32..36)
// Fresh nonces on either side give fresh keys, so a dataplane whose counters restart never sees
// an old key again. The SessionKeySource interface is what a certificate + X25519 handshake
// replaces later; PeerSessions only asks it for the two direction keys.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ipop::cp {

inline constexpr size_t kNonceSize = 16;
using Nonce = std::array<uint8_t, kNonceSize>;

// RFC 5869 through OpenSSL EVP_KDF. false if libcrypto refuses (e.g. out.size() > 255 * 32).
bool HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                std::span<const uint8_t> info, std::span<uint8_t> out);

struct DirectionKey {
  uint8_t key[32] = {};
  uint8_t salt[4] = {};
  uint64_t key_id = 0;  // KeyIdOf(key, salt): changes exactly when the material changes
};

// First 8 bytes of SHA-256("ipop key id" || key || salt), never 0. A hash rather than a counter so
// a restarted control plane cannot hand out an id an inherited entry already uses for other keys.
uint64_t KeyIdOf(const uint8_t key[32], const uint8_t salt[4]);

struct SessionKeyInput {
  Nonce local_nonce{};
  Nonce peer_nonce{};
  uint32_t local_vip = 0;  // host order
  uint32_t peer_vip = 0;
};

struct SessionKeys {
  DirectionKey tx;  // local -> peer (sealed by our dataplane)
  DirectionKey rx;  // peer -> local (opened by our dataplane)
};

class SessionKeySource {
 public:
  virtual ~SessionKeySource() = default;
  virtual bool Derive(const SessionKeyInput& in, SessionKeys* out) const = 0;
};

// The network secret shared by all nodes of a network.
class PskKeySource final : public SessionKeySource {
 public:
  PskKeySource(const std::array<uint8_t, 32>& secret, std::string_view network);
  ~PskKeySource() override;
  bool Derive(const SessionKeyInput& in, SessionKeys* out) const override;
  // One direction, exposed for tests and documentation examples.
  bool DeriveDirection(const Nonce& sender_nonce, const Nonce& receiver_nonce, uint32_t sender_vip,
                       uint32_t receiver_vip, DirectionKey* out) const;

 private:
  std::array<uint8_t, 32> secret_;
  std::string network_;
};

}  // namespace ipop::cp
