// Who may speak the HELLO protocol. In PSK mode: anyone holding the network's pre-shared secret
// (HMAC-SHA256, truncated). In certificate mode: a node whose certificate allows its VIP
// (cert_hello_authenticator.h). The HELLO codec asks for a tag of tag_size() bytes over the
// message.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

typedef struct evp_mac_ctx_st EVP_MAC_CTX;

namespace ipop::cp {

inline constexpr size_t kMaxHelloTagSize = 64;

class HelloAuthenticator {
 public:
  virtual ~HelloAuthenticator() = default;
  virtual size_t tag_size() const = 0;  // 1..kMaxHelloTagSize
  // Writes tag_size() bytes. false if the tag could not be computed (the HELLO is not sent).
  virtual bool Sign(std::span<const uint8_t> message, std::span<uint8_t> tag) const = 0;
  // Constant-time check of a tag of tag_size() bytes.
  virtual bool Verify(std::span<const uint8_t> message, std::span<const uint8_t> tag) const = 0;
  // Certificate mode (CertHelloAuthenticator): HELLOs carry the sender's chain before the tag,
  // and the tag can only be checked against the sender's certificate (DecodeCertHello).
  virtual bool carries_chain() const { return false; }
};

// tag = HMAC-SHA256(hello_key, message)[0..16), hello_key = HKDF-SHA256(secret, no salt,
// "ipop v1 hello" || network). A separate key keeps HELLO tags and data keys independent.
class PskHelloAuthenticator final : public HelloAuthenticator {
 public:
  static constexpr size_t kTagSize = 16;
  PskHelloAuthenticator(const std::array<uint8_t, 32>& secret, std::string_view network);
  ~PskHelloAuthenticator() override;
  PskHelloAuthenticator(const PskHelloAuthenticator&) = delete;
  PskHelloAuthenticator& operator=(const PskHelloAuthenticator&) = delete;

  size_t tag_size() const override { return kTagSize; }
  bool Sign(std::span<const uint8_t> message, std::span<uint8_t> tag) const override;
  bool Verify(std::span<const uint8_t> message, std::span<const uint8_t> tag) const override;

 private:
  bool Mac(std::span<const uint8_t> message, uint8_t out[32]) const;
  EVP_MAC_CTX* keyed_ = nullptr;  // HMAC context holding the key; duplicated per message
};

}  // namespace ipop::cp
