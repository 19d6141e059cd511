// HELLOs in certificate mode (docs/pki.md, "HELLO and data sessions"): the tag is a 64-byte
// Ed25519 signature by the sender's certified node key over
//   "ipop hello v1" 0x00 || wire header || body || chain length (2) || chain
// and the sender's chain rides along (or is left out once the receiver holds it). The receiver
// verifies the chain against the network's roots, its revocations and its clock, then the
// signature with the certified key, and takes the sender VIP only if the certificate allows it:
// a node certified for 10.77.0.3 cannot speak as 10.77.0.2.
#pragma once

#include <optional>
#include <span>
#include <string>

#include "controlplane/identity/node_identity.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/sessions/hello_authenticator.h"

namespace ipop::cp {

// Why a certificate-mode HELLO was refused, beyond the layout checks of DecodeHello.
enum class CertHelloError : uint8_t {
  kOk,
  kNoChain,        // chain left out, and the receiver holds none for the sender VIP
  kBadChain,       // the chain bytes are no chain (DecodeChain)
  kChainRefused,   // the chain does not verify: see chain_error
  kVipNotAllowed,  // the certificate does not allow the sender VIP
  kBadSignature,   // the signature is not the certified key's
};

struct CertHelloVerdict {
  CertHelloError error = CertHelloError::kOk;
  identity::ChainError chain_error = identity::ChainError::kOk;
  std::optional<identity::Certificate> cert;  // the sender's, when ok
};

class CertHelloAuthenticator final : public HelloAuthenticator {
 public:
  CertHelloAuthenticator(const identity::NodeIdentity& identity, const Clock& clock)
      : identity_(identity), clock_(clock) {}

  size_t tag_size() const override { return identity::kSignatureSize; }
  bool carries_chain() const override { return true; }
  // Signs `message` (everything before the tag) with the node key.
  bool Sign(std::span<const uint8_t> message, std::span<uint8_t> tag) const override;
  // Always false: a signature can only be checked against a sender's certificate (VerifyHello).
  bool Verify(std::span<const uint8_t> message, std::span<const uint8_t> tag) const override;

  // `message` is everything before the tag, `chain` the chain it carries (empty: left out, then
  // `known_chain`, the chain accepted earlier from this VIP, is used; it is verified again, so
  // expiry and revocation count).
  CertHelloVerdict VerifyHello(std::span<const uint8_t> message, std::span<const uint8_t> chain,
                               std::span<const uint8_t> tag, uint32_t sender_vip,
                               std::span<const uint8_t> known_chain) const;
  // This node's chain in wire form, and its generation (a renewal changes it).
  const std::vector<uint8_t>& chain() const { return identity_.EncodedChain(); }
  uint64_t chain_generation() const { return identity_.chain_generation(); }
  const identity::NodeIdentity& identity() const { return identity_; }

 private:
  const identity::NodeIdentity& identity_;
  const Clock& clock_;
};

}  // namespace ipop::cp
