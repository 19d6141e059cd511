#include "controlplane/directory/link_auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "controlplane/overlay/messages.h"
#include "shared/byte_order.h"

namespace ipop::cp {
namespace {

using overlay::RingAddress;

constexpr std::string_view kHandshakeContext{"ipop link v1\0", 13};
constexpr std::string_view kCloseContext{"ipop link close v1\0", 19};
constexpr std::string_view kKeySalt{"ipop link v1"};

// Offsets in a datagram (wire header first).
constexpr size_t kTypeOffset = wire::kHeaderSize;
constexpr size_t kSenderOffset = wire::kHeaderSize + 4;
constexpr size_t kTokenOffset = wire::kHeaderSize + 28;   // request and accept alike
constexpr size_t kStatusOffset = wire::kHeaderSize + 25;  // accept

RingAddress SenderOf(std::span<const uint8_t> d) {
  return RingAddress::FromBytes(d.subspan<kSenderOffset, RingAddress::kBytes>());
}

std::vector<uint8_t> WithContext(std::string_view context, std::span<const uint8_t> bytes) {
  std::vector<uint8_t> m(context.begin(), context.end());
  m.insert(m.end(), bytes.begin(), bytes.end());
  return m;
}

bool Mac(std::span<const uint8_t, 32> key, std::span<const uint8_t> bytes, uint8_t out[32]) {
  size_t out_len = 0;
  return EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(),
                   bytes.data(), bytes.size(), out, 32, &out_len) != nullptr &&
         out_len == 32;
}

LinkRefusal RefusalOf(const identity::PeerVerdict& v) {
  if (v.malformed) return LinkRefusal::kMalformed;
  switch (v.error) {
    case identity::ChainError::kUnknownIssuer:
    case identity::ChainError::kRootNotTrusted:
      return LinkRefusal::kUntrustedCa;
    case identity::ChainError::kExpired:
    case identity::ChainError::kNotYetValid:
      return LinkRefusal::kExpired;
    case identity::ChainError::kRevoked:
      return LinkRefusal::kRevoked;
    default:
      return LinkRefusal::kBadChain;
  }
}

}  // namespace

const char* LinkRefusalName(size_t i) {
  static constexpr const char* kNames[] = {
      "malformed", "untrusted_ca",         "expired",       "revoked",
      "bad_chain", "address_not_from_key", "bad_signature", "unbound_accept",
      "no_link",   "bad_link_tag"};
  static_assert(std::size(kNames) == size_t(LinkRefusal::kCount));
  return i < std::size(kNames) ? kNames[i] : "unknown";
}

bool ParseLinkHandshake(std::span<const uint8_t> d, LinkHandshake* out) {
  if (d.size() <= kTypeOffset) return false;
  const uint8_t type = d[kTypeOffset];
  if (type != uint8_t(overlay::MsgType::kLinkRequest) &&
      type != uint8_t(overlay::MsgType::kLinkAccept))
    return false;
  out->accept = type == uint8_t(overlay::MsgType::kLinkAccept);
  size_t p = (out->accept ? kLinkAcceptMsgSize : kLinkRequestMsgSize) + kLinkStampSize;
  const size_t keys = out->accept ? 2 * kX25519KeySize : kX25519KeySize;
  if (d.size() < p + keys + 2 + identity::kSignatureSize) return false;
  std::memcpy(out->ephemeral.data(), d.data() + p, kX25519KeySize);
  p += kX25519KeySize;
  if (out->accept) {
    std::memcpy(out->echoed.data(), d.data() + p, kX25519KeySize);
    p += kX25519KeySize;
  }
  const size_t chain_len = LoadBe16(d.data() + p);
  p += 2;
  if (chain_len == 0 || chain_len > identity::kMaxEncodedChainSize ||
      d.size() != p + chain_len + identity::kSignatureSize)
    return false;
  out->chain = d.subspan(p, chain_len);
  p += chain_len;
  out->signed_bytes = d.first(p);
  std::memcpy(out->signature.data(), d.data() + p, identity::kSignatureSize);
  return true;
}

