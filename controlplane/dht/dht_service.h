// DhtService: the DHT on the overlay ring (docs/dht.md, "DHT service"). One per node; it owns
// the node's DhtStore (server side) and the node's pending DHT operations (client side), and
// reaches other nodes only through OverlayNode::SendRouted, so the process, the unit tests and
// the simulator run the same code.
//
// Who stores a key: the R nodes nearest to it on the ring (the replica set, R = `replicas`).
// How a request reaches them ("coordinator fan-out"):
//   client  routes the request to the key (nearest delivery); the node it reaches is the
//           coordinator.
//   coord.  if it is a replica by its own view, applies it, answers the client, and forwards it
//           (exact delivery, one hop over a near link) to the other R-1 nodes of the replica set
//           as it sees it (itself plus its links nearest to the key), naming the client.
//   replica applies it if it is a replica by its own view (else kNotResponsible) and answers the
//           client directly (exact delivery to the client's address).
//   client  collects the answers of one attempt, one per replica address; decides with
//           dht_quorum (majority write, majority read) once all R answered, `quorum_grace`
//           after a majority answered, or at the attempt timeout; retries undecided operations;
//           pushes read repair / create repair / rollback to individual replicas.
// The owner of a written value is the requesting node's overlay address, taken from the routed
// message's source (for a forwarded request: the client the coordinator received it from),
// never from the request body.
//
// Ring changes: when the node's near set changes, it recomputes, for every key it holds, the
// replica set under the old and the new near set, hands the key's records (REPLICATE, handover
// mode) to the nodes that joined the set, and forgets keys it no longer belongs to. A replica
// set must fit in one node's near set: near_per_side >= replicas - 1.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <unordered_map>
#include <vector>

#include "controlplane/dht/dht_messages.h"
#include "controlplane/dht/dht_quorum.h"
#include "controlplane/dht/dht_rate_limiter.h"
#include "controlplane/dht/dht_store.h"
#include "controlplane/overlay/overlay_node.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/random_source.h"

