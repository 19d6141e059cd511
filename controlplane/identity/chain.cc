#include "controlplane/identity/chain.h"

#include <algorithm>

namespace ipop::cp::identity {
namespace {

bool Covered(const std::vector<Prefix>& subject, const std::vector<Prefix>& issuer) {
  return std::all_of(subject.begin(), subject.end(), [&](const Prefix& p) {
    return std::any_of(issuer.begin(), issuer.end(), [&](const Prefix& q) { return q.Covers(p); });
  });
}

bool GroupsCovered(const std::vector<std::string>& subject,
                   const std::vector<std::string>& issuer) {
  if (std::find(issuer.begin(), issuer.end(), kAnyGroup) != issuer.end()) return true;
  return std::all_of(subject.begin(), subject.end(), [&](const std::string& g) {
    return std::find(issuer.begin(), issuer.end(), g) != issuer.end();
  });
}

bool SameBytes(const Certificate& a, const Certificate& b) {
  return a.fields == b.fields && a.signature == b.signature;
}

// The one certificate of `set` whose key signed `child`, or null. Several certificates may carry
// the same key (a CA renewed with a new validity): the first whose signature verifies wins.
const Certificate* FindIssuer(const Certificate& child, std::span<const Certificate> set,
                              bool* key_seen) {
  for (const Certificate& c : set) {
    if (c.key_id() != child.fields.issuer) continue;
    *key_seen = true;
    if (SignatureVerifies(child, c.fields.public_key)) return &c;
  }
  return nullptr;
}

ChainResult Fail(ChainResult r, ChainError e, const Certificate* at) {
  r.error = e;
  r.failed = at;
  return r;
}

}  // namespace

const char* ChainErrorText(ChainError e) {
  switch (e) {
    case ChainError::kOk:
      return "ok";
    case ChainError::kUnknownIssuer:
      return "issued by a key that is neither a trusted root nor a given issuing CA";
    case ChainError::kIssuerNotCa:
      return "issued by a key whose certificate is not a CA";
    case ChainError::kTooDeep:
      return "chain too deep: an issuing CA may only be signed by the root";
    case ChainError::kRootNotTrusted:
      return "a root CA that is not one of the trusted roots";
    case ChainError::kWrongNetwork:
      return "for another network";
    case ChainError::kBadSignature:
      return "signature does not verify (altered, or signed by another key)";
    case ChainError::kExceedsIssuer:
      return "grants a VIP, subnet, multicast prefix or group its issuer may not grant";
    case ChainError::kOutlivesIssuer:
      return "valid outside its issuer's validity";
    case ChainError::kNotYetValid:
      return "not yet valid";
    case ChainError::kExpired:
      return "expired";
    case ChainError::kRevoked:
      return "revoked";
    case ChainError::kNotANode:
      return "a CA certificate where a node certificate is needed";
  }
  return "?";
}

bool IsValidRoot(const Certificate& root) {
  return root.fields.usage == Usage::kRootCa && root.fields.issuer == root.key_id() &&
         SignatureVerifies(root, root.fields.public_key);
}

ChainError CheckScope(const Certificate& subject, const Certificate& issuer) {
  const CertificateFields& s = subject.fields;
  const CertificateFields& i = issuer.fields;
  if (!Covered(s.vips, i.vips) || !Covered(s.subnets, i.subnets) ||
      !Covered(s.multicast, i.multicast) || !GroupsCovered(s.groups, i.groups))
    return ChainError::kExceedsIssuer;
  if (s.not_before < i.not_before || s.not_after > i.not_after) return ChainError::kOutlivesIssuer;
  return ChainError::kOk;
}

ChainResult VerifyChain(const Certificate& leaf, std::span<const Certificate> issuing,
                        std::span<const Certificate> roots, std::string_view network, uint64_t now,
                        const RevocationList* revoked) {
  ChainResult r;
  r.path.push_back(&leaf);
  if (leaf.fields.network != network) return Fail(r, ChainError::kWrongNetwork, &leaf);
  if (leaf.fields.usage == Usage::kRootCa) {
    // A root is its own chain, and only if the operator trusts exactly this certificate.
    const bool trusted = std::any_of(roots.begin(), roots.end(),
                                     [&](const Certificate& c) { return SameBytes(c, leaf); });
    if (!trusted) return Fail(r, ChainError::kRootNotTrusted, &leaf);
  }
  // Walk up: at most two links (leaf -> issuing -> root).
  const Certificate* child = &leaf;
  while (child->fields.usage != Usage::kRootCa) {
    bool key_seen = false;
    const Certificate* issuer = FindIssuer(*child, roots, &key_seen);
    if (issuer != nullptr && issuer->fields.usage != Usage::kRootCa) issuer = nullptr;
    if (issuer == nullptr) issuer = FindIssuer(*child, issuing, &key_seen);
    if (issuer == nullptr)
      return Fail(r, key_seen ? ChainError::kBadSignature : ChainError::kUnknownIssuer, child);
    if (!issuer->IsCa()) return Fail(r, ChainError::kIssuerNotCa, child);
    if (issuer->fields.usage == Usage::kIssuingCa && child->fields.usage == Usage::kIssuingCa)
      return Fail(r, ChainError::kTooDeep, child);
    if (issuer->fields.usage == Usage::kRootCa &&
        !std::any_of(roots.begin(), roots.end(),
                     [&](const Certificate& c) { return SameBytes(c, *issuer); }))
      return Fail(r, ChainError::kRootNotTrusted, issuer);
    if (issuer->fields.network != network) return Fail(r, ChainError::kWrongNetwork, issuer);
    const ChainError scope = CheckScope(*child, *issuer);
    if (scope != ChainError::kOk) return Fail(r, scope, child);
    r.path.push_back(issuer);
    if (r.path.size() > kMaxChainLength) return Fail(r, ChainError::kTooDeep, issuer);
    child = issuer;
  }
  for (const Certificate* c : r.path) {
    if (now < c->fields.not_before) return Fail(r, ChainError::kNotYetValid, c);
    if (now >= c->fields.not_after) return Fail(r, ChainError::kExpired, c);
    if (revoked != nullptr && c->fields.usage != Usage::kRootCa && revoked->IsRevoked(*c))
      return Fail(r, ChainError::kRevoked, c);
  }
  return r;
}

ChainResult VerifyNodeChain(const Certificate& leaf, std::span<const Certificate> issuing,
                            std::span<const Certificate> roots, std::string_view network,
                            uint64_t now, const RevocationList* revoked) {
  if (leaf.fields.usage != Usage::kNode) {
    ChainResult r;
    r.path.push_back(&leaf);
    return Fail(r, ChainError::kNotANode, &leaf);
  }
  return VerifyChain(leaf, issuing, roots, network, now, revoked);
}

}  // namespace ipop::cp::identity