bool DeriveLinkKey(std::span<const uint8_t, kX25519KeySize> shared, const RingAddress& requester,
                   const RingAddress& acceptor, const identity::KeyId& requester_id,
                   const identity::KeyId& acceptor_id, uint64_t token, std::span<uint8_t, 32> key) {
  uint8_t info[2 * RingAddress::kBytes + 2 * identity::kKeyIdSize + 8];
  uint8_t* p = info;
  requester.ToBytes(std::span<uint8_t, RingAddress::kBytes>(p, RingAddress::kBytes));
  p += RingAddress::kBytes;
  acceptor.ToBytes(std::span<uint8_t, RingAddress::kBytes>(p, RingAddress::kBytes));
  p += RingAddress::kBytes;
  std::memcpy(p, requester_id.data(), requester_id.size());
  p += requester_id.size();
  std::memcpy(p, acceptor_id.data(), acceptor_id.size());
  p += acceptor_id.size();
  StoreBe64(p, token);
  return HkdfSha256(shared, {reinterpret_cast<const uint8_t*>(kKeySalt.data()), kKeySalt.size()},
                    info, key);
}

LinkGuard::Key::~Key() {
  OPENSSL_cleanse(bytes.data(), bytes.size());
}

LinkGuard::~LinkGuard() = default;

size_t LinkGuard::Seal(uint8_t* buf, size_t len, size_t cap, const RingAddress& receiver,
                       uint64_t now_ns) {
  const uint8_t type = buf[kTypeOffset];
  const std::vector<uint8_t>& chain = id_.EncodedChain();
  const uint64_t token = LoadBe64(buf + kTokenOffset);
  auto sign = [&](size_t n) {
    const identity::Signature s = id_.Sign(WithContext(kHandshakeContext, {buf, n}));
    std::memcpy(buf + n, s.data(), s.size());
    return n + s.size();
  };
  auto put_chain = [&](size_t n) {
    StoreBe16(buf + n, uint16_t(chain.size()));
    std::memcpy(buf + n + 2, chain.data(), chain.size());
    return n + 2 + chain.size();
  };
  if (type == uint8_t(overlay::MsgType::kLinkRequest)) {
    if (len + kX25519KeySize + 2 + chain.size() + identity::kSignatureSize > cap) return 0;
    Outgoing o;
    o.token = token;
    o.receiver = receiver;
    o.sent_ns = now_ns;
    if (!o.ephemeral.Generate(random_)) return 0;
    std::memcpy(buf + len, o.ephemeral.public_key().data(), kX25519KeySize);
    const size_t n = sign(put_chain(len + kX25519KeySize));
    if (outgoing_.size() >= kMaxHandshakes) outgoing_.erase(outgoing_.begin());
    outgoing_.push_back(std::move(o));
    return n;
  }
  if (type == uint8_t(overlay::MsgType::kLinkAccept)) {
    if (len + 2 * kX25519KeySize + 2 + chain.size() + identity::kSignatureSize > cap) return 0;
    auto in = std::find_if(incoming_.begin(), incoming_.end(), [&](const Incoming& i) {
      return i.token == token && i.requester == receiver;
    });
    if (in == incoming_.end()) {  // we accept only requests whose handshake we verified
      ++counters_.unkeyed_sends;
      return 0;
    }
    X25519KeyPair ours;
    if (!ours.Generate(random_)) return 0;
    if (buf[kStatusOffset] == uint8_t(overlay::AcceptStatus::kAccepted)) {
      std::array<uint8_t, kX25519KeySize> shared;
      std::array<uint8_t, 32> key;
      const bool ok =
          ours.Agree(in->ephemeral, shared) &&
          DeriveLinkKey(shared, receiver, self_, in->info.key_id, id_.key_id(), token, key);
      OPENSSL_cleanse(shared.data(), shared.size());
      if (!ok) return 0;
      Install(receiver, in->info, key, now_ns);
      OPENSSL_cleanse(key.data(), key.size());
    }
    std::memcpy(buf + len, ours.public_key().data(), kX25519KeySize);
    std::memcpy(buf + len + kX25519KeySize, in->ephemeral.data(), kX25519KeySize);
    incoming_.erase(in);
    return sign(put_chain(len + 2 * kX25519KeySize));
  }
  auto peer = peers_.find(receiver);
  if (peer == peers_.end() || peer->second.keys.empty()) {
    if (type == uint8_t(overlay::MsgType::kLinkClose) && len + identity::kSignatureSize <= cap) {
      // "I have no link with you": signed, so nobody else can make the peer drop its link.
      const identity::Signature s = id_.Sign(WithContext(kCloseContext, {buf, len}));
      std::memcpy(buf + len, s.data(), s.size());
      return len + s.size();
    }
    ++counters_.unkeyed_sends;
    return 0;
  }
  if (len + kLinkTagSize > cap) return 0;
  uint8_t mac[32];
  if (!Mac(peer->second.keys.back()->bytes, {buf, len}, mac)) return 0;
  std::memcpy(buf + len, mac, kLinkTagSize);
  return len + kLinkTagSize;
}

