// IPOP certificates (docs/pki.md, "Certificate format"): a compact signed record binding an
// Ed25519 public key to a network, a name, and what the holder may claim there (VIP prefixes,
// subnets to announce, multicast groups, peer groups), for a validity period, signed by an issuer.
// Three usages form a chain of at most three: a self-signed root CA, issuing CAs signed by the
// root, and nodes signed by either. A CA's lists bound what it may sign (chain.h checks that).
//
// The encoding is canonical: DecodeCertificate accepts exactly what EncodeCertificate produces
// (every field checked, no slack bytes), so the signature covers every byte but its own and a
// certificate has one encoding. Times are Unix seconds; a certificate is valid for
// not_before <= now < not_after.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/identity/ed25519.h"

namespace ipop::cp::identity {

inline constexpr uint8_t kCertificateVersion = 1;
inline constexpr size_t kSerialSize = 16;
inline constexpr size_t kKeyIdSize = 16;
inline constexpr size_t kMaxNameLength = 32;  // node, CA and network names, as in the config
inline constexpr size_t kMaxGroupLength = 16;
inline constexpr size_t kMaxVipPrefixes = 4;
inline constexpr size_t kMaxSubnets = 8;
inline constexpr size_t kMaxMulticastPrefixes = 4;
inline constexpr size_t kMaxGroups = 8;
inline constexpr size_t kCertificateFixedSize = 84;  // version .. issuer key id
inline constexpr size_t kMaxCertificateSize =
    kCertificateFixedSize + 2 * (1 + kMaxNameLength) + (1 + 5 * kMaxVipPrefixes) +
    (1 + 5 * kMaxSubnets) + (1 + 5 * kMaxMulticastPrefixes) +
    (1 + kMaxGroups * (1 + kMaxGroupLength)) + kSignatureSize;
// The group name a CA lists to say "may sign any group"; never in a node certificate.
inline constexpr std::string_view kAnyGroup = "*";

using Serial = std::array<uint8_t, kSerialSize>;
using KeyId = std::array<uint8_t, kKeyIdSize>;

// 1..max_length characters of [A-Za-z0-9_-]: names of networks, nodes, CAs and groups.
bool IsValidName(std::string_view s, size_t max_length);

// First 16 bytes of SHA-256("ipop key id v1" || key): how certificates and revocations name keys.
KeyId KeyIdOf(const PublicKey& key);

// An IPv4 prefix in host order, host bits zero.
struct Prefix {
  uint32_t address = 0;
  uint8_t length = 0;  // 0..32
  bool Contains(uint32_t a) const;
  bool Covers(const Prefix& p) const;  // every address of p is in this prefix
  std::string ToString() const;        // "10.77.0.0/16", "10.77.0.3/32"
  bool operator==(const Prefix&) const = default;
};
// "a.b.c.d/len" with host bits zero, or "a.b.c.d" (a /32); nullopt otherwise.
std::optional<Prefix> ParsePrefix(std::string_view text);

enum class Usage : uint8_t { kRootCa = 1, kIssuingCa = 2, kNode = 3 };
const char* UsageName(Usage u);  // "root-ca", "issuing-ca", "node"

// Everything the issuer signs.
struct CertificateFields {
  Usage usage = Usage::kNode;
  Serial serial{};
  uint64_t not_before = 0;
  uint64_t not_after = 0;
  PublicKey public_key{};
  KeyId issuer{};  // key id of the signing key; a root's own
  std::string network;
  std::string name;
  std::vector<Prefix> vips;       // VIPs (/32) or pools the holder may claim
  std::vector<Prefix> subnets;    // prefixes it may announce (router mode)
  std::vector<Prefix> multicast;  // groups it may join, inside 224.0.0.0/4
  std::vector<std::string> groups;
  bool operator==(const CertificateFields&) const = default;
};

struct Certificate {
  CertificateFields fields;
  Signature signature{};

  bool IsCa() const { return fields.usage != Usage::kNode; }
  KeyId key_id() const { return KeyIdOf(fields.public_key); }
  bool ValidAt(uint64_t now) const { return fields.not_before <= now && now < fields.not_after; }
  // The permission checks the control plane makes on every claim (docs/pki.md).
  bool AllowsVip(uint32_t vip) const;
  bool AllowsSubnet(const Prefix& subnet) const;
  bool AllowsMulticast(uint32_t group) const;
  bool InGroup(std::string_view group) const;  // exact name; "*" is not a membership
};

enum class CertError : uint8_t {
  kOk,
  kTruncated,      // shorter than its fields say
  kTrailingBytes,  // longer than its fields say
  kBadVersion,     // a format version this code does not read
  kBadUsage,
  kBadFlags,  // reserved bits set
  kZeroSerial,
  kBadValidity,  // not_after <= not_before
  kBadNetwork,   // empty, too long, or characters outside [A-Za-z0-9_-]
  kBadName,
  kTooManyEntries,     // a list longer than its limit
  kBadPrefix,          // length > 32 or host bits set
  kBadMulticast,       // a multicast prefix outside 224.0.0.0/4
  kBadGroup,           // empty, too long, bad characters, duplicate, or "*" in a node certificate
  kRootNotSelfIssued,  // a root CA whose issuer key id is not its own
  kSigningFailed,
};
const char* CertErrorText(CertError e);

struct DecodedCertificate {
  std::optional<Certificate> cert;
  CertError error = CertError::kOk;
};

DecodedCertificate DecodeCertificate(std::span<const uint8_t> bytes);
std::vector<uint8_t> EncodeCertificate(const Certificate& cert);
// The exact bytes the signature covers: a context label, then the fields as encoded.
std::vector<uint8_t> CertificateSignedMessage(const CertificateFields& fields);
// kOk when `fields` can be encoded (the decoder's rules); the CLI reports the rest.
CertError CheckFields(const CertificateFields& fields);

struct SignedCertificate {
  std::optional<Certificate> cert;
  CertError error = CertError::kOk;
};
// `fields` signed with `issuer_key`; fields.issuer is set to that key's id here.
SignedCertificate SignCertificate(CertificateFields fields, const PrivateKey& issuer_key);

// The signature alone (chain.h adds usage, network, validity and scope).
bool SignatureVerifies(const Certificate& cert, const PublicKey& issuer_key);

}  // namespace ipop::cp::identity
