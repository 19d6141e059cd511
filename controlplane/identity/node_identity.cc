#include "controlplane/identity/node_identity.h"

#include <openssl/evp.h>

#include <algorithm>
#include <ctime>

#include "controlplane/identity/identity_files.h"

namespace ipop::cp::identity {
namespace {

constexpr std::string_view kRingAddressContext = "ipop ring address v1";

std::array<uint8_t, 32> Sha256(std::string_view context, std::span<const uint8_t> data) {
  std::array<uint8_t, 32> out{};
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, context.data(), context.size()) == 1 &&
                  EVP_DigestUpdate(ctx, data.data(), data.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &len) == 1 && len == out.size();
  EVP_MD_CTX_free(ctx);
  if (ok) std::copy(digest, digest + out.size(), out.begin());
  return out;
}

std::string Hex(std::span<const uint8_t> b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s;
  for (uint8_t x : b) {
    s += kDigits[x >> 4];
    s += kDigits[x & 15];
  }
  return s;
}

std::string TimeText(uint64_t unix_s) {
  const time_t t = time_t(unix_s);
  struct tm tm {};
  char buf[32];
  if (gmtime_r(&t, &tm) == nullptr ||
      std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    std::string s = "@";
    s += std::to_string(unix_s);
    return s;
  }
  return buf;
}

// What a chain failure means, with the dates that explain a time failure.
std::string ChainText(const ChainResult& r, uint64_t now) {
  std::string text;
  if (r.failed != nullptr)
    text = std::string(UsageName(r.failed->fields.usage)) + " '" + r.failed->fields.name + "': ";
  text += ChainErrorText(r.error);
  if (r.failed != nullptr && r.error == ChainError::kExpired)
    text += " at " + TimeText(r.failed->fields.not_after) + " (now " + TimeText(now) + ")";
  if (r.failed != nullptr && r.error == ChainError::kNotYetValid)
    text += " before " + TimeText(r.failed->fields.not_before) + " (now " + TimeText(now) + ")";
  return text;
}

// The checks of docs/pki.md "Configuration and start-up" on this node's own chain.
std::string CheckOwnChain(const PrivateKey& key, const Certificate& cert,
                          const std::optional<Certificate>& issuing,
                          std::span<const Certificate> roots, const std::string& network,
                          const RevocationList& revoked, uint64_t now, const std::string& cert_name,
                          const std::string& key_name) {
  if (cert.IsCa())
    return cert_name + ": first certificate is a " + UsageName(cert.fields.usage) + " ('" +
           cert.fields.name + "'), expected this node's certificate (usage node) first";
  if (cert.fields.network != network)
    return cert_name + ": certificate is for network '" + cert.fields.network +
           "' but network.name is '" + network + "'";
  if (cert.fields.public_key != key.public_key())
    return key_name + ": private key (key id " + Hex(KeyIdOf(key.public_key())) +
           ") does not belong to the certificate in " + cert_name + " (key id " +
           Hex(cert.key_id()) + ")";
  std::vector<Certificate> chain;
  if (issuing) chain.push_back(*issuing);
  const ChainResult r = VerifyNodeChain(cert, chain, roots, network, now, &revoked);
  if (!r.ok()) return cert_name + ": " + ChainText(r, now);
  return {};
}

std::string CheckRoots(const std::vector<Certificate>& roots, const std::string& name,
                       const std::string* network) {
  for (const Certificate& c : roots) {
    if (c.fields.usage != Usage::kRootCa)
      return name + ": holds a " + UsageName(c.fields.usage) + " certificate ('" + c.fields.name +
             "'), expected root CA certificates only";
    if (!IsValidRoot(c))
      return name + ": root CA '" + c.fields.name + "': self-signature does not verify";
    if (network != nullptr && c.fields.network != *network)
      return name + ": root CA '" + c.fields.name + "' is for network '" + c.fields.network +
             "' but network.name is '" + *network + "'";
  }
  return {};
}

struct OwnCertFile {
  Certificate cert;
  std::optional<Certificate> issuing;
  std::string error;
};

OwnCertFile ReadOwnCertificate(const std::string& path) {
  OwnCertFile out;
  CertificateFile f = ReadCertificateFile(path);
  if (!f.error.empty()) {
    out.error = f.error;
    return out;
  }
  if (f.certs.size() > 2) {
    out.error = path + ": holds " + std::to_string(f.certs.size()) +
                " certificates, expected the node's and at most its issuing CA's";
    return out;
  }
  out.cert = f.certs[0];
  if (f.certs.size() == 2) out.issuing = f.certs[1];
  return out;
}

}  // namespace

