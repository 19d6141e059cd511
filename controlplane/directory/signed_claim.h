// Signed claims (docs/pki.md, "Signed claims in the DHT"): what a record's owner may claim, checked
// against the owner's certificate, and the replicas' rule for replacing a stored record.
//
// A claim (the claim field of a signed record, controlplane/dht/signed_record.h) is
//   key name length (1) | key name | payload
// where the key name is the string the DHT key is the hash of ("vip:lab:10.77.0.3"), so a
// signature binds the subject and nobody can store a permitted claim under another key. Per type:
//   vip        "vip:<network>:<a.b.c.d>"   AllowsVip(VIP); payload starts with the owner's ring
//                                          address (20), which must be RingAddressFromKey(key)
//   name       "name:<dns name>"           the first label of the name is the certificate's name
//   routes     "routes:<network>"          payload starts count (1) | count x prefix (4) length
//   (1),
//                                          AllowsSubnet for each
//   multicast  "mcast:<network>:<group>[#shard]"  AllowsMulticast(group)
// and the network in the key name is the certificate's. The payload after these fields is the
// record type's own (endpoints, candidates, ...), covered by the signature, not read here.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "controlplane/dht/dht_record.h"
#include "controlplane/dht/signed_record.h"
#include "controlplane/identity/certificate.h"
#include "controlplane/identity/ed25519.h"
#include "controlplane/runtime/counter_registry.h"

namespace ipop::cp {

enum class ClaimVerdict : uint8_t {
  kOk,
  kMalformed,        // not a signed record, or a claim that does not parse
  kWrongKey,         // the claim's key name does not hash to the DHT key
  kUnknownOwner,     // no verified certificate for the owner key id
  kBadSignature,     // not the owner's signature
  kExpired,          // the record's expiry has passed
  kNotPermitted,     // the owner's certificate does not allow the claim
  kOwnerChanged,     // a live record of another owner is stored under the key
  kNotNewer,         // version not above the stored one (a replay or a forged downgrade)
  kNothingToRemove,  // a tombstone for a key holding nothing of its owner
};
const char* ClaimVerdictName(ClaimVerdict v);

// Refusals, one counter per verdict but kOk.
struct ClaimCounters {
  uint64_t malformed = 0, wrong_key = 0, unknown_owner = 0, bad_signature = 0, expired = 0;
  uint64_t not_permitted = 0, owner_changed = 0, not_newer = 0, nothing_to_remove = 0;
  void Count(ClaimVerdict v);
};
inline constexpr CounterDesc kClaimCounterDescs[] = {
    IPOP_COUNTER(ClaimCounters, malformed, "signed records that did not parse: refused"),
    IPOP_COUNTER(ClaimCounters, wrong_key, "signed records stored under another key: refused"),
    IPOP_COUNTER(ClaimCounters, unknown_owner,
                 "signed records of an owner without a verified certificate: refused"),
    IPOP_COUNTER(ClaimCounters, bad_signature, "signed records not signed by their owner: refused"),
    IPOP_COUNTER(ClaimCounters, expired, "signed records past their expiry: refused"),
    IPOP_COUNTER(ClaimCounters, not_permitted,
                 "claims the owner's certificate does not allow: refused"),
    IPOP_COUNTER(ClaimCounters, owner_changed,
                 "writes over a live record of another owner: refused"),
    IPOP_COUNTER(ClaimCounters, not_newer, "signed records not newer than the stored one: refused"),
    IPOP_COUNTER(ClaimCounters, nothing_to_remove,
                 "tombstones for a key holding no record of their owner: refused"),
};
static_assert(CoversEveryField<ClaimCounters>(kClaimCounterDescs));

// The owner's certificate by key id, already chain-verified (signature, validity, revocation);
// null when unknown.
using OwnerCertFn = std::function<const identity::Certificate*(const SignedRecordKeyId&)>;

// A claim's bytes (key name and payload); nullopt if the key name is longer than 255 bytes.
std::optional<std::vector<uint8_t>> EncodeClaim(std::string_view key_name,
                                                std::span<const uint8_t> payload);
// The key name and payload of a claim; false if it does not parse.
bool DecodeClaim(std::span<const uint8_t> claim, std::string_view* key_name,
                 std::span<const uint8_t>* payload);

// A signed record of `key` by `signer`; empty if the claim does not fit. A tombstone passes an
// empty claim.
std::vector<uint8_t> SignRecord(const identity::PrivateKey& signer, SignedRecordType type,
                                const DhtKey& key, bool tombstone, std::span<const uint8_t> claim,
                                uint64_t version, uint64_t expiry);

// Everything a record says about itself and its owner at Unix time `now`: it parses, the owner's
// certificate is known, the signature is the owner's, it has not expired, and (but for a
// tombstone) the key name hashes to `key` and the certificate permits the claim.
ClaimVerdict VerifyRecord(const DhtKey& key, std::span<const uint8_t> value,
                          const OwnerCertFn& certs, uint64_t now, SignedRecordView* out);

// What a replica requires of a verified record before storing it over `stored` (the verified
// record held under the key, null if none): the same owner and a higher version; a tombstone
// only over its owner's record.
ClaimVerdict CheckSuccession(const SignedRecordView* stored, const SignedRecordView& incoming);

// Readers: the index in `values` of the claim with the highest version among those that verify,
// so what a lying replica adds fails verification and what it withholds is supplied by the
// others. Nullopt when none verifies, or when a newer tombstone of the same owner removed it.
std::optional<size_t> NewestValidRecord(const DhtKey& key, std::span<const DhtRecord> values,
                                        const OwnerCertFn& certs, uint64_t now,
                                        ClaimCounters* counters);

}  // namespace ipop::cp
