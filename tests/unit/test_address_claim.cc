// AddressClaim against one DhtStore that plays the DHT (create-exclusive by owner, TTL, remove by
// owner): candidate order, races, renewal, loss, release and static addresses, with the DHT's
// answers delivered when the test says so.
#include "controlplane/directory/address_claim.h"

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "controlplane/dht/dht_store.h"
#include "cp_fakes.h"

namespace ipop::cp {
namespace {

using testing::FakeClock;

DhtKey KeyOf(uint32_t vip) {
  return HashDhtKey("vip:unit:" + FormatIpv4(vip));
}

// Every operation is applied to the shared store when delivered, as the replicas would.
class SharedDht {
 public:
  explicit SharedDht(FakeClock& clock) : clock_(clock), store_(clock) {}
  void Deliver() {
    while (!pending_.empty()) {
      auto op = std::move(pending_.front());
      pending_.pop_front();
      op();
    }
  }
  DhtStore& store() { return store_; }
  std::deque<std::function<void()>> pending_;
  bool unavailable = false;          // every write ends without a quorum
  bool settling = false;             // every write refused as kNotResponsible (replicas settling)
  std::vector<DhtCreateMode> modes;  // of every Create, in order

 private:
  friend class Client;
  FakeClock& clock_;
  DhtStore store_;
};

class Client final : public ClaimStore {
 public:
  Client(SharedDht& dht, uint8_t id) : dht_(&dht) { owner_.fill(id); }
  void Use(SharedDht& dht) { dht_ = &dht; }
  void Create(const DhtKey& key, std::span<const uint8_t> value, uint32_t ttl_ms,
              DhtCreateMode mode, DhtDoneFn done) override {
    std::vector<uint8_t> v(value.begin(), value.end());
    dht_->modes.push_back(mode);
    dht_->pending_.push_back([this, dht = dht_, key, v, ttl_ms, done] {
      DhtResult r;
      if (dht->unavailable) {
        r.outcome = DhtOutcome::kNoQuorum;
      } else if (dht->settling) {
        r.outcome = DhtOutcome::kRejected;
        r.reason = DhtStatus::kNotResponsible;
      } else {
        r.reason = dht->store_.Create(key, v, owner_, ttl_ms, dht->clock_.WallNs());
        r.outcome = r.reason == DhtStatus::kOk ? DhtOutcome::kOk : DhtOutcome::kRejected;
      }
      done(r);
    });
  }
  void Remove(const DhtKey& key, std::span<const uint8_t> value, DhtDoneFn done) override {
    std::vector<uint8_t> v(value.begin(), value.end());
    dht_->pending_.push_back([this, dht = dht_, key, v, done] {
      DhtResult r;
      r.reason = dht->store_.Remove(key, v, owner_);
      r.outcome = r.reason == DhtStatus::kOk ? DhtOutcome::kOk : DhtOutcome::kRejected;
      done(r);
    });
  }
  DhtOwner owner_{};

 private:
  SharedDht* dht_;
};

AddressClaimOptions Pool(uint32_t first, uint32_t last, const std::string& identity) {
  AddressClaimOptions o;
  o.network = "unit";
  o.pool_first = first;
  o.pool_last = last;
  o.identity = identity;
  o.lease_ms = 30'000;
  o.refresh_ns = 10'000'000'000ull;
  o.confirm_ns = 300'000'000ull;
  return o;
}

struct Node {
  Node(SharedDht& dht, FakeClock& clock, uint8_t id, const AddressClaimOptions& o)
      : client(dht, id), claim(o, client, clock, KeyOf) {
    claim.SetValue({id});
    claim.SetChangedHandler([this](uint32_t vip) { changes.push_back(vip); });
  }
  Client client;
  AddressClaim claim;
  std::vector<uint32_t> changes;
};

// Ticks every node and delivers the DHT's answers, `steps` times, 100 ms apart.
void Step(FakeClock& clock, SharedDht& dht, std::vector<Node*> nodes, int steps) {
  for (int i = 0; i < steps; ++i) {
    for (Node* n : nodes) n->claim.Tick();
    dht.Deliver();
    clock.AdvanceMs(100);
  }
}

TEST(AddressClaim, CandidateOrderIsStableAndCoversThePool) {
  FakeClock clock;
  SharedDht dht(clock);
  Client c(dht, 1);
  AddressClaim a(Pool(0x0a000001, 0x0a000010, "n1"), c, clock, KeyOf);
  AddressClaim b(Pool(0x0a000001, 0x0a000010, "n1"), c, clock, KeyOf);
  std::vector<uint32_t> seen;
  for (uint64_t i = 0; i < a.pool_size(); ++i) {
    EXPECT_EQ(a.Candidate(i), b.Candidate(i));  // same identity, same order
    seen.push_back(a.Candidate(i));
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::unique(seen.begin(), seen.end()) - seen.begin(), 16);
  EXPECT_EQ(seen.front(), 0x0a000001u);
  EXPECT_EQ(seen.back(), 0x0a000010u);
  AddressClaimOptions hinted = Pool(0x0a000001, 0x0a000010, "n1");
  hinted.hint = 0x0a000007;
  AddressClaim h(hinted, c, clock, KeyOf);
  EXPECT_EQ(h.Candidate(0), 0x0a000007u);
}

TEST(AddressClaim, RacingNodesNeverShareAnAddress) {
  FakeClock clock;
  SharedDht dht(clock);
  std::vector<std::unique_ptr<Node>> nodes;
  std::vector<Node*> all;
  for (uint8_t i = 1; i <= 4; ++i) {
    // One identity for all: every node starts at the same candidate, in the same step.
    nodes.push_back(std::make_unique<Node>(dht, clock, i, Pool(0x0a000001, 0x0a000004, "same")));
    all.push_back(nodes.back().get());
  }
  Step(clock, dht, all, 20);
  std::vector<uint32_t> got;
  for (Node* n : all) {
    EXPECT_TRUE(n->claim.held());
    got.push_back(n->claim.vip());
  }
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<uint32_t>{0x0a000001, 0x0a000002, 0x0a000003, 0x0a000004}));
  EXPECT_GE(nodes[3]->claim.counters().conflicts, 1u);
}

