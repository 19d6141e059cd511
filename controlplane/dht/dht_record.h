// What the DHT store, its messages and the quorum logic exchange: a status for every outcome and
// the portable form of one stored value.
#pragma once

#include <cstdint>
#include <vector>

#include "controlplane/dht/dht_key.h"

namespace ipop::cp {

// Outcome of a DHT operation. Carried on the wire as one byte: append only, never renumber.
// X(name, description)
#define IPOP_DHT_STATUSES(X)                                                     \
  X(kOk, "applied")                                                              \
  X(kValueTooLarge, "value larger than the store's value size limit")            \
  X(kBadTtl, "TTL zero or above the store's maximum")                            \
  X(kKeyExists, "create: the key holds a live value of another owner")           \
  X(kKeyIsExclusive, "put: the key was created exclusively (by create)")         \
  X(kTooManyValues, "put: the key already holds the maximum number of values")   \
  X(kOwnerBytesQuota, "the owner's byte quota on this node is used up")          \
  X(kOwnerEntriesQuota, "the owner's value count quota on this node is used up") \
  X(kStoreFull, "the store's total byte budget is used up")                      \
  X(kNotFound, "remove: no such value under this key")                           \
  X(kNotOwner, "remove: the value exists but was written by another owner")      \
  X(kNotResponsible, "the node is not a replica for this key (overlay service)") \
  X(kOverloaded, "the node rate-limited the requester (overlay service)")        \
  X(kNotAuthorized, "the value's signature, owner or claim does not check out (certificates)")

enum class DhtStatus : uint8_t {
#define IPOP_X(name, desc) name,
  IPOP_DHT_STATUSES(IPOP_X)
#undef IPOP_X
};

#define IPOP_X(name, desc) +1
inline constexpr uint32_t kDhtStatusCount = 0 IPOP_DHT_STATUSES(IPOP_X);
#undef IPOP_X

const char* DhtStatusName(DhtStatus s);

// One value under one key, with its remaining lifetime relative to "now" so it can travel between
// nodes whose monotonic clocks are unrelated.
struct DhtRecord {
  DhtKey key{};
  DhtOwner owner{};
  std::vector<uint8_t> value;
  uint32_t ttl_ms = 0;
  // Chosen by the writer (its wall clock in ns); a higher version is a later write. Replicas and
  // read repair compare versions, never local expiry times.
  uint64_t version = 0;
  bool exclusive = false;  // written by create-exclusive
};

// Identity of a value in a multi-value set: the same bytes from two owners are two values.
inline bool SameValue(const DhtRecord& a, const DhtRecord& b) {
  return a.owner == b.owner && a.value == b.value;
}

}  // namespace ipop::cp
