// Certificate-mode authentication of overlay links (docs/pki.md, "Overlay links").
//
// Every overlay datagram is `message | stamp (timestamp 8, receiver address 20) | trailer`:
//   LINK_REQUEST  trailer = ephemeral X25519 key (32) | chain length (2) | chain | signature (64)
//   LINK_ACCEPT   trailer = ephemeral (32) | the request's ephemeral (32) | chain length (2)
//                 | chain | signature (64)
//   LINK_CLOSE to a node we hold no link key for: trailer = signature (64)
//   anything else: trailer = HMAC-SHA256(link key, message | stamp)[0..16)
// Signatures are by the sender's node key over a context string and every byte before them.
// A handshake is accepted only when the chain verifies against the overlay's roots
// (NodeIdentity::VerifyPeerChain, TrustScope::kOverlay), the sender address is the one derived
// from the certified key (nobody picks a place on the ring) and the signature verifies; an
// accept must also echo the token and ephemeral key of a request this node has outstanding.
// Both sides then derive the link key:
//   HKDF-SHA256(ikm = X25519(ephemerals), salt = "ipop link v1", info = requester address
//               || acceptor address || requester key id || acceptor key id || token)
// LinkGuard holds the handshakes in flight and the keys per linked peer (at most four per peer,
// so crossing requests, where each side ends up accepting the other's, agree on either), indexed
// by ring address with the peer's subject key id, and wipes a key when its link goes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "controlplane/identity/node_identity.h"
#include "controlplane/overlay/address.h"
#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/random_source.h"
#include "controlplane/sessions/key_derivation.h"
#include "shared/wire.h"

namespace ipop::cp {

inline constexpr size_t kLinkStampSize = 8 + overlay::RingAddress::kBytes;
inline constexpr size_t kLinkTagSize = 16;
inline constexpr size_t kLinkRequestMsgSize = wire::kHeaderSize + 56;
inline constexpr size_t kLinkAcceptMsgSize = wire::kHeaderSize + 54;
inline constexpr size_t kLinkCloseMsgSize = wire::kHeaderSize + 28;
// The largest handshake datagram: a LINK_ACCEPT with the largest chain (1100 bytes).
inline constexpr size_t kMaxLinkHandshake =
    kLinkAcceptMsgSize + kLinkStampSize + 2 * kX25519KeySize + 2 + identity::kMaxEncodedChainSize +
    identity::kSignatureSize;

enum class LinkRefusal : uint8_t {
  kMalformed = 0,      // a handshake whose trailer or chain does not decode
  kUntrustedCa,        // chain not issued under a trusted overlay root
  kExpired,            // a certificate of the chain expired or is not valid yet
  kRevoked,            // a certificate of the chain is revoked
  kBadChain,           // any other chain rule (network, grants, depth, issuer signature)
  kAddressNotFromKey,  // sender ring address is not RingAddressFromKey(certified key)
  kBadSignature,       // the node key's signature over the handshake does not verify
  kUnboundAccept,      // an accept echoing no request in flight (token and ephemeral key)
  kNoLink,             // a keyed datagram from a node we hold no link key for
  kBadLinkTag,         // a keyed datagram whose tag verifies under none of the peer's keys
  kCount,
};
const char* LinkRefusalName(size_t i);

struct LinkAuthCounters {
  std::array<uint64_t, size_t(LinkRefusal::kCount)> refused{};
  uint64_t links_keyed = 0;        // link keys derived (either side)
  uint64_t keys_wiped = 0;         // link keys erased (link closed, replaced or expired)
  uint64_t links_cert_closed = 0;  // links closed: the peer's chain expired or was revoked
  uint64_t unkeyed_sends = 0;      // datagrams not sent: no link key for the receiver
  uint64_t forged_origin = 0;      // ROUTED at its first hop naming another source than sender
};

inline constexpr CounterDesc kLinkAuthCounterDescs[] = {
    IPOP_COUNTER_BY(LinkAuthCounters, refused, "reason", LinkRefusalName, 0,
                    "overlay handshakes and datagrams refused by link authentication, by reason"),
    IPOP_COUNTER(LinkAuthCounters, links_keyed, "overlay link keys derived"),
    IPOP_COUNTER(LinkAuthCounters, keys_wiped, "overlay link keys wiped (link closed or replaced)"),
    IPOP_COUNTER(LinkAuthCounters, links_cert_closed,
                 "overlay links closed because the peer's certificate expired or was revoked"),
    IPOP_COUNTER(LinkAuthCounters, unkeyed_sends,
                 "overlay datagrams not sent: no link key for the receiver"),
    IPOP_COUNTER(LinkAuthCounters, forged_origin,
                 "routed messages refused at their first hop: source is not the sender"),
};
static_assert(CoversEveryField<LinkAuthCounters>(kLinkAuthCounterDescs));

// A parsed handshake datagram (views into the caller's bytes).
struct LinkHandshake {
  bool accept = false;
  PublicKey ephemeral{};
  PublicKey echoed{};  // LINK_ACCEPT only: the request's ephemeral key
  std::span<const uint8_t> chain;
  std::span<const uint8_t> signed_bytes;  // everything before the signature
  identity::Signature signature{};
};
// false unless `datagram` is a LINK_REQUEST or LINK_ACCEPT (by its type byte) with stamp and a
// trailer of exactly the declared chain length. The message itself is not parsed here.
bool ParseLinkHandshake(std::span<const uint8_t> datagram, LinkHandshake* out);

// Key from the X25519 result; false if HKDF fails.
bool DeriveLinkKey(std::span<const uint8_t, kX25519KeySize> shared,
                   const overlay::RingAddress& requester, const overlay::RingAddress& acceptor,
                   const identity::KeyId& requester_id, const identity::KeyId& acceptor_id,
                   uint64_t token, std::span<uint8_t, 32> key);

class LinkGuard {
 public:
  static constexpr size_t kMaxHandshakes = 1024;  // each of requests out and requests in
  static constexpr uint64_t kHandshakeLifeNs = 10'000'000'000ull;
  static constexpr size_t kKeysPerPeer = 4;