TEST(AddressClaim, ExcludedAddressesAreNeverClaimed) {
  FakeClock clock;
  SharedDht dht(clock);
  AddressClaimOptions o = Pool(0x0a000001, 0x0a000003, "x");
  o.excluded = {0x0a000001, 0x0a000002};
  Node a(dht, clock, 1, o), b(dht, clock, 2, o);
  Step(clock, dht, {&a, &b}, 20);
  EXPECT_EQ(a.claim.vip(), 0x0a000003u);
  EXPECT_EQ(b.claim.vip(), 0u);
  EXPECT_GE(b.claim.counters().exhausted, 1u);
}

// Claims and their confirmation go out as kClaim, renewals as kRenew (a renewal that ends
// undecided must not be rolled back). Replicas refusing as still settling are asked again after
// settle_retry_ns, not the full retry_ns.
TEST(AddressClaim, ClaimsAndRenewalsUseTheirModesAndSettlingIsRetriedSoon) {
  FakeClock clock;
  SharedDht dht(clock);
  dht.settling = true;
  Node a(dht, clock, 1, Pool(0x0a000001, 0x0a000004, "a"));
  Step(clock, dht, {&a}, 25);  // 2.5 s: the first try and two quick retries, all refused
  EXPECT_EQ(a.claim.vip(), 0u);
  EXPECT_EQ(a.claim.counters().undecided, 3u);
  dht.settling = false;
  Step(clock, dht, {&a}, 20);
  const uint32_t vip = a.claim.vip();
  EXPECT_EQ(vip, a.claim.Candidate(0));  // refusals were not conflicts: the first candidate
  Step(clock, dht, {&a}, 110);           // one renewal (refresh 10 s)
  ASSERT_GE(a.claim.counters().renewals, 1u);
  using M = DhtCreateMode;
  ASSERT_GE(dht.modes.size(), 6u);
  // three refused claims, the claim, its confirmation, then renewals
  EXPECT_EQ(std::vector<M>(dht.modes.begin(), dht.modes.begin() + 6),
            (std::vector<M>{M::kClaim, M::kClaim, M::kClaim, M::kClaim, M::kClaim, M::kRenew}));
}

TEST(AddressClaim, RenewalKeepsTheAddressPastTheLease) {
  FakeClock clock;
  SharedDht dht(clock);
  Node a(dht, clock, 1, Pool(0x0a000001, 0x0a000002, "a"));
  Step(clock, dht, {&a}, 10);
  const uint32_t vip = a.claim.vip();
  ASSERT_NE(vip, 0u);
  Step(clock, dht, {&a}, 1200);  // 120 s, four leases
  EXPECT_EQ(a.claim.vip(), vip);
  EXPECT_GE(a.claim.counters().renewals, 10u);
  // Another node cannot take it meanwhile.
  AddressClaimOptions same = Pool(vip, vip, "b");
  Node b(dht, clock, 2, same);
  Step(clock, dht, {&a, &b}, 50);
  EXPECT_EQ(b.claim.vip(), 0u);
  EXPECT_EQ(a.changes, std::vector<uint32_t>{vip});
}

