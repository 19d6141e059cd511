#include "controlplane/dht/dht_store.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace ipop::cp {
namespace {

// Expiry work every write does on the side, so a store that is written but never ticked still
// sheds expired values at least as fast as it gains new ones.
constexpr size_t kSweepPerWrite = 4;
constexpr uint64_t kNsPerMs = 1'000'000;

bool SameBytes(const std::vector<uint8_t>& a, std::span<const uint8_t> b) {
  return a.size() == b.size() && (b.empty() || std::memcmp(a.data(), b.data(), b.size()) == 0);
}

bool Later(uint64_t a_expires, uint64_t b_expires) {
  return a_expires > b_expires;
}

}  // namespace

size_t DhtStore::OwnerHash::operator()(const DhtOwner& o) const {
  // Owners are overlay addresses (uniform bits): any 8 of them hash well.
  size_t h;
  std::memcpy(&h, o.data(), sizeof(h));
  return h;
}

DhtStore::DhtStore(const Clock& clock, DhtStoreLimits limits) : clock_(clock), limits_(limits) {}

DhtStatus DhtStore::Reject(DhtStatus s) {
  if (s != DhtStatus::kOk) ++counters_.rejected[uint32_t(s)];
  return s;
}

DhtStatus DhtStore::CheckWrite(size_t value_bytes, uint32_t ttl_ms) {
  if (value_bytes > limits_.max_value_bytes) return DhtStatus::kValueTooLarge;
  if (ttl_ms == 0 || ttl_ms > limits_.max_ttl_ms) return DhtStatus::kBadTtl;
  return DhtStatus::kOk;
}

uint64_t DhtStore::ExpiryFor(uint32_t ttl_ms) const {
  return clock_.NowNs() + uint64_t{ttl_ms} * kNsPerMs;
}

DhtStatus DhtStore::Admit(const DhtOwner& owner, uint64_t add, uint64_t freed_own,
                          uint32_t freed_own_entries, uint64_t freed_total, bool new_key) const {
  DhtOwnerUsage u = usage(owner);
  if (u.bytes - freed_own + add > limits_.max_owner_bytes) return DhtStatus::kOwnerBytesQuota;
  if (uint64_t{u.entries} - freed_own_entries + 1 > limits_.max_owner_entries)
    return DhtStatus::kOwnerEntriesQuota;
  const uint64_t total = bytes_used_ - freed_total + add + (new_key ? kDhtKeyOverhead : 0);
  if (total > limits_.max_total_bytes) return DhtStatus::kStoreFull;
  return DhtStatus::kOk;
}

DhtOwnerUsage DhtStore::usage(const DhtOwner& owner) const {
  const auto it = owners_.find(owner);
  return it == owners_.end() ? DhtOwnerUsage{} : it->second;
}

void DhtStore::Charge(const DhtOwner& owner, size_t value_bytes) {
  DhtOwnerUsage& u = owners_[owner];
  u.bytes += Cost(value_bytes);
  ++u.entries;
  bytes_used_ += Cost(value_bytes);
  ++values_;
}

void DhtStore::Release(const StoredValue& v) {
  const auto it = owners_.find(v.owner);
  if (it != owners_.end()) {
    it->second.bytes -= Cost(v.bytes.size());
    if (--it->second.entries == 0) owners_.erase(it);
  }
  bytes_used_ -= Cost(v.bytes.size());
  --values_;
}

DhtStore::KeyMap::iterator DhtStore::Insert(const DhtKey& key) {
  bytes_used_ += kDhtKeyOverhead;
  return keys_.emplace(key, KeyEntry{}).first;
}

void DhtStore::EraseIfEmpty(KeyMap::iterator it) {
  if (!it->second.values.empty()) return;
  bytes_used_ -= kDhtKeyOverhead;
  keys_.erase(it);
}