bool LinkGuard::Authenticate(std::span<const uint8_t> d, const LinkHandshake& h, uint64_t now_s,
                             PeerInfo* info) {
  const identity::PeerVerdict v =
      id_.VerifyPeerChain(h.chain, identity::TrustScope::kOverlay, now_s);
  if (!v.ok()) {
    Refuse(RefusalOf(v));
    return false;
  }
  const identity::RingAddressBytes derived =
      identity::RingAddressFromKey(v.cert->fields.public_key);
  if (SenderOf(d) != RingAddress::FromBytes(derived)) {
    Refuse(LinkRefusal::kAddressNotFromKey);
    return false;
  }
  if (!identity::VerifySignature(v.cert->fields.public_key,
                                 WithContext(kHandshakeContext, h.signed_bytes), h.signature)) {
    Refuse(LinkRefusal::kBadSignature);
    return false;
  }
  info->key_id = v.cert->key_id();
  info->node_key = v.cert->fields.public_key;
  info->chain.assign(h.chain.begin(), h.chain.end());
  return true;
}

size_t LinkGuard::Open(std::span<const uint8_t> d, uint64_t now_ns, uint64_t now_s) {
  if (d.size() < kLinkCloseMsgSize + kLinkStampSize) return 0;  // the caller checked sizes
  const uint8_t type = d[kTypeOffset];
  const RingAddress sender = SenderOf(d);
  if (type == uint8_t(overlay::MsgType::kLinkRequest) ||
      type == uint8_t(overlay::MsgType::kLinkAccept)) {
    LinkHandshake h;
    if (!ParseLinkHandshake(d, &h)) {
      Refuse(LinkRefusal::kMalformed);
      return 0;
    }
    const uint64_t token = LoadBe64(d.data() + kTokenOffset);
    const size_t head = (h.accept ? kLinkAcceptMsgSize : kLinkRequestMsgSize) + kLinkStampSize;
    if (!h.accept) {
      PeerInfo info;
      if (!Authenticate(d, h, now_s, &info)) return 0;
      std::erase_if(incoming_,
                    [&](const Incoming& i) { return i.requester == sender && i.token == token; });
      if (incoming_.size() >= kMaxHandshakes) incoming_.erase(incoming_.begin());
      incoming_.push_back({token, sender, h.ephemeral, std::move(info), now_ns});
      return head;
    }
    // An accept must answer a request of ours: same token, our ephemeral key echoed, from the
    // node we asked (or anyone, for a bootstrap entry whose address we did not know).
    auto out = std::find_if(outgoing_.begin(), outgoing_.end(), [&](const Outgoing& o) {
      return o.token == token && (o.receiver.IsZero() || o.receiver == sender) &&
             CRYPTO_memcmp(o.ephemeral.public_key().data(), h.echoed.data(), kX25519KeySize) == 0;
    });
    if (out == outgoing_.end()) {
      Refuse(LinkRefusal::kUnboundAccept);
      return 0;
    }
    PeerInfo info;
    if (!Authenticate(d, h, now_s, &info)) return 0;
    if (d[kStatusOffset] == uint8_t(overlay::AcceptStatus::kAccepted)) {
      std::array<uint8_t, kX25519KeySize> shared;
      std::array<uint8_t, 32> key;
      const bool ok = out->ephemeral.Agree(h.ephemeral, shared) &&
                      DeriveLinkKey(shared, self_, sender, id_.key_id(), info.key_id, token, key);
      OPENSSL_cleanse(shared.data(), shared.size());
      if (!ok) {
        Refuse(LinkRefusal::kMalformed);  // a low-order ephemeral key
        return 0;
      }
      Install(sender, info, key, now_ns);
      OPENSSL_cleanse(key.data(), key.size());
    }
    outgoing_.erase(out);
    return head;
  }
  auto peer = peers_.find(sender);
  if (type == uint8_t(overlay::MsgType::kLinkClose) &&
      d.size() == kLinkCloseMsgSize + kLinkStampSize + identity::kSignatureSize) {
    identity::Signature s;
    std::memcpy(s.data(), d.data() + d.size() - s.size(), s.size());
    const size_t head = d.size() - s.size();
    if (peer == peers_.end()) {
      Refuse(LinkRefusal::kNoLink);
      return 0;
    }
    if (!identity::VerifySignature(peer->second.info.node_key,
                                   WithContext(kCloseContext, d.first(head)), s)) {
      Refuse(LinkRefusal::kBadSignature);
      return 0;
    }
    return head;
  }
  if (peer == peers_.end()) {
    Refuse(LinkRefusal::kNoLink);
    return 0;
  }
  if (d.size() < kLinkTagSize) return 0;
  const size_t head = d.size() - kLinkTagSize;
  for (const auto& k : peer->second.keys) {
    uint8_t mac[32];
    if (Mac(k->bytes, d.first(head), mac) && CRYPTO_memcmp(mac, d.data() + head, kLinkTagSize) == 0)
      return head;
  }
  Refuse(LinkRefusal::kBadLinkTag);
  return 0;
}