RingAddressBytes RingAddressFromKey(const PublicKey& key) {
  const std::array<uint8_t, 32> digest = Sha256(kRingAddressContext, key);
  RingAddressBytes out{};
  std::copy(digest.begin(), digest.begin() + out.size(), out.begin());
  return out;
}

std::vector<uint8_t> EncodeChain(const Certificate& leaf, const Certificate* issuing) {
  std::vector<uint8_t> out;
  for (const Certificate* c : {&leaf, issuing}) {
    if (c == nullptr) continue;
    const std::vector<uint8_t> bytes = EncodeCertificate(*c);
    out.push_back(uint8_t(bytes.size() >> 8));
    out.push_back(uint8_t(bytes.size()));
    out.insert(out.end(), bytes.begin(), bytes.end());
  }
  return out;
}

DecodedChain DecodeChain(std::span<const uint8_t> bytes) {
  DecodedChain out;
  std::vector<Certificate> certs;
  size_t off = 0;
  while (off < bytes.size()) {
    if (certs.size() == 2) {
      out.error = "chain holds more than two certificates";
      return out;
    }
    if (bytes.size() - off < 2) {
      out.error = "chain truncated in a length";
      return out;
    }
    const size_t len = size_t(bytes[off]) << 8 | bytes[off + 1];
    off += 2;
    if (len > bytes.size() - off) {
      out.error = "chain truncated in a certificate";
      return out;
    }
    DecodedCertificate d = DecodeCertificate(bytes.subspan(off, len));
    if (!d.cert) {
      out.error = std::string("chain certificate ") + std::to_string(certs.size() + 1) + ": " +
                  CertErrorText(d.error);
      return out;
    }
    certs.push_back(std::move(*d.cert));
    off += len;
  }
  if (certs.empty()) {
    out.error = "empty chain";
    return out;
  }
  out.leaf = std::move(certs[0]);
  if (certs.size() == 2) out.issuing = std::move(certs[1]);
  return out;
}

NodeIdentity::Loaded NodeIdentity::Load(const NodeConfig& cfg, uint64_t now) {
  Loaded out;
  if (!cfg.cert_mode()) return out;
  Parts parts;
  parts.network = cfg.network;
  parts.cert_name = cfg.cert_file;
  parts.key_name = cfg.key_file;
  parts.ca_name = cfg.ca_file;
  parts.overlay_ca_name = cfg.overlay_ca_file.empty() ? cfg.ca_file : cfg.overlay_ca_file;
  parts.revocations_name = cfg.revocations_file;

  CertificateFile roots = ReadCertificateFile(cfg.ca_file);
  if (!roots.error.empty()) {
    out.error = roots.error;
    return out;
  }
  parts.network_roots = std::move(roots.certs);
  if (parts.overlay_ca_name == cfg.ca_file) {
    parts.overlay_roots = parts.network_roots;
  } else {
    CertificateFile overlay = ReadCertificateFile(parts.overlay_ca_name);
    if (!overlay.error.empty()) {
      out.error = overlay.error;
      return out;
    }
    parts.overlay_roots = std::move(overlay.certs);
  }
  OwnCertFile own = ReadOwnCertificate(cfg.cert_file);
  if (!own.error.empty()) {
    out.error = own.error;
    return out;
  }
  parts.cert = std::move(own.cert);
  parts.issuing = std::move(own.issuing);
  PrivateKeyFile key = ReadPrivateKeyFile(cfg.key_file);
  if (!key.key) {
    out.error = key.error;
    return out;
  }
  parts.key = std::move(key.key);
  if (!cfg.revocations_file.empty()) {
    RevocationFile rev = ReadRevocationFile(cfg.revocations_file);
    if (!rev.error.empty()) {
      out.error = rev.error;
      return out;
    }
    parts.revocations = std::move(rev.revocations);
  }
  return Create(std::move(parts), now);
}

