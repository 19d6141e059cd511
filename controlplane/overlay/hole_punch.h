// Hole punching coordinated over the overlay (docs/nat.md). To get a direct path to node B while
// only the overlay connects us:
//   1. A routes PUNCH(offer: A's candidate endpoints, A's NAT class, token) to B (exact delivery)
//      and starts probing B at the endpoints it knows (B's reported endpoint);
//   2. B answers with PUNCH(answer: its candidates, class, same token) and probes A's candidates;
//   3. both send a probe (LINK_REQUEST(shortcut) naming the other) to every candidate every
//      probe interval for the punch window. Each side's probes open its own NAT toward the
//      other's mapping, so the first probe that gets through is answered and makes the link; its
//      endpoint is where the answer came from (a peer-reflexive one for a symmetric NAT).
//   4. no link by the end of the window: the run failed ("both symmetric" when both sides
//      classified their NAT as address/port-dependent, else "no answer"); the pair stays relayed
//      and the next run waits retry_min, doubling up to retry_max.
// A run also starts at once, back-off reset, when a direct path broke (Restart: NAT rebinding).
// Pure logic over a Clock and an Env, so unit tests drive it (tests/unit/test_nat.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "controlplane/overlay/address.h"
#include "controlplane/overlay/nat_observer.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/random_source.h"
#include "shared/endpoint.h"

namespace ipop::cp::overlay {

// PUNCH payload (routed payload type kPayloadPunch):
//   kind(1: 1 offer, 2 answer) nat class(1) count(1, 1..4) rsvd(1) token(8) count x endpoint(18)
struct PunchMessage {
  bool answer = false;
  NatClass nat = NatClass::kUnknown;
  uint64_t token = 0;
  std::vector<Endpoint> candidates;
};
inline constexpr size_t kPunchFixedSize = 12;
std::vector<uint8_t> EncodePunch(const PunchMessage& m);
std::optional<PunchMessage> DecodePunch(std::span<const uint8_t> payload);

struct PunchOptions {
  uint64_t probe_interval_ns = 200'000'000ull;
  uint64_t window_ns = 5'000'000'000ull;
  uint64_t retry_min_ns = 10'000'000'000ull;
  uint64_t retry_max_ns = 300'000'000'000ull;
  size_t max_peers = 256;
};

enum class PunchState : uint8_t { kIdle, kPunching, kDirect, kFailed };
enum class PunchWhy : uint8_t { kNone, kNoAnswer, kBothSymmetric, kNoRoute };
const char* PunchStateName(PunchState s);
const char* PunchWhyName(PunchWhy w);  // "no answer", "both symmetric", "no overlay route"

struct PunchCounters {
  uint64_t runs = 0, offers_sent = 0, offers_received = 0, answers_received = 0;
  uint64_t succeeded = 0, failed = 0, failed_both_symmetric = 0, restarts = 0, bad_messages = 0;
};
inline constexpr CounterDesc kPunchCounterDescs[] = {
    IPOP_COUNTER(PunchCounters, runs, "hole-punching runs started by this node"),
    IPOP_COUNTER(PunchCounters, offers_sent, "PUNCH offers routed to a peer's node"),
    IPOP_COUNTER(PunchCounters, offers_received, "PUNCH offers received (a peer punches to us)"),
    IPOP_COUNTER(PunchCounters, answers_received, "PUNCH answers received"),
    IPOP_COUNTER(PunchCounters, succeeded, "punches that ended in a direct link"),
    IPOP_COUNTER(PunchCounters, failed, "punches whose window ended without a direct link"),
    IPOP_COUNTER(PunchCounters, failed_both_symmetric,
                 "failed punches where both NATs map per destination"),
    IPOP_COUNTER(PunchCounters, restarts, "punches started at once because a direct path broke"),
    IPOP_COUNTER(PunchCounters, bad_messages, "PUNCH payloads that did not decode"),
};
static_assert(CoversEveryField<PunchCounters>(kPunchCounterDescs));

class HolePunch {
 public:
  class Env {
   public:
    virtual ~Env() = default;
    virtual bool SendPunch(const RingAddress& to, std::span<const uint8_t> payload) = 0;
    virtual void Probe(const RingAddress& to, std::span<const Endpoint> candidates) = 0;
    virtual bool Linked(const RingAddress& a) const = 0;
    // When the link to `a` last carried anything from it (0: no link).
    virtual uint64_t HeardNs(const RingAddress& a) const = 0;
    // When the link to `a` was made (0: no link).
    virtual uint64_t LinkedSinceNs(const RingAddress& a) const = 0;
    // The peer at `a` punches to us while we hold an old link to it: it lost that link (its side
    // of the path broke). Drop ours too and let our links report our mapping afresh.
    virtual void LinkBroken(const RingAddress& a) = 0;
    virtual std::vector<Endpoint> OurCandidates() const = 0;
    virtual NatClass OurClass() const = 0;
  };

  struct Status {
    PunchState state = PunchState::kIdle;
    PunchWhy why = PunchWhy::kNone;
    uint32_t attempts = 0;
    uint64_t retry_in_ns = 0;  // kFailed: until the next run may start
    NatClass peer_nat = NatClass::kUnknown;
    uint64_t last_direct_after_ns = 0;  // how long the last successful run took
  };

  HolePunch(const PunchOptions& options, const Clock& clock, RandomSource& random, Env& env)
      : options_(options), clock_(clock), random_(random), env_(env) {}

  // We want a direct link to `a`, last seen at `hint` (zero port: none). Starts a run unless one
  // runs, the link exists, or the back-off after a failed run has not passed.
  void Want(const RingAddress& a, const Endpoint& hint);
  // The direct path to `a` broke (its endpoint stopped answering): punch again now.
  void Restart(const RingAddress& a, const Endpoint& hint);
  // A PUNCH payload routed to us from `source`.
  void OnMessage(const RingAddress& source, std::span<const uint8_t> payload);
  void Tick();
  std::optional<Status> StatusOf(const RingAddress& a) const;
  const PunchCounters& counters() const { return counters_; }

 private:
  struct Peer {
    Status status;
    uint64_t token = 0;
    std::vector<Endpoint> candidates;
    uint64_t started_ns = 0;
    uint64_t window_end_ns = 0;
    uint64_t next_probe_ns = 0;
    uint64_t retry_at_ns = 0;
    uint64_t backoff_ns = 0;
    uint64_t last_touched_ns = 0;
    bool repair = false;            // Restart: the link exists but must be heard again
    std::vector<Endpoint> offered;  // our candidates in the last offer or answer
  };
  Peer* Get(const RingAddress& a);
  void Start(const RingAddress& a, Peer& p);
  bool Done(const RingAddress& a, const Peer& p) const;
  void SendOffer(const RingAddress& a, Peer& p, bool answer);
  void Probing(const RingAddress& a, Peer& p, uint64_t now);
  static void AddCandidates(Peer& p, std::span<const Endpoint> c);

  PunchOptions options_;
  const Clock& clock_;
  RandomSource& random_;
  Env& env_;
  std::map<RingAddress, Peer> peers_;
  PunchCounters counters_;
};

}  // namespace ipop::cp::overlay