void LinkGuard::Install(const RingAddress& peer, const PeerInfo& info,
                        std::span<const uint8_t, 32> key, uint64_t now_ns) {
  Peer& p = peers_[peer];
  if (p.info.key_id != info.key_id && !p.keys.empty()) {  // another key: the old ones go
    counters_.keys_wiped += p.keys.size();
    p.keys.clear();
  }
  p.info = info;
  auto k = std::make_unique<Key>();
  std::memcpy(k->bytes.data(), key.data(), key.size());
  p.keys.push_back(std::move(k));
  while (p.keys.size() > kKeysPerPeer) {
    p.keys.erase(p.keys.begin());
    ++counters_.keys_wiped;
  }
  p.keyed_ns = now_ns;
  ++counters_.links_keyed;
}

void LinkGuard::Forget(const RingAddress& peer) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return;
  counters_.keys_wiped += it->second.keys.size();
  peers_.erase(it);  // Key's destructor cleanses the bytes
}

std::vector<RingAddress> LinkGuard::PeersWithKey(const identity::KeyId& id) const {
  std::vector<RingAddress> out;
  for (const auto& [a, p] : peers_)
    if (p.info.key_id == id) out.push_back(a);
  return out;
}

std::vector<RingAddress> LinkGuard::Recheck(uint64_t now_s) const {
  std::vector<RingAddress> out;
  for (const auto& [a, p] : peers_)
    if (!id_.VerifyPeerChain(p.info.chain, identity::TrustScope::kOverlay, now_s).ok())
      out.push_back(a);
  return out;
}

void LinkGuard::Expire(uint64_t now_ns, const std::function<bool(const RingAddress&)>& linked) {
  std::erase_if(outgoing_,
                [&](const Outgoing& o) { return now_ns - o.sent_ns > kHandshakeLifeNs; });
  std::erase_if(incoming_,
                [&](const Incoming& i) { return now_ns - i.received_ns > kHandshakeLifeNs; });
  for (auto it = peers_.begin(); it != peers_.end();) {
    if (now_ns - it->second.keyed_ns > kHandshakeLifeNs && !linked(it->first)) {
      counters_.keys_wiped += it->second.keys.size();
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
}

std::array<uint8_t, 32> LinkGuard::NewestKeyForTest(const RingAddress& peer) const {
  auto it = peers_.find(peer);
  if (it == peers_.end() || it->second.keys.empty()) return {};
  return it->second.keys.back()->bytes;
}

}  // namespace ipop::cp
