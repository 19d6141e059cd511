// DhtStore: TTL and expiry under a fake clock, create races, multi-value put, remove, limits and
// quotas, memory accounting, range export, replica merge, and a randomized run against a naive
// model of the same semantics.
#include "controlplane/dht/dht_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "tests/unit/cp_fakes.h"

namespace ipop::cp {
namespace {

using testing::FakeClock;

DhtKey K(int i) {
  return HashDhtKey("key" + std::to_string(i));
}
DhtKey Raw(uint8_t first) {
  DhtKey k{};
  k[0] = first;
  return k;
}
DhtOwner O(int i) {
  return HashDhtKey("owner" + std::to_string(i));
}
std::vector<uint8_t> V(const std::string& s) {
  return {s.begin(), s.end()};
}

std::vector<std::string> Values(DhtStore& s, const DhtKey& k) {
  std::vector<DhtRecord> out;
  s.Get(k, &out);
  std::vector<std::string> v;
  for (const auto& r : out) v.emplace_back(r.value.begin(), r.value.end());
  std::sort(v.begin(), v.end());
  return v;
}

uint64_t Cost(size_t n) {
  return kDhtValueOverhead + n;
}

class DhtStoreTest : public ::testing::Test {
 protected:
  FakeClock clock;
};

TEST_F(DhtStoreTest, ValueLivesExactlyItsTtl) {
  DhtStore s(clock);
  ASSERT_EQ(s.Put(K(1), V("x"), O(1), 1000, 1), DhtStatus::kOk);
  clock.AdvanceMs(999);
  std::vector<DhtRecord> out;
  ASSERT_EQ(s.Get(K(1), &out), 1u);
  EXPECT_EQ(out[0].ttl_ms, 1u);
  EXPECT_EQ(out[0].version, 1u);
  EXPECT_EQ(out[0].owner, O(1));
  EXPECT_FALSE(out[0].exclusive);
  clock.AdvanceMs(1);
  EXPECT_TRUE(Values(s, K(1)).empty());
  EXPECT_EQ(s.key_count(), 0u);
  EXPECT_EQ(s.bytes_used(), 0u);
  EXPECT_EQ(s.counters().expired, 1u);
}

TEST_F(DhtStoreTest, ExpireIsBoundedPerCallAndEventuallyComplete) {
  DhtStore s(clock);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(s.Put(K(i), V("v"), O(i), 1000 + i, 1), DhtStatus::kOk);
  ASSERT_EQ(s.Put(K(1000), V("long"), O(1), 100'000, 1), DhtStatus::kOk);
  clock.AdvanceMs(2000);
  size_t total = 0, calls = 0;
  while (size_t n = s.Expire(7)) {
    EXPECT_LE(n, 7u);
    total += n;
    ++calls;
  }
  EXPECT_EQ(total, 100u);
  EXPECT_GE(calls, 100u / 7);
  EXPECT_EQ(s.value_count(), 1u);
  EXPECT_EQ(s.key_count(), 1u);
  EXPECT_EQ(s.bytes_used(), Cost(4) + kDhtKeyOverhead);
  EXPECT_EQ(Values(s, K(1000)), std::vector<std::string>{"long"});
}

TEST_F(DhtStoreTest, RefreshedValueOutlivesItsFirstExpiry) {
  DhtStore s(clock);
  ASSERT_EQ(s.Put(K(1), V("x"), O(1), 1000, 1), DhtStatus::kOk);
  clock.AdvanceMs(800);
  ASSERT_EQ(s.Put(K(1), V("x"), O(1), 1000, 2), DhtStatus::kOk);
  EXPECT_EQ(s.counters().refreshed, 1u);
  clock.AdvanceMs(500);  // past the first expiry: the stale index entry must not remove it
  EXPECT_EQ(s.Expire(100), 0u);
  EXPECT_EQ(Values(s, K(1)), std::vector<std::string>{"x"});
  clock.AdvanceMs(500);
  EXPECT_EQ(s.Expire(100), 1u);
  EXPECT_EQ(s.value_count(), 0u);
}

TEST_F(DhtStoreTest, WritesSweepExpiredValuesOnTheSide) {
  DhtStore s(clock);
  for (int i = 0; i < 40; ++i) ASSERT_EQ(s.Put(K(i), V("v"), O(1), 10, 1), DhtStatus::kOk);
  clock.AdvanceMs(20);
  for (int i = 0; i < 10; ++i)
    ASSERT_EQ(s.Put(K(100 + i), V("v"), O(2), 10'000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.value_count(), 10u);  // 10 writes x 4 sweeps per write
}

TEST_F(DhtStoreTest, CreateIsExclusiveAcrossOwners) {
  DhtStore s(clock);
  EXPECT_EQ(s.Create(K(1), V("a"), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Create(K(1), V("b"), O(2), 1000, 2), DhtStatus::kKeyExists);
  EXPECT_EQ(s.Put(K(1), V("b"), O(2), 1000, 2), DhtStatus::kKeyIsExclusive);
  EXPECT_EQ(s.Put(K(1), V("a2"), O(1), 1000, 2), DhtStatus::kKeyIsExclusive);
  EXPECT_EQ(Values(s, K(1)), std::vector<std::string>{"a"});
  // The owner renews, with a new value.
  EXPECT_EQ(s.Create(K(1), V("a2"), O(1), 1000, 3), DhtStatus::kOk);
  EXPECT_EQ(Values(s, K(1)), std::vector<std::string>{"a2"});
  EXPECT_EQ(s.value_count(), 1u);
  EXPECT_EQ(s.counters().rejected[uint32_t(DhtStatus::kKeyExists)], 1u);
  EXPECT_EQ(s.counters().rejected[uint32_t(DhtStatus::kKeyIsExclusive)], 2u);
  // Once the claim expires the other owner wins the name.
  clock.AdvanceMs(1000);
  EXPECT_EQ(s.Create(K(1), V("b"), O(2), 1000, 4), DhtStatus::kOk);
  std::vector<DhtRecord> out;
  ASSERT_EQ(s.Get(K(1), &out), 1u);
  EXPECT_EQ(out[0].owner, O(2));
  EXPECT_TRUE(out[0].exclusive);
}

TEST_F(DhtStoreTest, DelayedOlderCreateDoesNotUndoARenewal) {
  DhtStore s(clock);
  ASSERT_EQ(s.Create(K(1), V("new"), O(1), 1000, 5), DhtStatus::kOk);
  EXPECT_EQ(s.Create(K(1), V("old"), O(1), 1000, 3), DhtStatus::kOk);
  EXPECT_EQ(Values(s, K(1)), std::vector<std::string>{"new"});
  EXPECT_EQ(s.counters().superseded, 1u);
}

TEST_F(DhtStoreTest, CreateOverOwnSharedValuesConvertsButNotOverOthers) {
  DhtStore s(clock);
  ASSERT_EQ(s.Put(K(1), V("p"), O(1), 1000, 1), DhtStatus::kOk);
  ASSERT_EQ(s.Put(K(1), V("q"), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Create(K(1), V("c"), O(1), 1000, 2), DhtStatus::kOk);
  EXPECT_EQ(Values(s, K(1)), std::vector<std::string>{"c"});
  EXPECT_EQ(s.usage(O(1)).entries, 1u);
  ASSERT_EQ(s.Put(K(2), V("p"), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Create(K(2), V("c"), O(2), 1000, 2), DhtStatus::kKeyExists);
}

TEST_F(DhtStoreTest, PutIsAMultiValueSetPerOwnerAndValue) {
  DhtStore s(clock);
  EXPECT_EQ(s.Put(K(1), V("x"), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Put(K(1), V("x"), O(2), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Put(K(1), V("y"), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Put(K(1), V("x"), O(1), 5000, 7), DhtStatus::kOk);  // refresh, not a new value
  EXPECT_EQ(s.value_count(), 3u);
  EXPECT_EQ(Values(s, K(1)), (std::vector<std::string>{"x", "x", "y"}));
  clock.AdvanceMs(1000);
  std::vector<DhtRecord> out;
  ASSERT_EQ(s.Get(K(1), &out), 1u);
  EXPECT_EQ(out[0].owner, O(1));
  EXPECT_EQ(out[0].version, 7u);
  EXPECT_EQ(out[0].ttl_ms, 4000u);
}

TEST_F(DhtStoreTest, ShorterRefreshDoesNotShortenTtl) {
  DhtStore s(clock);
  ASSERT_EQ(s.Put(K(1), V("x"), O(1), 5000, 1), DhtStatus::kOk);
  ASSERT_EQ(s.Put(K(1), V("x"), O(1), 10, 2), DhtStatus::kOk);
  clock.AdvanceMs(100);
  EXPECT_EQ(Values(s, K(1)), std::vector<std::string>{"x"});
}

TEST_F(DhtStoreTest, RemoveOnlyByOwner) {
  DhtStore s(clock);
  ASSERT_EQ(s.Put(K(1), V("x"), O(1), 1000, 1), DhtStatus::kOk);
  ASSERT_EQ(s.Put(K(1), V("y"), O(2), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Remove(K(1), V("x"), O(2)), DhtStatus::kNotOwner);
  EXPECT_EQ(s.Remove(K(1), V("z"), O(1)), DhtStatus::kNotFound);
  EXPECT_EQ(s.Remove(K(9), V("x"), O(1)), DhtStatus::kNotFound);
  EXPECT_EQ(s.Remove(K(1), V("x"), O(1)), DhtStatus::kOk);
  EXPECT_EQ(Values(s, K(1)), std::vector<std::string>{"y"});
  EXPECT_EQ(s.Remove(K(1), V("y"), O(2)), DhtStatus::kOk);
  EXPECT_EQ(s.key_count(), 0u);
  EXPECT_EQ(s.bytes_used(), 0u);
  EXPECT_EQ(s.counters().rejected[uint32_t(DhtStatus::kNotOwner)], 1u);
  EXPECT_EQ(s.counters().rejected[uint32_t(DhtStatus::kNotFound)], 2u);
  // Removing an exclusive value frees the name at once.
  ASSERT_EQ(s.Create(K(2), V("c"), O(1), 1000, 1), DhtStatus::kOk);
  ASSERT_EQ(s.Remove(K(2), V("c"), O(1)), DhtStatus::kOk);
  EXPECT_EQ(s.Create(K(2), V("d"), O(2), 1000, 1), DhtStatus::kOk);
}

TEST_F(DhtStoreTest, ValueSizeAndTtlLimits) {
  DhtStoreLimits l;
  l.max_ttl_ms = 60'000;
  DhtStore s(clock, l);
  EXPECT_EQ(s.Put(K(1), std::vector<uint8_t>(1024, 1), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Put(K(1), std::vector<uint8_t>(1025, 1), O(1), 1000, 1), DhtStatus::kValueTooLarge);
  EXPECT_EQ(s.Create(K(2), std::vector<uint8_t>(1025, 1), O(1), 1000, 1),
            DhtStatus::kValueTooLarge);
  EXPECT_EQ(s.Put(K(1), V("x"), O(1), 0, 1), DhtStatus::kBadTtl);
  EXPECT_EQ(s.Put(K(1), V("x"), O(1), 60'001, 1), DhtStatus::kBadTtl);
  EXPECT_EQ(s.Put(K(1), V("x"), O(1), 60'000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Put(K(3), V(""), O(1), 1000, 1), DhtStatus::kOk);  // empty values are values
  EXPECT_EQ(s.counters().rejected[uint32_t(DhtStatus::kValueTooLarge)], 2u);
  EXPECT_EQ(s.counters().rejected[uint32_t(DhtStatus::kBadTtl)], 2u);
}

TEST_F(DhtStoreTest, ValuesPerKeyLimit) {
  DhtStoreLimits l;
  l.max_values_per_key = 3;
  DhtStore s(clock, l);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(s.Put(K(1), V(std::to_string(i)), O(i), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Put(K(1), V("3"), O(3), 1000, 1), DhtStatus::kTooManyValues);
  EXPECT_EQ(s.Put(K(1), V("0"), O(0), 1000, 2), DhtStatus::kOk);  // refresh still allowed
  EXPECT_EQ(s.Put(K(2), V("3"), O(3), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.counters().rejected[uint32_t(DhtStatus::kTooManyValues)], 1u);
}

TEST_F(DhtStoreTest, OwnerQuotasProtectOtherOwners) {
  DhtStoreLimits l;
  l.max_owner_entries = 4;
  l.max_owner_bytes = 10 * Cost(10);
  DhtStore s(clock, l);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(s.Put(K(i), V("v"), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Put(K(9), V("v"), O(1), 1000, 1), DhtStatus::kOwnerEntriesQuota);
  EXPECT_EQ(s.Put(K(9), V("v"), O(2), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.usage(O(1)).entries, 4u);
  EXPECT_EQ(s.usage(O(1)).bytes, 4 * Cost(1));
  // Renewing its own exclusive claim at the quota is not a new entry.
  ASSERT_EQ(s.Remove(K(3), V("v"), O(1)), DhtStatus::kOk);
  ASSERT_EQ(s.Create(K(3), V("c"), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Create(K(3), V("c2"), O(1), 1000, 2), DhtStatus::kOk);

  DhtStoreLimits b;
  b.max_owner_bytes = 2 * Cost(100);
  DhtStore bs(clock, b);
  EXPECT_EQ(bs.Put(K(1), std::vector<uint8_t>(100), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(bs.Put(K(2), std::vector<uint8_t>(100), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(bs.Put(K(3), std::vector<uint8_t>(1), O(1), 1000, 1), DhtStatus::kOwnerBytesQuota);
  EXPECT_EQ(bs.Put(K(3), std::vector<uint8_t>(100), O(2), 1000, 1), DhtStatus::kOk);
  // Expiry gives the quota back.
  clock.AdvanceMs(1000);
  bs.Expire(100);
  EXPECT_EQ(bs.usage(O(1)).bytes, 0u);
  EXPECT_EQ(bs.Put(K(3), std::vector<uint8_t>(1), O(1), 1000, 1), DhtStatus::kOk);
}

TEST_F(DhtStoreTest, TotalBudgetIsAHardCap) {
  DhtStoreLimits l;
  l.max_total_bytes = 3 * (Cost(10) + kDhtKeyOverhead);
  DhtStore s(clock, l);
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(s.Put(K(i), std::vector<uint8_t>(10), O(i), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Put(K(3), std::vector<uint8_t>(10), O(3), 1000, 1), DhtStatus::kStoreFull);
  EXPECT_EQ(s.bytes_used(), l.max_total_bytes);
  EXPECT_EQ(s.counters().rejected[uint32_t(DhtStatus::kStoreFull)], 1u);
}

TEST_F(DhtStoreTest, BytesUsedTracksEveryChange) {
  DhtStore s(clock);
  ASSERT_EQ(s.Put(K(1), V("abc"), O(1), 1000, 1), DhtStatus::kOk);
  ASSERT_EQ(s.Put(K(1), V("de"), O(2), 1000, 1), DhtStatus::kOk);
  ASSERT_EQ(s.Create(K(2), V("fghij"), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.bytes_used(), Cost(3) + Cost(2) + Cost(5) + 2 * kDhtKeyOverhead);
  EXPECT_EQ(s.usage(O(1)).bytes, Cost(3) + Cost(5));
  ASSERT_EQ(s.Create(K(2), V("f"), O(1), 1000, 2), DhtStatus::kOk);
  EXPECT_EQ(s.usage(O(1)).bytes, Cost(3) + Cost(1));
  ASSERT_EQ(s.Remove(K(1), V("abc"), O(1)), DhtStatus::kOk);
  EXPECT_EQ(s.bytes_used(), Cost(2) + Cost(1) + 2 * kDhtKeyOverhead);
  EXPECT_EQ(s.DropRange(Raw(0), Raw(0)), 2u);
  EXPECT_EQ(s.bytes_used(), 0u);
  EXPECT_EQ(s.usage(O(2)).entries, 0u);
}

std::vector<uint8_t> FirstBytes(const std::vector<DhtRecord>& rs) {
  std::vector<uint8_t> v;
  for (const auto& r : rs) v.push_back(r.key[0]);
  return v;
}

TEST_F(DhtStoreTest, RangeReaderWalksArcsInRingOrder) {
  DhtStore s(clock);
  for (uint8_t b : {0x10, 0x20, 0x30, 0x80, 0xf0})
    ASSERT_EQ(s.Put(Raw(b), V("v"), O(1), 1000, 1), DhtStatus::kOk);
  struct Case {
    uint8_t from, to;
    std::vector<uint8_t> want;
  };
  const Case cases[] = {
      {0x10, 0x80, {0x20, 0x30, 0x80}},              // (from, to]: from excluded, to included
      {0x00, 0xff, {0x10, 0x20, 0x30, 0x80, 0xf0}},  // everything but key 0x00.. itself
      {0x80, 0x20, {0xf0, 0x10, 0x20}},              // wraps through zero
      {0x30, 0x30, {0x80, 0xf0, 0x10, 0x20, 0x30}},  // whole ring, starting after `from`
      {0x31, 0x7f, {}},
  };
  for (const Case& c : cases) {
    for (size_t batch : {1u, 2u, 100u}) {
      DhtRangeReader r(s, Raw(c.from), Raw(c.to));
      std::vector<DhtRecord> out;
      while (r.Next(batch, &out)) {
      }
      EXPECT_EQ(FirstBytes(out), c.want) << int(c.from) << "->" << int(c.to) << " batch " << batch;
    }
  }
}

TEST_F(DhtStoreTest, RangeReaderCarriesRecordsAndSkipsExpired) {
  DhtStore s(clock);
  ASSERT_EQ(s.Create(Raw(0x10), V("c"), O(1), 5000, 9), DhtStatus::kOk);
  ASSERT_EQ(s.Put(Raw(0x20), V("p"), O(2), 100, 3), DhtStatus::kOk);
  ASSERT_EQ(s.Put(Raw(0x20), V("q"), O(2), 5000, 4), DhtStatus::kOk);
  clock.AdvanceMs(200);
  DhtRangeReader r(s, Raw(0), Raw(0xff));
  std::vector<DhtRecord> out;
  ASSERT_TRUE(r.Next(1, &out));
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].exclusive);
  EXPECT_EQ(out[0].version, 9u);
  EXPECT_EQ(out[0].ttl_ms, 4800u);
  // The store changes between batches: a key behind the cursor is not revisited.
  ASSERT_EQ(s.Put(Raw(0x05), V("late"), O(3), 5000, 1), DhtStatus::kOk);
  ASSERT_TRUE(r.Next(10, &out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].value, V("q"));
  EXPECT_FALSE(r.Next(10, &out));
}

TEST_F(DhtStoreTest, DropRangeForgetsOnlyTheArc) {
  DhtStore s(clock);
  for (uint8_t b : {0x10, 0x20, 0x30, 0xf0})
    ASSERT_EQ(s.Put(Raw(b), V("v"), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.DropRange(Raw(0xe0), Raw(0x10)), 2u);
  EXPECT_TRUE(Values(s, Raw(0x10)).empty());
  EXPECT_TRUE(Values(s, Raw(0xf0)).empty());
  EXPECT_EQ(Values(s, Raw(0x20)).size(), 1u);
  EXPECT_EQ(s.usage(O(1)).entries, 2u);
}

DhtRecord Rec(const DhtKey& k, int owner, const std::string& v, uint32_t ttl, uint64_t version,
              bool exclusive) {
  DhtRecord r;
  r.key = k;
  r.owner = O(owner);
  r.value = V(v);
  r.ttl_ms = ttl;
  r.version = version;
  r.exclusive = exclusive;
  return r;
}

TEST_F(DhtStoreTest, MergeKeepsTheLaterExpiryAndHigherVersion) {
  DhtStore s(clock);
  ASSERT_EQ(s.Put(K(1), V("x"), O(1), 1000, 5), DhtStatus::kOk);
  EXPECT_EQ(s.Merge(Rec(K(1), 1, "x", 3000, 2, false), DhtMergeMode::kHandover), DhtStatus::kOk);
  EXPECT_EQ(s.Merge(Rec(K(1), 1, "x", 10, 9, false), DhtMergeMode::kHandover), DhtStatus::kOk);
  std::vector<DhtRecord> out;
  ASSERT_EQ(s.Get(K(1), &out), 1u);
  EXPECT_EQ(out[0].ttl_ms, 3000u);
  EXPECT_EQ(out[0].version, 9u);
  EXPECT_EQ(s.Merge(Rec(K(1), 2, "y", 3000, 1, false), DhtMergeMode::kHandover), DhtStatus::kOk);
  EXPECT_EQ(Values(s, K(1)), (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(s.Merge(Rec(K(1), 2, "y", 0, 1, false), DhtMergeMode::kHandover), DhtStatus::kBadTtl);
  EXPECT_EQ(s.counters().merges, 4u);
}

TEST_F(DhtStoreTest, HandoverMergeRespectsExclusiveOwnership) {
  DhtStore s(clock);
  ASSERT_EQ(s.Create(K(1), V("mine"), O(1), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Merge(Rec(K(1), 2, "theirs", 1000, 9, true), DhtMergeMode::kHandover),
            DhtStatus::kKeyExists);
  EXPECT_EQ(s.Merge(Rec(K(1), 2, "theirs", 1000, 9, false), DhtMergeMode::kHandover),
            DhtStatus::kKeyIsExclusive);
  // Same owner: the newer version of its claim wins, an older one is ignored.
  EXPECT_EQ(s.Merge(Rec(K(1), 1, "mine2", 1000, 2, true), DhtMergeMode::kHandover), DhtStatus::kOk);
  EXPECT_EQ(s.Merge(Rec(K(1), 1, "mine0", 1000, 0, true), DhtMergeMode::kHandover), DhtStatus::kOk);
  EXPECT_EQ(Values(s, K(1)), std::vector<std::string>{"mine2"});
  // Shared values of other owners block an exclusive record from the handover.
  ASSERT_EQ(s.Put(K(2), V("s"), O(3), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Merge(Rec(K(2), 1, "c", 1000, 1, true), DhtMergeMode::kHandover),
            DhtStatus::kKeyExists);
}

TEST_F(DhtStoreTest, RepairMergeReplacesTheMinorityOwner) {
  DhtStore s(clock);
  ASSERT_EQ(s.Create(K(1), V("loser"), O(2), 1000, 1), DhtStatus::kOk);
  EXPECT_EQ(s.Merge(Rec(K(1), 1, "winner", 1000, 1, true), DhtMergeMode::kRepair), DhtStatus::kOk);
  std::vector<DhtRecord> out;
  ASSERT_EQ(s.Get(K(1), &out), 1u);
  EXPECT_EQ(out[0].owner, O(1));
  EXPECT_TRUE(out[0].exclusive);
  EXPECT_EQ(s.usage(O(2)).entries, 0u);
  EXPECT_EQ(s.counters().evicted, 1u);
  // A majority that holds a shared value overrides a local exclusive claim too.
  EXPECT_EQ(s.Merge(Rec(K(1), 3, "shared", 1000, 1, false), DhtMergeMode::kRepair), DhtStatus::kOk);
  EXPECT_EQ(Values(s, K(1)), std::vector<std::string>{"shared"});
  EXPECT_EQ(s.counters().evicted, 2u);
}

// ---- randomized comparison with a naive model ----

// Everything in one flat vector, scanned for every question; expired values vanish at once (the
// test sweeps the real store completely after every clock step so quotas agree).
class ModelStore {
 public:
  ModelStore(const FakeClock& clock, DhtStoreLimits l) : clock_(clock), l_(l) {}

  DhtStatus Create(const DhtKey& k, const std::vector<uint8_t>& v, const DhtOwner& o, uint32_t ttl,
                   uint64_t ver) {
    if (auto s = Check(v, ttl); s != DhtStatus::kOk) return s;
    Purge();
    const auto live = Live(k);
    uint64_t freed = 0;
    for (const Val* x : live) {
      if (x->owner != o) return DhtStatus::kKeyExists;
      freed += Cost(x->bytes.size());
    }
    if (live.size() == 1 && live[0]->exclusive) {
      Val* held = const_cast<Val*>(live[0]);
      if (held->bytes == v) {
        held->expires = std::max(held->expires, Exp(ttl));
        held->version = std::max(held->version, ver);
        return DhtStatus::kOk;
      }
      if (held->version > ver) return DhtStatus::kOk;
    }
    if (auto s = Admit(o, v.size(), freed, live.size(), freed, live.empty()); s != DhtStatus::kOk)
      return s;
    std::erase_if(vals_, [&](const Val& x) { return x.key == k; });
    vals_.push_back({k, o, v, Exp(ttl), ver, true});
    return DhtStatus::kOk;
  }

  DhtStatus Put(const DhtKey& k, const std::vector<uint8_t>& v, const DhtOwner& o, uint32_t ttl,
                uint64_t ver) {
    if (auto s = Check(v, ttl); s != DhtStatus::kOk) return s;
    Purge();
    const auto live = Live(k);
    for (const Val* x : live)
      if (x->exclusive) return DhtStatus::kKeyIsExclusive;
    for (const Val* x : live) {
      if (x->owner == o && x->bytes == v) {
        Val* m = const_cast<Val*>(x);
        m->expires = std::max(m->expires, Exp(ttl));
        m->version = std::max(m->version, ver);
        return DhtStatus::kOk;
      }
    }
    if (live.size() >= l_.max_values_per_key) return DhtStatus::kTooManyValues;
    if (auto s = Admit(o, v.size(), 0, 0, 0, live.empty()); s != DhtStatus::kOk) return s;
    vals_.push_back({k, o, v, Exp(ttl), ver, false});
    return DhtStatus::kOk;
  }

  DhtStatus Remove(const DhtKey& k, const std::vector<uint8_t>& v, const DhtOwner& o) {
    Purge();
    for (size_t i = 0; i < vals_.size(); ++i) {
      if (vals_[i].key == k && vals_[i].owner == o && vals_[i].bytes == v) {
        vals_.erase(vals_.begin() + i);
        return DhtStatus::kOk;
      }
    }
    for (const Val& x : vals_)
      if (x.key == k && x.bytes == v) return DhtStatus::kNotOwner;
    return DhtStatus::kNotFound;
  }

  // (owner, value, exclusive, version, ttl ms) sorted
  using Row = std::tuple<DhtOwner, std::vector<uint8_t>, bool, uint64_t, uint32_t>;
  std::vector<Row> Get(const DhtKey& k) {
    Purge();
    std::vector<Row> rows;
    for (const Val* x : Live(k))
      rows.emplace_back(x->owner, x->bytes, x->exclusive, x->version,
                        uint32_t((x->expires - clock_.NowNs() + 999'999) / 1'000'000));
    std::sort(rows.begin(), rows.end());
    return rows;
  }

  uint64_t Bytes() {
    Purge();
    uint64_t b = 0;
    std::vector<DhtKey> keys;
    for (const Val& x : vals_) {
      b += Cost(x.bytes.size());
      if (std::find(keys.begin(), keys.end(), x.key) == keys.end()) keys.push_back(x.key);
    }
    return b + keys.size() * kDhtKeyOverhead;
  }

 private:
  struct Val {
    DhtKey key;
    DhtOwner owner;
    std::vector<uint8_t> bytes;
    uint64_t expires;
    uint64_t version;
    bool exclusive;
  };
  uint64_t Exp(uint32_t ttl) const { return clock_.NowNs() + uint64_t{ttl} * 1'000'000; }
  DhtStatus Check(const std::vector<uint8_t>& v, uint32_t ttl) const {
    if (v.size() > l_.max_value_bytes) return DhtStatus::kValueTooLarge;
    if (ttl == 0 || ttl > l_.max_ttl_ms) return DhtStatus::kBadTtl;
    return DhtStatus::kOk;
  }
  void Purge() {
    std::erase_if(vals_, [&](const Val& x) { return x.expires <= clock_.NowNs(); });
  }
  std::vector<const Val*> Live(const DhtKey& k) const {
    std::vector<const Val*> out;
    for (const Val& x : vals_)
      if (x.key == k) out.push_back(&x);
    return out;
  }
  DhtStatus Admit(const DhtOwner& o, size_t n, uint64_t freed_own, size_t freed_entries,
                  uint64_t freed_total, bool new_key) {
    uint64_t own = 0, entries = 0;
    for (const Val& x : vals_)
      if (x.owner == o) {
        own += Cost(x.bytes.size());
        ++entries;
      }
    if (own - freed_own + Cost(n) > l_.max_owner_bytes) return DhtStatus::kOwnerBytesQuota;
    if (entries - freed_entries + 1 > l_.max_owner_entries) return DhtStatus::kOwnerEntriesQuota;
    if (Bytes() - freed_total + Cost(n) + (new_key ? kDhtKeyOverhead : 0) > l_.max_total_bytes)
      return DhtStatus::kStoreFull;
    return DhtStatus::kOk;
  }

  const FakeClock& clock_;
  DhtStoreLimits l_;
  std::vector<Val> vals_;
};

std::vector<ModelStore::Row> Rows(DhtStore& s, const DhtKey& k) {
  std::vector<DhtRecord> out;
  s.Get(k, &out);
  std::vector<ModelStore::Row> rows;
  for (const auto& r : out) rows.emplace_back(r.owner, r.value, r.exclusive, r.version, r.ttl_ms);
  std::sort(rows.begin(), rows.end());
  return rows;
}

TEST_F(DhtStoreTest, MatchesNaiveModelUnderRandomOperations) {
  DhtStoreLimits l;
  l.max_value_bytes = 8;
  l.max_values_per_key = 3;
  l.max_owner_entries = 5;
  l.max_owner_bytes = 4 * Cost(8);
  l.max_total_bytes = 10 * (Cost(4) + kDhtKeyOverhead);
  l.max_ttl_ms = 5000;
  const std::vector<std::vector<uint8_t>> values = {V(""),     V("a"),        V("bb"),
                                                    V("cccc"), V("dddddddd"), V("toolong!!")};
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    std::mt19937 rng(seed);
    const auto pick = [&rng](size_t n) { return size_t(rng() % n); };
    DhtStore store(clock, l);
    ModelStore model(clock, l);
    size_t ok = 0;
    for (int step = 0; step < 3000; ++step) {
      const DhtKey k = K(int(pick(6)));
      const DhtOwner o = O(int(pick(4)));
      const auto& v = values[pick(values.size())];
      const uint32_t ttl = uint32_t(pick(6000));
      const uint64_t ver = pick(10);
      DhtStatus got = DhtStatus::kOk, want = DhtStatus::kOk;
      switch (pick(7)) {
        case 0:
        case 1:
          got = store.Put(k, v, o, ttl, ver);
          want = model.Put(k, v, o, ttl, ver);
          break;
        case 2:
          got = store.Create(k, v, o, ttl, ver);
          want = model.Create(k, v, o, ttl, ver);
          break;
        case 3:
          got = store.Remove(k, v, o);
          want = model.Remove(k, v, o);
          break;
        case 4:
          ASSERT_EQ(Rows(store, k), model.Get(k)) << "seed " << seed << " step " << step;
          break;
        default:
          clock.AdvanceMs(pick(500));
          while (store.Expire(3) > 0) {
          }
          break;
      }
      ASSERT_EQ(got, want) << "seed " << seed << " step " << step << ": " << DhtStatusName(got)
                           << " vs " << DhtStatusName(want);
      ok += got == DhtStatus::kOk;
      ASSERT_EQ(store.bytes_used(), model.Bytes()) << "seed " << seed << " step " << step;
    }
    EXPECT_GT(ok, 500u);  // the run exercised acceptance, not only refusals
  }
}

TEST(DhtKeyTest, HashAndRanges) {
  EXPECT_EQ(HashDhtKey("a"), HashDhtKey("a"));
  EXPECT_NE(HashDhtKey("a"), HashDhtKey("b"));
  EXPECT_EQ(DhtKeyHex(Raw(0xab)).substr(0, 4), "ab00");
  EXPECT_EQ(DhtKeyHex(Raw(0)).size(), 40u);
  EXPECT_TRUE(InClockwiseRange(Raw(5), Raw(1), Raw(5)));
  EXPECT_FALSE(InClockwiseRange(Raw(1), Raw(1), Raw(5)));
  EXPECT_TRUE(InClockwiseRange(Raw(0), Raw(0xf0), Raw(1)));
  EXPECT_FALSE(InClockwiseRange(Raw(0x80), Raw(0xf0), Raw(1)));
  EXPECT_TRUE(InClockwiseRange(Raw(0x80), Raw(3), Raw(3)));
}

}  // namespace
}  // namespace ipop::cp
