// DhtStore: the values one node keeps for the keys it is a replica of. It knows nothing about the
// ring or the network; the DHT service (over the overlay) decides what reaches it.
//
// Semantics (docs/dht.md, "DHT store"):
// - Create(key, value, owner, ttl) makes the key exclusive to `owner` with one value. It fails
//   with kKeyExists while another owner has a live value there; the same owner renews (its older
//   values under the key are replaced).
// - Put adds a value to the key's multi-value set; the same (owner, value) again refreshes its TTL
//   and version. Put on a live exclusive key fails with kKeyIsExclusive.
// - Get returns the live values; Remove deletes one (owner, value), only by its owner.
// - Values expire at their TTL; Expire() removes them with bounded work per call, and every
//   mutating call does a little of that work too so an idle Tick is not required for correctness.
// - Limits: value size, values per key, per-owner bytes and entries (so one node cannot fill
//   another's store), a total byte budget and a maximum TTL. Each rejection is a DhtStatus and
//   counted in counters().rejected.
// - Replication: DhtRangeReader exports the live records of a key range (handover to a new
//   replica), Merge() takes a record from another replica.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <unordered_map>
#include <vector>

#include "controlplane/dht/dht_key.h"
#include "controlplane/dht/dht_record.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"

namespace ipop::cp {

struct DhtStoreLimits {
  uint32_t max_value_bytes = 1024;
  uint32_t max_values_per_key = 16;
  uint64_t max_owner_bytes = 64 * 1024;  // charged bytes (payload + kDhtValueOverhead)
  uint32_t max_owner_entries = 256;
  uint64_t max_total_bytes = 64ull << 20;
  uint32_t max_ttl_ms = 24 * 3600 * 1000;
};

// Fixed charges approximating the heap memory behind a value and a key (owner, expiry, version,
// vector header, expiry index entry; map node), so empty values are not free.
inline constexpr uint32_t kDhtValueOverhead = 96;
inline constexpr uint32_t kDhtKeyOverhead = 96;

struct DhtStoreCounters {
  uint64_t creates = 0;
  uint64_t puts = 0;
  uint64_t gets = 0;
  uint64_t removes = 0;
  uint64_t merges = 0;
  uint64_t refreshed = 0;   // writes of an (owner, value) already held: TTL/version extended
  uint64_t superseded = 0;  // writes older (by version) than what the key holds: ignored
  uint64_t expired = 0;     // values removed because their TTL ran out
  uint64_t evicted = 0;     // values removed by a repair merge (minority owner of a key)
  uint64_t rejected[kDhtStatusCount] = {};  // by DhtStatus; [kOk] stays 0
};

inline constexpr CounterDesc kDhtStoreCounterDescs[] = {
    IPOP_COUNTER(DhtStoreCounters, creates, "CREATE requests served"),
    IPOP_COUNTER(DhtStoreCounters, puts, "PUT requests served"),
    IPOP_COUNTER(DhtStoreCounters, gets, "GET requests served"),
    IPOP_COUNTER(DhtStoreCounters, removes, "REMOVE requests served"),
    IPOP_COUNTER(DhtStoreCounters, merges, "replica records merged in (re-replication and repair)"),
    IPOP_COUNTER(DhtStoreCounters, refreshed,
                 "writes of an (owner, value) already held: TTL/version extended"),
    IPOP_COUNTER(DhtStoreCounters, superseded,
                 "writes older (by version) than what the key holds: ignored"),
    IPOP_COUNTER(DhtStoreCounters, expired, "values removed because their TTL ran out"),
    IPOP_COUNTER(DhtStoreCounters, evicted,
                 "values removed by a repair merge (minority owner of a key)"),
    IPOP_COUNTER_BY(
        DhtStoreCounters, rejected, "status", [](size_t i) { return DhtStatusName(DhtStatus(i)); },
        1, "requests refused, by status"),
};
static_assert(CoversEveryField<DhtStoreCounters>(kDhtStoreCounterDescs));

// How Merge treats a conflict with the local owner of a key.
enum class DhtMergeMode : uint8_t {
  // Handover from a former replica: local ownership stands (create-exclusive is first come,
  // first served on every replica).
  kHandover = 0,
  // Read repair: the record is what a majority of replicas hold, so it replaces a conflicting
  // local owner.
  kRepair = 1,
};

struct DhtOwnerUsage {
  uint64_t bytes = 0;
  uint32_t entries = 0;
};

class DhtStore {
 public:
  explicit DhtStore(const Clock& clock, DhtStoreLimits limits = {});

