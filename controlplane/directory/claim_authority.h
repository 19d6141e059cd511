// ClaimAuthority: a node's checks of signed DHT records in certificate mode (docs/pki.md, "Signed
// claims in the DHT"), as a replica on every write (the DhtService write check) and as a reader.
//
// Owners' chains come from `cert:<ring address>` records (CertRecordKey): self-certifying, since
// the ring address is derived from the key in the chain, so any node may store them and a replica
// accepts one only under its own key. Each verified chain is kept (bounded) by the owner's key id
// and re-checked through NodeIdentity::VerifyPeerChain on every use, so an expired or revoked
// owner stops counting at once.
//
// One node's signed claims per key: vip and name keys hold one owner (a record of another owner
// over a live one is refused), routes and multicast keys one record per owner. A record replaces
// its owner's only with a higher version, a REMOVE is refused (the owner writes a signed
// tombstone instead), and the writer the store records must be the owner's ring address, so a
// REPLICATE cannot re-attribute a record.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "controlplane/dht/dht_record.h"
#include "controlplane/dht/dht_service.h"
#include "controlplane/directory/signed_claim.h"
#include "controlplane/identity/node_identity.h"

namespace ipop::cp {

// HashDhtKey("cert:" + 40 hex digits of the ring address).
DhtKey CertRecordKey(const identity::RingAddressBytes& ring);

class ClaimAuthority {
 public:
  static constexpr size_t kMaxOwnerChains = 4096;  // oldest dropped first

  explicit ClaimAuthority(const identity::NodeIdentity& identity) : identity_(identity) {}

  // A `cert:` record's value (an EncodedChain) found under `key`: kept if it verifies under the
  // network's roots at Unix time `now` and `key` is its own ring address's.
  bool OfferChain(const DhtKey& key, std::span<const uint8_t> chain, uint64_t now);
  // The verified certificate of an owner key id, or null (unknown, expired or revoked).
  const identity::Certificate* OwnerCert(const SignedRecordKeyId& id, uint64_t now);

  // The replica's check (DhtWriteCheckFn's shape, plus the time).
  DhtStatus CheckWrite(DhtMsgType op, const DhtKey& key, const DhtOwner& owner,
                       std::span<const uint8_t> value, std::span<const DhtRecord> stored,
                       uint64_t now);
  // The reader's choice among the values a GET returned (NewestValidRecord).
  std::optional<size_t> Newest(const DhtKey& key, std::span<const DhtRecord> values, uint64_t now);

  // Called with the owner's ring address when a record's owner has no known chain, so the caller
  // can fetch `cert:<ring>` and OfferChain it. The write itself stays refused (kNotAuthorized is
  // a decisive refusal in DecideWrite); the writer's next write goes through.
  void SetUnknownOwnerHandler(std::function<void(const DhtOwner&)> fn) {
    on_unknown_owner_ = std::move(fn);
  }
  const ClaimCounters& counters() const { return counters_; }
  size_t owner_chains() const { return chains_.size(); }

 private:
  struct Held {
    std::vector<uint8_t> chain;
    identity::Certificate cert;
  };
  ClaimVerdict Check(DhtMsgType op, const DhtKey& key, const DhtOwner& owner,
                     std::span<const uint8_t> value, std::span<const DhtRecord> stored,
                     uint64_t now);

  const identity::NodeIdentity& identity_;
  std::map<SignedRecordKeyId, Held> chains_;
  std::deque<SignedRecordKeyId> order_;  // insertion order, for the bound
  ClaimCounters counters_;
  std::function<void(const DhtOwner&)> on_unknown_owner_;
};

}  // namespace ipop::cp
