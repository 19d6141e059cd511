#include "controlplane/directory/route_signature.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "shared/byte_order.h"
#include "shared/credential_file.h"

namespace ipop::cp {
namespace {

constexpr std::string_view kContext = "ipop route v1";

std::vector<uint8_t> SignedMessage(const std::string& network, const RouteClaim& c) {
  std::vector<uint8_t> m(kContext.begin(), kContext.end());
  m.push_back(0);
  m.insert(m.end(), network.begin(), network.end());
  m.push_back(0);
  uint8_t fields[kUnsignedRouteSize + 8];
  StoreBe32(fields, c.prefix);
  fields[4] = c.length;
  StoreBe32(fields + 5, c.via);
  StoreBe32(fields + 9, uint32_t(c.expiry_s >> 32));
  StoreBe32(fields + 13, uint32_t(c.expiry_s));
  m.insert(m.end(), fields, fields + sizeof(fields));
  return m;
}

// PEM text -> Ed25519 key (private or public), or null with *error set.
EVP_PKEY* ReadKey(std::string_view pem, bool private_key, std::string* error) {
  BIO* bio = BIO_new_mem_buf(pem.data(), int(pem.size()));
  if (bio == nullptr) {
    *error = "out of memory";
    return nullptr;
  }
  EVP_PKEY* key = private_key ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr)
                              : PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) {
    *error = private_key ? "not a PEM private key (create one with: openssl genpkey -algorithm "
                           "ed25519 -out router.key)"
                         : "not a PEM public key (create it with: openssl pkey -in router.key "
                           "-pubout -out router.pub)";
    return nullptr;
  }
  if (EVP_PKEY_id(key) != EVP_PKEY_ED25519) {
    EVP_PKEY_free(key);
    *error = "the key is not an Ed25519 key (openssl genpkey -algorithm ed25519)";
    return nullptr;
  }
  return key;
}

bool ReadFile(const std::string& path, std::string* text, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot read " + path;
    return false;
  }
  std::ostringstream s;
  s << in.rdbuf();
  *text = s.str();
  if (text->size() > 64 * 1024) {
    *error = path + " is too large for a key file";
    return false;
  }
  return true;
}

}  // namespace

std::optional<RouteRecord> DecodeRouteRecord(std::span<const uint8_t> value) {
  if (value.size() != kUnsignedRouteSize && value.size() != kSignedRouteSize) return std::nullopt;
  RouteRecord r;
  r.claim.length = value[4];
  if (r.claim.length == 0 || r.claim.length > 32) return std::nullopt;
  r.claim.prefix = LoadBe32(value.data()) & (~uint32_t{0} << (32 - r.claim.length));
  r.claim.via = LoadBe32(value.data() + 5);
  if (r.claim.via == 0) return std::nullopt;
  if (value.size() == kSignedRouteSize) {
    r.is_signed = true;
    r.claim.expiry_s = uint64_t{LoadBe32(value.data() + 9)} << 32 | LoadBe32(value.data() + 13);
    std::copy(value.begin() + 17, value.end(), r.signature.begin());
  }
  return r;
}

std::vector<uint8_t> EncodeUnsignedRoute(const RouteClaim& c) {
  std::vector<uint8_t> v(kUnsignedRouteSize);
  StoreBe32(v.data(), c.prefix);
  v[4] = c.length;
  StoreBe32(v.data() + 5, c.via);
  return v;
}

std::vector<uint8_t> EncodeSignedRoute(const RouteClaim& c,
                                       std::span<const uint8_t, kRouteSignatureSize> signature) {
  std::vector<uint8_t> v = EncodeUnsignedRoute(c);
  v.resize(kSignedRouteSize);
  StoreBe32(v.data() + 9, uint32_t(c.expiry_s >> 32));
  StoreBe32(v.data() + 13, uint32_t(c.expiry_s));
  std::copy(signature.begin(), signature.end(), v.begin() + 17);
  return v;
}

