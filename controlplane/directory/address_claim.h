// AddressClaim: this node's virtual IP, allocated and held through the DHT (docs/networks.md,
// "Address allocation").
//
// An address of a network is held by whoever holds the create-exclusive DHT record
// `vip:<network>:<address>` (the VIP directory entry: it also says where the holder listens).
//   claim    try candidates in a fixed order until a Create succeeds; a Create that finds another
//            owner's live record (kKeyExists) moves on to the next candidate
//   confirm  a won Create is repeated after confirm_ns before the address is used: two nodes that
//            claimed one address while the ring was still forming (their Creates reached
//            different replica sets) meet on the settled replica set, and only one keeps it
//   renew    the same Create again every refresh period: the same owner extends its record
//   lose     a renewal rejected with kKeyExists means someone else holds the address now
//            (possible only after our record expired, e.g. during a long partition): the
//            address is withdrawn (`changed` with 0) and claiming starts again
//   release  Remove on shutdown, so the address is free at once instead of after the lease
// A node that crashed and comes back has the same overlay address, so its first Create renews its
// own live record: it gets its previous address back at once. Candidate order starts at a hash of
// the node's identity (the same after a restart) or at a hint (the address the dataplane still
// forwards with), then walks the pool.
// A static address (node.vip) is a pool of one: it is in use from the start and withdrawn only
// while another node holds the record.
//
// Pure logic: the DHT comes in through ClaimStore, time through Clock (units, simulator).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "controlplane/dht/dht_service.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"

namespace ipop::cp {

// The two DHT operations a claim needs (DhtService in the process, a store in unit tests).
class ClaimStore {
 public:
  virtual ~ClaimStore() = default;
  // `mode`: kClaim for a first claim and its confirmation, kRenew for renewals (DhtCreateMode).
  virtual void Create(const DhtKey& key, std::span<const uint8_t> value, uint32_t ttl_ms,
                      DhtCreateMode mode, DhtDoneFn done) = 0;
  virtual void Remove(const DhtKey& key, std::span<const uint8_t> value, DhtDoneFn done) = 0;
};

struct AddressClaimOptions {
  std::string network;
  uint32_t fixed = 0;              // static address (node.vip); 0: allocate from the pool
  uint32_t pool_first = 0;         // host order, inclusive
  uint32_t pool_last = 0;          // host order, inclusive
  std::vector<uint32_t> excluded;  // never claimed (the service address)
  std::string identity;            // seeds the first candidate
  uint32_t hint = 0;               // tried first when inside the pool
  uint32_t lease_ms = 600'000;     // record TTL: a dead holder's address is free after this
  uint64_t refresh_ns = 20'000'000'000ull;  // renewal period; well inside lease_ms
  uint64_t retry_ns = 5'000'000'000ull;     // after a failed round or an undecided write
  // After replicas refused as still settling (kNotResponsible: their ring neighbourhood just
  // changed, docs/dht.md "Create, claim and renewal"); they are ready again within seconds.
  uint64_t settle_retry_ns = 1'000'000'000ull;
  uint64_t confirm_ns = 3'000'000'000ull;  // 0: use an address as soon as a Create won
  uint32_t candidates_per_round = 64;      // Creates per round before pausing retry_ns
};

struct AddressClaimCounters {
  uint64_t attempts = 0;   // Creates sent for a candidate not held yet
  uint64_t conflicts = 0;  // candidate held by another node (also found when confirming)
  uint64_t undecided = 0;  // no quorum, or replicas still settling (retried)
  uint64_t acquired = 0;   // an address became ours
  uint64_t renewals = 0;   // successful renewals
  uint64_t lost = 0;       // renewal found another holder
  uint64_t exhausted = 0;  // rounds that found no free candidate
  uint64_t released = 0;
};

inline constexpr CounterDesc kAddressClaimCounterDescs[] = {
    IPOP_COUNTER(AddressClaimCounters, attempts, "Creates sent for a candidate not held yet"),
    IPOP_COUNTER(AddressClaimCounters, conflicts,
                 "candidate held by another node (also found when confirming)"),
    IPOP_COUNTER(AddressClaimCounters, undecided,
                 "no quorum, or replicas still settling (retried)"),
    IPOP_COUNTER(AddressClaimCounters, acquired, "an address became ours"),
    IPOP_COUNTER(AddressClaimCounters, renewals, "successful renewals"),
    IPOP_COUNTER(AddressClaimCounters, lost, "renewal found another holder"),
    IPOP_COUNTER(AddressClaimCounters, exhausted, "rounds that found no free candidate"),
    IPOP_COUNTER(AddressClaimCounters, released, "addresses given back (clean stop)"),
};
static_assert(CoversEveryField<AddressClaimCounters>(kAddressClaimCounterDescs));

class AddressClaim {
 public:
  // `vip` is the new address, 0 when withdrawn.
  using ChangedFn = std::function<void(uint32_t vip)>;
  using KeyFn = std::function<DhtKey(uint32_t vip)>;

  AddressClaim(const AddressClaimOptions& options, ClaimStore& store, Clock& clock, KeyFn key_of);

  void SetChangedHandler(ChangedFn fn) { changed_ = std::move(fn); }
  // The record's value (VIP directory entry); a change is written with the next Create.
  void SetValue(std::vector<uint8_t> value);
  // Starts a claim or renewal when one is due (call from the loop once the overlay joined).
  void Tick();
  // Renew now (a DHCP client renewed its lease); no-op while nothing is held.
  void RenewSoon();
  // Removes the record; `done` runs when the DHT answered (or at once if nothing is held).
  // Claiming stops for good.
  void Release(std::function<void()> done);

  // The address this node holds (or, for a static address, uses), 0 if none.
  uint32_t vip() const { return vip_; }
  bool held() const { return held_; }
  bool releasing() const { return stopped_; }
  const AddressClaimCounters& counters() const { return counters_; }
  const AddressClaimOptions& options() const { return options_; }

  // Candidate `i` (0-based) of the pool order; exposed for tests.
  uint32_t Candidate(uint64_t i) const;
  uint64_t pool_size() const;

 private:
  using ResultFn = void (AddressClaim::*)(uint32_t vip, const DhtResult& res);
  void TryCandidate();
  void SendClaim(uint32_t candidate);
  // One Create of `vip`'s record with the current value; `then` gets its result unless stopped.
  void Write(uint32_t vip, DhtCreateMode mode, ResultFn then);
  void Renew();
  void OnClaimResult(uint32_t candidate, const DhtResult& res);
  void Adopt(uint32_t candidate);
  void OnRenewResult(uint32_t vip, const DhtResult& res);
  uint64_t RetryDelay(const DhtResult& res) const;
  void Set(uint32_t vip, bool held);
  bool Excluded(uint32_t ip) const;

  AddressClaimOptions options_;
  ClaimStore& store_;
  Clock& clock_;
  KeyFn key_of_;
  ChangedFn changed_;
  std::vector<uint8_t> value_;
  std::vector<uint8_t> written_;  // value of the record as last written (Remove needs it)
  uint32_t vip_ = 0;
  bool held_ = false;
  bool in_flight_ = false;
  uint32_t confirming_ = 0;  // candidate whose Create won, waiting to be confirmed
  bool stopped_ = false;
  uint64_t next_ns_ = 0;
  uint64_t start_ = 0;        // pool offset of candidate 0
  uint64_t next_index_ = 0;   // next candidate index to try
  uint32_t round_tries_ = 0;  // Creates in the current round
  AddressClaimCounters counters_;
};

}  // namespace ipop::cp