size_t DhtStore::PurgeExpired(KeyEntry& entry, uint64_t now) {
  size_t removed = 0;
  std::erase_if(entry.values, [&](const StoredValue& v) {
    if (v.expires_ns > now) return false;
    Release(v);
    ++removed;
    return true;
  });
  counters_.expired += removed;
  if (entry.values.empty()) entry.exclusive = false;
  return removed;
}

DhtStore::KeyMap::iterator DhtStore::FindLive(const DhtKey& key, uint64_t now) {
  auto it = keys_.find(key);
  if (it == keys_.end()) return it;
  PurgeExpired(it->second, now);
  if (it->second.values.empty()) {
    EraseIfEmpty(it);
    return keys_.end();
  }
  return it;
}

void DhtStore::ScheduleExpiry(const DhtKey& key, uint64_t expires_ns) {
  const auto sooner_first = [](const ExpiryItem& a, const ExpiryItem& b) {
    return Later(a.expires_ns, b.expires_ns);
  };
  expiry_heap_.push_back({expires_ns, key});
  std::push_heap(expiry_heap_.begin(), expiry_heap_.end(), sooner_first);
  if (expiry_heap_.size() <= 2 * values_ + 64) return;
  // Refreshes leave stale entries behind; rebuilding after as many pushes as there are values
  // keeps the heap within twice the live size at O(1) amortised cost per write.
  expiry_heap_.clear();
  for (const auto& [k, entry] : keys_)
    for (const StoredValue& v : entry.values) expiry_heap_.push_back({v.expires_ns, k});
  std::make_heap(expiry_heap_.begin(), expiry_heap_.end(), sooner_first);
}

DhtStatus DhtStore::WriteExclusive(const DhtKey& key, std::span<const uint8_t> value,
                                   const DhtOwner& owner, uint64_t expires_ns, uint64_t version,
                                   bool evict_other_owners) {
  auto it = FindLive(key, clock_.NowNs());
  uint64_t freed_own = 0, freed_total = 0;
  uint32_t freed_own_entries = 0;
  if (it != keys_.end()) {
    KeyEntry& entry = it->second;
    for (const StoredValue& v : entry.values) {
      if (v.owner != owner && !evict_other_owners) return DhtStatus::kKeyExists;
      freed_total += Cost(v.bytes.size());
      if (v.owner == owner) {
        freed_own += Cost(v.bytes.size());
        ++freed_own_entries;
      }
    }
    if (entry.exclusive && entry.values.front().owner == owner) {
      StoredValue& held = entry.values.front();
      if (SameBytes(held.bytes, value)) {
        if (Later(expires_ns, held.expires_ns)) {
          held.expires_ns = expires_ns;
          ScheduleExpiry(key, expires_ns);
        }
        held.version = std::max(held.version, version);
        ++counters_.refreshed;
        return DhtStatus::kOk;
      }
      if (held.version > version) {
        ++counters_.superseded;
        return DhtStatus::kOk;
      }
    }
  }
  const DhtStatus s = Admit(owner, Cost(value.size()), freed_own, freed_own_entries, freed_total,
                            it == keys_.end());
  if (s != DhtStatus::kOk) return s;
  if (it == keys_.end()) it = Insert(key);
  KeyEntry& entry = it->second;
  for (const StoredValue& v : entry.values) {
    if (v.owner != owner) ++counters_.evicted;
    Release(v);
  }
  entry.values.clear();
  entry.values.push_back({owner, expires_ns, version, {value.begin(), value.end()}});
  entry.exclusive = true;
  Charge(owner, value.size());
  ScheduleExpiry(key, expires_ns);
  return DhtStatus::kOk;
}

