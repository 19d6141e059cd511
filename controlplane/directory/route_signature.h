// Authorization of router-mode announcements (docs/operations.md, "Router mode"). A gateway with
// node.router-key-file signs each `routes:<network>` record with the network's router authority
// key (Ed25519, OpenSSL EVP); members with network.router-pubkey-file accept only records whose
// signature verifies. The signature covers the network name, prefix, length, via VIP and an
// expiry (wall-clock seconds), so a record can be replayed neither in another network nor for
// long. Without a public key configured members accept every well-formed record (open policy).
//
//   unsigned record (9 bytes):  prefix(4) length(1) via(4)                 big endian
//   signed record (81 bytes):   prefix(4) length(1) via(4) expiry(8) signature(64)
//   signed message:             "ipop route v1" 0x00 network 0x00 prefix length via expiry
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

typedef struct evp_pkey_st EVP_PKEY;

namespace ipop::cp {

inline constexpr size_t kRouteSignatureSize = 64;
inline constexpr size_t kUnsignedRouteSize = 9;
inline constexpr size_t kSignedRouteSize = kUnsignedRouteSize + 8 + kRouteSignatureSize;
// Signed expiries are rounded up to this period so a refresh (every 20 s) re-puts the same value
// and the DHT key does not fill with one value per refresh; they lie 240..360 s ahead.
inline constexpr uint64_t kRouteExpiryPeriodS = 120;
inline constexpr uint64_t kRouteMaxAheadS = 3 * kRouteExpiryPeriodS;
// Tolerated clock difference between gateway and member (NTP keeps them far closer).
inline constexpr uint64_t kRouteClockSkewS = 60;

struct RouteClaim {
  uint32_t prefix = 0;  // host order, masked to length
  uint8_t length = 0;   // 1..32
  uint32_t via = 0;     // the gateway's VIP
  uint64_t expiry_s = 0;
  bool operator==(const RouteClaim&) const = default;
};

struct RouteRecord {
  RouteClaim claim;  // expiry_s is 0 for an unsigned record
  bool is_signed = false;
  std::array<uint8_t, kRouteSignatureSize> signature{};
};

// nullopt for anything but the two layouts, a length outside 1..32, or a zero via.
std::optional<RouteRecord> DecodeRouteRecord(std::span<const uint8_t> value);
std::vector<uint8_t> EncodeUnsignedRoute(const RouteClaim& claim);
std::vector<uint8_t> EncodeSignedRoute(const RouteClaim& claim,
                                       std::span<const uint8_t, kRouteSignatureSize> signature);
// The expiry a gateway signs at wall-clock second `now_s`.
uint64_t RouteExpiryFor(uint64_t now_s);

// The gateway's private key (PEM, Ed25519).
class RouteSigner {
 public:
  static std::unique_ptr<RouteSigner> FromPem(std::string_view pem, std::string* error);
  static std::unique_ptr<RouteSigner> FromPemFile(const std::string& path, std::string* error);
  ~RouteSigner();
  RouteSigner(const RouteSigner&) = delete;
  RouteSigner& operator=(const RouteSigner&) = delete;
  // The record value for `claim` in `network`; empty if signing failed.
  std::vector<uint8_t> SignedRecord(const std::string& network, const RouteClaim& claim) const;

 private:
  explicit RouteSigner(EVP_PKEY* key) : key_(key) {}
  EVP_PKEY* key_;
};

// The network's router authority (PEM public key, Ed25519).
class RouteVerifier {
 public:
  static std::unique_ptr<RouteVerifier> FromPem(std::string_view pem, std::string* error);
  static std::unique_ptr<RouteVerifier> FromPemFile(const std::string& path, std::string* error);
  ~RouteVerifier();
  RouteVerifier(const RouteVerifier&) = delete;
  RouteVerifier& operator=(const RouteVerifier&) = delete;
  bool Verify(const std::string& network, const RouteClaim& claim,
              std::span<const uint8_t, kRouteSignatureSize> signature) const;

 private:
  explicit RouteVerifier(EVP_PKEY* key) : key_(key) {}
  EVP_PKEY* key_;
};

enum class RouteVerdict : uint8_t {
  kAccepted,
  kUnsigned,      // a verifier is configured and the record carries no signature
  kBadSignature,  // signature does not verify (other key, other network, altered fields)
  kExpired,       // expiry more than kRouteClockSkewS in the past
  kTooFarAhead,   // expiry beyond what a gateway signs (plus skew): a long-lived replay
};
const char* RouteVerdictName(RouteVerdict v);

// The policy: with `verifier` null every decoded record is accepted (open network).
RouteVerdict CheckRoute(const RouteRecord& record, const RouteVerifier* verifier,
                        const std::string& network, uint64_t now_s);

}  // namespace ipop::cp