NodeIdentity::Loaded NodeIdentity::Create(Parts parts, uint64_t now) {
  Loaded out;
  if (!parts.key) {
    out.error = parts.key_name + ": no private key";
    return out;
  }
  if (parts.network_roots.empty()) {
    out.error = parts.ca_name + ": no root CA certificate";
    return out;
  }
  if (std::string e = CheckRoots(parts.network_roots, parts.ca_name, &parts.network); !e.empty()) {
    out.error = e;
    return out;
  }
  // The overlay's roots may belong to other networks sharing the overlay.
  if (std::string e = CheckRoots(parts.overlay_roots, parts.overlay_ca_name, nullptr); !e.empty()) {
    out.error = e;
    return out;
  }
  std::unique_ptr<NodeIdentity> id(new NodeIdentity());
  id->network_ = parts.network;
  id->network_roots_ = std::move(parts.network_roots);
  id->overlay_roots_ = std::move(parts.overlay_roots);
  id->key_ = std::move(parts.key);
  id->issuing_ = std::move(parts.issuing);
  // The own issuing CA is needed to check revocations it signed, so it is checked first.
  if (id->issuing_) {
    const ChainResult r =
        VerifyChain(*id->issuing_, {}, id->network_roots_, id->network_, now, nullptr);
    if (!r.ok()) {
      out.error = parts.cert_name + ": " + ChainText(r, now);
      return out;
    }
  }
  for (const Revocation& r : parts.revocations) {
    if (std::string e = id->AddRevocation(r, now); !e.empty()) {
      out.error = parts.revocations_name + ": " + e;
      return out;
    }
  }
  if (std::string e =
          CheckOwnChain(*id->key_, parts.cert, id->issuing_, id->network_roots_, id->network_,
                        id->revocations_, now, parts.cert_name, parts.key_name);
      !e.empty()) {
    out.error = e;
    return out;
  }
  id->cert_ = std::move(parts.cert);
  id->encoded_chain_ = EncodeChain(id->cert_, id->issuing_ ? &*id->issuing_ : nullptr);
  out.identity = std::move(id);
  return out;
}

std::string NodeIdentity::ReloadCertificate(const std::string& cert_file, uint64_t now) {
  OwnCertFile own = ReadOwnCertificate(cert_file);
  if (!own.error.empty()) return own.error;
  if (std::string e = CheckOwnChain(*key_, own.cert, own.issuing, network_roots_, network_,
                                    revocations_, now, cert_file, "node.key-file");
      !e.empty())
    return e;
  const bool same = EncodeCertificate(own.cert) == EncodeCertificate(cert_) &&
                    own.issuing.has_value() == issuing_.has_value() &&
                    (!issuing_ || EncodeCertificate(*own.issuing) == EncodeCertificate(*issuing_));
  if (same) return {};
  cert_ = std::move(own.cert);
  issuing_ = std::move(own.issuing);
  encoded_chain_ = EncodeChain(cert_, issuing_ ? &*issuing_ : nullptr);
  ++chain_generation_;
  return {};
}

std::string NodeIdentity::AddRevocation(const Revocation& r, uint64_t now) {
  return Learn(r, nullptr, now).error;
}