DhtStatus DhtStore::WriteShared(const DhtKey& key, std::span<const uint8_t> value,
                                const DhtOwner& owner, uint64_t expires_ns, uint64_t version,
                                bool evict_exclusive) {
  auto it = FindLive(key, clock_.NowNs());
  uint64_t freed_own = 0, freed_total = 0;
  uint32_t freed_own_entries = 0;
  if (it != keys_.end()) {
    KeyEntry& entry = it->second;
    if (entry.exclusive) {
      if (!evict_exclusive) return DhtStatus::kKeyIsExclusive;
      for (const StoredValue& v : entry.values) {
        freed_total += Cost(v.bytes.size());
        if (v.owner == owner) {
          freed_own += Cost(v.bytes.size());
          ++freed_own_entries;
        }
      }
    } else {
      for (StoredValue& v : entry.values) {
        if (v.owner != owner || !SameBytes(v.bytes, value)) continue;
        if (Later(expires_ns, v.expires_ns)) {
          v.expires_ns = expires_ns;
          ScheduleExpiry(key, expires_ns);
        }
        v.version = std::max(v.version, version);
        ++counters_.refreshed;
        return DhtStatus::kOk;
      }
      if (entry.values.size() >= limits_.max_values_per_key) return DhtStatus::kTooManyValues;
    }
  }
  const DhtStatus s = Admit(owner, Cost(value.size()), freed_own, freed_own_entries, freed_total,
                            it == keys_.end());
  if (s != DhtStatus::kOk) return s;
  if (it == keys_.end()) it = Insert(key);
  KeyEntry& entry = it->second;
  if (entry.exclusive) {
    for (const StoredValue& v : entry.values) {
      ++counters_.evicted;
      Release(v);
    }
    entry.values.clear();
    entry.exclusive = false;
  }
  entry.values.push_back({owner, expires_ns, version, {value.begin(), value.end()}});
  Charge(owner, value.size());
  ScheduleExpiry(key, expires_ns);
  return DhtStatus::kOk;
}

DhtStatus DhtStore::Create(const DhtKey& key, std::span<const uint8_t> value, const DhtOwner& owner,
                           uint32_t ttl_ms, uint64_t version) {
  ++counters_.creates;
  if (const DhtStatus s = CheckWrite(value.size(), ttl_ms); s != DhtStatus::kOk) return Reject(s);
  Expire(kSweepPerWrite);
  return Reject(WriteExclusive(key, value, owner, ExpiryFor(ttl_ms), version, false));
}

DhtStatus DhtStore::Put(const DhtKey& key, std::span<const uint8_t> value, const DhtOwner& owner,
                        uint32_t ttl_ms, uint64_t version) {
  ++counters_.puts;
  if (const DhtStatus s = CheckWrite(value.size(), ttl_ms); s != DhtStatus::kOk) return Reject(s);
  Expire(kSweepPerWrite);
  return Reject(WriteShared(key, value, owner, ExpiryFor(ttl_ms), version, false));
}

DhtStatus DhtStore::Merge(const DhtRecord& record, DhtMergeMode mode) {
  ++counters_.merges;
  if (const DhtStatus s = CheckWrite(record.value.size(), record.ttl_ms); s != DhtStatus::kOk)
    return Reject(s);
  Expire(kSweepPerWrite);
  const bool repair = mode == DhtMergeMode::kRepair;
  const uint64_t expires_ns = ExpiryFor(record.ttl_ms);
  return Reject(record.exclusive ? WriteExclusive(record.key, record.value, record.owner,
                                                  expires_ns, record.version, repair)
                                 : WriteShared(record.key, record.value, record.owner, expires_ns,
                                               record.version, repair));
}

void DhtStore::AppendRecord(const DhtKey& key, const KeyEntry& entry, const StoredValue& v,
                            uint64_t now, std::vector<DhtRecord>* out) {
  DhtRecord& r = out->emplace_back();
  r.key = key;
  r.owner = v.owner;
  r.value = v.bytes;
  // Rounded up so a live value never travels with ttl 0 (which receivers reject).
  r.ttl_ms = uint32_t(std::min<uint64_t>((v.expires_ns - now + kNsPerMs - 1) / kNsPerMs,
                                         std::numeric_limits<uint32_t>::max()));
  r.version = v.version;
  r.exclusive = entry.exclusive;
}

