#include "controlplane/identity/certificate.h"

#include <openssl/evp.h>

#include <algorithm>

#include "shared/byte_order.h"
#include "shared/endpoint.h"

namespace ipop::cp::identity {
namespace {

constexpr std::string_view kSignatureContext = "ipop certificate v1";
constexpr std::string_view kKeyIdContext = "ipop key id v1";
constexpr Prefix kMulticastSpace{0xe0000000u, 4};

uint32_t MaskOf(uint8_t length) {
  return length == 0 ? 0 : ~uint32_t{0} << (32 - length);
}

bool NameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool CanonicalPrefix(const Prefix& p) {
  return p.length <= 32 && (p.address & ~MaskOf(p.length)) == 0;
}

// Appends the fields in wire order (docs/pki.md). CheckFields has accepted them.
void AppendFields(const CertificateFields& f, std::vector<uint8_t>* out) {
  uint8_t fixed[kCertificateFixedSize] = {};
  fixed[0] = kCertificateVersion;
  fixed[1] = uint8_t(f.usage);
  std::copy(f.serial.begin(), f.serial.end(), fixed + 4);
  StoreBe64(fixed + 20, f.not_before);
  StoreBe64(fixed + 28, f.not_after);
  std::copy(f.public_key.begin(), f.public_key.end(), fixed + 36);
  std::copy(f.issuer.begin(), f.issuer.end(), fixed + 68);
  out->insert(out->end(), fixed, fixed + sizeof(fixed));
  for (const std::string* s : {&f.network, &f.name}) {
    out->push_back(uint8_t(s->size()));
    out->insert(out->end(), s->begin(), s->end());
  }
  for (const std::vector<Prefix>* list : {&f.vips, &f.subnets, &f.multicast}) {
    out->push_back(uint8_t(list->size()));
    for (const Prefix& p : *list) {
      uint8_t b[5];
      StoreBe32(b, p.address);
      b[4] = p.length;
      out->insert(out->end(), b, b + 5);
    }
  }
  out->push_back(uint8_t(f.groups.size()));
  for (const std::string& g : f.groups) {
    out->push_back(uint8_t(g.size()));
    out->insert(out->end(), g.begin(), g.end());
  }
}

// A bounds-checked reader over the certificate bytes.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  bool Take(size_t n, const uint8_t** p) {
    if (b_.size() - pos_ < n) return false;
    *p = b_.data() + pos_;
    pos_ += n;
    return true;
  }
  bool Byte(uint8_t* v) {
    const uint8_t* p;
    if (!Take(1, &p)) return false;
    *v = *p;
    return true;
  }
  bool String(std::string* s) {
    uint8_t n;
    const uint8_t* p;
    if (!Byte(&n) || !Take(n, &p)) return false;
    s->assign(reinterpret_cast<const char*>(p), n);
    return true;
  }
  size_t remaining() const { return b_.size() - pos_; }

 private:
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

// kTruncated, kTooManyEntries or kOk.
CertError ReadPrefixes(Reader* r, size_t max, std::vector<Prefix>* out) {
  uint8_t count;
  if (!r->Byte(&count)) return CertError::kTruncated;
  if (count > max) return CertError::kTooManyEntries;
  for (uint8_t i = 0; i < count; ++i) {
    const uint8_t* p;
    if (!r->Take(5, &p)) return CertError::kTruncated;
    out->push_back(Prefix{LoadBe32(p), p[4]});
  }
  return CertError::kOk;
}

}  // namespace

bool IsValidName(std::string_view s, size_t max_length) {
  return !s.empty() && s.size() <= max_length && std::all_of(s.begin(), s.end(), NameChar);
}

KeyId KeyIdOf(const PublicKey& key) {
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, kKeyIdContext.data(), kKeyIdContext.size()) == 1 &&
                  EVP_DigestUpdate(ctx, key.data(), key.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len >= kKeyIdSize;
  EVP_MD_CTX_free(ctx);
  KeyId id{};
  if (ok) std::copy(digest, digest + kKeyIdSize, id.begin());
  return id;
}

bool Prefix::Contains(uint32_t a) const {
  return (a & MaskOf(length)) == address;
}

bool Prefix::Covers(const Prefix& p) const {
  return p.length >= length && Contains(p.address);
}

std::string Prefix::ToString() const {
  return FormatIpv4(address) + "/" + std::to_string(length);
}