NodeIdentity::LearnResult NodeIdentity::Learn(const Revocation& r,
                                              const Certificate* signer_issuing, uint64_t now) {
  LearnResult out;
  const Certificate* signer = nullptr;
  for (const Certificate& root : network_roots_)
    if (root.key_id() == r.fields.signer) signer = &root;
  if (signer == nullptr && issuing_ && issuing_->key_id() == r.fields.signer) signer = &*issuing_;
  if (signer == nullptr && signer_issuing != nullptr &&
      signer_issuing->key_id() == r.fields.signer) {
    // Another site's issuing CA: trusted only if its own chain to our roots verifies now.
    if (signer_issuing->fields.usage != Usage::kIssuingCa) {
      out.error = "revocation signer certificate '" + signer_issuing->fields.name +
                  "' is not an issuing CA";
      return out;
    }
    const ChainResult c =
        VerifyChain(*signer_issuing, {}, network_roots_, network_, now, &revocations_);
    if (!c.ok()) {
      out.error = "revocation signer certificate: " + ChainText(c, now);
      return out;
    }
    signer = signer_issuing;
  }
  if (signer == nullptr) {
    out.error = "revocation signed by key id " + Hex(r.fields.signer) +
                ", which is neither a trusted root nor a known issuing CA (send the issuing CA "
                "certificate along, or revoke with the root)";
    return out;
  }
  if (const RevocationError e = VerifyRevocation(r, *signer, network_); e != RevocationError::kOk) {
    out.error =
        std::string("revocation of serial ") + Hex(r.fields.serial) + ": " + RevocationErrorText(e);
    return out;
  }
  switch (revocations_.Add(r, now)) {
    case RevocationList::AddResult::kAdded:
      ++revocation_generation_;
      cache_.clear();
      out.outcome = Learned::kAdded;
      return out;
    case RevocationList::AddResult::kKnown:
      out.outcome = Learned::kKnown;
      return out;
    case RevocationList::AddResult::kExpired:  // the certificate is refused as expired anyway
      out.outcome = Learned::kExpired;
      return out;
    case RevocationList::AddResult::kFull:
      out.outcome = Learned::kFull;
      out.error =
          "revocation list full (" + std::to_string(RevocationList::kMaxEntries) + " entries)";
      return out;
  }
  return out;
}

PeerVerdict NodeIdentity::VerifyPeerChain(std::span<const uint8_t> chain, TrustScope scope,
                                          uint64_t now) const {
  PeerVerdict out;
  const auto key = std::make_pair(Sha256("ipop chain cache", chain), scope);
  if (auto it = cache_.find(key); it != cache_.end()) {
    const CachedChain& c = it->second;
    if (c.revocation_generation == revocation_generation_ && c.valid_from <= now &&
        now < c.valid_until) {
      out.cert = c.leaf;
      return out;
    }
    cache_.erase(it);
  }
  DecodedChain d = DecodeChain(chain);
  if (!d.leaf) {
    out.malformed = true;
    out.text = d.error;
    return out;
  }
  std::vector<Certificate> issuing;
  if (d.issuing) issuing.push_back(*d.issuing);
  const bool network_scope = scope == TrustScope::kNetwork;
  const ChainResult r =
      VerifyNodeChain(*d.leaf, issuing, network_scope ? network_roots_ : overlay_roots_,
                      network_scope ? network_ : d.leaf->fields.network, now, &revocations_);
  if (!r.ok()) {
    out.error = r.error;
    out.text = ChainText(r, now);
    return out;
  }
  CachedChain c{.leaf = *d.leaf,
                .valid_from = 0,
                .valid_until = UINT64_MAX,
                .revocation_generation = revocation_generation_};
  for (const Certificate* p : r.path) {
    c.valid_from = std::max(c.valid_from, p->fields.not_before);
    c.valid_until = std::min(c.valid_until, p->fields.not_after);
  }
  if (cache_.size() >= kMaxCachedChains) cache_.clear();
  cache_.emplace(key, c);
  out.cert = std::move(*d.leaf);
  return out;
}

}  // namespace ipop::cp::identity
