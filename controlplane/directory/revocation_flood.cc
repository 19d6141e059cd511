#include "controlplane/directory/revocation_flood.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

#include "controlplane/identity/pem.h"
#include "controlplane/overlay/messages.h"
#include "controlplane/runtime/log.h"
#include "shared/byte_order.h"
#include "shared/wire.h"

namespace ipop::cp {
namespace {

using identity::Certificate;
using identity::NodeIdentity;
using identity::Revocation;
using overlay::RingAddress;

// State file: records of kind (1: revocation, 2: issuing CA certificate) | length (2) | bytes.
constexpr uint8_t kStateRevocation = 1;
constexpr uint8_t kStateSigner = 2;
constexpr size_t kMaxStateBytes = 64u << 20;

std::vector<uint8_t> Header(uint8_t type, const RingAddress& self) {
  std::vector<uint8_t> m(wire::kHeaderSize + overlay::kCommonSize, 0);
  wire::WriteHeader(m.data(), wire::PacketType::kControl, 0, 0);
  uint8_t* c = m.data() + wire::kHeaderSize;
  c[0] = type;
  c[1] = overlay::kOverlayVersion;
  self.ToBytes(std::span<uint8_t, RingAddress::kBytes>(c + 4, RingAddress::kBytes));
  return m;
}

void Append16(std::vector<uint8_t>* out, std::span<const uint8_t> bytes) {
  out->push_back(uint8_t(bytes.size() >> 8));
  out->push_back(uint8_t(bytes.size()));
  out->insert(out->end(), bytes.begin(), bytes.end());
}

// Reads a 2-byte length and that many bytes at *off; false if they are not there.
bool Take16(std::span<const uint8_t> b, size_t* off, std::span<const uint8_t>* out) {
  if (b.size() - *off < 2) return false;
  const size_t len = size_t(b[*off]) << 8 | b[*off + 1];
  *off += 2;
  if (len > b.size() - *off) return false;
  *out = b.subspan(*off, len);
  *off += len;
  return true;
}

bool CommonHeaderOk(std::span<const uint8_t> body, uint8_t type) {
  if (body.size() < wire::kHeaderSize + overlay::kCommonSize) return false;
  const uint8_t* c = body.data() + wire::kHeaderSize;
  return c[0] == type && c[1] == overlay::kOverlayVersion && c[2] == 0 && c[3] == 0;
}

}  // namespace

RevocationFlood::RevocationFlood(const RevocationFloodOptions& options, NodeIdentity& identity,
                                 const RingAddress& self, Clock& clock, SendFn send, LinksFn links)
    : options_(options),
      identity_(identity),
      self_(self),
      clock_(clock),
      send_(std::move(send)),
      links_(std::move(links)) {
  counters_.live = identity_.revocations().size();
}

std::array<uint8_t, 32> RevocationFlood::Digest() const {
  std::array<uint8_t, 32> out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
  for (const auto& [key, r] : identity_.revocations().entries()) {
    const std::vector<uint8_t> bytes = identity::EncodeRevocation(r);
    ok = ok && EVP_DigestUpdate(ctx, bytes.data(), bytes.size()) == 1;
  }
  unsigned int len = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == out.size();
  EVP_MD_CTX_free(ctx);
  if (!ok) out.fill(0);
  return out;
}

std::vector<uint8_t> RevocationFlood::EncodeRevoke(const Revocation& r) const {
  std::vector<uint8_t> m = Header(kMsgRevoke, self_);
  Append16(&m, identity::EncodeRevocation(r));
  const auto signer = signers_.find(r.fields.signer);
  if (signer != signers_.end())
    Append16(&m, identity::EncodeCertificate(signer->second));
  else
    Append16(&m, {});
  return m;
}

std::vector<uint8_t> RevocationFlood::EncodeDigest(uint8_t flags) const {
  std::vector<uint8_t> m = Header(kMsgRevokeDigest, self_);
  const size_t off = m.size();
  m.resize(off + 4 + 4 + 32, 0);
  m[off] = flags;
  StoreBe32(m.data() + off + 4, uint32_t(identity_.revocations().size()));
  const std::array<uint8_t, 32> d = Digest();
  std::copy(d.begin(), d.end(), m.begin() + ptrdiff_t(off + 8));
  return m;
}

void RevocationFlood::SendTo(const RingAddress& to, std::span<const uint8_t> msg, bool digest) {
  if (!send_(to, msg)) {
    ++counters_.send_failed;
    return;
  }
  ++(digest ? counters_.digests_sent : counters_.forwarded);
}

void RevocationFlood::Forward(const Revocation& r, const RingAddress* except) {
  const std::vector<uint8_t> msg = EncodeRevoke(r);
  for (const RingAddress& l : links_()) {
    if (except != nullptr && l == *except) continue;
    SendTo(l, msg, false);
  }
}

NodeIdentity::LearnResult RevocationFlood::Learn(const Revocation& r,
                                                 const Certificate* signer_issuing, Source source,
                                                 const RingAddress* from) {
  const uint64_t now_s = NowS();
  NodeIdentity::LearnResult res = identity_.Learn(r, signer_issuing, now_s);
  switch (res.outcome) {
    case NodeIdentity::Learned::kKnown:
      ++counters_.known;
      return res;
    case NodeIdentity::Learned::kExpired:
      ++counters_.expired_on_arrival;
      return res;
    case NodeIdentity::Learned::kInvalid:
    case NodeIdentity::Learned::kFull:
      ++counters_.invalid;
      return res;
    case NodeIdentity::Learned::kAdded:
      break;
  }
  ++(source == Source::kFile    ? counters_.learned_file
     : source == Source::kState ? counters_.learned_state
     : source == Source::kMgmt  ? counters_.learned_mgmt
                                : counters_.learned_link);
  counters_.live = identity_.revocations().size();
  // Kept only when it was needed: the revocation's signer and not one we trust already.
  if (signer_issuing != nullptr && signer_issuing->key_id() == r.fields.signer &&
      (!identity_.issuing() || identity_.issuing()->key_id() != r.fields.signer))
    signers_.emplace(r.fields.signer, *signer_issuing);
  ++counters_.subjects_revoked;
  for (const SubjectFn& hook : subject_hooks_) counters_.sessions_dropped += hook(r.fields.subject);
  Forward(r, from);
  if (source != Source::kState) Persist();
  return res;
}

bool RevocationFlood::AllowFrom(const RingAddress& from) {
  const uint64_t now = clock_.NowNs();
  auto it = buckets_.find(from);
  if (it == buckets_.end()) {
    if (buckets_.size() >= options_.max_sources)
      std::erase_if(buckets_, [now](auto& kv) { return kv.second.Full(now); });
    if (buckets_.size() >= options_.max_sources) return false;
    it = buckets_.emplace(from, TokenBucket(options_.per_link_rate, options_.per_link_burst)).first;
  }
  return it->second.Take(now);
}

bool RevocationFlood::OnMessage(const RingAddress& from, std::span<const uint8_t> body) {
  if (body.size() <= wire::kHeaderSize) return false;
  const uint8_t type = body[wire::kHeaderSize];
  if (type == kMsgRevoke) {
    OnRevoke(from, body);
    return true;
  }
  if (type == kMsgRevokeDigest) {
    OnDigest(from, body);
    return true;
  }
  return false;
}

void RevocationFlood::OnRevoke(const RingAddress& from, std::span<const uint8_t> body) {
  // Budget first: a signature check is the expensive part.
  if (!AllowFrom(from)) {
    ++counters_.rate_limited;
    return;
  }
  std::span<const uint8_t> rev_bytes, cert_bytes;
  size_t off = wire::kHeaderSize + overlay::kCommonSize;
  if (!CommonHeaderOk(body, kMsgRevoke) || !Take16(body, &off, &rev_bytes) ||
      !Take16(body, &off, &cert_bytes) || off != body.size()) {
    ++counters_.malformed;
    return;
  }
  identity::DecodedRevocation d = identity::DecodeRevocation(rev_bytes);
  if (!d.revocation) {
    ++counters_.malformed;
    return;
  }
  std::optional<Certificate> signer;
  if (!cert_bytes.empty()) {
    identity::DecodedCertificate c = identity::DecodeCertificate(cert_bytes);
    if (!c.cert) {
      ++counters_.malformed;
      return;
    }
    signer = std::move(*c.cert);
  }
  Learn(*d.revocation, signer ? &*signer : nullptr, Source::kLink, &from);
}

void RevocationFlood::OnDigest(const RingAddress& from, std::span<const uint8_t> body) {
  if (!CommonHeaderOk(body, kMsgRevokeDigest) ||
      body.size() != wire::kHeaderSize + kRevokeDigestSize) {
    ++counters_.malformed;
    return;
  }
  const uint8_t* p = body.data() + wire::kHeaderSize + overlay::kCommonSize;
  if ((p[0] & ~kDigestIsReply) != 0 || p[1] != 0 || p[2] != 0 || p[3] != 0) {
    ++counters_.malformed;
    return;
  }
  // A digest costs a push of the whole list: it shares the link's REVOKE budget.
  if (!AllowFrom(from)) {
    ++counters_.rate_limited;
    return;
  }
  const std::array<uint8_t, 32> ours = Digest();
  if (LoadBe32(p + 4) == identity_.revocations().size() &&
      std::equal(ours.begin(), ours.end(), p + 8))
    return;
  ++counters_.digests_differ;
  size_t pushed = 0;
  for (const auto& [key, r] : identity_.revocations().entries()) {
    if (pushed == options_.max_push) break;
    SendTo(from, EncodeRevoke(r), false);
    ++pushed;
  }
  counters_.pushed += pushed;
  // Their list may hold what ours lacks: ask for it once (a reply is never answered).
  if ((p[0] & kDigestIsReply) == 0) SendTo(from, EncodeDigest(kDigestIsReply), true);
}

void RevocationFlood::Tick() {
  const std::vector<RingAddress> links = links_();
  std::vector<RingAddress> sorted = links;
  std::sort(sorted.begin(), sorted.end());
  std::vector<RingAddress> added;
  std::set_difference(sorted.begin(), sorted.end(), known_links_.begin(), known_links_.end(),
                      std::back_inserter(added));
  known_links_ = std::move(sorted);
  if (!added.empty()) {
    const std::vector<uint8_t> digest = EncodeDigest(0);
    for (const RingAddress& l : added) SendTo(l, digest, true);
  }
  const uint64_t now = clock_.NowNs();
  if (now < next_check_ns_) return;
  next_check_ns_ = now + options_.check_interval_ns;
  Check(NowS());
}

void RevocationFlood::Check(uint64_t now_s) {
  ++counters_.checks;
  const size_t gone = identity_.ExpireRevocations(now_s);
  if (gone != 0) {
    counters_.expired += gone;
    counters_.live = identity_.revocations().size();
    std::erase_if(signers_, [this](const auto& kv) {
      for (const auto& [key, r] : identity_.revocations().entries())
        if (r.fields.signer == kv.first) return false;
      return true;
    });
    Persist();
  }
  if (check_) counters_.sessions_dropped += check_(now_s);
}

void RevocationFlood::Persist() {
  if (options_.state_file.empty()) return;
  std::vector<uint8_t> out;
  for (const auto& [key, c] : signers_) {
    out.push_back(kStateSigner);
    Append16(&out, identity::EncodeCertificate(c));
  }
  for (const auto& [key, r] : identity_.revocations().entries()) {
    out.push_back(kStateRevocation);
    Append16(&out, identity::EncodeRevocation(r));
  }
  // Written whole beside the old one and renamed over it: a crash leaves one or the other.
  for (size_t slash = options_.state_file.find('/', 1); slash != std::string::npos;
       slash = options_.state_file.find('/', slash + 1))
    ::mkdir(options_.state_file.substr(0, slash).c_str(), 0700);  // EEXIST is fine
  const std::string tmp = options_.state_file + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0;
  size_t done = 0;
  while (ok && done < out.size()) {
    const ssize_t n = ::write(fd, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) done += size_t(n);
  }
  if (fd >= 0) ok = ::fsync(fd) == 0 && ok, ok = ::close(fd) == 0 && ok;
  if (ok) ok = ::rename(tmp.c_str(), options_.state_file.c_str()) == 0;
  if (!ok) {
    ++counters_.persist_failed;
    IPOP_LOG_WARN("revocations: cannot write %s: %s (they are known until the next restart)",
                  options_.state_file.c_str(), std::strerror(errno));
    return;
  }
  ++counters_.persisted;
}

RevocationFlood::FileOutcome RevocationFlood::LearnFile(const std::string& path, Source source) {
  FileOutcome out;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    out.error = path + ": cannot open: " + std::strerror(errno);
    return out;
  }
  std::string text;
  char buf[4096];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    text.append(buf, size_t(in.gcount()));
    if (text.size() > identity::kMaxPemBlocks * identity::kMaxPemBlockBytes * 2) {
      out.error = path + ": too large for a revocation file";
      return out;
    }
  }
  const identity::PemText pem = identity::ReadPem(text);
  if (!pem.error.empty()) {
    out.error = path + ": " + pem.error;
    return out;
  }
  std::vector<Certificate> certs;
  std::vector<Revocation> revs;
  for (const identity::PemBlock& b : pem.blocks) {
    if (b.label == identity::kCertificateLabel) {
      identity::DecodedCertificate c = identity::DecodeCertificate(b.data);
      if (!c.cert) {
        out.error = path + ": a certificate: " + identity::CertErrorText(c.error);
        return out;
      }
      certs.push_back(std::move(*c.cert));
    } else if (b.label == identity::kRevocationLabel) {
      identity::DecodedRevocation d = identity::DecodeRevocation(b.data);
      if (!d.revocation) {
        out.error = path + ": a revocation: " + identity::RevocationErrorText(d.error);
        return out;
      }
      revs.push_back(std::move(*d.revocation));
    } else {
      out.error = path + ": unexpected PEM block '" + b.label + "'";
      return out;
    }
  }
  if (revs.empty()) {
    out.error = path + ": holds no IPOP REVOCATION block";
    return out;
  }
  for (const Revocation& r : revs) {
    const Certificate* signer = nullptr;
    for (const Certificate& c : certs)
      if (c.key_id() == r.fields.signer) signer = &c;
    const NodeIdentity::LearnResult res = Learn(r, signer, source);
    switch (res.outcome) {
      case NodeIdentity::Learned::kAdded:
        ++out.added;
        break;
      case NodeIdentity::Learned::kKnown:
        ++out.known;
        break;
      case NodeIdentity::Learned::kExpired:
        ++out.expired;
        break;
      case NodeIdentity::Learned::kInvalid:
      case NodeIdentity::Learned::kFull:
        ++out.invalid;
        if (out.error.empty()) out.error = path + ": " + res.error;
        break;
    }
  }
  return out;
}

