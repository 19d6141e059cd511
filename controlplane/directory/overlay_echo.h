// Echo probes through the overlay (`ipopctl ping` and `ipopctl validate`, docs/overlay.md
// "Echo"): a request travels as a routed overlay message (exact delivery) to a node's ring
// address, the node answers with a reply routed back to the source, and the prober measures the
// round trip and learns the path: how many overlay hops each way and the first hop each side
// chose (the node it was relayed through, or the destination itself when they are linked).
//
//   ECHO payload (routed payload type 0x12), integers big endian:
//   off size
//     0    1  kind: 1 request, 2 reply
//     1    1  request hops: in a reply, the hop count the request arrived with; 0 in a request
//     2    1  name length n (<= 63; 0 in a request)
//     3    1  reserved, zero
//     4    4  VIP: in a request the VIP the prober expects at the node (0: any), in a reply the
//             responder's VIP
//     8    8  probe id (random, echoed)
//    16   20  first hop: the overlay node the sender handed the message to (zero: none known)
//    36    n  reply: the responder's node name (printable ASCII, no blanks)
//
// What protects it: every hop is an authenticated overlay datagram (tag over message and stamp,
// replay guard, per-source rate limit in OverlayHost), so only members of the overlay can send
// one. On top of that a node answers only a well-formed request delivered to it exactly, naming
// its VIP (or none), and within a token bucket (reply_per_second/reply_burst): a reply is the
// size of the request and goes back along the overlay to the request's source, never to an
// endpoint the request names, so a request cannot be turned into a flood. A prober accepts a
// reply only for a probe it has outstanding, from the node it asked, once.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "controlplane/overlay/address.h"
#include "controlplane/overlay/messages.h"
#include "controlplane/runtime/clock.h"
#include "controlplane/runtime/counter_registry.h"
#include "controlplane/runtime/random_source.h"
#include "shared/token_bucket.h"

namespace ipop::cp {

inline constexpr uint8_t kPayloadEcho = 0x12;
inline constexpr size_t kEchoFixedSize = 36;
inline constexpr size_t kEchoMaxName = 63;

enum class EchoKind : uint8_t { kRequest = 1, kReply = 2 };

struct EchoMessage {
  EchoKind kind = EchoKind::kRequest;
  uint8_t request_hops = 0;
  uint32_t vip = 0;
  uint64_t id = 0;
  overlay::RingAddress first_hop;
  std::string name;
};

enum class EchoError : uint8_t {
  kNone = 0,
  kTooShort,        // fewer than kEchoFixedSize bytes
  kBadKind,         // neither request nor reply
  kBadReserved,     // reserved byte set, or a request with a name or request hops
  kNameTooLong,     // name length above kEchoMaxName
  kBadName,         // a name byte outside printable ASCII (blanks excluded)
  kLengthMismatch,  // payload longer or shorter than its name length says
};
const char* EchoErrorName(EchoError e);
inline constexpr size_t kEchoErrorCount = size_t(EchoError::kLengthMismatch) + 1;

// Writes the payload into `out`; returns its size, or 0 if `out` is too small or a field is out
// of range (name too long or not printable, a request with a name or request hops).
size_t EncodeEcho(const EchoMessage& m, std::span<uint8_t> out);
EchoError ParseEcho(std::span<const uint8_t> payload, EchoMessage* out);

struct OverlayEchoOptions {
  uint32_t reply_per_second = 100;  // requests answered, on average
  uint32_t reply_burst = 200;
  size_t max_outstanding = 1024;  // probes waiting for a reply
  size_t max_series = 1024;       // ping/validate runs in progress
  uint64_t timeout_ns = 2'000'000'000ull;
};

struct OverlayEchoCounters {
  uint64_t requests_received = 0, replies_sent = 0;
  uint64_t requests_rate_limited = 0, requests_wrong_vip = 0, bad_messages = 0;
  uint64_t probes_sent = 0, probes_unroutable = 0, probes_refused = 0;
  uint64_t replies_received = 0, replies_unmatched = 0, probes_timed_out = 0;
  uint64_t parse_errors[kEchoErrorCount] = {};
};

inline constexpr CounterDesc kOverlayEchoCounterDescs[] = {
    IPOP_COUNTER(OverlayEchoCounters, requests_received, "echo requests delivered to this node"),
    IPOP_COUNTER(OverlayEchoCounters, replies_sent, "echo replies sent"),
    IPOP_COUNTER(OverlayEchoCounters, requests_rate_limited,
                 "echo requests over the reply budget: not answered"),
    IPOP_COUNTER(OverlayEchoCounters, requests_wrong_vip,
                 "echo requests for another VIP or not delivered exactly: not answered"),
    IPOP_COUNTER(OverlayEchoCounters, bad_messages, "echo payloads that did not parse"),
    IPOP_COUNTER(OverlayEchoCounters, probes_sent, "echo probes sent (ipopctl ping, validate)"),
    IPOP_COUNTER(OverlayEchoCounters, probes_unroutable, "echo probes with no route to send on"),
    IPOP_COUNTER(OverlayEchoCounters, probes_refused, "echo probes refused: too many outstanding"),
    IPOP_COUNTER(OverlayEchoCounters, replies_received, "echo replies matched to a probe"),
    IPOP_COUNTER(OverlayEchoCounters, replies_unmatched,
                 "echo replies for no outstanding probe, or from another node: dropped"),
    IPOP_COUNTER(OverlayEchoCounters, probes_timed_out, "echo probes unanswered in time"),
    IPOP_COUNTER_BY(
        OverlayEchoCounters, parse_errors, "error",
        [](size_t i) { return EchoErrorName(EchoError(i)); }, 1,
        "echo payloads that did not parse, by error"),
};
static_assert(CoversEveryField<OverlayEchoCounters>(kOverlayEchoCounterDescs));

// One probe's outcome.
struct EchoResult {
  uint32_t seq = 0;        // 1.. within its series
  bool sent = false;       // false: no route to the node, or too many probes outstanding
  bool answered = false;   // a valid reply arrived before the timeout
  uint64_t rtt_ns = 0;     // when answered
  uint8_t hops_there = 0;  // hops the request took (1: direct link)
  uint8_t hops_back = 0;   // hops the reply took
  overlay::RingAddress first_hop_there;  // our next hop (== the node: direct)
  overlay::RingAddress first_hop_back;   // the responder's next hop toward us
  uint32_t vip = 0;                      // the responder's VIP
  std::string name;                      // the responder's node name
};

// A ping run: `count` probes to one node, `interval_ns` apart.
struct EchoSeries {
  overlay::RingAddress node;
  uint32_t vip = 0;
  std::vector<EchoResult> probes;  // in order of seq
};

class OverlayEcho {
 public:
  // Originates a routed payload (exact delivery) to `to`; false if there is no route.
  using SendFn = std::function<bool(const overlay::RingAddress& to, std::span<const uint8_t>)>;
  // The link a message to `to` leaves through now (zero if none).
  using NextHopFn = std::function<overlay::RingAddress(const overlay::RingAddress& to)>;
  // This node's VIP and name as a reply reports them.
  using SelfFn = std::function<std::pair<uint32_t, std::string>()>;
  using SeriesFn = std::function<void(const EchoSeries&)>;