TEST(AddressClaim, ExpiredClaimIsLostAndAnotherIsMade) {
  FakeClock clock;
  SharedDht dht(clock);
  Node a(dht, clock, 1, Pool(0x0a000001, 0x0a000002, "a"));
  Step(clock, dht, {&a}, 10);
  const uint32_t vip = a.claim.vip();
  ASSERT_NE(vip, 0u);
  // A partition longer than the lease: renewals fail, the record expires, b takes the address.
  dht.unavailable = true;
  Step(clock, dht, {&a}, 400);
  EXPECT_EQ(a.claim.vip(), vip);  // undecided renewals keep it
  EXPECT_GE(a.claim.counters().undecided, 1u);
  dht.unavailable = false;
  Node b(dht, clock, 2, Pool(vip, vip, "b"));
  Step(clock, dht, {&b}, 10);
  ASSERT_EQ(b.claim.vip(), vip);
  // a's next renewal finds b's record: a gives the address up and takes the other one.
  Step(clock, dht, {&a, &b}, 200);
  EXPECT_EQ(a.claim.counters().lost, 1u);
  EXPECT_NE(a.claim.vip(), vip);
  EXPECT_NE(a.claim.vip(), 0u);
  ASSERT_EQ(a.changes.size(), 3u);
  EXPECT_EQ(a.changes[1], 0u);
}

TEST(AddressClaim, ReleaseFreesTheAddressAtOnce) {
  FakeClock clock;
  SharedDht dht(clock);
  Node a(dht, clock, 1, Pool(0x0a000001, 0x0a000001, "a"));
  Step(clock, dht, {&a}, 10);
  ASSERT_EQ(a.claim.vip(), 0x0a000001u);
  a.claim.SetValue({9});  // the endpoint changed after the last write: Remove must still match
  bool done = false;
  a.claim.Release([&] { done = true; });
  dht.Deliver();
  EXPECT_TRUE(done);
  EXPECT_EQ(a.claim.counters().released, 1u);
  Node b(dht, clock, 2, Pool(0x0a000001, 0x0a000001, "b"));
  Step(clock, dht, {&a, &b}, 10);
  EXPECT_EQ(b.claim.vip(), 0x0a000001u);
  EXPECT_EQ(a.claim.counters().attempts, 1u);  // a claims nothing after releasing
}

TEST(AddressClaim, StaticAddressIsUsedAtOnceAndWithdrawnOnConflict) {
  FakeClock clock;
  SharedDht dht(clock);
  Node holder(dht, clock, 1, Pool(0x0a000005, 0x0a000005, "h"));
  Step(clock, dht, {&holder}, 10);
  ASSERT_EQ(holder.claim.vip(), 0x0a000005u);
  AddressClaimOptions o;
  o.network = "unit";
  o.fixed = 0x0a000005;
  o.confirm_ns = 300'000'000ull;
  Node dup(dht, clock, 2, o);
  EXPECT_EQ(dup.claim.vip(), 0x0a000005u);
  Step(clock, dht, {&dup}, 5);
  EXPECT_EQ(dup.claim.vip(), 0u);
  EXPECT_FALSE(dup.claim.held());
  // Once the holder releases, the static node gets its address on the next retry.
  holder.claim.Release(nullptr);
  dht.Deliver();
  Step(clock, dht, {&dup}, 60);
  EXPECT_EQ(dup.claim.vip(), 0x0a000005u);
  EXPECT_TRUE(dup.claim.held());
  EXPECT_EQ(dup.changes, (std::vector<uint32_t>{0, 0x0a000005}));
}

// Two nodes claim one address while the ring is still forming: their Creates reach different
// replica sets and both win. Neither uses the address before confirming it; by then both reach
// the settled replica set, which holds the first record, and the second node moves on.
TEST(AddressClaim, DoubleWinBeforeTheRingSettledIsResolvedBeforeUse) {
  FakeClock clock;
  SharedDht settled(clock), elsewhere(clock);
  Node a(settled, clock, 1, Pool(0x0a000001, 0x0a000002, "same"));
  Node b(elsewhere, clock, 2, Pool(0x0a000001, 0x0a000002, "same"));
  a.claim.Tick();
  b.claim.Tick();
  settled.Deliver();
  elsewhere.Deliver();
  EXPECT_EQ(a.claim.vip(), 0u);  // won, not confirmed yet: not in use
  EXPECT_EQ(b.claim.vip(), 0u);
  b.client.Use(settled);
  Step(clock, settled, {&a, &b}, 20);
  const uint32_t first = a.claim.Candidate(0), second = a.claim.Candidate(1);
  EXPECT_EQ(a.claim.vip(), first);
  EXPECT_EQ(b.claim.vip(), second);
  EXPECT_EQ(b.changes, std::vector<uint32_t>{second});  // never used the first
  EXPECT_EQ(b.claim.counters().conflicts, 1u);
}

}  // namespace
}  // namespace ipop::cp