namespace ipop::cp {

// Overlay payload type of every DHT message.
inline constexpr uint8_t kPayloadDht = 0x20;

struct DhtServiceOptions {
  size_t replicas = 3;
  // Attempt n waits attempt_timeout << (n-1), at most max_attempt_timeout: under churn a route
  // through a node that died keeps failing until its neighbours notice (keepalive timeout,
  // ~20 s), so the retries of one operation span about that long.
  uint64_t attempt_timeout_ns = 2'000'000'000ull;
  uint64_t max_attempt_timeout_ns = 8'000'000'000ull;
  uint32_t max_attempts = 7;
  // After a majority answered, how long to wait for the rest (their answers feed repair).
  uint64_t quorum_grace_ns = 400'000'000ull;
  // Coalesces near-set changes (a join or a death moves several links) into one handover.
  uint64_t handover_delay_ns = 1'000'000'000ull;
  // For this long after its near set changed, a replica that holds nothing under a key refuses
  // (kNotResponsible, not a vote) to let a CREATE of it through: it may have just become a
  // replica of the key, and the old replicas' handover may not have reached it yet. Without
  // this, a join and a death at once can leave the one replica that holds a live claim outvoted
  // by two new ones, and a second node wins the same name or address.
  uint64_t create_settle_ns = 5'000'000'000ull;
  uint64_t tick_interval_ns = 1'000'000'000ull;
  size_t expire_budget = 256;  // expiry-index entries looked at per tick
  DhtRateLimit rate_limit;     // per requesting node, on every replica
  DhtStoreLimits store;
};

// How a CREATE is decided (docs/dht.md, "Create, claim and renewal").
//   kClaim  taking a key for the first time: any replica holding a rival's live record rejects it
//           (kKeyExists), whatever the majority says; replicas that applied it are rolled back.
//   kRenew  the owner rewriting its own record: the majority decides, a rival's copy on a
//           minority is overwritten, and nothing is rolled back when undecided (the replicas
//           that applied it only extended our record; removing it would weaken our claim).
enum class DhtCreateMode : uint8_t { kClaim, kRenew };

enum class DhtOutcome : uint8_t {
  kOk,        // a majority applied the write / answered the read
  kRejected,  // a majority refused with the same status (reason): e.g. kKeyExists
  kNoQuorum,  // no decision after max_attempts (reason: the most frequent refusal, or kOk)
};

struct DhtResult {
  DhtOutcome outcome = DhtOutcome::kNoQuorum;
  DhtStatus reason = DhtStatus::kOk;
  std::vector<DhtRecord> values;  // GET: the values a majority holds
  uint32_t attempts = 0;
  uint64_t latency_ns = 0;
};
using DhtDoneFn = std::function<void(const DhtResult&)>;

// Certificate mode (docs/pki.md, "Signed claims in the DHT"): what a replica requires of every
// value before it stores it, whichever path brought it (CREATE, PUT, REMOVE, REPLICATE handover
// and repair). `owner` is the writer the store would record (the routed source, or the owner field
// of a replicated record), `stored` the live records under the key. kOk lets the write through;
// any other status refuses it (and is the reply's status).
using DhtWriteCheckFn =
    std::function<DhtStatus(DhtMsgType op, const DhtKey& key, const DhtOwner& owner,
                            std::span<const uint8_t> value, std::span<const DhtRecord> stored)>;

struct DhtServiceCounters {
  // client
  uint64_t ops_started = 0, ops_ok = 0, ops_rejected = 0, ops_no_quorum = 0;
  uint64_t attempts_retried = 0, replies = 0, replies_stale = 0;
  uint64_t replies_unknown_id = 0, replies_not_replica = 0;
  uint64_t read_repairs_sent = 0, create_repairs_sent = 0, rollbacks_sent = 0;
  // server
  uint64_t requests = 0, fanouts_sent = 0, not_responsible = 0, rate_limited = 0;
  uint64_t creates_settling = 0;  // CREATEs of an absent key refused right after a near change
  uint64_t bad_envelope = 0, decode_errors = 0, unexpected_type = 0;
  uint64_t replicate_records = 0, replicate_refused = 0;
  uint64_t writes_unauthorized = 0;  // refused by the write check (certificate mode)
  // re-replication
  uint64_t handovers = 0, handover_keys = 0, handover_messages = 0, keys_dropped = 0;
  uint64_t messages_sent = 0, send_failed = 0;  // routed messages originated by the service
};

inline constexpr CounterDesc kDhtServiceCounterDescs[] = {
    IPOP_COUNTER(DhtServiceCounters, ops_started,
                 "client operations started (put, get, create, remove)"),
    IPOP_COUNTER(DhtServiceCounters, ops_ok, "client operations that succeeded"),
    IPOP_COUNTER(DhtServiceCounters, ops_rejected, "client operations a quorum refused"),
    IPOP_COUNTER(DhtServiceCounters, ops_no_quorum,
                 "client operations without a quorum of answers"),
    IPOP_COUNTER(DhtServiceCounters, attempts_retried, "client attempts sent again"),
    IPOP_COUNTER(DhtServiceCounters, replies, "replies to client operations"),
    IPOP_COUNTER(DhtServiceCounters, replies_stale,
                 "replies naming another key than their request"),
    IPOP_COUNTER(DhtServiceCounters, replies_unknown_id,
                 "replies whose request id is not in flight (finished, older or forged)"),
    IPOP_COUNTER(DhtServiceCounters, replies_not_replica,
                 "replies from a node that cannot be one of the key's replicas: refused"),
    IPOP_COUNTER(DhtServiceCounters, read_repairs_sent, "read repairs sent to stale replicas"),
    IPOP_COUNTER(DhtServiceCounters, create_repairs_sent,
                 "create repairs sent to replicas that missed a create"),
    IPOP_COUNTER(DhtServiceCounters, rollbacks_sent, "rollbacks of a create that lost its quorum"),
    IPOP_COUNTER(DhtServiceCounters, requests, "requests served for other nodes"),
    IPOP_COUNTER(DhtServiceCounters, fanouts_sent, "requests passed on to the replicas"),
    IPOP_COUNTER(DhtServiceCounters, not_responsible, "requests for keys this node does not hold"),
    IPOP_COUNTER(DhtServiceCounters, rate_limited, "requests over their source budget: refused"),
    IPOP_COUNTER(DhtServiceCounters, creates_settling,
                 "creates of an absent key refused right after a near-link change"),
    IPOP_COUNTER(DhtServiceCounters, bad_envelope, "DHT messages with a bad envelope"),
    IPOP_COUNTER(DhtServiceCounters, decode_errors, "DHT messages that did not decode"),
    IPOP_COUNTER(DhtServiceCounters, unexpected_type, "DHT messages of a type not expected here"),
    IPOP_COUNTER(DhtServiceCounters, replicate_records, "records received from re-replication"),
    IPOP_COUNTER(DhtServiceCounters, replicate_refused, "re-replication records refused"),
    IPOP_COUNTER(DhtServiceCounters, writes_unauthorized,
                 "writes and replicated records the signed-record check refused"),
    IPOP_COUNTER(DhtServiceCounters, handovers, "hand-overs of keys to new replicas"),
    IPOP_COUNTER(DhtServiceCounters, handover_keys, "keys handed over"),
    IPOP_COUNTER(DhtServiceCounters, handover_messages, "messages sent for hand-overs"),
    IPOP_COUNTER(DhtServiceCounters, keys_dropped,
                 "keys dropped after the hand-over (no longer a replica)"),
    IPOP_COUNTER(DhtServiceCounters, messages_sent, "routed messages the DHT service started"),
    IPOP_COUNTER(DhtServiceCounters, send_failed, "routed messages the DHT service could not send"),
};
static_assert(CoversEveryField<DhtServiceCounters>(kDhtServiceCounterDescs));

class DhtService {
 public:
  // `random` draws the request ids (64 unpredictable bits each): a CSPRNG in the process, a
  // seeded source in tests and the simulator.
  DhtService(overlay::OverlayNode& node, Clock& clock, RandomSource& random,
             const DhtServiceOptions& options = {});

