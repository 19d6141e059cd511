// Revocations (docs/pki.md, "Revocation format"): a CA-signed statement "the certificate with this
// serial from this issuer is revoked", carrying the revoked certificate's not-after so every node
// knows how long to remember it (after that the certificate is refused as expired anyway).
// Signed by the revoked certificate's issuer or by the network's root CA. Canonical encoding, as
// for certificates.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/identity/certificate.h"

namespace ipop::cp::identity {

inline constexpr uint8_t kRevocationVersion = 1;
inline constexpr size_t kRevocationFixedSize = 84;
inline constexpr size_t kMaxRevocationSize =
    kRevocationFixedSize + 1 + kMaxNameLength + kSignatureSize;

struct RevocationFields {
  Serial serial{};          // of the revoked certificate
  KeyId issuer{};           // the revoked certificate's issuer
  KeyId subject{};          // the revoked certificate's key (to find its sessions and links)
  uint64_t revoked_at = 0;  // when the CA revoked it (Unix s; informative)
  uint64_t until = 0;       // the revoked certificate's not-after: remember it until then
  KeyId signer{};           // the key that signed this revocation
  std::string network;
  bool operator==(const RevocationFields&) const = default;
};

struct Revocation {
  RevocationFields fields;
  Signature signature{};
  // True while the revoked certificate could still be valid, i.e. must be remembered.
  bool LiveAt(uint64_t now) const { return now < fields.until; }
  bool Matches(const Certificate& cert) const {
    return cert.fields.serial == fields.serial && cert.fields.issuer == fields.issuer;
  }
};

enum class RevocationError : uint8_t {
  kOk,
  kTruncated,
  kTrailingBytes,
  kBadVersion,
  kBadFlags,
  kZeroSerial,
  kBadNetwork,
  kSignerNotCa,     // the signing certificate is a node's
  kSignerMismatch,  // the signing certificate's key is not the one named as signer
  kWrongNetwork,    // revocation, signer and expected network differ
  kNotTheIssuer,    // an issuing CA revoking a certificate it did not issue
  kBadSignature,
  kSigningFailed,
};
const char* RevocationErrorText(RevocationError e);

struct DecodedRevocation {
  std::optional<Revocation> revocation;
  RevocationError error = RevocationError::kOk;
};
DecodedRevocation DecodeRevocation(std::span<const uint8_t> bytes);
std::vector<uint8_t> EncodeRevocation(const Revocation& r);

struct SignedRevocation {
  std::optional<Revocation> revocation;
  RevocationError error = RevocationError::kOk;
};
// The revocation of `cert`, signed by `signer_key` whose certificate is `signer_cert` (the cert's
// issuer or the root): the same checks VerifyRevocation makes, before signing.
SignedRevocation RevokeCertificate(const Certificate& cert, const Certificate& signer_cert,
                                   const PrivateKey& signer_key, uint64_t now);

// Whether `r` is a valid revocation by `signer` for `network`. The caller has established that
// `signer` is trusted: the network's root, or an issuing CA whose chain verified.
RevocationError VerifyRevocation(const Revocation& r, const Certificate& signer,
                                 std::string_view network);

// The revocations a node remembers: verified entries keyed by (issuer, serial), each dropped once
// its certificate would have expired. Bounded: Add refuses beyond kMaxEntries.
class RevocationList {
 public:
  static constexpr size_t kMaxEntries = 65536;
  enum class AddResult : uint8_t { kAdded, kKnown, kExpired, kFull };
  // `r` must have passed VerifyRevocation.
  AddResult Add(const Revocation& r, uint64_t now);
  bool IsRevoked(const Certificate& cert) const;
  // Forgets entries whose certificates have expired by `now`; returns how many.
  size_t Expire(uint64_t now);
  size_t size() const { return entries_.size(); }
  // Whether a live entry revokes a certificate of key `subject` (an issuing CA's revocation
  // takes out the nodes it signed: their issuer key id is its subject).
  bool RevokesKey(const KeyId& subject) const;
  // Every entry, ordered by (issuer, serial): what is persisted, flooded and digested.
  const std::map<std::pair<KeyId, Serial>, Revocation>& entries() const { return entries_; }

 private:
  std::map<std::pair<KeyId, Serial>, Revocation> entries_;
};

}  // namespace ipop::cp::identity
