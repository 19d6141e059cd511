#include "controlplane/identity/revocation.h"

#include <algorithm>

#include "shared/byte_order.h"

namespace ipop::cp::identity {
namespace {

constexpr std::string_view kSignatureContext = "ipop revocation v1";

RevocationError CheckFields(const RevocationFields& f) {
  if (std::all_of(f.serial.begin(), f.serial.end(), [](uint8_t b) { return b == 0; }))
    return RevocationError::kZeroSerial;
  if (!IsValidName(f.network, kMaxNameLength)) return RevocationError::kBadNetwork;
  return RevocationError::kOk;
}

void AppendFields(const RevocationFields& f, std::vector<uint8_t>* out) {
  uint8_t fixed[kRevocationFixedSize] = {};
  fixed[0] = kRevocationVersion;
  std::copy(f.serial.begin(), f.serial.end(), fixed + 4);
  std::copy(f.issuer.begin(), f.issuer.end(), fixed + 20);
  std::copy(f.subject.begin(), f.subject.end(), fixed + 36);
  StoreBe64(fixed + 52, f.revoked_at);
  StoreBe64(fixed + 60, f.until);
  std::copy(f.signer.begin(), f.signer.end(), fixed + 68);
  out->insert(out->end(), fixed, fixed + sizeof(fixed));
  out->push_back(uint8_t(f.network.size()));
  out->insert(out->end(), f.network.begin(), f.network.end());
}

std::vector<uint8_t> SignedMessage(const RevocationFields& f) {
  std::vector<uint8_t> m(kSignatureContext.begin(), kSignatureContext.end());
  m.push_back(0);
  AppendFields(f, &m);
  return m;
}

}  // namespace

const char* RevocationErrorText(RevocationError e) {
  switch (e) {
    case RevocationError::kOk:
      return "ok";
    case RevocationError::kTruncated:
      return "truncated revocation";
    case RevocationError::kTrailingBytes:
      return "bytes after the signature";
    case RevocationError::kBadVersion:
      return "unsupported revocation format version";
    case RevocationError::kBadFlags:
      return "reserved bytes set";
    case RevocationError::kZeroSerial:
      return "zero serial";
    case RevocationError::kBadNetwork:
      return "network name is not 1..32 of A-Z a-z 0-9 _ -";
    case RevocationError::kSignerNotCa:
      return "signed by a certificate that is not a CA";
    case RevocationError::kSignerMismatch:
      return "not signed by the given CA (signer key id differs)";
    case RevocationError::kWrongNetwork:
      return "for another network";
    case RevocationError::kNotTheIssuer:
      return "an issuing CA may revoke only certificates it issued";
    case RevocationError::kBadSignature:
      return "signature does not verify";
    case RevocationError::kSigningFailed:
      return "signing failed";
  }
  return "?";
}

std::vector<uint8_t> EncodeRevocation(const Revocation& r) {
  std::vector<uint8_t> out;
  out.reserve(kMaxRevocationSize);
  AppendFields(r.fields, &out);
  out.insert(out.end(), r.signature.begin(), r.signature.end());
  return out;
}

DecodedRevocation DecodeRevocation(std::span<const uint8_t> b) {
  DecodedRevocation out;
  auto fail = [&](RevocationError e) {
    out.error = e;
    return out;
  };
  if (b.size() < kRevocationFixedSize + 1) return fail(RevocationError::kTruncated);
  if (b[0] != kRevocationVersion) return fail(RevocationError::kBadVersion);
  if (b[1] != 0 || b[2] != 0 || b[3] != 0) return fail(RevocationError::kBadFlags);
  const size_t net_len = b[kRevocationFixedSize];
  const size_t total = kRevocationFixedSize + 1 + net_len + kSignatureSize;
  if (b.size() < total) return fail(RevocationError::kTruncated);
  if (b.size() > total) return fail(RevocationError::kTrailingBytes);
  Revocation r;
  RevocationFields& f = r.fields;
  std::copy(b.begin() + 4, b.begin() + 20, f.serial.begin());
  std::copy(b.begin() + 20, b.begin() + 36, f.issuer.begin());
  std::copy(b.begin() + 36, b.begin() + 52, f.subject.begin());
  f.revoked_at = LoadBe64(b.data() + 52);
  f.until = LoadBe64(b.data() + 60);
  std::copy(b.begin() + 68, b.begin() + 84, f.signer.begin());
  const uint8_t* net = b.data() + kRevocationFixedSize + 1;
  f.network.assign(reinterpret_cast<const char*>(net), net_len);
  std::copy(net + net_len, net + net_len + kSignatureSize, r.signature.begin());
  const RevocationError e = CheckFields(f);
  if (e != RevocationError::kOk) return fail(e);
  out.revocation = std::move(r);
  return out;
}

RevocationError VerifyRevocation(const Revocation& r, const Certificate& signer,
                                 std::string_view network) {
  if (!signer.IsCa()) return RevocationError::kSignerNotCa;
  if (signer.key_id() != r.fields.signer) return RevocationError::kSignerMismatch;
  if (r.fields.network != network || signer.fields.network != network)
    return RevocationError::kWrongNetwork;
  // The root may revoke anything of its network; an issuing CA only what it signed itself.
  if (signer.fields.usage == Usage::kIssuingCa && r.fields.issuer != r.fields.signer)
    return RevocationError::kNotTheIssuer;
  if (!VerifySignature(signer.fields.public_key, SignedMessage(r.fields), r.signature))
    return RevocationError::kBadSignature;
  return RevocationError::kOk;
}

SignedRevocation RevokeCertificate(const Certificate& cert, const Certificate& signer_cert,
                                   const PrivateKey& signer_key, uint64_t now) {
  SignedRevocation out;
  if (signer_key.public_key() != signer_cert.fields.public_key) {
    out.error = RevocationError::kSignerMismatch;
    return out;
  }
  Revocation r;
  r.fields.serial = cert.fields.serial;
  r.fields.issuer = cert.fields.issuer;
  r.fields.subject = cert.key_id();
  r.fields.revoked_at = now;
  r.fields.until = cert.fields.not_after;
  r.fields.signer = signer_cert.key_id();
  r.fields.network = cert.fields.network;
  out.error = CheckFields(r.fields);
  if (out.error != RevocationError::kOk) return out;
  r.signature = signer_key.Sign(SignedMessage(r.fields));
  out.error = VerifyRevocation(r, signer_cert, cert.fields.network);
  if (out.error == RevocationError::kBadSignature) out.error = RevocationError::kSigningFailed;
  if (out.error == RevocationError::kOk) out.revocation = std::move(r);
  return out;
}

RevocationList::AddResult RevocationList::Add(const Revocation& r, uint64_t now) {
  if (!r.LiveAt(now)) return AddResult::kExpired;
  const auto key = std::make_pair(r.fields.issuer, r.fields.serial);
  if (entries_.count(key) != 0) return AddResult::kKnown;
  if (entries_.size() >= kMaxEntries) return AddResult::kFull;
  entries_.emplace(key, r);
  return AddResult::kAdded;
}

bool RevocationList::IsRevoked(const Certificate& cert) const {
  return entries_.count(std::make_pair(cert.fields.issuer, cert.fields.serial)) != 0;
}

bool RevocationList::RevokesKey(const KeyId& subject) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const auto& e) { return e.second.fields.subject == subject; });
}

size_t RevocationList::Expire(uint64_t now) {
  return std::erase_if(entries_, [now](const auto& e) { return !e.second.LiveAt(now); });
}

}  // namespace ipop::cp::identity