  // Client operations; `done` runs from a later Tick (never from inside the call).
  void Put(const DhtKey& key, std::span<const uint8_t> value, uint32_t ttl_ms, DhtDoneFn done);
  void Create(const DhtKey& key, std::span<const uint8_t> value, uint32_t ttl_ms, DhtDoneFn done,
              DhtCreateMode mode = DhtCreateMode::kClaim);
  void Get(const DhtKey& key, DhtDoneFn done);
  void Remove(const DhtKey& key, std::span<const uint8_t> value, DhtDoneFn done);

  // Installs the certificate-mode write check; without one (PSK mode) every write is let through.
  void SetWriteCheck(DhtWriteCheckFn check) { write_check_ = std::move(check); }

  // Feed every delivered routed message; false if it is not a DHT message.
  bool OnRouted(const overlay::Routed& r);
  void Tick();
  uint64_t next_wake_ns() const;

  // True if this node counts itself among the R (+ slack) nodes nearest `key` (its links' view).
  bool Responsible(const DhtKey& key, size_t slack = 0) const;
  const DhtStore& store() const { return store_; }
  const DhtRateLimiter& rate_limiter() const { return limiter_; }
  const DhtServiceCounters& counters() const { return counters_; }
  size_t pending_ops() const { return ops_.size(); }
  // The request ids of the attempts in flight (tests forge replies with them).
  std::vector<uint64_t> RequestIdsInFlight() const;
  size_t StateBytes() const;

