#include "controlplane/directory/claim_authority.h"

#include <algorithm>
#include <string>

#include "controlplane/dht/dht_key.h"

namespace ipop::cp {
namespace {

bool OneOwnerPerKey(SignedRecordType t) {
  return t == SignedRecordType::kVip || t == SignedRecordType::kName;
}

}  // namespace

DhtKey CertRecordKey(const identity::RingAddressBytes& ring) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string name = "cert:";
  for (uint8_t b : ring) {
    name += kHex[b >> 4];
    name += kHex[b & 15];
  }
  return HashDhtKey(name);
}

bool ClaimAuthority::OfferChain(const DhtKey& key, std::span<const uint8_t> chain, uint64_t now) {
  const identity::PeerVerdict v =
      identity_.VerifyPeerChain(chain, identity::TrustScope::kNetwork, now);
  if (!v.ok()) return false;
  if (CertRecordKey(identity::RingAddressFromKey(v.cert->fields.public_key)) != key) return false;
  const SignedRecordKeyId id = v.cert->key_id();
  auto it = chains_.find(id);
  if (it == chains_.end()) {
    if (chains_.size() >= kMaxOwnerChains) {
      chains_.erase(order_.front());
      order_.pop_front();
    }
    order_.push_back(id);
    it = chains_.emplace(id, Held{}).first;
  }
  // A renewal (same key, new certificate) replaces the old chain.
  it->second.chain.assign(chain.begin(), chain.end());
  it->second.cert = *v.cert;
  return true;
}

const identity::Certificate* ClaimAuthority::OwnerCert(const SignedRecordKeyId& id, uint64_t now) {
  if (id == identity_.key_id()) return &identity_.cert();
  const auto it = chains_.find(id);
  if (it == chains_.end()) return nullptr;
  // Re-checked on every use: expiry and revocations apply at once (cached by NodeIdentity).
  if (!identity_.VerifyPeerChain(it->second.chain, identity::TrustScope::kNetwork, now).ok())
    return nullptr;
  return &it->second.cert;
}

ClaimVerdict ClaimAuthority::Check(DhtMsgType op, const DhtKey& key, const DhtOwner& owner,
                                   std::span<const uint8_t> value,
                                   std::span<const DhtRecord> stored, uint64_t now) {
  // Removal is a signed tombstone written like any record: a bare REMOVE proves nothing.
  if (op == DhtMsgType::kRemove) return ClaimVerdict::kNotPermitted;
  const OwnerCertFn certs = [this, now](const SignedRecordKeyId& id) { return OwnerCert(id, now); };
  SignedRecordView v;
  ClaimVerdict verdict = VerifyRecord(key, value, certs, now, &v);
  if (verdict == ClaimVerdict::kUnknownOwner && on_unknown_owner_) on_unknown_owner_(owner);
  if (verdict != ClaimVerdict::kOk) return verdict;
  // The writer the store records is the owner's ring address: nobody writes, and no REPLICATE
  // re-attributes, a record in another's name.
  const identity::RingAddressBytes ring =
      identity::RingAddressFromKey(certs(v.owner)->fields.public_key);
  if (!std::equal(ring.begin(), ring.end(), owner.begin())) return ClaimVerdict::kNotPermitted;
  // The stored record this one succeeds: for one-owner keys the newest of any owner, else the
  // newest of the same owner. Stored records were checked on their way in.
  const SignedRecordView* prior = nullptr;
  SignedRecordView best;
  for (const DhtRecord& r : stored) {
    if (std::equal(r.value.begin(), r.value.end(), value.begin(), value.end()) && r.owner == owner)
      return ClaimVerdict::kOk;  // the same record again (handover, refresh)
    SignedRecordView s;
    if (DecodeSignedRecord(r.value, &s) != SignedRecordError::kNone || s.expiry <= now) continue;
    if (!OneOwnerPerKey(v.type) && s.owner != v.owner) continue;
    if (!prior || s.version > best.version) {
      best = s;
      prior = &best;
    }
  }
  // A key its owner released (a tombstone) is free for another.
  if (prior && prior->tombstone && prior->owner != v.owner) prior = nullptr;
  return CheckSuccession(prior, v);
}

DhtStatus ClaimAuthority::CheckWrite(DhtMsgType op, const DhtKey& key, const DhtOwner& owner,
                                     std::span<const uint8_t> value,
                                     std::span<const DhtRecord> stored, uint64_t now) {
  // A `cert:` record: any node may store one, under its own key only.
  if (op != DhtMsgType::kRemove && OfferChain(key, value, now)) return DhtStatus::kOk;
  const ClaimVerdict v = Check(op, key, owner, value, stored, now);
  counters_.Count(v);
  return v == ClaimVerdict::kOk ? DhtStatus::kOk : DhtStatus::kNotAuthorized;
}

std::optional<size_t> ClaimAuthority::Newest(const DhtKey& key, std::span<const DhtRecord> values,
                                             uint64_t now) {
  const OwnerCertFn certs = [this, now](const SignedRecordKeyId& id) { return OwnerCert(id, now); };
  return NewestValidRecord(key, values, certs, now, &counters_);
}

}  // namespace ipop::cp