std::optional<Prefix> ParsePrefix(std::string_view text) {
  const size_t slash = text.find('/');
  const std::optional<uint32_t> addr = ParseIpv4(std::string(text.substr(0, slash)));
  if (!addr) return std::nullopt;
  Prefix p{*addr, 32};
  if (slash != std::string_view::npos) {
    const std::string_view len = text.substr(slash + 1);
    if (len.empty() || len.size() > 2 ||
        !std::all_of(len.begin(), len.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    const int n = std::stoi(std::string(len));
    if (n > 32) return std::nullopt;
    p.length = uint8_t(n);
  }
  if (!CanonicalPrefix(p)) return std::nullopt;
  return p;
}

const char* UsageName(Usage u) {
  switch (u) {
    case Usage::kRootCa:
      return "root-ca";
    case Usage::kIssuingCa:
      return "issuing-ca";
    case Usage::kNode:
      return "node";
  }
  return "?";
}

bool Certificate::AllowsVip(uint32_t vip) const {
  return std::any_of(fields.vips.begin(), fields.vips.end(),
                     [&](const Prefix& p) { return p.Contains(vip); });
}

bool Certificate::AllowsSubnet(const Prefix& subnet) const {
  return std::any_of(fields.subnets.begin(), fields.subnets.end(),
                     [&](const Prefix& p) { return p.Covers(subnet); });
}

bool Certificate::AllowsMulticast(uint32_t group) const {
  return std::any_of(fields.multicast.begin(), fields.multicast.end(),
                     [&](const Prefix& p) { return p.Contains(group); });
}

bool Certificate::InGroup(std::string_view group) const {
  return group != kAnyGroup &&
         std::find(fields.groups.begin(), fields.groups.end(), group) != fields.groups.end();
}

const char* CertErrorText(CertError e) {
  switch (e) {
    case CertError::kOk:
      return "ok";
    case CertError::kTruncated:
      return "truncated certificate";
    case CertError::kTrailingBytes:
      return "bytes after the signature";
    case CertError::kBadVersion:
      return "unsupported certificate format version";
    case CertError::kBadUsage:
      return "unknown key usage";
    case CertError::kBadFlags:
      return "reserved flags set";
    case CertError::kZeroSerial:
      return "zero serial";
    case CertError::kBadValidity:
      return "not-after is not later than not-before";
    case CertError::kBadNetwork:
      return "network name is not 1..32 of A-Z a-z 0-9 _ -";
    case CertError::kBadName:
      return "name is not 1..32 of A-Z a-z 0-9 _ -";
    case CertError::kTooManyEntries:
      return "too many VIP prefixes, subnets, multicast prefixes or groups";
    case CertError::kBadPrefix:
      return "a prefix with a length above 32 or host bits set";
    case CertError::kBadMulticast:
      return "a multicast prefix outside 224.0.0.0/4";
    case CertError::kBadGroup:
      return "a group name that is not 1..16 of A-Z a-z 0-9 _ -, a duplicate, or '*' in a node "
             "certificate";
    case CertError::kRootNotSelfIssued:
      return "a root CA certificate must be issued by its own key";
    case CertError::kSigningFailed:
      return "signing failed";
  }
  return "?";
}

CertError CheckFields(const CertificateFields& f) {
  if (f.usage != Usage::kRootCa && f.usage != Usage::kIssuingCa && f.usage != Usage::kNode)
    return CertError::kBadUsage;
  if (std::all_of(f.serial.begin(), f.serial.end(), [](uint8_t b) { return b == 0; }))
    return CertError::kZeroSerial;
  if (f.not_after <= f.not_before) return CertError::kBadValidity;
  if (!IsValidName(f.network, kMaxNameLength)) return CertError::kBadNetwork;
  if (!IsValidName(f.name, kMaxNameLength)) return CertError::kBadName;
  if (f.vips.size() > kMaxVipPrefixes || f.subnets.size() > kMaxSubnets ||
      f.multicast.size() > kMaxMulticastPrefixes || f.groups.size() > kMaxGroups)
    return CertError::kTooManyEntries;
  for (const std::vector<Prefix>* list : {&f.vips, &f.subnets, &f.multicast})
    for (const Prefix& p : *list)
      if (!CanonicalPrefix(p)) return CertError::kBadPrefix;
  for (const Prefix& p : f.multicast)
    if (!kMulticastSpace.Covers(p)) return CertError::kBadMulticast;
  for (size_t i = 0; i < f.groups.size(); ++i) {
    const std::string& g = f.groups[i];
    const bool wildcard = g == kAnyGroup && f.usage != Usage::kNode;
    if (!wildcard && !IsValidName(g, kMaxGroupLength)) return CertError::kBadGroup;
    if (std::find(f.groups.begin(), f.groups.begin() + i, g) != f.groups.begin() + i)
      return CertError::kBadGroup;
  }
  if (f.usage == Usage::kRootCa && f.issuer != KeyIdOf(f.public_key))
    return CertError::kRootNotSelfIssued;
  return CertError::kOk;
}

std::vector<uint8_t> CertificateSignedMessage(const CertificateFields& fields) {
  std::vector<uint8_t> m(kSignatureContext.begin(), kSignatureContext.end());
  m.push_back(0);
  AppendFields(fields, &m);
  return m;
}

std::vector<uint8_t> EncodeCertificate(const Certificate& cert) {
  std::vector<uint8_t> out;
  out.reserve(kMaxCertificateSize);
  AppendFields(cert.fields, &out);
  out.insert(out.end(), cert.signature.begin(), cert.signature.end());
  return out;
}

DecodedCertificate DecodeCertificate(std::span<const uint8_t> bytes) {
  DecodedCertificate out;
  auto fail = [&](CertError e) {
    out.error = e;
    return out;
  };
  if (bytes.size() > kMaxCertificateSize) return fail(CertError::kTrailingBytes);
  Reader r(bytes);
  const uint8_t* fixed;
  if (!r.Take(kCertificateFixedSize, &fixed)) return fail(CertError::kTruncated);
  // Version first: a later format may lay out everything after it differently.
  if (fixed[0] != kCertificateVersion) return fail(CertError::kBadVersion);
  if (fixed[2] != 0 || fixed[3] != 0) return fail(CertError::kBadFlags);
  Certificate c;
  CertificateFields& f = c.fields;
  f.usage = Usage(fixed[1]);
  std::copy(fixed + 4, fixed + 20, f.serial.begin());
  f.not_before = LoadBe64(fixed + 20);
  f.not_after = LoadBe64(fixed + 28);
  std::copy(fixed + 36, fixed + 68, f.public_key.begin());
  std::copy(fixed + 68, fixed + 84, f.issuer.begin());
  if (!r.String(&f.network) || !r.String(&f.name)) return fail(CertError::kTruncated);
  for (auto [list, max] : {std::pair{&f.vips, kMaxVipPrefixes}, std::pair{&f.subnets, kMaxSubnets},
                           std::pair{&f.multicast, kMaxMulticastPrefixes}}) {
    const CertError e = ReadPrefixes(&r, max, list);
    if (e != CertError::kOk) return fail(e);
  }
  uint8_t groups;
  if (!r.Byte(&groups)) return fail(CertError::kTruncated);
  if (groups > kMaxGroups) return fail(CertError::kTooManyEntries);
  for (uint8_t i = 0; i < groups; ++i) {
    std::string g;
    if (!r.String(&g)) return fail(CertError::kTruncated);
    f.groups.push_back(std::move(g));
  }
  const uint8_t* sig;
  if (!r.Take(kSignatureSize, &sig)) return fail(CertError::kTruncated);
  if (r.remaining() != 0) return fail(CertError::kTrailingBytes);
  std::copy(sig, sig + kSignatureSize, c.signature.begin());
  const CertError e = CheckFields(f);
  if (e != CertError::kOk) return fail(e);
  out.cert = std::move(c);
  return out;
}

SignedCertificate SignCertificate(CertificateFields fields, const PrivateKey& issuer_key) {
  SignedCertificate out;
  fields.issuer = KeyIdOf(issuer_key.public_key());
  out.error = CheckFields(fields);
  if (out.error != CertError::kOk) return out;
  Certificate c;
  c.signature = issuer_key.Sign(CertificateSignedMessage(fields));
  c.fields = std::move(fields);
  if (!SignatureVerifies(c, issuer_key.public_key())) {
    out.error = CertError::kSigningFailed;
    return out;
  }
  out.cert = std::move(c);
  return out;
}

bool SignatureVerifies(const Certificate& cert, const PublicKey& issuer_key) {
  return VerifySignature(issuer_key, CertificateSignedMessage(cert.fields), cert.signature);
}

}  // namespace ipop::cp::identity