std::string RevocationFlood::LoadState() {
  if (options_.state_file.empty()) return {};
  std::ifstream in(options_.state_file, std::ios::binary);
  if (!in) return {};  // none yet
  std::vector<uint8_t> b;
  b.reserve(4096);
  char buf[4096];
  while (in.read(buf, sizeof(buf)) || in.gcount() > 0) {
    b.insert(b.end(), buf, buf + in.gcount());
    if (b.size() > kMaxStateBytes) return options_.state_file + ": larger than 64 MiB";
  }
  std::map<identity::KeyId, Certificate> signers;
  std::vector<Revocation> revs;
  size_t off = 0;
  while (off < b.size()) {
    const uint8_t kind = b[off++];
    std::span<const uint8_t> rec;
    if (!Take16(b, &off, &rec))
      return options_.state_file + ": truncated at byte " + std::to_string(off);
    if (kind == kStateSigner) {
      identity::DecodedCertificate c = identity::DecodeCertificate(rec);
      if (!c.cert) return options_.state_file + ": a signer certificate does not decode";
      signers.emplace(c.cert->key_id(), std::move(*c.cert));
    } else if (kind == kStateRevocation) {
      identity::DecodedRevocation d = identity::DecodeRevocation(rec);
      if (!d.revocation) return options_.state_file + ": a revocation does not decode";
      revs.push_back(std::move(*d.revocation));
    } else {
      return options_.state_file + ": unknown record kind " + std::to_string(kind);
    }
  }
  // Each entry is verified again: the file is only as trusted as the signatures in it.
  size_t refused = 0;
  for (const Revocation& r : revs) {
    const auto s = signers.find(r.fields.signer);
    const NodeIdentity::LearnResult res =
        Learn(r, s == signers.end() ? nullptr : &s->second, Source::kState);
    if (res.outcome == NodeIdentity::Learned::kInvalid) ++refused;
  }
  if (refused != 0)
    IPOP_LOG_WARN("revocations: %zu entries of %s did not verify and were ignored", refused,
                  options_.state_file.c_str());
  Persist();  // drops what expired while the node was down
  return {};
}

}  // namespace ipop::cp