  OverlayEcho(const OverlayEchoOptions& options, const Clock& clock, RandomSource& random,
              SendFn send, NextHopFn next_hop, SelfFn self);

  // Starts `count` probes to `node` (expecting `vip` there, 0: any), `interval_ns` apart; `done`
  // runs once after the last probe was answered or timed out. false (and `done` never runs) when
  // max_series runs are in progress.
  bool StartSeries(const overlay::RingAddress& node, uint32_t vip, uint32_t count,
                   uint64_t interval_ns, SeriesFn done);
  // A delivered routed message with payload type kPayloadEcho.
  void OnDelivered(const overlay::Routed& r);
  void Tick();

  const OverlayEchoCounters& counters() const { return counters_; }
  size_t outstanding() const { return outstanding_.size(); }
  size_t series_in_progress() const { return series_.size(); }

 private:
  struct Series {
    EchoSeries result;
    uint32_t count = 0;
    uint64_t interval_ns = 0;
    uint64_t next_send_ns = 0;
    size_t waiting = 0;  // probes sent and not yet answered or timed out
    SeriesFn done;
  };
  struct Outstanding {
    uint64_t series = 0;
    size_t index = 0;  // in the series' probes
    overlay::RingAddress node;
    uint32_t vip = 0;
    uint64_t sent_ns = 0;
  };

  void SendProbe(uint64_t series_id, Series& s);
  void OnRequest(const overlay::Routed& r, const EchoMessage& m);
  void OnReply(const overlay::Routed& r, const EchoMessage& m);
  void Settle(uint64_t series_id);

  OverlayEchoOptions options_;
  const Clock& clock_;
  RandomSource& random_;
  SendFn send_;
  NextHopFn next_hop_;
  SelfFn self_;
  TokenBucket reply_bucket_;
  OverlayEchoCounters counters_;
  std::map<uint64_t, Series> series_;
  std::map<uint64_t, Outstanding> outstanding_;  // by probe id
  uint64_t next_series_ = 1;
};

}  // namespace ipop::cp