size_t DhtStore::Get(const DhtKey& key, std::vector<DhtRecord>* out) {
  ++counters_.gets;
  const uint64_t now = clock_.NowNs();
  const auto it = FindLive(key, now);
  if (it == keys_.end()) return 0;
  for (const StoredValue& v : it->second.values) AppendRecord(key, it->second, v, now, out);
  return it->second.values.size();
}

bool DhtStore::HasLive(const DhtKey& key) {
  return FindLive(key, clock_.NowNs()) != keys_.end();
}

DhtStatus DhtStore::Remove(const DhtKey& key, std::span<const uint8_t> value,
                           const DhtOwner& owner) {
  ++counters_.removes;
  const auto it = FindLive(key, clock_.NowNs());
  if (it == keys_.end()) return Reject(DhtStatus::kNotFound);
  auto& values = it->second.values;
  bool other_owner = false;
  for (auto v = values.begin(); v != values.end(); ++v) {
    if (!SameBytes(v->bytes, value)) continue;
    if (v->owner != owner) {
      other_owner = true;
      continue;
    }
    Release(*v);
    values.erase(v);
    if (values.empty()) it->second.exclusive = false;
    EraseIfEmpty(it);
    return DhtStatus::kOk;
  }
  return Reject(other_owner ? DhtStatus::kNotOwner : DhtStatus::kNotFound);
}

size_t DhtStore::Expire(size_t budget) {
  const auto sooner_first = [](const ExpiryItem& a, const ExpiryItem& b) {
    return Later(a.expires_ns, b.expires_ns);
  };
  const uint64_t now = clock_.NowNs();
  size_t removed = 0;
  while (budget > 0 && !expiry_heap_.empty() && expiry_heap_.front().expires_ns <= now) {
    std::pop_heap(expiry_heap_.begin(), expiry_heap_.end(), sooner_first);
    const DhtKey key = expiry_heap_.back().key;
    expiry_heap_.pop_back();
    --budget;
    const auto it = keys_.find(key);
    if (it == keys_.end()) continue;  // stale entry: the key went away before it expired
    removed += PurgeExpired(it->second, now);
    EraseIfEmpty(it);
  }
  return removed;
}

size_t DhtStore::DropRange(const DhtKey& from, const DhtKey& to) {
  size_t dropped = 0;
  for (auto it = keys_.begin(); it != keys_.end();) {
    if (!InClockwiseRange(it->first, from, to)) {
      ++it;
      continue;
    }
    for (const StoredValue& v : it->second.values) Release(v);
    dropped += it->second.values.size();
    it->second.values.clear();
    bytes_used_ -= kDhtKeyOverhead;
    it = keys_.erase(it);
  }
  return dropped;
}

DhtRangeReader::DhtRangeReader(const DhtStore& store, const DhtKey& from, const DhtKey& to)
    : store_(store), from_(from), to_(to), position_(from) {}

bool DhtRangeReader::Next(size_t max_keys, std::vector<DhtRecord>* out) {
  const auto& keys = store_.keys_;
  const uint64_t now = store_.clock_.NowNs();
  size_t visited = 0;
  while (!done_ && visited < max_keys) {
    auto it = keys.upper_bound(position_);
    if (it == keys.end()) {
      if (wrapped_ || keys.empty()) {
        done_ = true;
        break;
      }
      wrapped_ = true;
      it = keys.begin();
    }
    const DhtKey& k = it->first;
    // Keys follow `from` clockwise, so the arc is a prefix of this walk: the first key outside
    // it (or, after wrapping, beyond `from` again) ends the walk.
    if ((wrapped_ && k > from_) || !InClockwiseRange(k, from_, to_)) {
      done_ = true;
      break;
    }
    position_ = k;
    ++visited;
    for (const auto& v : it->second.values) {
      if (v.expires_ns > now) DhtStore::AppendRecord(k, it->second, v, now, out);
    }
  }
  return visited > 0 || !done_;
}

}  // namespace ipop::cp