uint64_t RouteExpiryFor(uint64_t now_s) {
  return (now_s / kRouteExpiryPeriodS + 3) * kRouteExpiryPeriodS;
}

std::unique_ptr<RouteSigner> RouteSigner::FromPem(std::string_view pem, std::string* error) {
  EVP_PKEY* key = ReadKey(pem, true, error);
  return key ? std::unique_ptr<RouteSigner>(new RouteSigner(key)) : nullptr;
}

std::unique_ptr<RouteSigner> RouteSigner::FromPemFile(const std::string& path, std::string* error) {
  // A private key: refused if another user could read or replace it.
  const CredentialFile file = ReadCredentialFile(path, kMaxKeyFileBytes);
  if (!file.error.empty()) {
    *error = file.error;
    return nullptr;
  }
  auto signer = FromPem(file.text, error);
  if (!signer) *error = path + ": " + *error;
  return signer;
}

RouteSigner::~RouteSigner() {
  EVP_PKEY_free(key_);
}

std::vector<uint8_t> RouteSigner::SignedRecord(const std::string& network,
                                               const RouteClaim& claim) const {
  const std::vector<uint8_t> msg = SignedMessage(network, claim);
  std::array<uint8_t, kRouteSignatureSize> sig{};
  size_t sig_len = sig.size();
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
                  EVP_DigestSign(ctx, sig.data(), &sig_len, msg.data(), msg.size()) == 1 &&
                  sig_len == sig.size();
  EVP_MD_CTX_free(ctx);
  if (!ok) return {};
  return EncodeSignedRoute(claim, sig);
}

std::unique_ptr<RouteVerifier> RouteVerifier::FromPem(std::string_view pem, std::string* error) {
  EVP_PKEY* key = ReadKey(pem, false, error);
  return key ? std::unique_ptr<RouteVerifier>(new RouteVerifier(key)) : nullptr;
}

std::unique_ptr<RouteVerifier> RouteVerifier::FromPemFile(const std::string& path,
                                                          std::string* error) {
  std::string text;
  if (!ReadFile(path, &text, error)) return nullptr;
  auto verifier = FromPem(text, error);
  if (!verifier) *error = path + ": " + *error;
  return verifier;
}

RouteVerifier::~RouteVerifier() {
  EVP_PKEY_free(key_);
}

bool RouteVerifier::Verify(const std::string& network, const RouteClaim& claim,
                           std::span<const uint8_t, kRouteSignatureSize> signature) const {
  const std::vector<uint8_t> msg = SignedMessage(network, claim);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok =
      ctx != nullptr && EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, key_) == 1 &&
      EVP_DigestVerify(ctx, signature.data(), signature.size(), msg.data(), msg.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

const char* RouteVerdictName(RouteVerdict v) {
  switch (v) {
    case RouteVerdict::kAccepted:
      return "accepted";
    case RouteVerdict::kUnsigned:
      return "unsigned";
    case RouteVerdict::kBadSignature:
      return "bad signature";
    case RouteVerdict::kExpired:
      return "expired";
    case RouteVerdict::kTooFarAhead:
      return "expiry too far ahead";
  }
  return "?";
}

RouteVerdict CheckRoute(const RouteRecord& record, const RouteVerifier* verifier,
                        const std::string& network, uint64_t now_s) {
  if (verifier == nullptr) return RouteVerdict::kAccepted;
  if (!record.is_signed) return RouteVerdict::kUnsigned;
  // Times first: cheap, and a stale record is rejected whoever signed it.
  if (record.claim.expiry_s + kRouteClockSkewS <= now_s) return RouteVerdict::kExpired;
  if (record.claim.expiry_s > now_s + kRouteMaxAheadS + kRouteClockSkewS)
    return RouteVerdict::kTooFarAhead;
  if (!verifier->Verify(network, record.claim, record.signature))
    return RouteVerdict::kBadSignature;
  return RouteVerdict::kAccepted;
}

}  // namespace ipop::cp