 private:
  struct Answer {
    overlay::RingAddress from;
    DhtStatus status = DhtStatus::kOk;
    std::vector<DhtRecord> records;
  };
  struct Op {
    DhtMsgType type = DhtMsgType::kGet;
    DhtCreateMode create_mode = DhtCreateMode::kClaim;
    DhtKey key{};
    std::vector<uint8_t> value;
    uint32_t ttl_ms = 0;
    uint64_t version = 0;
    uint32_t attempt = 0;
    uint64_t request_id = 0;  // of the current attempt; 0 before the first
    uint64_t started_ns = 0;
    uint64_t deadline_ns = 0;  // of the current attempt
    uint64_t decide_ns = UINT64_MAX;
    std::vector<Answer> answers;
    DhtDoneFn done;
  };
  struct Finished {
    DhtDoneFn done;
    DhtResult result;
  };

  void Start(DhtMsgType type, const DhtKey& key, std::span<const uint8_t> value, uint32_t ttl_ms,
             DhtDoneFn done, DhtCreateMode mode = DhtCreateMode::kClaim);
  void SendAttempt(uint64_t op_id, Op& op);
  // Decides an op whose time has come; true if it finished (result in *out).
  bool Decide(Op& op, Finished* out);
  void FinishWrite(Op& op, const DhtWriteOutcome& w, Finished* out);

  void OnRequest(const overlay::RingAddress& origin, uint8_t envelope, const DhtMessage& m,
                 std::span<const uint8_t> body);
  void OnReply(const overlay::RingAddress& from, const DhtMessage& m);
  // False when this node knows R (+1 of slack) nodes nearer `key` than `from`: then `from` is
  // no replica of the key, whatever it says.
  bool CouldBeReplica(const DhtKey& key, const overlay::RingAddress& from) const;
  uint64_t NewRequestId();
  void OnReplicate(const DhtMessage& m);
  DhtStatus Apply(const DhtMessage& m, const DhtOwner& owner, std::vector<DhtRecord>* out);
  // The write check's verdict (kOk without one); counts refusals.
  DhtStatus CheckWrite(DhtMsgType op, const DhtKey& key, const DhtOwner& owner,
                       std::span<const uint8_t> value);

  // The R nodes nearest `key` among this node and `candidates` (nearest first).
  std::vector<overlay::RingAddress> ReplicaSet(
      const DhtKey& key, std::span<const overlay::RingAddress> candidates) const;
  std::vector<overlay::RingAddress> StructuredLinks() const;
  std::vector<overlay::RingAddress> NearLinks() const;
  void Handover(const std::vector<overlay::RingAddress>& near);

  // Sends `body` (a DHT message) to `to` with the given envelope; handles `to == self` locally.
  void SendTo(const overlay::RingAddress& to, overlay::DeliveryMode mode, uint8_t envelope,
              const overlay::RingAddress* origin, std::span<const uint8_t> body);
  void SendReply(const overlay::RingAddress& to, uint64_t request_id, const DhtKey& key,
                 DhtStatus status, std::span<const DhtRecord> records);
  void SendRecords(const overlay::RingAddress& to, const DhtKey& key, bool repair,
                   std::span<const DhtRecord> records);

  overlay::OverlayNode& node_;
  Clock& clock_;
  RandomSource& random_;
  DhtServiceOptions options_;
  DhtStore store_;
  DhtRateLimiter limiter_;
  DhtServiceCounters counters_;
  DhtWriteCheckFn write_check_;
  std::unordered_map<uint64_t, Op> ops_;
  std::unordered_map<uint64_t, uint64_t> in_flight_;  // request id of an attempt -> op id
  uint64_t next_op_id_ = 1;
  uint64_t next_tick_ns_ = 0;
  std::vector<overlay::RingAddress> handover_near_;  // near set the store was last laid out for
  uint64_t handover_due_ns_ = 0;                     // 0: near set unchanged
  uint64_t near_changed_ns_ = 0;  // when a near-set change was last seen (create_settle_ns)
};

}  // namespace ipop::cp