  DhtStatus Create(const DhtKey& key, std::span<const uint8_t> value, const DhtOwner& owner,
                   uint32_t ttl_ms, uint64_t version);
  DhtStatus Put(const DhtKey& key, std::span<const uint8_t> value, const DhtOwner& owner,
                uint32_t ttl_ms, uint64_t version);
  // Appends the key's live values to *out (in insertion order); returns how many.
  size_t Get(const DhtKey& key, std::vector<DhtRecord>* out);
  // True if the key has a live value (expired ones are purged; no counters move).
  bool HasLive(const DhtKey& key);
  DhtStatus Remove(const DhtKey& key, std::span<const uint8_t> value, const DhtOwner& owner);
  // Takes one record from another replica. For the same (owner, value) the later expiry and the
  // higher version win; limits and quotas apply as for a write.
  DhtStatus Merge(const DhtRecord& record, DhtMergeMode mode);

  // Removes expired values, looking at no more than `budget` expiry-index entries. Returns the
  // number of values removed.
  size_t Expire(size_t budget);
  // Forgets every key in the clockwise arc (from, to], after it was handed to its new replicas.
  size_t DropRange(const DhtKey& from, const DhtKey& to);

  uint64_t bytes_used() const { return bytes_used_; }
  size_t key_count() const { return keys_.size(); }
  size_t value_count() const { return values_; }  // including expired ones not yet swept
  DhtOwnerUsage usage(const DhtOwner& owner) const;
  const DhtStoreCounters& counters() const { return counters_; }
  const DhtStoreLimits& limits() const { return limits_; }

 private:
  friend class DhtRangeReader;
  struct StoredValue {
    DhtOwner owner;
    uint64_t expires_ns;
    uint64_t version;
    std::vector<uint8_t> bytes;
  };
  struct KeyEntry {
    bool exclusive = false;
    std::vector<StoredValue> values;
  };
  struct ExpiryItem {
    uint64_t expires_ns;
    DhtKey key;
  };
  struct OwnerHash {
    size_t operator()(const DhtOwner& o) const;
  };
  using KeyMap = std::map<DhtKey, KeyEntry>;

  static uint64_t Cost(size_t value_bytes) { return uint64_t{kDhtValueOverhead} + value_bytes; }
  DhtStatus Reject(DhtStatus s);
  DhtStatus CheckWrite(size_t value_bytes, uint32_t ttl_ms);
  // Admission for adding `add` bytes as one value of `owner` after freeing `freed_own` bytes /
  // `freed_own_entries` of that owner and `freed_total` bytes overall.
  DhtStatus Admit(const DhtOwner& owner, uint64_t add, uint64_t freed_own,
                  uint32_t freed_own_entries, uint64_t freed_total, bool new_key) const;
  // Exclusive write: replace the key's values by one value of `owner`.
  DhtStatus WriteExclusive(const DhtKey& key, std::span<const uint8_t> value, const DhtOwner& owner,
                           uint64_t expires_ns, uint64_t version, bool evict_other_owners);
  DhtStatus WriteShared(const DhtKey& key, std::span<const uint8_t> value, const DhtOwner& owner,
                        uint64_t expires_ns, uint64_t version, bool evict_exclusive);
  // Finds the key and drops its expired values; end() if the key is absent or became empty.
  KeyMap::iterator FindLive(const DhtKey& key, uint64_t now);
  KeyMap::iterator Insert(const DhtKey& key);
  void EraseIfEmpty(KeyMap::iterator it);
  size_t PurgeExpired(KeyEntry& entry, uint64_t now);
  void Charge(const DhtOwner& owner, size_t value_bytes);
  void Release(const StoredValue& v);
  void ScheduleExpiry(const DhtKey& key, uint64_t expires_ns);
  uint64_t ExpiryFor(uint32_t ttl_ms) const;
  static void AppendRecord(const DhtKey& key, const KeyEntry& entry, const StoredValue& v,
                           uint64_t now, std::vector<DhtRecord>* out);

  const Clock& clock_;
  DhtStoreLimits limits_;
  KeyMap keys_;
  std::unordered_map<DhtOwner, DhtOwnerUsage, OwnerHash> owners_;
  // Min-heap by expiry; an entry goes stale when its value is refreshed or removed and is then
  // dropped when popped. Rebuilt when stale entries outnumber live values.
  std::vector<ExpiryItem> expiry_heap_;
  uint64_t bytes_used_ = 0;
  size_t values_ = 0;
  DhtStoreCounters counters_;
};

// Walks the live records of the keys in the clockwise arc (from, to] in ring order, a batch at a
// time. It remembers the last key visited, not an iterator, so the store may change between
// batches (keys added behind the cursor are not revisited).
class DhtRangeReader {
 public:
  DhtRangeReader(const DhtStore& store, const DhtKey& from, const DhtKey& to);
  // Appends the records of up to `max_keys` further keys; false once the arc is exhausted.
  bool Next(size_t max_keys, std::vector<DhtRecord>* out);

 private:
  const DhtStore& store_;
  DhtKey from_;
  DhtKey to_;
  DhtKey position_;
  bool wrapped_ = false;
  bool done_ = false;
};

}  // namespace ipop::cp
