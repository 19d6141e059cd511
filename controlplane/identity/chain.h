// Chain verification: is this certificate, with these issuing CAs, vouched for by one of the
// network's trusted roots at time `now`? One function both ipop-cert verify and (later) the
// control plane call, so the rules live in one place (docs/pki.md, "Chains"):
//
//   * at most three certificates: root -> node, root -> issuing -> node or root -> issuing;
//     an issuing CA never signs another issuing CA (kTooDeep), a node key never signs
//     (kIssuerNotCa);
//   * each certificate is signed by the next one's key, and all name the expected network;
//   * a CA's VIP prefixes, subnets, multicast prefixes and groups bound what it signs, and a
//     certificate's validity lies within its issuer's;
//   * every certificate of the path is valid at `now` and none is revoked.
// Roots are trusted by configuration (the operator's CA file), never by what a peer sends.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "controlplane/identity/certificate.h"
#include "controlplane/identity/revocation.h"

namespace ipop::cp::identity {

inline constexpr size_t kMaxChainLength = 3;

enum class ChainError : uint8_t {
  kOk,
  kUnknownIssuer,   // no trusted root or given issuing CA has the issuer's key id
  kIssuerNotCa,     // the issuer found is a node certificate
  kTooDeep,         // an issuing CA signed by another issuing CA
  kRootNotTrusted,  // a root CA certificate that is not one of the trusted roots
  kWrongNetwork,    // a certificate of the path names another network than expected
  kBadSignature,
  kExceedsIssuer,   // a prefix, subnet, multicast prefix or group its issuer may not grant
  kOutlivesIssuer,  // validity reaches outside the issuer's
  kNotYetValid,
  kExpired,
  kRevoked,
  kNotANode,  // VerifyNodeChain: the leaf is a CA certificate
};
const char* ChainErrorText(ChainError e);

struct ChainResult {
  ChainError error = ChainError::kOk;
  // The path found so far, leaf first and root last when error is kOk; on an error, `failed` is
  // the certificate it concerns (a pointer into the caller's arguments).
  std::vector<const Certificate*> path;
  const Certificate* failed = nullptr;
  bool ok() const { return error == ChainError::kOk; }
};

// Whether `leaf` chains to one of `roots` through at most one of `issuing`, for `network`, at
// `now`, with none of the path in `revoked` (may be null). `roots` are root CA certificates the
// operator trusts; anything else in it is ignored.
ChainResult VerifyChain(const Certificate& leaf, std::span<const Certificate> issuing,
                        std::span<const Certificate> roots, std::string_view network, uint64_t now,
                        const RevocationList* revoked);

// VerifyChain, and the leaf must be a node certificate: what a node requires of its peers.
ChainResult VerifyNodeChain(const Certificate& leaf, std::span<const Certificate> issuing,
                            std::span<const Certificate> roots, std::string_view network,
                            uint64_t now, const RevocationList* revoked);

// Whether `root` can be a trust anchor: a root CA certificate whose self-signature verifies.
// Checked when the operator's CA file is loaded, so a damaged file is an error at once.
bool IsValidRoot(const Certificate& root);

// Whether `issuer` may grant what `subject` holds (lists and validity), ignoring signatures.
ChainError CheckScope(const Certificate& subject, const Certificate& issuer);

}  // namespace ipop::cp::identity