  LinkGuard(const identity::NodeIdentity& id, const overlay::RingAddress& self,
            RandomSource& random, LinkAuthCounters& counters)
      : id_(id), self_(self), random_(random), counters_(counters) {}
  ~LinkGuard();
  LinkGuard(const LinkGuard&) = delete;
  LinkGuard& operator=(const LinkGuard&) = delete;

  // `buf` holds message | stamp (`len` bytes, `cap` room): appends the trailer for `receiver`.
  // Returns the datagram's size, or 0 when it must not be sent (counted).
  size_t Seal(uint8_t* buf, size_t len, size_t cap, const overlay::RingAddress& receiver,
              uint64_t now_ns);
  // Checks a received datagram's trailer; returns the length of message | stamp, or 0 when it
  // is refused (counted by reason). `now_s`: Unix seconds for the certificate checks.
  size_t Open(std::span<const uint8_t> datagram, uint64_t now_ns, uint64_t now_s);

  // Wipes every key of `peer` (its link closed).
  void Forget(const overlay::RingAddress& peer);
  // Ring addresses of the linked peers whose certificate has subject key id `id`.
  std::vector<overlay::RingAddress> PeersWithKey(const identity::KeyId& id) const;
  // Peers whose chain no longer verifies at `now_s` (expired, revoked): the caller closes them.
  std::vector<overlay::RingAddress> Recheck(uint64_t now_s) const;
  // Drops handshakes older than kHandshakeLifeNs and the keys of peers `linked` says are not
  // links any more (after a handshake's life, so a fresh accept is not wiped before its link).
  void Expire(uint64_t now_ns, const std::function<bool(const overlay::RingAddress&)>& linked);

  bool HasKey(const overlay::RingAddress& peer) const { return peers_.count(peer) != 0; }
  size_t peer_count() const { return peers_.size(); }
  // The newest link key of `peer` (tests compare both sides); zeros if none.
  std::array<uint8_t, 32> NewestKeyForTest(const overlay::RingAddress& peer) const;

 private:
  struct Key {
    std::array<uint8_t, 32> bytes{};
    ~Key();
  };
  struct PeerInfo {
    identity::KeyId key_id{};
    identity::PublicKey node_key{};
    std::vector<uint8_t> chain;
  };
  struct Peer {
    PeerInfo info;
    std::vector<std::unique_ptr<Key>> keys;  // newest last
    uint64_t keyed_ns = 0;
  };
  struct Outgoing {
    uint64_t token = 0;
    overlay::RingAddress receiver;  // zero for a bootstrap entry
    X25519KeyPair ephemeral;
    uint64_t sent_ns = 0;
  };
  struct Incoming {
    uint64_t token = 0;
    overlay::RingAddress requester;
    PublicKey ephemeral{};
    PeerInfo info;
    uint64_t received_ns = 0;
  };

  // Verifies chain, address and signature of a parsed handshake; fills `info`.
  bool Authenticate(std::span<const uint8_t> datagram, const LinkHandshake& h, uint64_t now_s,
                    PeerInfo* info);
  void Install(const overlay::RingAddress& peer, const PeerInfo& info,
               std::span<const uint8_t, 32> key, uint64_t now_ns);
  void Refuse(LinkRefusal r) { ++counters_.refused[size_t(r)]; }

  const identity::NodeIdentity& id_;
  overlay::RingAddress self_;
  RandomSource& random_;
  LinkAuthCounters& counters_;
  std::vector<Outgoing> outgoing_;
  std::vector<Incoming> incoming_;
  std::map<overlay::RingAddress, Peer> peers_;
};

}  // namespace ipop::cp
